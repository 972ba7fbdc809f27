"""Every learned method at a given size, on synthetic arrays of a given grid: its
training model (real losses, optimisers and GAN steps) and its inference over
a volume, so that the `paper` preset's networks can be built, stepped and run
without a dataset (``benchmarks/paper_preset.py``, and the slow test that
catches a shape or memory bug at paper size).

The arrays are random: this measures what a step and a pass cost, not what they learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from medsynth import train
from medsynth.case import TrainingData
from medsynth.infer import predict_slices
from medsynth.methods import (
    cond_diffusion,
    cond_flow,
    context_gan,
    cyclegan,
    deepharmony,
    generative_slices,
    pix2pix,
    red_wgan,
    smore,
    smore_pairs,
    unet,
)
from medsynth.tasks import all_contrasts_condition, parse_condition

METHODS = ("unet", "pix2pix", "cyclegan", "context_gan", "red_wgan", "deepharmony", "smore",
           "cond_diffusion", "cond_flow")
MODULES = {"unet": unet, "pix2pix": pix2pix, "cyclegan": cyclegan, "context_gan": context_gan,
           "red_wgan": red_wgan, "deepharmony": deepharmony, "smore": smore,
           "cond_diffusion": cond_diffusion, "cond_flow": cond_flow}
TASK_CONFIGS = {"harmonize": {"source_site": "A", "target_site": "B",
                              "contrasts": ["T1w", "T2w", "PDw"]},
                "denoise": {"noise_levels": [1]}, "mr_to_ct": {}}


@dataclass
class Probe:
    """A method's training model and a function predicting any (C, x, y, z) volume with it
    (the training arrays' grid and the predicted volume's need not agree: inference can
    run on a crop)."""

    model: train.TrainableModel
    infer: Callable[[np.ndarray], np.ndarray]
    in_channels: int
    # network passes a real inference makes for each one `infer` makes: a sampler
    # probes one sampling step of its `sampling_steps`, each step a pass over every slice
    passes: int = 1

    def n_parameters(self) -> int:
        return sum(p.numel() for net in self.model.modules().values() for p in net.parameters())


def paper_params(method: str) -> dict:
    """The method's `paper` preset: its DEFAULTS."""
    return dict(MODULES[method].DEFAULTS)


def _data(shape, channels: int, task: str, condition: str, rng) -> TrainingData:
    """Two training subjects (CycleGAN's unpaired halves need two), no validation."""
    cond = parse_condition(task, condition, TASK_CONFIGS[task])
    source = rng.random((2, channels, *shape), dtype=np.float32)
    target = rng.random((2, 1, *shape), dtype=np.float32)
    mask = np.ones((2, 1, *shape), np.uint8)
    empty = np.zeros((0, 1, *shape), np.float32)
    return TrainingData(cond, source, target, mask, empty, empty, empty)


def build(method: str, params: dict, shape: tuple[int, int, int],
          rng: np.random.Generator) -> Probe:
    """`method` with `params` on random training arrays of grid `shape`."""
    runtime = train.Runtime.create()
    device = runtime.device
    if method == "deepharmony":  # the workflow's one model, every harmonize contrast out
        one = _data(shape, 3, "harmonize", "AtoB-T1w", rng)
        targets = rng.random((2, 3, *shape), dtype=np.float32)
        data = TrainingData(all_contrasts_condition(TASK_CONFIGS["harmonize"]), one.source,
                            targets, one.mask, one.val_source, one.val_target, one.val_mask)
        model = deepharmony.DeepHarmonyModel(runtime, params, data)
        return Probe(model, lambda v: list(deepharmony.harmonise(
            model.nets, v, params["infer_batch_size"], device, [0, 1, 2])), 3)
    if method == "smore":
        slices = rng.random((4, shape[0], shape[1]), dtype=np.float32)
        pairs = smore_pairs.PatchPairs.build([slices], [slices], params["patch_size"], 0.0)
        model = smore.PatchRegression(runtime, params, pairs)

        def both_orientations(v):  # SMORE's two through-plane passes (fusion is not a network)
            return [smore.apply_through_plane(model.net, v[0], 2, a, runtime,
                                              params["infer_batch_size"]) for a in (0, 1)]
        return Probe(model, both_orientations, 1)
    task = "denoise" if method == "red_wgan" else "mr_to_ct"
    data = _data(shape, 1, task, "noise-1" if task == "denoise" else "default", rng)
    if method == "unet":
        model = unet.SliceUNet(runtime, params, data)
        return Probe(model, lambda v: predict_slices(model.net, v, params["infer_batch_size"],
                                                     device, model.net.multiple), 1)
    if method == "pix2pix":
        model = pix2pix.Pix2Pix(runtime, params, data)
        return Probe(model, lambda v: pix2pix.generate(model.generator, v, params, device), 1)
    if method == "cyclegan":
        model = cyclegan.CycleGAN(runtime, params, data, seed=0)
        return Probe(model, lambda v: predict_slices(model.g, v, params["infer_batch_size"], device,
                                                     cyclegan.PAD_MULTIPLE), 1)
    if method == "context_gan":
        source, target, mask = context_gan._network_arrays(data)
        model = context_gan.ContextGanStage(runtime, params, source, target, mask, lambda g: {})
        cascade = [model.generator] + [
            runtime.module(context_gan.ContextFCN(2, params["widths"], params["kernels"]))
            for _ in range(params["n_stages"] - 1)]
        return Probe(model, lambda v: context_gan.synthesise(cascade, v, params, device), 1)
    if method in ("cond_diffusion", "cond_flow"):
        process = MODULES[method].PROCESS(params, "CT")
        model = generative_slices.ConditionalSliceModel(runtime, params, data, process)
        one_step = {**params, "sampling_steps": 1}
        return Probe(model, lambda v: generative_slices.sample_volume(
            model.net, process, v, rng, one_step, device), 1, params["sampling_steps"])
    if method == "red_wgan":
        model = red_wgan.RedWgan(runtime, params, data)
        return Probe(model, lambda v: red_wgan.denoise(model.generator, v, params, device), 1)
    raise ValueError(f"no probe for method {method!r}; known: {', '.join(METHODS)}")
