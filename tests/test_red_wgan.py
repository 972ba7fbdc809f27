"""RED-WGAN: the generator's shape and residual start, WGAN-GP's penalty by
hand, 3D patches, slab-wise inference equal to one pass, the perceptual-loss
switch (fallback and local weights), resuming, one model for all noise
levels, and a trained denoiser beating its noisy input."""

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from model_weights import assert_same_weights, weights
from paired_inputs import AFFINE, smooth_field

from medsynth import io, steps, train
from medsynth.case import TrainingData, extract_arrays, input_path
from medsynth.infer import predict_volume
from medsynth.methods import gan_parts, perceptual, red_wgan
from medsynth.methods.patches import VolumePatches, usable_corners
from medsynth.preprocess.degrade import add_rician_noise
from medsynth.tasks import all_levels_condition, parse_condition

NOISE_10 = parse_condition("denoise", "noise-10", {"noise_levels": [10]})
TINY = {"widths": [4, 8, 8, 8], "critic_widths": [4, 4], "patch_size": [8, 8, 4],
        "min_head_fraction": 0.5, "batch_size": 4, "lr": 3e-3, "critic_iterations": 2,
        "iterations": 6, "log_every": 2, "checkpoint_every": 2, "val_every": 0}


def write_noisy_inputs(inputs_dir, subjects, shape, seed, percent=10.0):
    """Denoise-task inputs: a smooth clean target, its Rician-noisy copy as source."""
    rng = np.random.default_rng(seed)
    for subject in subjects:
        clean = smooth_field(shape, rng)
        mask = np.ones(shape, np.uint8)
        mask[0] = 0
        noisy = add_rician_noise(clean, percent, 1.0, rng)
        for role, data in [("source-T1w", noisy), ("target", clean), ("mask", mask),
                           ("brainmask", mask)]:
            nib.save(nib.Nifti1Image(data, AFFINE), input_path(inputs_dir, subject, role))


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    root = tmp_path_factory.mktemp("red_wgan")
    (root / "inputs").mkdir()
    write_noisy_inputs(root / "inputs", ["001", "002", "003", "004"], (20, 18, 12), seed=0)
    extract_arrays(root / "inputs", {"train": ["001", "002", "003"], "val": ["004"]}, NOISE_10,
                   root / "arrays")
    return root


# networks and losses ------------------------------------------------------------------------

def test_generator_keeps_the_volume_and_starts_as_the_identity():
    torch.manual_seed(0)
    net = red_wgan.REDGenerator([4, 8, 8, 16]).eval()
    x = torch.rand(2, 1, 9, 7, 5)
    with torch.no_grad():
        out = net(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x)  # zero last layer: output = relu(0 + x) = x
    assert net.receptive_radius == 8
    # the paper's widths: 32-64-128-256 down, 128-64-32-1 back
    paper = red_wgan.REDGenerator()
    assert [m[0].out_channels for m in paper.encoder] == [32, 64, 128, 256]
    assert [d.out_channels for d in paper.deconv] == [128, 64, 32, 1]
    assert all(isinstance(d, torch.nn.ConvTranspose3d) for d in paper.deconv)


def test_generator_output_is_never_negative():
    torch.manual_seed(1)
    net = red_wgan.REDGenerator([4, 4, 4, 4])
    torch.nn.init.normal_(net.deconv[-1].weight, std=1.0)
    assert net(torch.rand(1, 1, 6, 6, 6) - 0.5).min() >= 0


def test_critic_scores_each_patch_once():
    critic = red_wgan.Critic([8, 8, 4], [4, 8])
    assert critic(torch.rand(3, 1, 8, 8, 4)).shape == (3, 1)
    assert critic.score.in_features == 8 * 8 * 8 * 4


def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_minus_one():
    w = torch.tensor([[[[0.5, -1.0], [2.0, 0.0]]]])  # ||w|| = sqrt(5.25)

    def critic(x):
        return (x * w).flatten(1).sum(1, keepdim=True) + 3.0

    real, fake = torch.rand(4, 1, 2, 2), torch.rand(4, 1, 2, 2)
    penalty = gan_parts.gradient_penalty(critic, real, fake, torch.rand(4))
    assert penalty.item() == pytest.approx((np.sqrt(5.25) - 1) ** 2, rel=1e-6)


def test_gradient_penalty_is_taken_between_real_and_fake():
    # D(x) = 0.5 ||x||^2 has gradient x: the penalty is (||a r + (1 - a) f|| - 1)^2
    def critic(x):
        return 0.5 * (x ** 2).flatten(1).sum(1, keepdim=True)

    real = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    fake = torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    alpha = torch.tensor([0.5, 0.25])
    # sample 0: (2, 0), norm 2, (2 - 1)^2 = 1; sample 1: (0, 4), norm 4, 9
    penalty = gan_parts.gradient_penalty(critic, real, fake, alpha)
    assert penalty.item() == pytest.approx((1 + 9) / 2)


def test_gradient_penalty_reaches_the_critic_weights():
    critic = red_wgan.Critic([4, 4, 2], [2])
    penalty = gan_parts.gradient_penalty(critic, torch.rand(2, 1, 4, 4, 2),
                                         torch.rand(2, 1, 4, 4, 2), torch.rand(2))
    penalty.backward()
    assert critic.features[0].weight.grad.abs().sum() > 0


# patches and inference -----------------------------------------------------------------------

def test_usable_corners_are_exactly_the_patches_with_enough_head():
    rng = np.random.default_rng(0)
    mask = rng.random((9, 8, 7)) > 0.4
    patch, threshold = (4, 3, 2), 0.6
    found = {tuple(c) for c in usable_corners(mask, patch, threshold)}
    expected = {(x, y, z)
                for x in range(9 - 4 + 1) for y in range(8 - 3 + 1) for z in range(7 - 2 + 1)
                if mask[x:x + 4, y:y + 3, z:z + 2].mean() >= threshold}
    assert found == expected and expected


def test_patches_are_paired_and_sized():
    source = np.arange(2 * 1 * 6 * 5 * 4, dtype=np.float32).reshape(2, 1, 6, 5, 4)
    mask = np.ones((2, 1, 6, 5, 4), np.uint8)
    patches = VolumePatches.build(source, source + 1000, mask, (3, 2, 4), 1.0)
    noisy, clean = patches.sample(np.random.default_rng(0), 16)
    assert noisy.shape == clean.shape == (16, 1, 3, 2, 4)
    np.testing.assert_array_equal(clean, noisy + 1000)
    with pytest.raises(ValueError, match="smaller than the training patch"):
        VolumePatches.build(source, source, mask, (7, 2, 4), 0.5)


def test_slab_inference_equals_one_pass_over_the_volume():
    torch.manual_seed(0)
    net = red_wgan.REDGenerator([3, 4, 4, 5])
    torch.nn.init.normal_(net.deconv[-1].weight, std=0.3)  # a net that changes its input
    net.eval()
    volume = np.random.default_rng(0).random((1, 10, 9, 23)).astype(np.float32)
    with torch.no_grad():
        whole = net(torch.from_numpy(volume[None]))[0, 0].numpy()
    slabs = predict_volume(net, volume, torch.device("cpu"), net.receptive_radius, slab=5)
    np.testing.assert_allclose(slabs, whole, atol=1e-5)
    short = predict_volume(net, volume, torch.device("cpu"), 2, slab=5)
    assert np.abs(short - whole).max() > 1e-4  # too little context shows


# training ------------------------------------------------------------------------------------

def test_resumed_training_ends_bit_identical(arrays, tmp_path):
    data = TrainingData.load(arrays / "arrays", NOISE_10)
    params = {**red_wgan.DEFAULTS, **TINY}

    def run(model_dir, **kwargs):
        train.run_training(lambda rt: red_wgan.RedWgan(rt, params, data), name="red_wgan",
                           iterations=6,
                           model_dir=model_dir, params=params, seed=0, threads=1,
                           checkpoint_every=2, log_every=1, **kwargs)

    run(tmp_path / "straight")
    run(tmp_path / "killed", stop_after=5)  # last checkpoint at iteration 4
    run(tmp_path / "killed")
    assert_same_weights(weights(tmp_path / "straight"), weights(tmp_path / "killed"))


def test_without_weights_the_perceptual_term_is_left_out_and_recorded(arrays, tmp_path):
    steps.train("red_wgan", NOISE_10, arrays / "arrays", tmp_path, TINY, seed=0, threads=1)
    record = train.load_params(tmp_path)
    assert record["perceptual_loss"] == perceptual.FALLBACK
    header = (tmp_path / train.LOSS_CSV).read_text().splitlines()[0].split(",")
    assert "g_perceptual" not in header and {"g_mse", "g_adversarial", "gp"} <= set(header)


def test_local_vgg19_weights_switch_the_perceptual_term_on(arrays, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "vgg19-random.pth"  # stands in for torchvision's vgg19-dcbb9e9d.pth
    state = {f"features.{k}": v for k, v in perceptual.vgg19_features().state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)  # a whole-model file has more than features
    torch.save(state, weights)
    params = {**TINY, "patch_size": [32, 32, 2], "min_head_fraction": 0.1, "batch_size": 1,
              "iterations": 2, "perceptual_weights": str(weights)}
    (tmp_path / "in").mkdir()
    write_noisy_inputs(tmp_path / "in", ["001", "002"], (33, 34, 4), seed=1)
    extract_arrays(tmp_path / "in", {"train": ["001"], "val": ["002"]}, NOISE_10,
                   tmp_path / "arrays")
    model = tmp_path / "model"
    steps.train("red_wgan", NOISE_10, tmp_path / "arrays", model, params, seed=0, threads=1)
    record = train.load_params(model)
    assert record["perceptual_loss"] == "vgg19"
    assert len(record["perceptual_weights_sha256"]) == 64
    header = (model / train.LOSS_CSV).read_text().splitlines()[0].split(",")
    assert "g_perceptual" in header


def test_perceptual_loss_compares_features_plane_by_plane():
    torch.manual_seed(0)
    loss = perceptual.PerceptualLoss(perceptual.vgg19_features())
    a = torch.rand(2, 1, 32, 32, 3)
    assert loss(a, a).item() == 0
    assert loss(a, torch.flip(a, dims=[4])).item() > 0  # planes are matched in order
    assert loss.planes(a).shape == (6, 3, 32, 32)


def test_bad_perceptual_weights_are_named(tmp_path):
    truncated = tmp_path / "vgg19.pth"
    truncated.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(io.InputError, match="vgg19.pth"):
        perceptual.load_vgg19_features(truncated)
    wrong = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3)}, wrong)
    with pytest.raises(io.InputError, match="other.pth.*not VGG-19"):
        perceptual.load_vgg19_features(wrong)
    with pytest.raises(io.InputError, match="no such file"):
        perceptual.load_vgg19_features(tmp_path / "missing.pth")


def test_one_model_for_all_levels_trains_on_every_level(tmp_path):
    dirs = []
    for level in (3, 9):
        cond = parse_condition("denoise", f"noise-{level}", {"noise_levels": [level]})
        (tmp_path / f"in{level}").mkdir()
        write_noisy_inputs(tmp_path / f"in{level}", ["001", "002"], (12, 12, 6), seed=level,
                           percent=level)
        extract_arrays(tmp_path / f"in{level}", {"train": ["001"], "val": ["002"]}, cond,
                       tmp_path / f"arrays{level}")
        dirs.append(tmp_path / f"arrays{level}")
    pooled = TrainingData.pooled(dirs, all_levels_condition())
    assert pooled.source.shape == (2, 1, 12, 12, 6) and pooled.val_source.shape[0] == 2
    np.testing.assert_array_equal(pooled.source[1], np.load(dirs[1] / "train_source.npy")[0])
    steps.train("red_wgan", all_levels_condition(), dirs, tmp_path / "model", TINY, seed=0,
                threads=1)
    assert json.loads((tmp_path / "model" / train.PARAMS).read_text())["source_contrasts"] == ["T1w"]


def test_trained_denoiser_beats_its_noisy_input_on_the_target_grid(arrays, tmp_path):
    params = {**TINY, "widths": [8, 8, 16, 16], "critic_widths": [4, 8], "critic_iterations": 1,
              "iterations": 150, "log_every": 50, "checkpoint_every": 150}
    model = tmp_path / "model"
    steps.train("red_wgan", NOISE_10, arrays / "arrays", model, params, seed=0, threads=2)
    out = steps.infer("red_wgan", NOISE_10, arrays / "inputs", "004", model, params,
                      tmp_path / "pred.nii.gz")
    pred, target = nib.load(out), nib.load(input_path(arrays / "inputs", "004", "target"))
    assert pred.shape == target.shape
    np.testing.assert_allclose(pred.affine, target.affine)
    noisy = nib.load(input_path(arrays / "inputs", "004", "source-T1w")).get_fdata()
    clean = target.get_fdata()
    mse_noisy = np.mean((noisy - clean) ** 2)
    mse_denoised = np.mean((pred.get_fdata() - clean) ** 2)
    assert mse_denoised < 0.5 * mse_noisy  # 0.24 when written
