"""Resample a volume onto another voxel grid through world coordinates.

Both grids are described by their RAS affines, so any difference in voxel
size, origin, orientation or axis order is handled by one affine map from
target voxel indices to source voxel indices.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medsynth import io


def resample_to_grid(data: np.ndarray, affine: np.ndarray, target_shape, target_affine: np.ndarray,
                     order: int = 1) -> np.ndarray:
    """Resample `data` (on `affine`) onto the grid (`target_shape`, `target_affine`).

    order: 0 nearest neighbour (labels and masks), 1 trilinear, 3 cubic
    B-spline (scipy's spline prefilter is applied).

    Outside the source field of view the edge values are repeated (scipy's
    ``nearest`` mode) rather than filled with zero: the edge of an MR image is
    background (about 0) and the edge of a CT is air (-1024 HU), so repeating
    it keeps each modality's own background, where a zero fill would put
    water-density voxels around a CT.

    When the grids are equal the data are returned unchanged (as a float32 copy).
    """
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"resample_to_grid expects a 3D volume, got shape {data.shape}")
    if order not in (0, 1, 3):
        raise ValueError(f"interpolation order must be 0, 1 or 3, got {order}")
    target_shape = tuple(int(n) for n in target_shape)
    if io.same_grid((data.shape, affine), (target_shape, target_affine)):
        return data.astype(np.float32, copy=True)
    # target voxel index -> world -> source voxel index
    index_map = np.linalg.solve(np.asarray(affine, dtype=np.float64),
                                np.asarray(target_affine, dtype=np.float64))
    return ndimage.affine_transform(
        data.astype(np.float32, copy=False), index_map[:3, :3], offset=index_map[:3, 3],
        output_shape=target_shape, output=np.float32, order=order, mode="nearest",
    )
