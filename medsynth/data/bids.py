"""BIDS-like file naming, shared by the phantom and the real-dataset adapters.

Layout: ``<root>/sub-<id>/anat/sub-<id>[_acq-<site>]_<suffix>.nii.gz``. The
suffix may carry entities that come after ``acq`` in BIDS order, such as
``desc-preproc_T1w``. BIDS has no suffix for CT (the CT extension proposal is
not part of the standard); we name CT ``_CT`` in ``anat/`` everywhere, and
tissue labels ``_dseg`` as BIDS derivatives do.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from medsynth import io

_LABEL = re.compile(r"[A-Za-z0-9]+")
_SUFFIX = re.compile(r"[A-Za-z0-9_-]+")


def anat_path(root: str | os.PathLike, subject: str, suffix: str,
              acq: str | None = None) -> Path:
    """Path of one anatomical image, e.g. ``anat_path(r, "001", "T1w", "A")``.

    ``subject`` and ``acq`` are BIDS labels (letters and digits only, without
    the ``sub-``/``acq-`` prefix): anything else would make names ambiguous.
    """
    if not _LABEL.fullmatch(subject):
        raise ValueError(f"subject label {subject!r} must be letters and digits only")
    if acq is not None and not _LABEL.fullmatch(acq):
        raise ValueError(f"acq label {acq!r} must be letters and digits only")
    if not _SUFFIX.fullmatch(suffix):
        raise ValueError(f"suffix {suffix!r} must be letters, digits, '-' and '_'")
    acq_part = "" if acq is None else f"_acq-{acq}"
    return Path(root) / f"sub-{subject}" / "anat" / f"sub-{subject}{acq_part}_{suffix}.nii.gz"


def write_dataset_files(root: str | os.PathLike, description: dict, participants: list[dict],
                        labels: dict[int, str] | None = None) -> None:
    """dataset_description.json, participants.tsv and (with labels) dseg.tsv of a
    converted dataset, each written atomically."""
    root = Path(root)
    with io.atomic_path(root / "dataset_description.json") as tmp:
        tmp.write_text(json.dumps({"BIDSVersion": "1.9.0", "DatasetType": "raw", **description},
                                  indent=2) + "\n")
    columns = list(participants[0])
    lines = ["\t".join(columns)] + ["\t".join(str(row[c]) for c in columns) for row in participants]
    with io.atomic_path(root / "participants.tsv") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    if labels is not None:
        with io.atomic_path(root / "dseg.tsv") as tmp:
            tmp.write_text("\n".join(["index\tname"] + [f"{i}\t{n}" for i, n in labels.items()])
                           + "\n")
