"""Preprocess one subject: head masks, N4 bias correction and intensity
normalisation of every MR image, and the brain mask from the labels.

Order matters: the head mask comes from the raw T1w of each site, N4 runs
inside it, and normalisation scales the corrected image inside it. The
phantom's contrasts are generated on one grid per site, so no registration is
needed here; datasets whose contrasts are acquired on different grids (IXI)
register them onto one reference grid at this point, before normalisation.
"""

from __future__ import annotations

from pathlib import Path

from medsynth import io
from medsynth.data.bids import anat_path
from medsynth.preprocess.bias import n4_correct
from medsynth.preprocess.masks import brain_mask_from_labels, head_mask
from medsynth.preprocess.normalise import normalise_mr

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
