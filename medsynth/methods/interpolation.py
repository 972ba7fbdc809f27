"""The ``bspline`` baseline for ``superres``: cubic B-spline interpolation of
the thick-slice volume onto the fine target grid.

This is the reference SMORE (Zhao et al., IEEE TMI 40(3), 2021) and most
super-resolution papers compare with. Each target voxel is mapped through
world coordinates to a (fractional) source voxel index, so any pair of affines
works; scipy's spline prefilter makes the cubic spline interpolate (not smooth)
the slices (Unser, IEEE Signal Processing Magazine 16(6), 1999).

Ends of the field of view: the thick slices' centres lie inside the fine field
of view, so the first and last few fine voxels lie beyond them. Their source
indices are clamped to the source volume, so they take the value of the
spline at the edge slice, i.e. that slice's own value: no zero band, and no
overshoot from extrapolating a cubic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from medsynth.case import Case

DEFAULTS: dict = {"order": 3}  # cubic B-spline


def source_indices(target_shape, target_affine, source_shape, source_affine) -> np.ndarray:
    """(3, *target_shape) float32 source voxel indices of each target voxel, clamped."""
    index_map = np.linalg.solve(np.asarray(source_affine, dtype=np.float64),
                                np.asarray(target_affine, dtype=np.float64))
    axes = [np.arange(n, dtype=np.float64) for n in target_shape]
    shape = tuple(int(n) for n in target_shape)
    coords = np.empty((3, *shape), dtype=np.float32)
    for i in range(3):
        coords[i] = (index_map[i, 0] * axes[0][:, None, None]
                     + index_map[i, 1] * axes[1][None, :, None]
                     + index_map[i, 2] * axes[2][None, None, :] + index_map[i, 3])
        np.clip(coords[i], 0, source_shape[i] - 1, out=coords[i])
    return coords


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Interpolate source channel 0 onto (`case.target_shape`, `case.target_affine`)."""
    params = {**DEFAULTS, **params}
    source = np.asarray(case.source[0], dtype=np.float32)
    coords = source_indices(case.target_shape, case.target_affine, source.shape,
                            case.source_affine)
    return ndimage.map_coordinates(source, coords, order=int(params["order"]), mode="nearest",
                                   prefilter=True, output=np.float32)
