"""Atropos tissue segmentation on a synthetic three-tissue volume, and the CT bone threshold."""

import tempfile

import numpy as np
import pytest

from medsynth.metrics import dice_per_label
from medsynth.segment import (
    BONE_THRESHOLD_HU,
    SegmentationError,
    atropos_tissues,
    bone_mask_from_ct,
)

N = 40
LABELS = {1: "CSF", 2: "GM", 3: "WM"}
# Tissue intensities ordered as each contrast orders them.
CONTRAST_INTENSITY = {
    "T1w": {1: 0.30, 2: 0.60, 3: 0.90},
    "T2w": {1: 1.00, 2: 0.65, 3: 0.40},
}


def nested_spheres() -> np.ndarray:
    """A brain-like sphere: CSF ventricle core, WM, GM cortex, sulcal CSF rim; 0 outside.

    CSF is ~30% of the sphere, as in a brain mask; a tiny CSF class (a few %)
    lets Atropos' Gaussian mixture widen it over the GM tail at low contrast.
    """
    grid = np.indices((N, N, N)) - (N - 1) / 2
    r = np.sqrt((grid**2).sum(axis=0))
    truth = np.zeros((N, N, N), dtype=np.uint8)
    truth[r < 17] = 1
    truth[r < 15] = 2
    truth[r < 11] = 3
    truth[r < 6] = 1
    return truth


def render(truth, contrast, seed=0, noise=0.04):
    image = np.zeros(truth.shape, dtype=np.float32)
    for label, value in CONTRAST_INTENSITY[contrast].items():
        image[truth == label] = value
    rng = np.random.default_rng(seed)
    return image + rng.normal(0, noise, image.shape).astype(np.float32)


# A flipped, shifted affine checks that labels come back in our array orientation.
AFFINE = np.array([[-2.0, 0, 0, 40], [0, 2.0, 0, -40], [0, 0, 2.0, -30], [0, 0, 0, 1]])


@pytest.mark.parametrize("contrast", ["T1w", "T2w"])
def test_atropos_recovers_tissues_in_contrast_order(contrast):
    truth = nested_spheres()
    brain = truth > 0
    seg = atropos_tissues(render(truth, contrast), AFFINE, brain, contrast)
    assert seg.dtype == np.uint8 and seg.shape == truth.shape
    assert not seg[~brain].any()
    scores = dice_per_label(seg, truth, LABELS)
    assert min(scores.values()) > 0.9, scores


def test_pd_contrast_has_no_tissue_order():
    truth = nested_spheres()
    with pytest.raises(ValueError, match="PDw"):
        atropos_tissues(render(truth, "T1w"), AFFINE, truth > 0, "PDw")


def test_atropos_is_deterministic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    truth = nested_spheres()
    image = render(truth, "T1w", noise=0.25)  # noisy enough that a random seed shows
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first = atropos_tissues(image, AFFINE, truth > 0, "T1w")
    second = atropos_tissues(image, AFFINE, truth > 0, "T1w")
    assert np.array_equal(first, second)
    assert tempfile.gettempdir() == str(tmp_path)
    assert list(tmp_path.iterdir()) == []  # no probability images left behind


def test_atropos_rejects_ct_and_empty_masks():
    truth = nested_spheres()
    with pytest.raises(ValueError, match="CT"):
        atropos_tissues(render(truth, "T1w"), AFFINE, truth > 0, "CT")
    with pytest.raises(ValueError, match="empty"):
        atropos_tissues(render(truth, "T1w"), AFFINE, np.zeros(truth.shape, bool), "T1w")


def test_an_image_without_three_tissues_raises_a_segmentation_error():
    truth = nested_spheres()
    brain = truth > 0
    collapsed = np.zeros(truth.shape, np.float32)  # a synthesis stuck at 0 (a dead ReLU)
    collapsed[tuple(np.argwhere(brain)[:20].T)] = 0.05  # but for a few voxels
    two_values = np.where(truth == 3, 1.0, 0.2).astype(np.float32)  # only two intensities
    for image in (collapsed, two_values):
        with pytest.raises(SegmentationError, match="T1w"):
            atropos_tissues(image, AFFINE, brain, "T1w")


def test_bone_threshold():
    hu = np.array([-1000.0, 0.0, 100.0, 299.0, 301.0, 700.0, 1500.0])
    head = np.array([True, True, True, True, True, True, False])
    assert BONE_THRESHOLD_HU == 300.0
    expected = np.array([False, False, False, False, True, True, False])
    assert np.array_equal(bone_mask_from_ct(hu, head), expected)
    assert np.array_equal(bone_mask_from_ct(hu, head, threshold_hu=50.0),
                          np.array([False, False, True, True, True, True, False]))
