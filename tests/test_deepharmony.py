"""DeepHarmony: the U-Net's layout, 2D patches in each orientation, the channel
layout of multi-contrast inputs (the condition's contrast first, every
site-A contrast in), the median over orientations, inference geometry,
resuming, and a trained model beating the unharmonised scan."""

import nibabel as nib
import numpy as np
import pytest
import torch
from model_weights import assert_same_weights, weights
from paired_inputs import AFFINE, smooth_field

from medsynth import steps, train
from medsynth.case import TrainingData, extract_arrays, input_path
from medsynth.methods import deepharmony
from medsynth.tasks import parse_condition

HARMONIZE = {"source_site": "A", "target_site": "B", "contrasts": ["T1w", "T2w", "PDw"]}
TO_T2 = parse_condition("harmonize", "AtoB-T2w", HARMONIZE)
TINY = {"widths": [4, 4, 8, 8], "bottleneck": 8, "patch_size": 16, "batch_size": 2,
        "bn_momentum": 0.1, "iterations": 6, "log_every": 2, "checkpoint_every": 2,
        "val_every": 0, "infer_batch_size": 8}
CHANNEL_VALUE = {"T1w": 0.1, "T2w": 0.2, "PDw": 0.3}  # offsets that tell the channels apart


def site_b(t1, t2, pd):
    """Site B's T2w: another scanner's contrast, a nonlinear mix of site A's three."""
    return np.clip(1.3 * t2 ** 1.5 + 0.2 * t1 * pd, 0, None).astype(np.float32)


def write_harmonize_inputs(inputs_dir, subjects, shape, rng):
    for subject in subjects:
        sources = {c: smooth_field(shape, rng) + CHANNEL_VALUE[c] for c in CHANNEL_VALUE}
        mask = np.ones(shape, np.uint8)
        mask[0] = 0
        files = {f"source-{c}": v for c, v in sources.items()}
        files.update(target=site_b(sources["T1w"], sources["T2w"], sources["PDw"]), mask=mask,
                     brainmask=mask)
        for role, data in files.items():
            nib.save(nib.Nifti1Image(data, AFFINE), input_path(inputs_dir, subject, role))


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    root = tmp_path_factory.mktemp("deepharmony")
    (root / "inputs").mkdir()
    write_harmonize_inputs(root / "inputs", ["001", "002", "003", "004"], (20, 24, 18),
                           np.random.default_rng(0))
    extract_arrays(root / "inputs", {"train": ["001", "002", "003"], "val": ["004"]}, TO_T2,
                   root / "arrays")
    return root


def test_unet_keeps_the_slice_and_outputs_non_negative():
    net = deepharmony.DeepHarmonyUNet(3, 1)  # the paper's widths
    with torch.no_grad():
        out = net(torch.randn(2, 3, 32, 48))
    assert out.shape == (2, 1, 32, 48) and (out >= 0).all()
    assert net.multiple == 16
    # the last layer sees the input contrasts themselves besides the features
    assert net.out.in_channels == 16 + 3


def test_plane_patch_is_centred_and_zero_outside():
    volume = np.arange(2 * 5 * 6 * 7, dtype=np.float32).reshape(2, 5, 6, 7)
    patch = deepharmony.plane_patch(volume, (0, 3, 4), axis=2, size=4)  # axial plane z = 4
    assert patch.shape == (2, 4, 4)
    # rows x = -2..1 (two outside), columns y = 1..4
    np.testing.assert_array_equal(patch[:, :2], 0)
    np.testing.assert_array_equal(patch[:, 2:], volume[:, 0:2, 1:5, 4])
    sagittal = deepharmony.plane_patch(volume, (1, 3, 3), axis=0, size=4)
    np.testing.assert_array_equal(sagittal, volume[:, 1, 1:5, 1:5])


def test_inputs_are_every_site_a_contrast_with_the_conditions_first(arrays, tmp_path):
    assert TO_T2.source_channels == ("T2w", "T1w", "PDw") and TO_T2.source_site == "A"
    data = TrainingData.load(arrays / "arrays", TO_T2)
    assert data.in_channels == 3
    for channel, contrast in enumerate(TO_T2.source_channels):  # the offsets identify them
        source = nib.load(input_path(arrays / "inputs", "001", f"source-{contrast}")).get_fdata()
        np.testing.assert_allclose(data.source[0, channel], source, rtol=1e-6)
    model = deepharmony.DeepHarmonyModel(train.Runtime.create(), {**deepharmony.DEFAULTS, **TINY},
                                         data)
    source, target = model.patches.sample(np.random.default_rng(0), 3, axis=1)
    assert source.shape == (3, 3, 16, 16) and target.shape == (3, 1, 16, 16)
    steps.train("deepharmony", TO_T2, arrays / "arrays", tmp_path / "model", TINY, seed=0,
                threads=1)
    record = train.load_params(tmp_path / "model")
    assert record["source_contrasts"] == ["T2w", "T1w", "PDw"]
    assert record["target_contrast"] == "T2w" and record["in_channels"] == 3
    to_t1 = parse_condition("harmonize", "AtoB-T1w", HARMONIZE)
    with pytest.raises(ValueError, match="maps"):  # a T2w model asked for T1w
        steps.infer("deepharmony", to_t1, arrays / "inputs", "004", tmp_path / "model", TINY,
                    tmp_path / "pred.nii.gz")


def test_orientations_are_combined_by_the_voxelwise_median():
    class Constant(torch.nn.Module):
        multiple = 1

        def __init__(self, value):
            super().__init__()
            self.value = value

        def forward(self, x):
            return torch.full_like(x[:, :1], self.value)

    nets = {"axial": Constant(1.0), "coronal": Constant(5.0), "sagittal": Constant(2.0)}
    out = deepharmony.harmonise(nets, np.zeros((2, 5, 6, 7), np.float32), 4, torch.device("cpu"))
    assert out.shape == (5, 6, 7)
    np.testing.assert_array_equal(out, 2.0)


def test_resumed_training_ends_bit_identical(arrays, tmp_path):
    data = TrainingData.load(arrays / "arrays", TO_T2)
    params = {**deepharmony.DEFAULTS, **TINY}

    def run(model_dir, **kwargs):
        train.run_training(lambda rt: deepharmony.DeepHarmonyModel(rt, params, data),
                           name="deepharmony", iterations=6, model_dir=model_dir, params=params, seed=0, threads=1,
                           checkpoint_every=2, log_every=1, **kwargs)

    run(tmp_path / "straight")
    run(tmp_path / "killed", stop_after=5)
    run(tmp_path / "killed")
    straight = weights(tmp_path / "straight")
    assert set(straight) == {"unet_axial", "unet_coronal", "unet_sagittal"}
    assert_same_weights(straight, weights(tmp_path / "killed"))


def test_bad_settings_are_refused(arrays, tmp_path):
    data = TrainingData.load(arrays / "arrays", TO_T2)
    with pytest.raises(ValueError, match="orientations"):
        deepharmony.fit(data, {**TINY, "orientations": ["oblique"]}, tmp_path, 0, 1)
    with pytest.raises(ValueError, match="multiple of 16"):
        deepharmony.fit(data, {**TINY, "patch_size": 20}, tmp_path, 0, 1)


def test_trained_model_beats_the_unharmonised_scan_on_the_target_grid(arrays, tmp_path):
    params = {**TINY, "widths": [8, 8, 16, 16], "bottleneck": 16, "batch_size": 4,
              "iterations": 400, "log_every": 100, "checkpoint_every": 400}
    model = tmp_path / "model"
    steps.train("deepharmony", TO_T2, arrays / "arrays", model, params, seed=0, threads=2)
    out = steps.infer("deepharmony", TO_T2, arrays / "inputs", "004", model, params,
                      tmp_path / "pred.nii.gz")
    pred, target = nib.load(out), nib.load(input_path(arrays / "inputs", "004", "target"))
    assert pred.shape == target.shape
    np.testing.assert_allclose(pred.affine, target.affine)
    source = nib.load(input_path(arrays / "inputs", "004", "source-T2w")).get_fdata()
    mse_none = np.mean((source - target.get_fdata()) ** 2)
    mse = np.mean((pred.get_fdata() - target.get_fdata()) ** 2)
    assert mse < 0.5 * mse_none, (mse, mse_none)
