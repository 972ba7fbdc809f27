"""Every learned method's `paper` preset networks take one real training step and
one inference pass, so that a shape or memory bug at paper size fails here.

Paper-size networks (widths, depths, kernels, patch and slice sizes at 1 mm) with
two cuts to keep it short on two cores: batch size 1, and training arrays and
predicted volumes cropped from the 1 mm grid (197 x 233 x 189) to what each
method's patches need (U-Net, diffusion and flow slices to 128 x 128, CycleGAN to
64 x 64; pix2pix pads any slice to its 256 x 256); the samplers take one of their
sampling steps. ``benchmarks/paper_preset.py`` runs the full batches on the full grid.
"""

import numpy as np
import pytest
import torch

from medsynth import paper_size

SLICE = (197, 233)  # a 1 mm axial slice of the phantom
# (training grid, predicted crop) per method
GRIDS = {
    "unet": ((128, 128, 4), (128, 128, 1)),
    "pix2pix": ((*SLICE, 4), (*SLICE, 1)),  # pads to 256 x 256 whatever the crop
    "cyclegan": ((64, 64, 4), (64, 64, 1)),
    "context_gan": ((48, 48, 40), (16, 16, 16)),
    "red_wgan": ((48, 48, 16), (32, 32, 8)),
    "deepharmony": ((128, 128, 128), (32, 32, 32)),
    "smore": ((*SLICE, 4), (8, 8, 4)),
    # one sampling step of the paper's 1000 (diffusion) or 300 (flow): each is one pass
    "cond_diffusion": ((128, 128, 4), (128, 128, 1)),
    "cond_flow": ((128, 128, 4), (128, 128, 1)),
}


@pytest.mark.slow
@pytest.mark.parametrize("method", paper_size.METHODS)
def test_paper_size_step_and_inference(method):
    torch.set_num_threads(2)
    params = {**paper_size.paper_params(method), "batch_size": 1}
    train_grid, crop = GRIDS[method]
    rng = np.random.default_rng(0)
    probe = paper_size.build(method, params, train_grid, rng)
    losses = probe.model.train_step(probe.model.sample_batch(rng))
    assert losses and all(np.isfinite(v) for v in losses.values())
    out = probe.infer(rng.random((probe.in_channels, *crop), dtype=np.float32))
    for volume in out if isinstance(out, list) else [out]:
        assert volume.shape == crop and np.isfinite(volume).all()
