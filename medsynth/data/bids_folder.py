"""A user's own BIDS folder: the T1w (and T2w, CT where the tasks need them)
of every subject that has them, copied into the suite's layout.

The user's folder is only read: files are copied out of it, never written,
moved or linked, and the converted dataset may not live inside it.
"""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path

from medsynth import io
from medsynth.data.bids import anat_path, write_dataset_files

log = logging.getLogger(__name__)


def find_image(subject_dir: Path, suffix: str) -> Path | None:
    """The subject's image with this suffix (any session, acq or run entity);
    the first in name order when there are several."""
    label = subject_dir.name
    found = sorted(p for pattern in (f"anat/{label}*_{suffix}.nii*", f"ses-*/anat/{label}*_{suffix}.nii*")
                   for p in subject_dir.glob(pattern) if p.name.endswith((".nii", ".nii.gz")))
    if len(found) > 1:
        log.info("%s: %d %s images, using %s", label, len(found), suffix, found[0].name)
    return found[0] if found else None


def convert(bids_root: str | Path, out_root: str | Path, suffixes: tuple[str, ...],
            max_subjects: int | None = None) -> list[str]:
    """Copy the subjects having every one of `suffixes`; return their labels."""
    root, out_root = Path(bids_root).resolve(), Path(out_root).resolve()
    if not root.is_dir():
        raise io.InputError(root, "BIDS folder does not exist")
    if out_root.is_relative_to(root):
        raise io.InputError(root, f"the converted dataset {out_root} would be written inside the "
                            "user's BIDS folder; choose a results folder outside it")
    chosen: dict[str, dict[str, Path]] = {}
    for subject_dir in sorted(root.glob("sub-*")):
        label = subject_dir.name.removeprefix("sub-")
        if not subject_dir.is_dir() or not label.isalnum():
            continue
        images = {s: find_image(subject_dir, s) for s in suffixes}
        missing = [s for s, p in images.items() if p is None]
        if missing:
            log.info("skipping sub-%s: no %s", label, ", ".join(missing))
            continue
        chosen[label] = images
        if len(chosen) == max_subjects:
            break
    if not chosen:
        raise io.InputError(root, f"no subject has all of {', '.join(suffixes)} in anat/")
    with io.atomic_folder(out_root) as staging:
        rows = []
        for label, images in chosen.items():
            for suffix, source in images.items():
                io.load_volume(source)  # a broken file fails here, named
                dest = anat_path(staging, label, suffix)
                dest.parent.mkdir(parents=True, exist_ok=True)
                if source.name.endswith(".nii.gz"):
                    shutil.copyfile(source, dest)
                else:
                    dest.write_bytes(gzip.compress(source.read_bytes()))
            rows.append({"participant_id": f"sub-{label}",
                         **{f"source_{s}": str(p.relative_to(root)) for s, p in images.items()}})
        write_dataset_files(staging, {
            "Name": f"BIDS folder {root}",
            "SourceDatasets": [{"URL": root.as_uri()}],
            "GeneratedBy": [{"Name": "medsynth", "Description":
                             f"{', '.join(suffixes)} copied from the user's BIDS folder (read only)"}],
        }, rows)
    return list(chosen)
