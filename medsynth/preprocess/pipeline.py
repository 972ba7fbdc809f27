"""Preprocess one subject: head masks, N4 bias correction and intensity
normalisation of every MR image, and the brain mask from the labels.

Order matters: the head mask comes from the raw T1w of each site, N4 runs
inside it, and normalisation scales the corrected image inside it. The
phantom's contrasts are generated on one grid per site, so no registration is
needed (:func:`preprocess_subject`); real datasets go through
:func:`preprocess_onto_grid`, which puts every contrast on one reference grid,
registering contrasts acquired on different grids (IXI), before N4 and
normalisation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from medsynth import io
from medsynth.data.bids import anat_path
from medsynth.data.catalog import REFERENCE_FOV_MM, Dataset
from medsynth.preprocess.bias import n4_correct
from medsynth.preprocess.brain import brain_mask_from_template
from medsynth.preprocess.masks import brain_mask_from_labels, head_mask
from medsynth.preprocess.normalise import normalise_mr
from medsynth.preprocess.register import apply_rigid, mask_centre, reference_grid, rigid_register
from medsynth.preprocess.resample import resample_to_grid

SITES = ("A", "B")
CONTRASTS = ("T1w", "T2w", "PDw")


def preproc_path(root, subject: str, kind: str, site: str | None = None) -> Path:
    """Path of a preprocessed file: kind is a contrast, ``head_mask`` or ``brain_mask``."""
    suffix = {"head_mask": "desc-head_mask", "brain_mask": "desc-brain_mask"}.get(
        kind, f"desc-preproc_{kind}")
    return anat_path(root, subject, suffix, site)


def preprocess_subject(raw_root, subject: str, out_root) -> list[Path]:
    """Write the preprocessed images and masks of one subject; return their paths."""
    written = []
    for site in SITES:
        t1_data, t1_affine = io.load_array(anat_path(raw_root, subject, "T1w", site))
        mask = head_mask(t1_data, t1_affine)
        written.append(io.save_volume(preproc_path(out_root, subject, "head_mask", site),
                                      mask, t1_affine, dtype="uint8"))
        for contrast in CONTRASTS:
            raw = anat_path(raw_root, subject, contrast, site)
            data, affine = io.load_array(raw)
            io.require_same_grid(raw, (data.shape, affine),
                                 anat_path(raw_root, subject, "T1w", site), (t1_data.shape, t1_affine))
            corrected = n4_correct(data, affine, mask=mask)
            written.append(io.save_volume(preproc_path(out_root, subject, contrast, site),
                                          normalise_mr(corrected, mask), affine))
    labels, affine = io.load_array(anat_path(raw_root, subject, "dseg"))
    written.append(io.save_volume(preproc_path(out_root, subject, "brain_mask"),
                                  brain_mask_from_labels(labels.round().astype("uint8")), affine,
                                  dtype="uint8"))
    return written


def transform_path(root, subject: str, contrast: str, reference: str) -> Path:
    """Where the rigid transform of one contrast onto the reference contrast is
    kept (BIDS derivatives' name for a transform; ITK format)."""
    image = anat_path(root, subject, f"from-{contrast}_to-{reference}_mode-image_xfm")
    return image.with_name(image.name.removesuffix(".nii.gz") + ".mat")


def antialias(data: np.ndarray, affine: np.ndarray, target_mm: float) -> np.ndarray:
    """Gaussian pre-filter before resampling to coarser voxels: the target
    voxel's extent (as a FWHM) less the source's, per source axis."""
    voxel = io.voxel_sizes(affine)
    sigma = np.sqrt(np.clip(target_mm**2 - voxel**2, 0, None)) / (2.3548 * voxel)
    return ndimage.gaussian_filter(data, sigma) if np.any(sigma > 0.1) else data


def preprocess_onto_grid(raw_root, subject: str, out_root, dataset: Dataset, voxel_mm: float) -> list[Path]:
    """Preprocess a real subject: every contrast onto one reference grid.

    The reference grid is an axis-aligned RAS box of ``voxel_mm`` voxels and the
    dataset-wide field of view, centred on the head: the mask shipped with the
    data (SynthRAD2023), the labelled voxels (BrainWeb), or else the first
    contrast's head mask. Other contrasts on their own
    grids are registered rigidly onto the reference contrast and resampled
    once through the kept transform; contrasts already on the reference
    contrast's grid (SynthRAD's MR and CT) are resampled directly. Then N4 and
    normalisation as for the phantom, and the brain mask from the labels or,
    without labels, from the template.
    """
    reference = dataset.contrasts[0]
    ref_path = anat_path(raw_root, subject, reference)
    ref, ref_affine = io.load_array(ref_path)
    if dataset.has_head_mask or dataset.has_labels:  # the data's own mask, or its labels
        mask_path = anat_path(raw_root, subject, "desc-head_mask" if dataset.has_head_mask else "dseg")
        raw_mask, mask_affine = io.load_mask(mask_path)
        io.require_same_grid(mask_path, (raw_mask.shape, mask_affine), ref_path, (ref.shape, ref_affine))
    else:
        raw_mask = head_mask(ref, ref_affine)
    shape, grid = reference_grid(mask_centre(raw_mask, ref_affine), REFERENCE_FOV_MM, voxel_mm)
    mask = resample_to_grid(raw_mask.astype(np.float32), ref_affine, shape, grid, order=0) > 0.5
    images = {reference: resample_to_grid(antialias(ref, ref_affine, voxel_mm), ref_affine,
                                          shape, grid, order=1)}
    for contrast in dataset.contrasts[1:]:
        path = anat_path(raw_root, subject, contrast)
        data, affine = io.load_array(path)
        smooth = antialias(data, affine, voxel_mm)
        if dataset.registered:
            xfm = rigid_register(images[reference], grid, data, affine,
                                 transform_path(out_root, subject, contrast, reference), fixed_mask=mask)
            images[contrast] = apply_rigid(smooth, affine, xfm, shape, grid)
        else:
            io.require_same_grid(path, (data.shape, affine), ref_path, (ref.shape, ref_affine))
            images[contrast] = resample_to_grid(smooth, affine, shape, grid, order=1)
    written = [io.save_volume(preproc_path(out_root, subject, "head_mask"), mask, grid, dtype="uint8")]
    for contrast, data in images.items():
        corrected = n4_correct(np.clip(data, 0, None), grid, mask=mask)
        written.append(io.save_volume(preproc_path(out_root, subject, contrast),
                                      normalise_mr(corrected, mask), grid))
    if dataset.has_labels:
        labels, affine = io.load_array(anat_path(raw_root, subject, "dseg"))
        on_grid = resample_to_grid(labels, affine, shape, grid, order=0)
        brain = brain_mask_from_labels(on_grid.round().astype("uint8"))
    else:
        brain = brain_mask_from_template(images[reference], grid, mask)
    written.append(io.save_volume(preproc_path(out_root, subject, "brain_mask"), brain, grid,
                                  dtype="uint8"))
    return written
