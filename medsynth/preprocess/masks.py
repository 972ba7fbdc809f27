"""Head and brain masks.

The head mask (everything that is not air) bounds every metric and the
intensity normalisation. On MR the skull is dark like air, so a threshold
alone would cut a shell out of the head; it is the hole filling, in 3D and
slice by slice, that puts the skull (and sinuses) back: they are enclosed by
the scalp, where the air outside is not.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from medsynth import io

SMOOTH_SIGMA_VOXELS = 1.0  # pre-threshold smoothing, so that noise specks do not pass
CLOSING_RADIUS_MM = 4.0  # bridges thin gaps in the scalp (thin skin, partial volume)


def _ball(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return (r[:, None, None] ** 2 + r[None, :, None] ** 2 + r[None, None, :] ** 2) <= radius**2


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill holes in 3D, then in every 2D slice along each axis.

    A cavity that reaches the air through a narrow opening (ear canal,
    nostrils, foramen magnum) is not a 3D hole, but it is enclosed in the
    slices that cut across the opening. A structuring element that connects
    only within a plane makes one scipy call fill all slices of that plane.
    """
    filled = ndimage.binary_fill_holes(mask)
    for axis in range(3):
        in_plane = ndimage.generate_binary_structure(3, 1)
        in_plane[tuple(0 if a == axis else 1 for a in range(3))] = False
        in_plane[tuple(2 if a == axis else 1 for a in range(3))] = False
        filled = ndimage.binary_fill_holes(filled, structure=in_plane)
    return ndimage.binary_fill_holes(filled)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == np.argmax(sizes)


def head_mask(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Boolean mask of the head in an MR image.

    Steps: light Gaussian smoothing; Otsu's threshold (air against tissue,
    the two modes of a head image's histogram); hole filling (see
    :func:`_fill_holes`); the largest connected component; a morphological
    closing with a ball of 4 mm; hole filling again. Filling comes before
    choosing the component because a dark skull can separate the brain from
    the scalp in the thresholded image. The closing is done on a padded
    array so that a head touching the field of view is not eroded at the edge.
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 3:
        raise ValueError(f"head_mask expects a 3D volume, got shape {data.shape}")
    smooth = ndimage.gaussian_filter(data, SMOOTH_SIGMA_VOXELS)
    if not smooth.max() > smooth.min():
        raise ValueError("head mask is empty: the image is constant")
    foreground = smooth > threshold_otsu(smooth)
    mask = _largest_component(_fill_holes(foreground))

    radius = max(1, int(round(CLOSING_RADIUS_MM / float(np.min(io.voxel_sizes(affine))))))
    padded = np.pad(mask, radius + 1)
    closed = ndimage.binary_closing(padded, structure=_ball(radius))
    mask = _fill_holes(closed[(slice(radius + 1, -radius - 1),) * 3])
    if not mask.any():
        raise ValueError("head mask is empty: no voxel above the air/tissue threshold")
    return mask


def brain_mask_from_labels(dseg: np.ndarray, brain_labels=(1, 2, 3)) -> np.ndarray:
    """Ground-truth brain mask: the voxels labelled CSF, GM or WM (by default)."""
    labels = np.rint(np.asarray(dseg)).astype(np.int64)
    mask = np.isin(labels, np.asarray(brain_labels, dtype=np.int64))
    if not mask.any():
        raise ValueError(f"brain mask is empty: no voxel carries a label in {tuple(brain_labels)}")
    return mask
