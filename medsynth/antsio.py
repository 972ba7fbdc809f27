"""Bridge between our (array, affine) volumes and ANTsPy images.

ANTs works in LPS physical space and nibabel in RAS; antspyx 0.6.3's nibabel
bridge does that conversion, so we use it instead of re-deriving origin and
direction by hand. Importing ants is slow, so it happens inside the functions.
"""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np


def ants_module():
    """Import ants once, deterministic and single-threaded unless told otherwise.

    ANTs registration and Atropos are only reproducible with a fixed seed, and
    registration only with one ITK thread: one it is, whatever the rule's threads,
    unless ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS is set.
    """
    os.environ.setdefault("ANTS_RANDOM_SEED", "42")
    os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
    import ants

    return ants


def to_ants(data: np.ndarray, affine: np.ndarray):
    """Convert a 3D array with its RAS affine into an ANTsImage (float32)."""
    ants = ants_module()
    img = nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine)
    img.header.set_xyzt_units("mm", "sec")
    return ants.from_nibabel_nifti(img)


def from_ants(image) -> tuple[np.ndarray, np.ndarray]:
    """Convert an ANTsImage back into (float32 array, RAS affine)."""
    ants = ants_module()
    nii = ants.to_nibabel_nifti(image)
    return np.asarray(nii.dataobj, dtype=np.float32), nii.affine.copy()
