"""BrainWeb's simulated-MRI database (SBD; Kwan, Evans & Pike, IEEE TMI 18(11),
1999; Cocosco et al., NeuroImage 5(4), 1997): T1w volumes of one normal
anatomy simulated by BrainWeb's own MR simulator, with Rician noise of 0-9 %
and RF non-uniformity of 0, 20 or 40 %, from
https://brainweb.bic.mni.mcgill.ca/brainweb/selection_normal.html.

The ``denoise`` task's external test set: models trained on our synthetic
noise (:mod:`medsynth.preprocess.degrade`) are scored on noise and anatomy
they never saw. The SBD anatomy is not one of the 20 models, so a run on the
``brainweb`` dataset does not test on a training subject.

Raw formats (as served by the download form, gzipped, MINC order: z slowest,
x fastest, on a 181 x 217 x 181 grid of 1 mm whose first voxel is centred at
(-90, -126, -72) mm): T1w volumes as ``raw_short`` (little-endian unsigned
16-bit), the discrete model as ``raw_byte`` whose values are its class indices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medsynth import io
from medsynth.case import input_path
from medsynth.data.bids import anat_path, write_dataset_files
from medsynth.data.brainweb import box_affine, read_raw
from medsynth.data.catalog import (
    REFERENCE_FOV_MM,
    SBD_LABELS_FILE,
    SBD_SHAPE,
    sbd_image_file,
)
from medsynth.data.tissues import LABELS
from medsynth.preprocess.bias import n4_field
from medsynth.preprocess.masks import brain_mask_from_labels
from medsynth.preprocess.normalise import normalisation_scale
from medsynth.preprocess.register import mask_centre, reference_grid
from medsynth.preprocess.resample import resample_to_grid
from medsynth.tasks import SBD_SUBJECT

SUBJECT = SBD_SUBJECT
SBD_FOV_MM = tuple(float(n) for n in SBD_SHAPE)  # 1 mm voxels
SBD_FIRST_CENTRE_MM = (-90.0, -126.0, -72.0)
# The discrete model's classes (index = voxel value) and the suite's label for
# each: skin and connective tissue count as soft tissue, the glial matter
# (a thin layer of the white matter) as white matter.
SBD_CLASSES = ("background", "CSF", "grey matter", "white matter", "fat", "muscle/skin",
               "skin", "skull", "glial matter", "connective")
CLASS_TO_LABEL = np.array([0, 1, 2, 3, 5, 4, 4, 6, 3, 4], dtype=np.uint8)
WHITE_MATTER = 3  # suite label; BrainWeb's T1w noise percentages refer to its mean


def image_suffix(noise_percent: int, rf_percent: int) -> str:
    """File suffix of one SBD T1w (BIDS' rec entity: how the image was made)."""
    return f"rec-pn{noise_percent}rf{rf_percent}_T1w"


def convert(downloads: str | Path, out_root: str | Path, levels, rf_percent: int,
            shape=SBD_SHAPE) -> Path:
    """Write the downloaded SBD volumes as NIfTI (subject ``sbd``): the T1w of
    each level as ``rec-pn<k>rf<rf>``, the noise-free one as ``pn0``, and the
    discrete model as ``dseg`` in the suite's labels."""
    downloads, out_root = Path(downloads), Path(out_root)
    affine = box_affine(shape, SBD_FOV_MM, SBD_FIRST_CENTRE_MM, 1.0)
    with io.atomic_folder(out_root) as staging:
        labels_path = downloads / SBD_LABELS_FILE
        classes = read_raw(labels_path, shape, dtype="u1")
        if classes.max() >= len(SBD_CLASSES):
            raise io.InputError(labels_path, f"class index {classes.max()} is not one of the "
                                f"{len(SBD_CLASSES)} classes of BrainWeb's discrete model")
        io.save_volume(anat_path(staging, SUBJECT, "dseg"), CLASS_TO_LABEL[classes], affine,
                       dtype=np.uint8)
        for level in (0, *levels):
            image = read_raw(downloads / sbd_image_file(level, rf_percent), shape)
            io.save_volume(anat_path(staging, SUBJECT, image_suffix(level, rf_percent)),
                           image.astype(np.float32), affine)
        write_dataset_files(staging, {
            "Name": "BrainWeb simulated brain database (SBD), normal T1w",
            "License": "BrainWeb terms: free for research, acknowledge BrainWeb",
            "HowToAcknowledge": "Kwan RK-S, Evans AC, Pike GB. MRI simulation-based evaluation "
                                "of image-processing and classification methods. IEEE TMI "
                                "1999;18(11):1085-1097",
            "SourceDatasets": [{"URL": "https://brainweb.bic.mni.mcgill.ca/brainweb/"}],
        }, [{"participant_id": f"sub-{SUBJECT}", "rf_percent": str(rf_percent),
             "noise_levels": ",".join(str(k) for k in levels)}], labels=LABELS)
    return out_root


def derive_inputs(sbd_root: str | Path, noise_percent: int, rf_percent: int, voxel_mm: float,
                  out_dir: str | Path) -> dict:
    """Write the task inputs of SBD at one noise level (:mod:`medsynth.case`).

    Onto the reference grid every real subject gets, by nearest neighbour:
    the noise is the test, and interpolating would average it away (at 2 mm
    from 1 mm, linear interpolation would halve its standard deviation). The
    clean and noisy images are sampled alike, so they differ by noise alone.
    N4's field and the normalisation scale come from the noise-free volume
    and correct both, as they would a scan and its noise-free truth. The
    download form exports each volume to the integer range on its own, so the
    noisy volume's gain is first matched to the clean one's by the ratio of
    their white-matter medians (Rician bias there is below 0.5 % at 9 %).

    Returns the noise level on the suite's scale (percent of the head's
    maximum, :func:`medsynth.preprocess.degrade.noise_reference`), also kept
    in the inputs folder as ``noise.json``.
    """
    sbd_root, out_dir = Path(sbd_root), Path(out_dir)
    labels_path = anat_path(sbd_root, SUBJECT, "dseg")
    labels, affine = io.load_array(labels_path)
    volumes = {}
    for name, level in (("clean", 0), ("noisy", noise_percent)):
        path = anat_path(sbd_root, SUBJECT, image_suffix(level, rf_percent))
        volumes[name], image_affine = io.load_array(path)
        io.require_same_grid(path, (volumes[name].shape, image_affine), labels_path,
                             (labels.shape, affine))
    shape, grid = reference_grid(mask_centre(labels > 0, affine), REFERENCE_FOV_MM, voxel_mm)

    def nearest(data):
        return resample_to_grid(np.asarray(data, np.float32), affine, shape, grid, order=0)

    labels = nearest(labels).round().astype(np.uint8)
    head = labels > 0
    clean, noisy = nearest(volumes["clean"]), nearest(volumes["noisy"])
    field = n4_field(clean, grid, mask=head)
    clean, noisy = clean / field, noisy / field
    white = labels == WHITE_MATTER
    noisy *= np.float32(np.median(clean[white]) / np.median(noisy[white]))
    scale = np.float32(normalisation_scale(clean, head))
    effective = noise_percent * float(np.mean(clean[white]) / np.max(clean[head]))
    out_dir.mkdir(parents=True, exist_ok=True)
    for role, data, dtype in (("source-T1w", noisy / scale, np.float32),
                              ("target", clean / scale, np.float32),
                              ("mask", head, np.uint8),
                              ("brainmask", brain_mask_from_labels(labels), np.uint8),
                              ("dseg", labels, np.uint8)):
        io.save_volume(input_path(out_dir, SUBJECT, role), data, grid, dtype=dtype)
    noise = {"brainweb_noise_percent": noise_percent, "rf_percent": rf_percent,
             "percent_of_head_maximum": round(effective, 3)}
    (out_dir / "noise.json").write_text(json.dumps(noise, indent=1) + "\n")
    return noise
