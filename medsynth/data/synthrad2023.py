"""SynthRAD2023, task 1 brain: MR and planning CT of radiotherapy patients
from three Dutch centres (A, B, C), with the challenge's body mask; CC BY-NC
4.0; Zenodo, doi:10.5281/zenodo.7260705.

Each patient folder ``Task1/brain/<id>/`` holds ``mr.nii.gz`` (T1-weighted),
``ct.nii.gz`` (HU) and ``mask.nii.gz``, already rigidly registered and
resampled to one grid by the organisers. The patient id encodes task, region,
centre and number: ``1BA001`` is task 1, brain, centre A, patient 001.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from medsynth import io
from medsynth.data.bids import anat_path, write_dataset_files
from medsynth.data.download import extract

MEMBER = re.compile(r"(?:^|/)brain/(1B([A-Z])\d{3})/(mr|ct|mask)\.nii\.gz$")
SUFFIX = {"mr": "T1w", "ct": "CT", "mask": "desc-head_mask"}


def convert(archive: str | Path, out_root: str | Path, max_subjects: int | None = None) -> list[str]:
    """Extract the brain patients of task 1 and write the first `max_subjects`
    (by id) that have MR, CT and mask on one grid. Returns the subject labels."""
    archive, out_root = Path(archive), Path(out_root)
    with tempfile.TemporaryDirectory(dir=out_root.parent, prefix=".synthrad-extract-") as tmp:
        found: dict[str, dict[str, Path]] = {}
        for path in extract(archive, Path(tmp), keep=MEMBER.search):
            match = MEMBER.search(str(path.relative_to(tmp)))
            found.setdefault(match.group(1), {})[match.group(3)] = path
        chosen = sorted(p for p, files in found.items() if set(files) == set(SUFFIX))[:max_subjects]
        if not chosen:
            raise io.InputError(archive, "no brain patient with mr.nii.gz, ct.nii.gz and "
                                "mask.nii.gz (expected Task1/brain/<id>/...)")
        with io.atomic_folder(out_root) as staging:
            rows = []
            for patient in chosen:
                files = found[patient]
                mr = io.load_volume(files["mr"])
                for kind in ("ct", "mask"):
                    io.require_same_grid(files[kind], io.load_volume(files[kind]), files["mr"], mr)
                for kind, suffix in SUFFIX.items():
                    dest = anat_path(staging, patient, suffix)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(files[kind], dest)
                rows.append({"participant_id": f"sub-{patient}", "centre": patient[2]})
            write_dataset_files(staging, {
                "Name": "SynthRAD2023 task 1 (MR to CT), brain",
                "License": "CC BY-NC 4.0",
                "HowToAcknowledge": "Thummerer et al., SynthRAD2023 Grand Challenge dataset, "
                                    "Med Phys 2023; doi:10.5281/zenodo.7260705",
                "SourceDatasets": [{"DOI": "doi:10.5281/zenodo.7260705"}],
                "GeneratedBy": [{"Name": "medsynth", "Description":
                                 "mr, ct and mask copied unchanged as _T1w, _CT (BIDS has no "
                                 "CT suffix) and _desc-head_mask"}],
            }, rows)
    return chosen
