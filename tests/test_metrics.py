"""Masked image metrics and Dice against hand-computed values."""

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from medsynth import metrics


@pytest.fixture
def volume():
    rng = np.random.default_rng(0)
    target = rng.uniform(0.0, 1.0, (16, 16, 16)).astype(np.float32)
    mask = np.zeros(target.shape, dtype=bool)
    mask[4:12, 4:12, 4:12] = True
    return target, mask


def test_constant_offset_gives_exact_mae_and_psnr(volume):
    target, mask = volume
    pred = target + np.float32(0.25)
    assert metrics.mae(pred, target, mask) == pytest.approx(0.25, abs=1e-6)
    # MSE = 0.0625, so PSNR = 10 log10(2^2 / 0.0625) = 10 log10(64)
    assert metrics.psnr(pred, target, mask, data_range=2.0) == pytest.approx(
        10 * math.log10(64), abs=1e-4)


def test_mae_hand_computed_on_two_voxels():
    target = np.array([[[0.0, 1.0, 5.0]]])
    pred = np.array([[[1.0, 4.0, -100.0]]])
    mask = np.array([[[True, True, False]]])
    assert metrics.mae(pred, target, mask) == pytest.approx(2.0)  # (1 + 3) / 2
    # MSE = (1 + 9) / 2 = 5
    assert metrics.psnr(pred, target, mask, 10.0) == pytest.approx(10 * math.log10(100 / 5))


def test_identical_images_give_infinite_psnr_and_unit_ssim(volume):
    target, mask = volume
    assert metrics.psnr(target, target, mask, 1.0) == math.inf
    assert metrics.ssim(target, target, mask, 1.0) == pytest.approx(1.0, abs=1e-12)


def test_ssim_decreases_with_noise(volume):
    target, mask = volume
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 1, target.shape).astype(np.float32)
    scores = [metrics.ssim(target + s * noise, target, mask, 1.0) for s in (0.01, 0.05, 0.2)]
    assert 1.0 > scores[0] > scores[1] > scores[2]


def test_ssim_with_full_mask_equals_skimage_mean(volume):
    target, _ = volume
    rng = np.random.default_rng(3)
    pred = target + rng.normal(0, 0.1, target.shape).astype(np.float32)
    full = np.ones(target.shape, dtype=bool)
    expected = structural_similarity(target.astype(np.float64), pred.astype(np.float64),
                                     data_range=1.0)
    assert metrics.ssim(pred, target, full, 1.0) == pytest.approx(expected, abs=1e-10)


def test_metrics_reject_mismatched_shapes_and_empty_masks(volume):
    target, mask = volume
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.mae(target[:-1], target, mask)
    with pytest.raises(ValueError, match="empty"):
        metrics.psnr(target, target, np.zeros_like(mask), 1.0)


def test_dice_exact_fractions():
    a = np.zeros(10, dtype=bool)
    b = np.zeros(10, dtype=bool)
    a[[0, 1, 2]] = True
    b[[1, 2, 3]] = True
    assert metrics.dice(a, b) == pytest.approx(2 * 2 / 6)
    b[:] = False
    b[[5]] = True
    assert metrics.dice(a, b) == 0.0
    assert metrics.dice(a, a) == 1.0
    assert metrics.dice(np.zeros(4, bool), np.zeros(4, bool)) == 1.0  # both empty: agreement


def test_dice_per_label_names_and_values():
    seg = np.array([1, 1, 2, 2, 3, 0])
    ref = np.array([1, 2, 2, 2, 3, 3])
    result = metrics.dice_per_label(seg, ref, {1: "CSF", 2: "GM", 3: "WM"})
    assert list(result) == ["CSF", "GM", "WM"]
    assert result["CSF"] == pytest.approx(2 * 1 / 3)  # |A|=2, |B|=1
    assert result["GM"] == pytest.approx(2 * 2 / 5)  # |A|=2, |B|=3
    assert result["WM"] == pytest.approx(2 * 1 / 3)  # |A|=1, |B|=2


@pytest.mark.parametrize("shape", [(97, 97, 97), (8, 7, 6)])
def test_halving_is_the_fft_mean_filter_taken_every_other_voxel(shape):
    """SynthRAD2025's down-sampling, as its code writes it, on odd and even sizes."""
    from scipy.signal import fftconvolve

    a = np.random.default_rng(5).uniform(0, 10, shape)
    expected = fftconvolve(a, np.ones((2, 2, 2)) / 8, mode="same")[::2, ::2, ::2]
    np.testing.assert_allclose(metrics._halve(a), expected, rtol=1e-12, atol=1e-12)


def test_ms_ssim_and_gaussian_ssim_of_identical_images_are_one(volume):
    target, mask = volume
    assert metrics.ms_ssim(target, target, mask, 1.0) == pytest.approx(1.0, abs=1e-12)
    assert metrics.gaussian_ssim(target, target) == pytest.approx(1.0, abs=1e-12)
    noisy = target + np.random.default_rng(6).normal(0, 0.1, target.shape)
    assert 0.0 < metrics.ms_ssim(noisy, target, mask, 1.0) < 1.0


def test_percentile_normalise_by_hand():
    # -50 ... 150: the 0.5th percentile (-49) is raised to 0, the 99.5th is 149
    image = np.arange(201, dtype=float) - 50
    out = metrics.percentile_normalise(image)
    np.testing.assert_allclose(out, np.clip(image, 0, 149) / 149)
    with pytest.raises(ValueError, match="window"):
        metrics.percentile_normalise(np.zeros(10))


def test_target_range_ignores_voxels_outside_the_mask(volume):
    target, mask = volume
    spiked = target.copy()
    spiked[0, 0, 0] = 100.0  # outside the mask: must not set the range
    inside = target[mask]
    assert metrics.target_range(spiked, mask) == pytest.approx(float(inside.max() - inside.min()))
    with pytest.raises(ValueError, match="constant"):
        metrics.target_range(np.ones_like(target), mask)
