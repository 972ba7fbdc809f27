"""Preprocessing: N4 bias correction, head and brain masks, MR normalisation."""

import numpy as np
import pytest

from medsynth.preprocess.bias import n4_correct
from medsynth.preprocess.masks import brain_mask_from_labels, head_mask
from medsynth.preprocess.normalise import normalise_mr


def grid(n, voxel_mm):
    """Normalised coordinates in [-1, 1] and a centred RAS affine for an n^3 volume."""
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = -voxel_mm * (n - 1) / 2
    return np.meshgrid(*[np.linspace(-1, 1, n)] * 3, indexing="ij"), affine


def blocky_phantom(n=48, voxel_mm=4.0):
    """An ellipsoid of blocks with three tissue intensities, and a smooth bias field."""
    (x, y, z), affine = grid(n, voxel_mm)
    head = (x / 0.85) ** 2 + (y / 0.95) ** 2 + (z / 0.8) ** 2 < 1
    ix, iy, iz = np.meshgrid(*[np.arange(n) // 6] * 3, indexing="ij")
    tissue = np.array([0.35, 0.7, 1.0], np.float32)[(ix + 2 * iy + iz) % 3]
    truth = np.where(head, tissue, 0).astype(np.float32)
    bias = np.exp(0.25 * x + 0.15 * z - 0.15 * y**2).astype(np.float32)
    noise = 0.01 * np.random.default_rng(0).standard_normal(truth.shape).astype(np.float32)
    return np.abs(truth * bias + noise), affine, head, head & (tissue == 1.0)


def test_n4_removes_a_smooth_bias():
    image, affine, head, uniform = blocky_phantom()

    def cv(a):
        return a[uniform].std() / a[uniform].mean()

    corrected = n4_correct(image, affine, mask=head)
    assert corrected.shape == image.shape and corrected.dtype == np.float32
    assert cv(image) > 0.1  # the bias spreads one tissue over about +-20 %
    assert cv(corrected) < 0.2 * cv(image)
    assert cv(corrected) < 0.02  # the noise alone gives 0.01
    assert corrected.min() >= 0 and np.all(np.isfinite(corrected))
    # the correction keeps the intensity scale (the field is normalised to mean 1)
    assert np.median(corrected[head]) == pytest.approx(np.median(image[head]), rel=0.1)


def test_n4_without_mask_uses_positive_voxels():
    image, affine, _, uniform = blocky_phantom()
    corrected = n4_correct(image, affine)
    assert corrected.shape == image.shape
    assert corrected[uniform].std() / corrected[uniform].mean() < 0.05


def test_n4_rejects_an_image_without_signal():
    with pytest.raises(ValueError, match="positive voxels"):
        n4_correct(np.zeros((8, 8, 8), np.float32), np.eye(4))


def synthetic_head(n=64, voxel_mm=3.0):
    """Bright brain, dark skull shell, bright scalp, air; an ear canal through
    scalp and skull, and a speck of noise in the air."""
    (x, y, z), affine = grid(n, voxel_mm)
    r = np.sqrt(x**2 + (y / 1.15) ** 2 + (z / 0.95) ** 2)
    image = np.zeros((n, n, n), np.float32)
    image[r < 0.55] = 1.0  # brain
    image[(r >= 0.55) & (r < 0.65)] = 0.03  # skull: dark like air
    image[(r >= 0.65) & (r < 0.75)] = 0.8  # scalp
    canal = (y**2 + z**2 < 0.1**2) & (x > 0.45)
    image[canal] = 0.0  # opens the skull to the air, so 3D hole filling alone fails
    image[2:6, 2:6, 2:6] = 0.9  # a bright speck in the air
    rng = np.random.default_rng(0)
    noisy = np.hypot(image + 0.02 * rng.standard_normal(image.shape),
                     0.02 * rng.standard_normal(image.shape)).astype(np.float32)
    return noisy, affine, r, n


def test_head_mask_includes_the_dark_skull_and_excludes_air():
    image, affine, r, n = synthetic_head()
    mask = head_mask(image, affine)
    voxel_r = 2.0 / (n - 1)  # one voxel in normalised units
    skull = (r >= 0.55) & (r < 0.65)
    assert mask[skull].all()
    assert mask[r < 0.75 - voxel_r].all()  # brain, skull, scalp and the inner canal
    assert not mask[r > 0.75 + 1.5 * voxel_r].any()  # air, the speck included
    assert mask.dtype == bool


def test_head_mask_of_an_empty_image_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        head_mask(np.zeros((10, 10, 10), np.float32), np.eye(4))


def test_normalise_puts_the_99th_percentile_at_one():
    rng = np.random.default_rng(0)
    data = (rng.random((20, 20, 20)) * 500).astype(np.float32)
    mask = np.zeros(data.shape, bool)
    mask[5:15, 5:15, 5:15] = True
    data[~mask] *= 0.1  # dim background, which must be kept, not zeroed
    out = normalise_mr(data, mask)
    scale = np.percentile(data[mask], 99)
    assert np.percentile(out[mask], 99) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(out, data / scale, rtol=1e-6)
    assert np.all(out[~mask] > 0)
    order = np.argsort(data, axis=None, kind="stable")
    assert np.all(np.diff(out.ravel()[order]) >= 0)  # intensity order is preserved


def test_normalise_rejects_empty_mask_and_dark_head():
    data = np.ones((4, 4, 4), np.float32)
    with pytest.raises(ValueError, match="empty head mask"):
        normalise_mr(data, np.zeros(data.shape, bool))
    with pytest.raises(ValueError, match="percentile"):
        normalise_mr(np.zeros((4, 4, 4), np.float32), np.ones((4, 4, 4), bool))


def test_brain_mask_from_labels():
    dseg = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    dseg[1, 1, 1] = 2.0000001  # float labels from a resampled file
    expected = np.array([[[False, True], [True, True]], [[False, False], [False, True]]])
    np.testing.assert_array_equal(brain_mask_from_labels(dseg), expected)
    np.testing.assert_array_equal(brain_mask_from_labels(dseg, brain_labels=(6, 7)),
                                  np.isin(np.arange(8).reshape(2, 2, 2), (6, 7)) & ~expected)
    with pytest.raises(ValueError, match="brain mask is empty"):
        brain_mask_from_labels(np.zeros((3, 3, 3)))
