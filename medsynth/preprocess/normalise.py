"""Intensity normalisation of MR images.

MR intensities have no physical unit: the same tissue reads differently
across scanners, sessions and subjects. Every MR image is therefore divided
by one robust statistic of its own head, so that networks and metrics see
comparable scales across subjects.
"""

from __future__ import annotations

import numpy as np

REFERENCE_PERCENTILE = 99.0


def normalise_mr(data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Divide the whole image by the 99th percentile of its intensities inside `mask`.

    Why this scheme:
    - a pure scaling keeps zero at zero and keeps every intensity ratio, the
      structure Rician noise and MR contrast live on (a z-score would shift
      the air away from 0 and make noise levels depend on the mean);
    - the 99th percentile, not the maximum, so that a few hot voxels (vessels,
      fat, noise spikes) do not decide the scale; the brightest tissue ends
      near 1 and the image lies in roughly [0, 1.2];
    - statistics from the head only, so the amount of air in the field of
      view does not matter; but the values outside the head are kept (scaled
      like the rest), since the air's noise is part of the image that the
      tasks degrade and the methods see.
    """
    data = np.asarray(data, dtype=np.float32)
    return (data / np.float32(normalisation_scale(data, mask))).astype(np.float32)


def normalisation_scale(data: np.ndarray, mask: np.ndarray) -> float:
    """The divisor of :func:`normalise_mr`; apart so that a second image of the
    same acquisition (a noisy copy) can share a clean image's scale."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != np.shape(data):
        raise ValueError(f"mask shape {mask.shape} differs from image shape {np.shape(data)}")
    if not mask.any():
        raise ValueError("cannot normalise with an empty head mask")
    scale = float(np.percentile(np.asarray(data)[mask], REFERENCE_PERCENTILE))
    if not scale > 0:
        raise ValueError(f"the {REFERENCE_PERCENTILE:g}th percentile inside the head mask is "
                         f"{scale}; expected a positive MR intensity")
    return scale
