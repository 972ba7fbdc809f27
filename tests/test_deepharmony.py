"""DeepHarmony: the U-Net's layout, 2D patches in each orientation, the channel
layout of multi-contrast inputs (every site-A contrast in), one model with
every site-B contrast out that each contrast's condition predicts with, the
validation of every output, the median over orientations, inference
geometry, resuming, and a trained model beating the unharmonised scan on
every contrast."""

import nibabel as nib
import numpy as np
import pytest
import torch
from model_weights import assert_same_weights, weights
from paired_inputs import AFFINE, smooth_field

from medsynth import steps, train
from medsynth.case import TrainingData, extract_arrays, input_path
from medsynth.methods import deepharmony
from medsynth.report.convergence import condition_curves, validation_curves
from medsynth.tasks import all_contrasts_condition, model_condition, parse_condition

HARMONIZE = {"source_site": "A", "target_site": "B", "contrasts": ["T1w", "T2w", "PDw"]}
TO_T2 = parse_condition("harmonize", "AtoB-T2w", HARMONIZE)
ALL = all_contrasts_condition(HARMONIZE)
CONTRASTS = HARMONIZE["contrasts"]
TINY = {"widths": [4, 4, 8, 8], "bottleneck": 8, "patch_size": 16, "batch_size": 2,
        "bn_momentum": 0.1, "iterations": 6, "log_every": 2, "checkpoint_every": 2,
        "val_every": 0, "infer_batch_size": 8}
CHANNEL_VALUE = {"T1w": 0.1, "T2w": 0.2, "PDw": 0.3}  # offsets that tell the channels apart


# Site B's contrasts: another scanner's, each a nonlinear mix of site A's three
SITE_B = {
    "T1w": lambda t1, t2, pd: 1.5 * t1 ** 2 + 0.2 * pd * t2,
    "T2w": lambda t1, t2, pd: 1.3 * t2 ** 1.5 + 0.2 * t1 * pd,
    "PDw": lambda t1, t2, pd: 0.6 * pd ** 1.5 + 0.3 * t1 * t2,
}


def write_harmonize_inputs(root, subjects, shape, rng):
    """Each contrast condition's inputs folder, ``root/AtoB-<contrast>/inputs``, as
    derive writes them: the same site-A sources, the condition's site-B target."""
    for subject in subjects:
        sources = {c: smooth_field(shape, rng) + CHANNEL_VALUE[c] for c in CHANNEL_VALUE}
        mask = np.ones(shape, np.uint8)
        mask[0] = 0
        for contrast, mix in SITE_B.items():
            inputs = root / f"AtoB-{contrast}" / "inputs"
            inputs.mkdir(parents=True, exist_ok=True)
            target = np.clip(mix(sources["T1w"], sources["T2w"], sources["PDw"]), 0, None)
            files = {f"source-{c}": v for c, v in sources.items()}
            files.update(target=target.astype(np.float32), mask=mask, brainmask=mask)
            for role, data in files.items():
                nib.save(nib.Nifti1Image(data, AFFINE), input_path(inputs, subject, role))


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    """``root/AtoB-<contrast>/{inputs,arrays}`` of the three contrast conditions."""
    root = tmp_path_factory.mktemp("deepharmony")
    write_harmonize_inputs(root, ["001", "002", "003", "004"], (20, 24, 18),
                           np.random.default_rng(0))
    for contrast in CONTRASTS:
        folder = root / f"AtoB-{contrast}"
        extract_arrays(folder / "inputs", {"train": ["001", "002", "003"], "val": ["004"]},
                       parse_condition("harmonize", f"AtoB-{contrast}", HARMONIZE),
                       folder / "arrays")
    return root


def contrast_arrays(root):
    return [root / f"AtoB-{c}" / "arrays" for c in CONTRASTS]


def test_unet_keeps_the_slice_and_outputs_non_negative():
    net = deepharmony.DeepHarmonyUNet(3, 3)  # the paper's widths, every contrast out
    with torch.no_grad():
        out = net(torch.randn(2, 3, 32, 48))
    assert out.shape == (2, 3, 32, 48) and (out >= 0).all()
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


def test_one_model_condition_serves_every_contrast_condition():
    """Only DeepHarmony shares one model across the harmonize conditions."""
    assert ALL.name == "AtoB" and ALL.source_channels == ("T1w", "T2w", "PDw")
    assert ALL.output_contrasts == ("T1w", "T2w", "PDw") and ALL.target_site == "B"
    for contrast in CONTRASTS:
        condition = f"AtoB-{contrast}"
        assert model_condition("harmonize", condition, HARMONIZE, "deepharmony") == "AtoB"
        assert model_condition("harmonize", condition, HARMONIZE, "histogram_matching") == condition
        assert model_condition("harmonize", condition, HARMONIZE) == condition
    assert TO_T2.output_contrasts == ("T2w",)


def test_all_contrasts_training_data_stack_every_target(arrays):
    data = TrainingData.all_contrasts(contrast_arrays(arrays), ALL)
    assert data.in_channels == 3 and data.out_channels == 3
    for channel, contrast in enumerate(ALL.source_channels):  # the configured order
        source = nib.load(input_path(arrays / "AtoB-T2w" / "inputs", "001",
                                     f"source-{contrast}")).get_fdata()
        np.testing.assert_allclose(data.source[0, channel], source, rtol=1e-6)
    for channel, contrast in enumerate(CONTRASTS):
        inputs = arrays / f"AtoB-{contrast}" / "inputs"
        np.testing.assert_allclose(data.target[1, channel],
                                   nib.load(input_path(inputs, "002", "target")).get_fdata(),
                                   rtol=1e-6)
        np.testing.assert_allclose(data.val_target[0, channel],
                                   nib.load(input_path(inputs, "004", "target")).get_fdata(),
                                   rtol=1e-6)
    assert data.val_source.shape == (1, 3, 20, 24, 18)
    with pytest.raises(ValueError, match="3 contrasts"):
        TrainingData.all_contrasts(contrast_arrays(arrays)[:2], ALL)


def test_one_model_predicts_each_conditions_own_contrast(arrays, tmp_path):
    model_dir = tmp_path / "model"
    steps.train("deepharmony", ALL, contrast_arrays(arrays), model_dir, TINY, seed=0, threads=1)
    record = train.load_params(model_dir)
    assert record["source_contrasts"] == ["T1w", "T2w", "PDw"] and record["in_channels"] == 3
    assert record["target_contrasts"] == ["T1w", "T2w", "PDw"]
    # the validation scores every output contrast, and their mean; each condition's
    # convergence curve is its own contrast's
    curves = validation_curves(model_dir)
    assert set(curves) == {"val_mae", "val_mae_T1w", "val_mae_T2w", "val_mae_PDw"}
    assert curves["val_mae"][-1][1] == pytest.approx(
        np.mean([curves[f"val_mae_{c}"][-1][1] for c in CONTRASTS]), rel=1e-3)
    assert condition_curves(model_dir, "AtoB-T2w") == {"val_mae": curves["val_mae_T2w"]}
    assert "val_spread" in record  # the collapse check sees every output
    # each condition's prediction is its contrast's channel of the one model's output
    params = {**deepharmony.DEFAULTS, **TINY}
    runtime = train.Runtime.create()
    nets = {o: deepharmony.load_network(deepharmony._network(3, 3, params), model_dir,
                                        f"unet_{o}", runtime) for o in params["orientations"]}
    source = np.stack([nib.load(input_path(arrays / "AtoB-T1w" / "inputs", "004",
                                           f"source-{c}")).get_fdata(dtype=np.float32)
                       for c in CONTRASTS])
    every = deepharmony.harmonise(nets, source, 8, runtime.device, [0, 1, 2])
    assert every.shape == (3, 20, 24, 18)
    for k, contrast in enumerate(CONTRASTS):
        cond = parse_condition("harmonize", f"AtoB-{contrast}", HARMONIZE)
        out = steps.infer("deepharmony", cond, arrays / f"AtoB-{contrast}" / "inputs", "004",
                          model_dir, TINY, tmp_path / f"pred-{contrast}.nii.gz")
        np.testing.assert_allclose(nib.load(out).get_fdata(), every[k], rtol=1e-5, atol=1e-6)
    assert not np.allclose(every[0], every[1])
    other = parse_condition("harmonize", "AtoB-T2w",
                            {**HARMONIZE, "contrasts": ["T2w", "T1w"]})  # no PDw input
    with pytest.raises(ValueError, match="maps"):
        steps.infer("deepharmony", other, arrays / "AtoB-T2w" / "inputs", "004", model_dir,
                    TINY, tmp_path / "pred.nii.gz")


def test_inputs_are_every_site_a_contrast_with_the_conditions_first(arrays, tmp_path):
    """A one-contrast model (medsynth train on one condition) keeps working."""
    assert TO_T2.source_channels == ("T2w", "T1w", "PDw") and TO_T2.source_site == "A"
    arrays = arrays / "AtoB-T2w"
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
    data = TrainingData.all_contrasts(contrast_arrays(arrays), ALL)
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
    data = TrainingData.load(arrays / "AtoB-T2w" / "arrays", TO_T2)
    with pytest.raises(ValueError, match="orientations"):
        deepharmony.fit(data, {**TINY, "orientations": ["oblique"]}, tmp_path, 0, 1)
    with pytest.raises(ValueError, match="multiple of 16"):
        deepharmony.fit(data, {**TINY, "patch_size": 20}, tmp_path, 0, 1)


def test_trained_model_beats_the_unharmonised_scan_on_the_target_grid(arrays, tmp_path):
    """The one all-contrasts model, on every contrast's condition."""
    params = {**TINY, "widths": [8, 8, 16, 16], "bottleneck": 16, "batch_size": 4,
              "iterations": 400, "log_every": 100, "checkpoint_every": 400}
    model = tmp_path / "model"
    steps.train("deepharmony", ALL, contrast_arrays(arrays), model, params, seed=0, threads=2)
    for contrast in CONTRASTS:
        cond = parse_condition("harmonize", f"AtoB-{contrast}", HARMONIZE)
        inputs = arrays / f"AtoB-{contrast}" / "inputs"
        out = steps.infer("deepharmony", cond, inputs, "004", model, params,
                          tmp_path / f"pred-{contrast}.nii.gz")
        pred, target = nib.load(out), nib.load(input_path(inputs, "004", "target"))
        assert pred.shape == target.shape
        np.testing.assert_allclose(pred.affine, target.affine)
        source = nib.load(input_path(inputs, "004", f"source-{contrast}")).get_fdata()
        mse_none = np.mean((source - target.get_fdata()) ** 2)
        mse = np.mean((pred.get_fdata() - target.get_fdata()) ** 2)
        assert mse < 0.5 * mse_none, (contrast, mse, mse_none)
