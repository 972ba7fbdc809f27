"""Synthetic task inputs for the 2D network tests: smooth random sources, a
known target mapping, on a flipped and shifted grid that is easy to lose."""

import nibabel as nib
import numpy as np
from scipy import ndimage

from medsynth.case import input_path

# 2 mm voxels, x flipped (LAS on disk), an offset
AFFINE = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -120], [0, 0, 2, -60], [0, 0, 0, 1]])


def smooth_field(shape, rng, sigma=2.0):
    """A smooth random field scaled to [0, 1]."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return ((field - field.min()) / (field.max() - field.min())).astype(np.float32)


def write_inputs(inputs_dir, subjects, shape, rng, mapping):
    """Task inputs of paired subjects: T1w source, target = mapping(source), masks."""
    for subject in subjects:
        source = smooth_field(shape, rng)
        mask = np.ones(shape, np.uint8)
        mask[0] = 0  # one empty slice plane at the border, like air around a head
        for role, data in [("source-T1w", source), ("target", mapping(source)),
                           ("mask", mask), ("brainmask", mask)]:
            nib.save(nib.Nifti1Image(data, AFFINE), input_path(inputs_dir, subject, role))
