"""BrainWeb's 20 normal anatomical models (Aubert-Broche et al., NeuroImage
2006): per subject a crisp label volume and twelve fuzzy tissue-membership
volumes, 362 x 434 x 362 voxels of 0.5 mm, from
https://brainweb.bic.mni.mcgill.ca/brainweb/anatomic_normal_20.html (free for
research use, with acknowledgement).

We simulate T1w, T2w and PDw ourselves from the fuzzy maps with the phantom's
signal equations and site A's protocols (BrainWeb's own 1.5 T simulator
protocols, :mod:`medsynth.data.tissues`), so the crisp labels are exact
ground truth for Dice.

Raw format (as served by the download form with ``format_value=raw_short`` and
``zip_value=gnuzip``): gzipped little-endian unsigned 16-bit voxels, MINC
order (z slowest, x fastest). Crisp volumes carry the class index in the bits
above the lowest four (value = class x 16).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from medsynth import io
from medsynth.data.bids import anat_path, write_dataset_files
from medsynth.data.catalog import BRAINWEB_CLASSES, BRAINWEB_MODEL_SHAPE, BRAINWEB_SUBJECTS
from medsynth.data.tissues import LABELS, MR_CONTRASTS, SITES, compartments

MODEL_FOV_MM = (181.0, 217.0, 181.0)
MODEL_ORIGIN_MM = (-90.25, -126.25, -72.25)  # centre of the first voxel (RAS)
# BrainWeb class -> suite label: vessels, dura and muscle count as soft tissue,
# the fat around the head as fat, bone marrow as cancellous bone.
CLASS_TO_LABEL = {"bck": 0, "csf": 1, "gry": 2, "wht": 3, "fat": 5, "mus": 4, "m-s": 4,
                  "skl": 6, "ves": 4, "fat2": 5, "dura": 4, "mrw": 7}


def box_affine(shape, fov_mm, first_centre_mm, native_voxel_mm: float) -> np.ndarray:
    """RAS affine of a BrainWeb volume given its field of view and the centre
    of its first voxel at the native resolution; a volume of another matrix
    size (a resampled mirror) keeps the field of view and the origin corner."""
    voxel = np.array(fov_mm) / np.array(shape)
    affine = np.diag([*voxel, 1.0])
    corner = np.array(first_centre_mm) - native_voxel_mm / 2  # outer edge of the first voxel
    affine[:3, 3] = corner + voxel / 2
    return affine


def model_affine(shape) -> np.ndarray:
    """RAS affine of an anatomical model volume (0.5 mm voxels natively)."""
    return box_affine(shape, MODEL_FOV_MM, MODEL_ORIGIN_MM, 0.5)


RAW_TYPES = {"<u2": "unsigned short", "u1": "unsigned byte"}


def read_raw(path: str | Path, shape=BRAINWEB_MODEL_SHAPE, dtype: str = "<u2") -> np.ndarray:
    """Decode one gzipped raw volume (raw_short: ``<u2``, raw_byte: ``u1``)
    into an (x, y, z) array."""
    path = Path(path)
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as err:
        raise io.InputError(path, f"not a complete gzip file ({err})") from err
    expected = np.dtype(dtype).itemsize * int(np.prod(shape))
    if len(data) != expected:
        raise io.InputError(path, f"holds {len(data)} bytes; a {'x'.join(map(str, shape))} "
                            f"{RAW_TYPES[dtype]} volume has {expected}")
    zyx = np.frombuffer(data, dtype=dtype).reshape(tuple(reversed(shape)))
    return np.ascontiguousarray(zyx.transpose(2, 1, 0))


def class_signals() -> dict[str, dict[str, float]]:
    """Signal of a voxel full of each BrainWeb class, per contrast, with site A's sequences."""
    site = SITES["A"]
    tissues = compartments(site.field_t)
    per_label = {c: site.tissue_signals(c, tissues) for c in MR_CONTRASTS}
    return {c: {k: per_label[c][CLASS_TO_LABEL[k]] for k in BRAINWEB_CLASSES} for c in MR_CONTRASTS}


def convert_subject(downloads: Path, subject: str, out_root: Path, shape) -> None:
    """Images are membership-weighted sums of class signals, memberships scaled
    to sum to 1 in every voxel (the fuzzy maps' scale is then irrelevant)."""
    affine = model_affine(shape)
    signals = class_signals()
    images = {c: np.zeros(shape, np.float32) for c in MR_CONTRASTS}
    total = np.zeros(shape, np.float32)
    for brainweb_class in BRAINWEB_CLASSES:
        membership = read_raw(downloads / f"subject{subject}_{brainweb_class}.rawsh.gz", shape)
        membership = membership.astype(np.float32)
        total += membership
        for contrast, image in images.items():
            image += np.float32(signals[contrast][brainweb_class]) * membership
    total[total == 0] = 1.0  # no membership at all: background, signal 0
    crisp_path = downloads / f"subject{subject}_crisp.rawsh.gz"
    classes = read_raw(crisp_path, shape) >> 4
    if classes.max() >= len(BRAINWEB_CLASSES):
        raise io.InputError(crisp_path, f"class index {classes.max()} is not one of BrainWeb's "
                            f"{len(BRAINWEB_CLASSES)} classes")
    lookup = np.array([CLASS_TO_LABEL[c] for c in BRAINWEB_CLASSES], dtype=np.uint8)
    io.save_volume(anat_path(out_root, subject, "dseg"), lookup[classes], affine, dtype=np.uint8)
    for contrast, image in images.items():
        io.save_volume(anat_path(out_root, subject, contrast), image / total, affine)


def convert(downloads: str | Path, out_root: str | Path, max_subjects: int | None = None,
            shape=BRAINWEB_MODEL_SHAPE) -> list[str]:
    """Write the first `max_subjects` models as simulated T1w/T2w/PDw plus labels."""
    downloads, out_root = Path(downloads), Path(out_root)
    chosen = list(BRAINWEB_SUBJECTS[:max_subjects])
    with io.atomic_folder(out_root) as staging:
        for subject in chosen:
            convert_subject(downloads, subject, staging, shape)
        write_dataset_files(staging, {
            "Name": "BrainWeb 20 normal anatomical models, simulated by medsynth",
            "License": "BrainWeb terms: free for research, acknowledge BrainWeb",
            "HowToAcknowledge": "Aubert-Broche B, Griffin M, Pike GB, Evans AC, Collins DL. "
                                "Twenty new digital brain phantoms for creation of validation "
                                "image data bases. IEEE TMI 2006;25(11):1410-1416",
            "SourceDatasets": [{"URL": "https://brainweb.bic.mni.mcgill.ca/brainweb/"}],
            "GeneratedBy": [{"Name": "medsynth", "Description":
                             "T1w/T2w/PDw from the fuzzy tissue maps with the signal equations "
                             "of medsynth.data.tissues (site A, 1.5 T, no noise); labels from "
                             "the crisp model in medsynth's dseg convention"}],
        }, [{"participant_id": f"sub-{s}", "brainweb_model": f"subject{s}"} for s in chosen],
            labels=LABELS)
    return chosen
