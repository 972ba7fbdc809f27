"""BIDS-like file naming, shared by the phantom and the real-dataset adapters.

Layout: ``<root>/sub-<id>/anat/sub-<id>[_acq-<site>]_<suffix>.nii.gz``. The
suffix may carry entities that come after ``acq`` in BIDS order, such as
``desc-preproc_T1w``. BIDS has no suffix for CT (the CT extension proposal is
not part of the standard); we name CT ``_CT`` in ``anat/`` everywhere, and
tissue labels ``_dseg`` as BIDS derivatives do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

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
