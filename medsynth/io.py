"""NIfTI reading and writing with validation: the one place images enter and leave.

Every image the suite reads goes through :func:`load_volume`, so a truncated,
non-NIfTI, non-finite or 4D file, or one whose header gives voxels no positive
size, fails early with a message naming the file.
Every file the suite writes goes through :func:`atomic_path`, so a killed job
never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.openers import ImageOpener

AFFINE_TOLERANCE_MM = 1e-3


class InputError(ValueError):
    """A user-facing error about one input file; the message names the file."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it to `path` only on success.

    The temporary name keeps the full suffix (e.g. ``.nii.gz``) so that writers
    which choose a format from the extension behave as for the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder of `path`; it replaces `path` only on
    success and is removed on failure, so a folder is never left half-filled."""
    path = Path(path)
    staging = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_volume(path: str | os.PathLike) -> nib.Nifti1Image:
    """Load a 3D NIfTI image, fully decoded and checked.

    A trailing singleton dimension (x, y, z, 1) is squeezed; any other
    non-3D shape is an error. The data are read completely here so that a
    truncated file fails now, not in the middle of a computation.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file does not exist")
    if not path.name.endswith((".nii", ".nii.gz")):
        raise InputError(path, "not a NIfTI file (expected .nii or .nii.gz)")
    try:
        img = nib.load(path)
        data = np.asanyarray(img.dataobj)
    except Exception as err:  # nibabel raises many types for corrupt files
        raise InputError(path, f"cannot be read as NIfTI ({type(err).__name__}: {err})") from err
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(path, f"expected a 3D volume, found shape {data.shape}")
    if min(data.shape) < 1:
        raise InputError(path, f"empty volume of shape {data.shape}")
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise InputError(path, f"contains {bad} NaN or infinite voxels")
    zooms = _stored_voxel_sizes(path, img)
    if not np.all(np.isfinite(zooms)) or np.any(zooms <= 0):
        raise InputError(path, f"header voxel sizes {tuple(zooms.tolist())} are not all "
                               "positive finite numbers")
    affine = img.affine
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise InputError(path, "has a singular or non-finite affine")
    header = img.header.copy()
    header.set_data_shape(data.shape)
    return nib.Nifti1Image(data, affine, header)


def _stored_voxel_sizes(path: Path, img: nib.Nifti1Image) -> np.ndarray:
    """pixdim[1:4] as the file stores them: nibabel's loader silently turns zero
    voxel sizes into 1 and negative ones positive, hiding a broken header."""
    with ImageOpener(path) as handle:
        raw = type(img.header).from_fileobj(handle, check=False)
    return np.asarray(raw["pixdim"][1:4], dtype=float)


def load_array(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load a validated 3D volume as (float32 array, 4x4 affine)."""
    img = load_volume(path)
    return np.asarray(img.dataobj, dtype=np.float32), img.affine.copy()


def load_mask(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load a mask as a boolean array; an all-zero mask is an error."""
    data, affine = load_array(path)
    mask = data > 0.5
    if not mask.any():
        raise InputError(path, "mask is empty")
    return mask, affine


def same_grid(a: nib.Nifti1Image | tuple, b: nib.Nifti1Image | tuple) -> bool:
    """True if two images (or (shape, affine) pairs) share voxel grid and affine."""
    sa, aa = (a.shape[:3], a.affine) if hasattr(a, "affine") else a
    sb, ab = (b.shape[:3], b.affine) if hasattr(b, "affine") else b
    return tuple(sa) == tuple(sb) and np.allclose(aa, ab, atol=AFFINE_TOLERANCE_MM)


def require_same_grid(path_a, img_a, path_b, img_b) -> None:
    """Raise an InputError naming both files if their grids disagree."""
    if not same_grid(img_a, img_b):
        sa = img_a.shape[:3] if hasattr(img_a, "shape") else img_a[0]
        sb = img_b.shape[:3] if hasattr(img_b, "shape") else img_b[0]
        raise InputError(
            path_a,
            f"grid (shape {tuple(sa)}) does not match {path_b} (shape {tuple(sb)}) "
            "or their affines differ; paired images must share one voxel grid",
        )


def save_volume(
    path: str | os.PathLike,
    data: np.ndarray,
    affine: np.ndarray,
    dtype: np.dtype | type = np.float32,
) -> Path:
    """Write a 3D array as NIfTI atomically, with mm/s units and qform = sform."""
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"save_volume expects a 3D array, got shape {data.shape} for {path}")
    if np.issubdtype(np.dtype(dtype), np.floating) and not np.all(np.isfinite(data)):
        raise ValueError(f"refusing to write non-finite values to {path}")
    img = nib.Nifti1Image(data.astype(dtype, copy=False), affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    path = Path(path)
    with atomic_path(path) as tmp:
        nib.save(img, tmp)
    return path


def voxel_sizes(affine: np.ndarray) -> np.ndarray:
    """Voxel edge lengths in mm from an affine."""
    return np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
