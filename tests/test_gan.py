"""pix2pix and CycleGAN: the papers' networks and objectives (values on fixed
tiny batches), the image pool, the schedule, the unpaired sampler, resuming
after an interruption, and predictions on the target grid."""

import math

import nibabel as nib
import numpy as np
import pytest
import torch
from model_weights import assert_same_weights, weights
from paired_inputs import AFFINE, write_inputs

from medsynth import steps, train
from medsynth.case import TrainingData, extract_arrays
from medsynth.infer import predict_slices
from medsynth.methods import cyclegan, gan_parts, pix2pix
from medsynth.methods.intensity import from_network
from medsynth.methods.slices import network_source
from medsynth.tasks import parse_condition

T1_TO_T2 = parse_condition("t1_to_t2", "default", {})
MR_TO_CT = parse_condition("mr_to_ct", "default", {})
TINY = {
    "pix2pix": {"n_downs": 3, "generator_width": 4, "discriminator_width": 4,
                "discriminator_layers": 2, "iterations": 4, "decay_iterations": 2,
                "log_every": 1, "checkpoint_every": 2, "val_every": 0, "infer_batch_size": 1},
    "cyclegan": {"generator_width": 4, "residual_blocks": 1, "discriminator_width": 4,
                 "discriminator_layers": 2, "pool_size": 3, "iterations": 4,
                 "decay_iterations": 2, "log_every": 1, "checkpoint_every": 2, "val_every": 0,
                 "infer_batch_size": 4},
}


# networks --------------------------------------------------------------------------------

def test_unet_256_and_patchgan_have_the_reference_sizes():
    generator = pix2pix.UNetGenerator(1, 1, n_downs=8, width=64)
    assert sum(p.numel() for p in generator.parameters()) == pytest.approx(54.41e6, rel=1e-3)
    assert sum(isinstance(m, torch.nn.Dropout) for m in generator.modules()) == 3
    assert generator(torch.zeros(1, 1, 256, 256)).shape == (1, 1, 256, 256)
    discriminator = gan_parts.PatchGAN(2, 64, 3)
    assert sum(p.numel() for p in discriminator.parameters()) == pytest.approx(2.765e6, rel=1e-3)
    assert discriminator(torch.zeros(1, 2, 256, 256)).shape == (1, 1, 30, 30)


def test_patchgan_output_sees_a_70_pixel_patch():
    assert gan_parts.receptive_field(3) == 70
    net = gan_parts.PatchGAN(1, 4, 3, norm="batch").eval()  # no batch-wide statistics
    x = torch.randn(1, 1, 160, 160, requires_grad=True)
    out = net(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows, cols = np.nonzero(x.grad[0, 0].numpy())
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_resnet_generator_keeps_the_slice_shape_and_has_nine_blocks():
    g = cyclegan.ResnetGenerator(1, 1, width=64, blocks=9)
    assert sum(isinstance(m, cyclegan.ResidualBlock) for m in g.modules()) == 9
    # reference resnet_9blocks, 3 -> 3 channels: 11 378 179; 1 -> 1 drops two input
    # and two output channels of the 7x7 convolutions (2 x 2 x 49 x 64) and two biases
    assert sum(p.numel() for p in g.parameters()) == 11_378_179 - 2 * 2 * 49 * 64 - 2
    small = cyclegan.ResnetGenerator(2, 1, width=4, blocks=2)
    assert small(torch.zeros(3, 2, 20, 28)).shape == (3, 1, 20, 28)


# objectives ------------------------------------------------------------------------------

def test_gan_losses_by_hand():
    zeros, ones = torch.zeros(2, 1, 3, 3), torch.ones(2, 1, 3, 3)
    assert gan_parts.gan_loss(zeros, True, "vanilla").item() == pytest.approx(math.log(2))
    assert gan_parts.gan_loss(zeros, False, "lsgan").item() == 0.0
    assert gan_parts.gan_loss(zeros, True, "lsgan").item() == 1.0
    # 0.5 * ((3 - 1)^2 + (1 - 0)^2)
    d = gan_parts.discriminator_loss(3 * ones, ones, "lsgan")
    assert d.item() == pytest.approx(0.5 * (4 + 1))
    with pytest.raises(ValueError, match="gan_mode"):
        gan_parts.gan_loss(zeros, True, "wgan")


def test_pix2pix_objective_is_gan_plus_100_l1():
    logits = torch.zeros(1, 1, 4, 4)  # D undecided: -log(sigmoid(0)) = log 2
    fake, real = torch.full((1, 1, 8, 8), 0.5), torch.full((1, 1, 8, 8), 0.25)
    losses = pix2pix.generator_loss(logits, fake, real, lambda_l1=100.0)
    assert losses["g_gan"].item() == pytest.approx(math.log(2))
    assert losses["g_l1"].item() == pytest.approx(0.25)
    assert losses["g"].item() == pytest.approx(math.log(2) + 100 * 0.25)


def test_cyclegan_objective_weights_cycle_by_10_and_identity_by_5():
    shape = (1, 1, 4, 4)
    a, b = torch.zeros(shape), torch.ones(shape)
    d_fake_b = torch.full((1, 1, 2, 2), 0.5)  # LSGAN: (0.5 - 1)^2 = 0.25
    d_fake_a = torch.zeros((1, 1, 2, 2))  # (0 - 1)^2 = 1
    rec_a, rec_b = torch.full(shape, 0.1), torch.full(shape, 0.8)  # L1 0.1 and 0.2
    idt_b, idt_a = torch.full(shape, 0.7), torch.full(shape, 0.4)  # L1 0.3 and 0.4
    losses = cyclegan.generator_losses(d_fake_b, d_fake_a, a, rec_a, b, rec_b, idt_b, idt_a,
                                       lambda_cycle=10.0, lambda_identity=0.5)
    assert losses["g_gan"].item() == pytest.approx(0.25)
    assert losses["f_gan"].item() == pytest.approx(1.0)
    expected = 0.25 + 1.0 + 10 * (0.1 + 0.2) + 5 * (0.3 + 0.4)
    assert losses["g"].item() == pytest.approx(expected)
    without = cyclegan.generator_losses(d_fake_b, d_fake_a, a, rec_a, b, rec_b, None, None,
                                        lambda_cycle=10.0, lambda_identity=0.5)
    assert "identity_target" not in without
    assert without["g"].item() == pytest.approx(0.25 + 1.0 + 10 * (0.1 + 0.2))


def test_linear_decay_is_constant_then_falls_to_near_zero():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    schedule = gan_parts.linear_decay(opt, iterations=10, decay_iterations=4)
    rates = []
    for _ in range(10):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    np.testing.assert_allclose(rates, [1, 1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4])
    with pytest.raises(ValueError, match="decay_iterations"):
        gan_parts.linear_decay(opt, iterations=10, decay_iterations=11)


# image pool --------------------------------------------------------------------------------

def test_image_pool_fills_then_swaps_half_the_time():
    torch.manual_seed(0)
    pool = gan_parts.ImagePool(4)
    first = torch.arange(4.0).reshape(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: new images pass straight through
    returned_old = 0
    for step in range(200):
        new = torch.full((1, 1, 1, 1), 100.0 + step)
        out = pool.query(new)
        if out.item() != new.item():
            returned_old += 1
            assert new.item() in [image.item() for image in pool.images]  # it took the old one's place
        assert len(pool.images) == 4
    assert 70 < returned_old < 130  # probability 1/2
    assert torch.equal(gan_parts.ImagePool(0).query(first), first)


def test_image_pool_state_round_trips():
    pool = gan_parts.ImagePool(3)
    pool.query(torch.randn(2, 1, 4, 4))
    copy = gan_parts.ImagePool(3)
    copy.load(pool.state(), torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(pool.images, copy.images, strict=True))


# unpaired sampling ---------------------------------------------------------------------------

def labelled_training_data(n_subjects, shape=(8, 8, 6)):
    """Training arrays whose every voxel holds its subject's number (source) or
    100 + that number (target, in HU), so a slice tells which subject it came from."""
    numbers = np.arange(n_subjects, dtype=np.float32)[:, None, None, None, None]
    source = np.broadcast_to(numbers, (n_subjects, 1, *shape)).copy()
    target = 100 + source
    mask = np.ones_like(source, dtype=np.uint8)
    empty = np.zeros((0, 1, *shape), np.float32)
    return TrainingData(MR_TO_CT, source, target, mask, empty, empty, empty.astype(np.uint8))


def test_unpaired_halves_are_disjoint_seeded_and_complete():
    for n in (2, 3, 5, 12):
        source, target = cyclegan.unpaired_halves(n, seed=7)
        assert not set(source) & set(target)
        assert sorted([*source, *target]) == list(range(n))
        assert len(source) - len(target) in (0, 1)
        again = cyclegan.unpaired_halves(n, seed=7)
        assert np.array_equal(source, again[0]) and np.array_equal(target, again[1])
    with pytest.raises(ValueError, match="at least 2 training subjects"):
        cyclegan.unpaired_halves(1, seed=0)


def test_unpaired_sampler_never_pairs_a_subject_with_itself():
    data = labelled_training_data(5)
    params = {**cyclegan.DEFAULTS, **TINY["cyclegan"], "batch_size": 4}
    model = cyclegan.CycleGAN(train.Runtime.create(), params, data, seed=3)
    source_half, target_half = cyclegan.unpaired_halves(5, seed=3)
    rng = np.random.default_rng(0)
    seen_source, seen_target = set(), set()
    for _ in range(100):
        source, target = model.sample_batch(rng)
        source_subjects = {round(float(v)) for v in np.unique(from_network(source, "T1w"))}
        target_subjects = {round(float(v)) - 100 for v in np.unique(from_network(target, "CT"))}
        assert source_subjects <= set(source_half.tolist())
        assert target_subjects <= set(target_half.tolist())
        seen_source |= source_subjects
        seen_target |= target_subjects
    assert seen_source == set(source_half.tolist()) and seen_target == set(target_half.tolist())


# training, resuming, predicting --------------------------------------------------------------

@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan")
    inputs = root / "inputs"
    inputs.mkdir()
    write_inputs(inputs, ["001", "002", "003", "004"], (13, 11, 6), np.random.default_rng(0),
                 lambda s: (3000 * s - 1000).astype(np.float32))  # a CT-like range in HU
    extract_arrays(inputs, {"train": ["001", "002", "003"], "val": ["004"]}, MR_TO_CT,
                   root / "arrays")
    return root


@pytest.mark.parametrize("method", ["pix2pix", "cyclegan"])
def test_resumed_training_ends_bit_identical(arrays, tmp_path, method):
    module = {"pix2pix": pix2pix, "cyclegan": cyclegan}[method]
    data = TrainingData.load(arrays / "arrays", MR_TO_CT)
    params = {**module.DEFAULTS, **TINY[method], "iterations": 6, "decay_iterations": 3}

    def build(runtime):
        if method == "cyclegan":
            return cyclegan.CycleGAN(runtime, params, data, seed=0)
        return pix2pix.Pix2Pix(runtime, params, data)

    def run(model_dir, **kwargs):
        train.run_training(build, name=method, iterations=6, model_dir=model_dir, params=params, seed=0,
                           threads=1, checkpoint_every=2, log_every=1, **kwargs)

    run(tmp_path / "straight")
    run(tmp_path / "killed", stop_after=5)  # last checkpoint at iteration 4
    run(tmp_path / "killed")
    assert_same_weights(weights(tmp_path / "straight"), weights(tmp_path / "killed"))


@pytest.mark.parametrize("method", ["pix2pix", "cyclegan"])
def test_prediction_lies_on_the_target_grid_in_hu(arrays, tmp_path, method):
    model = tmp_path / "model"
    steps.train(method, MR_TO_CT, arrays / "arrays", model, TINY[method], seed=0, threads=1)
    assert (model / "loss.png").exists()
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_inputs(inputs, ["009"], (15, 9, 7), np.random.default_rng(2), lambda s: 100 * s)
    out = steps.infer(method, MR_TO_CT, inputs, "009", model, TINY[method],
                      tmp_path / "pred.nii.gz")
    pred = nib.load(out)
    assert pred.shape == (15, 9, 7)
    np.testing.assert_allclose(pred.affine, AFFINE, atol=1e-5)
    values = pred.get_fdata()
    assert np.isfinite(values).all() and values.min() >= -1024 and values.max() <= 3000
    again = nib.load(steps.infer(method, MR_TO_CT, inputs, "009", model, TINY[method],
                                 tmp_path / "again.nii.gz")).get_fdata()
    np.testing.assert_array_equal(values, again)  # test-time dropout is seeded


def test_cyclegan_records_its_disjoint_halves(arrays, tmp_path):
    steps.train("cyclegan", MR_TO_CT, arrays / "arrays", tmp_path / "model", TINY["cyclegan"],
                seed=5, threads=1)
    record = train.load_params(tmp_path / "model")
    assert not set(record["source_half"]) & set(record["target_half"])
    assert sorted(record["source_half"] + record["target_half"]) == [0, 1, 2]


def test_cyclegan_crops_are_windows_of_the_padded_slices():
    batch = np.arange(2 * 1 * 12 * 8, dtype=np.float32).reshape(2, 1, 12, 8)
    crops = cyclegan.random_crop(batch, 4, np.random.default_rng(0))
    assert crops.shape == (2, 1, 4, 4)
    for whole, crop in zip(batch, crops, strict=True):
        # a window of consecutive rows and columns: row steps of 8, column steps of 1
        x, y = divmod(int(crop[0, 0, 0] - whole[0, 0, 0]), 8)
        np.testing.assert_array_equal(crop, whole[:, x:x + 4, y:y + 4])
    assert cyclegan.random_crop(batch, None, np.random.default_rng(0)) is batch
    assert cyclegan.random_crop(batch, 8, np.random.default_rng(0)) is batch  # no smaller side
    with pytest.raises(ValueError, match="multiple of 4"):
        cyclegan.random_crop(batch, 6, np.random.default_rng(0))


def test_cyclegan_trains_on_crops_and_predicts_whole_slices():
    data = labelled_training_data(4, shape=(48, 40, 4))
    params = {**cyclegan.DEFAULTS, **TINY["cyclegan"], "crop_size": 32}
    model = cyclegan.CycleGAN(train.Runtime.create(), params, data, seed=3)
    source, target = model.sample_batch(np.random.default_rng(0))
    assert source.shape[-2:] == target.shape[-2:] == (32, 32)
    assert all(np.isfinite(v) for v in model.train_step((source, target)).values())
    whole = predict_slices(model.g, network_source(data.source[0], ["T1w"]), 4,
                           model.runtime.device, cyclegan.PAD_MULTIPLE)
    assert whole.shape == (48, 40, 4)
