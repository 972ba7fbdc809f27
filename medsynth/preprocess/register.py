"""Rigid registration of a subject's contrasts onto one reference grid (ANTs).

Datasets such as IXI acquire each contrast on its own grid (a sagittal T1w, an
axial T2w/PD dual echo) and the head can move between acquisitions; paired
training needs every contrast voxel-aligned. We register each contrast
rigidly onto the subject's reference contrast with Mattes mutual information
(different contrasts do not share intensities), keep the transform as a file
(ITK ``.mat``, the format ANTs and ITK-SNAP read), and resample the original
image once, through that transform, onto the reference grid.

ANTs is imported lazily and seeded through :func:`medsynth.antsio.ants_module`,
so registrations are repeatable run to run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from medsynth import io
from medsynth.antsio import ants_module, from_ants, to_ants

# Multi-resolution schedule in voxels of the fixed image: coarse levels find the
# gross misalignment, the full-resolution level refines it.
SHRINK_FACTORS = (4, 2, 1)
SMOOTHING_SIGMAS = (2, 1, 0)
ITERATIONS = (200, 100, 50)


def reference_grid(centre_mm: np.ndarray, fov_mm, voxel_mm: float) -> tuple[tuple[int, ...], np.ndarray]:
    """An axis-aligned RAS grid of isotropic `voxel_mm` voxels covering `fov_mm`
    around `centre_mm` (world coordinates).

    Every subject of a dataset gets the same matrix size, so training stacks
    subjects without padding, and every task sees the same axis conventions
    (axis 2 is inferior-superior) whatever the scanner's slice orientation.
    """
    shape = tuple(int(round(f / voxel_mm)) for f in fov_mm)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = np.asarray(centre_mm, dtype=np.float64) - voxel_mm * (np.array(shape) - 1) / 2
    return shape, affine


def mask_centre(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World coordinates (mm) of a mask's centroid."""
    index = np.argwhere(mask).mean(axis=0)
    return (np.asarray(affine) @ np.append(index, 1.0))[:3]


def rigid_register(fixed: np.ndarray, fixed_affine: np.ndarray, moving: np.ndarray,
                   moving_affine: np.ndarray, transform_path: str | os.PathLike,
                   fixed_mask: np.ndarray | None = None) -> Path:
    """Register `moving` rigidly onto `fixed`; write the transform to `transform_path`.

    The transform maps points of the fixed image's physical space into the
    moving image's (the ANTs convention), so it resamples `moving` onto any
    grid that lives in the fixed image's space. Registration starts from the
    images' centres of mass, which absorbs differences in scanner origin.
    ANTs writes its files into a temporary folder of ours (not /tmp at
    large), and the transform is renamed into place only when complete.
    """
    ants = ants_module()
    mask = None if fixed_mask is None else to_ants(np.asarray(fixed_mask, np.float32), fixed_affine)
    with tempfile.TemporaryDirectory(prefix="medsynth-reg-") as tmp:
        result = ants.registration(
            fixed=to_ants(fixed, fixed_affine), moving=to_ants(moving, moving_affine),
            type_of_transform="Rigid", aff_metric="mattes", mask=mask,
            aff_shrink_factors=SHRINK_FACTORS, aff_smoothing_sigmas=SMOOTHING_SIGMAS,
            aff_iterations=ITERATIONS, outprefix=str(Path(tmp) / "reg_"),
        )
        produced = [t for t in result["fwdtransforms"] if t.endswith(".mat")]
        if len(produced) != 1:
            raise RuntimeError(f"ANTs rigid registration returned {result['fwdtransforms']}, "
                               "expected one affine transform")
        with io.atomic_path(transform_path) as out:
            shutil.copyfile(produced[0], out)
    return Path(transform_path)


def apply_rigid(moving: np.ndarray, moving_affine: np.ndarray, transform_path: str | os.PathLike,
                shape, affine: np.ndarray, interpolation: str = "linear",
                invert: bool = False) -> np.ndarray:
    """Resample `moving` onto the grid (`shape`, `affine`) through a transform
    from :func:`rigid_register`, or through its inverse with `invert` (an
    image in the fixed image's space back onto the moving image's grid).
    ``interpolation``: ``linear``, ``bSpline`` or ``genericLabel`` (label
    maps). Outside the moving image's field of view the result is 0."""
    ants = ants_module()
    grid = to_ants(np.zeros(tuple(shape), np.float32), affine)
    moved = ants.apply_transforms(fixed=grid, moving=to_ants(moving, moving_affine),
                                  transformlist=[str(transform_path)], interpolator=interpolation,
                                  whichtoinvert=[invert])
    data, _ = from_ants(moved)
    return data


def map_point_ras(transform_path: str | os.PathLike, point_ras) -> np.ndarray:
    """Where a transform sends a world point (RAS mm), for checking registrations."""
    ants = ants_module()
    lps = np.asarray(point_ras, dtype=np.float64) * [-1, -1, 1]
    moved = ants.read_transform(str(transform_path)).apply_to_point(tuple(lps))
    return np.asarray(moved) * [-1, -1, 1]
