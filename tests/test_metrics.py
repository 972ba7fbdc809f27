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


def test_changes_outside_the_mask_do_not_change_any_metric(volume):
    target, mask = volume
    rng = np.random.default_rng(1)
    pred = target + rng.normal(0, 0.05, target.shape).astype(np.float32)
    before = metrics.image_metrics(pred, target, mask, is_ct=False)
    pred2, target2 = pred.copy(), target.copy()
    pred2[~mask] = rng.uniform(-5, 5, int((~mask).sum()))
    target2[~mask] = 0.0
    after = metrics.image_metrics(pred2, target2, mask, is_ct=False)
    assert after == pytest.approx(before, abs=1e-12)


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


def test_data_range_ct_is_synthrad_fixed_and_mr_is_masked_target_range(volume):
    target, mask = volume
    assert metrics.data_range_for(target, mask, is_ct=True) == 4024.0
    spiked = target.copy()
    spiked[0, 0, 0] = 100.0  # outside the mask: must not set the range
    inside = target[mask]
    assert metrics.data_range_for(spiked, mask, is_ct=False) == pytest.approx(
        float(inside.max() - inside.min()))
    with pytest.raises(ValueError, match="constant"):
        metrics.data_range_for(np.ones_like(target), mask, is_ct=False)


def test_ct_metrics_clip_for_psnr_and_ssim_but_not_for_mae():
    rng = np.random.default_rng(4)
    target = rng.uniform(-1000, 2000, (12, 12, 12)).astype(np.float32)
    mask = np.ones(target.shape, dtype=bool)
    target[6, 6, 6] = 3000.0
    pred = target.copy()
    pred[6, 6, 6] = 4000.0  # differs only above the 3000 HU clip
    result = metrics.image_metrics(pred, target, mask, is_ct=True)
    assert result["mae"] == pytest.approx(1000.0 / target.size)
    assert result["psnr"] == math.inf
    assert result["ssim"] == pytest.approx(1.0, abs=1e-12)
    offset = metrics.image_metrics(target + 10.0, target, mask, is_ct=True)
    assert offset["mae"] == pytest.approx(10.0, abs=1e-3)
    # every voxel off by 10 HU except the one at 3000 HU, which is clipped back to 3000
    mse = 100.0 * (target.size - 1) / target.size
    assert offset["psnr"] == pytest.approx(10 * math.log10(4024.0**2 / mse), abs=1e-3)
