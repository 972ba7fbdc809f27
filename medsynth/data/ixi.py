"""IXI: ~580 healthy adults scanned at three London hospitals (T1w, T2w, PDw,
MRA, DTI), CC BY-SA 3.0, https://brain-development.org/ixi-dataset/.

The site is part of every file name, ``IXI002-Guys-0828-T1.nii.gz``
(IXI number, hospital, scan number, modality). T1w is sagittal and T2w/PDw are
one axial dual-echo acquisition, on different grids: preprocessing registers
them onto the T1w (see :mod:`medsynth.preprocess.register`).

The demographics sheet ``IXI.xls`` (an Excel 97 workbook; its sheet
``Table`` holds one row per IXI number, with ``SEX_ID (1=m, 2=f)`` and
``AGE`` in years among other columns) gives each subject's age and sex in
``participants.tsv``. Some IXI numbers have several rows and some rows leave
sex as 0 or age empty: the row that knows most is kept and unknowns are
written ``n/a``, as BIDS asks.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from medsynth import io
from medsynth.data.bids import anat_path, write_dataset_files
from medsynth.data.download import extract

log = logging.getLogger(__name__)

FILE_NAME = re.compile(r"(?:^|/)(IXI(\d{3})-(Guys|HH|IOP)-(\d{4}))-(T1|T2|PD)\.nii\.gz$")
CONTRASTS = {"T1": "T1w", "T2": "T2w", "PD": "PDw"}
# Hospital, scanner maker and field strength of each site, from the IXI site.
SITES = {
    "Guys": ("Guy's Hospital", "Philips", 1.5),
    "HH": ("Hammersmith Hospital", "Philips", 3.0),
    "IOP": ("Institute of Psychiatry", "GE", 1.5),
}
SEX_COLUMN = "SEX_ID (1=m, 2=f)"
SEX_CODES = {1: "M", 2: "F"}


def read_demographics(sheet: str | Path) -> dict[str, dict[str, str]]:
    """Age (years, two decimals) and sex (M/F) of every IXI number in the
    demographics workbook, keyed by subject label (``IXI002``); ``n/a`` where
    the sheet does not know."""
    sheet = Path(sheet)
    try:
        table = pd.read_excel(sheet, sheet_name="Table", engine="xlrd")
    # xlrd reports a damaged workbook with whatever its parser trips over
    except Exception as err:  # noqa: BLE001
        raise io.InputError(sheet, f"cannot be read as IXI's demographics workbook with a "
                            f"sheet 'Table' ({type(err).__name__}: {err})") from err
    missing = [c for c in ("IXI_ID", SEX_COLUMN, "AGE") if c not in table.columns]
    if missing:
        raise io.InputError(sheet, f"sheet 'Table' has no column {', '.join(map(repr, missing))}")
    ids = pd.to_numeric(table["IXI_ID"], errors="coerce")
    sex = pd.to_numeric(table[SEX_COLUMN], errors="coerce").map(SEX_CODES)
    age = pd.to_numeric(table["AGE"], errors="coerce").where(lambda a: a > 0)
    known = pd.DataFrame({"id": ids, "sex": sex, "age": age}).dropna(subset=["id"])
    known["n_known"] = known[["sex", "age"]].notna().sum(axis=1)
    best = known.sort_values(["id", "n_known"], ascending=[True, False], kind="stable")
    best = best.drop_duplicates("id")
    return {f"IXI{int(row.id):03d}": {"age": "n/a" if pd.isna(row.age) else f"{row.age:.2f}",
                                      "sex": "n/a" if pd.isna(row.sex) else row.sex}
            for row in best.itertuples()}


def convert(downloads: str | Path, out_root: str | Path, max_subjects: int | None = None) -> list[str]:
    """Extract the IXI archives and write every subject that has T1, T2 and PD
    (the first `max_subjects` by IXI number) into the BIDS-like layout; the
    demographics sheet goes to ``sourcedata/`` and its age and sex to
    ``participants.tsv``. Returns the subject labels."""
    downloads, out_root = Path(downloads), Path(out_root)
    sheet = downloads / "IXI.xls"
    demographics = read_demographics(sheet)  # a broken sheet fails before any extraction
    found: dict[str, dict[str, Path]] = {}
    scans: dict[str, str] = {}
    with tempfile.TemporaryDirectory(dir=out_root.parent, prefix=".ixi-extract-") as tmp:
        for modality in CONTRASTS:
            archive = downloads / f"IXI-{modality}.tar"
            for path in extract(archive, Path(tmp) / modality, keep=FILE_NAME.search):
                match = FILE_NAME.search(str(path))
                scan, number, modality_found = match.group(1), match.group(2), match.group(5)
                if modality_found != modality:
                    raise io.InputError(archive, f"holds {path.name}, not a {modality} image")
                subject = f"IXI{number}"
                if scans.setdefault(subject, scan) != scan:
                    raise io.InputError(path, f"{subject} was also scanned as {scans[subject]}")
                found.setdefault(subject, {})[modality] = path
        complete = sorted(s for s, files in found.items() if set(files) == set(CONTRASTS))
        skipped = sorted(set(found) - set(complete))
        if skipped:
            log.info("skipping %d subjects without all of T1, T2 and PD: %s", len(skipped),
                     ", ".join(skipped))
        chosen = complete[:max_subjects]
        if not chosen:
            raise io.InputError(downloads, "no IXI subject has all of T1, T2 and PD")
        with io.atomic_folder(out_root) as staging:
            rows = []
            for subject in chosen:
                for modality, contrast in CONTRASTS.items():
                    io.load_volume(found[subject][modality])  # a broken file fails here, named
                    dest = anat_path(staging, subject, contrast)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(found[subject][modality], dest)
                site = scans[subject].split("-")[1]
                hospital, maker, field_t = SITES[site]
                rows.append({"participant_id": f"sub-{subject}",
                             **demographics.get(subject, {"age": "n/a", "sex": "n/a"}),
                             "ixi_scan": scans[subject], "site": site, "hospital": hospital,
                             "manufacturer": maker, "field_strength_T": field_t})
            (staging / "sourcedata").mkdir()
            shutil.copyfile(sheet, staging / "sourcedata" / sheet.name)
            write_dataset_files(staging, {
                "Name": "IXI (Information eXtraction from Images)",
                "License": "CC BY-SA 3.0",
                "HowToAcknowledge": "Cite the IXI dataset, https://brain-development.org/ixi-dataset/",
                "SourceDatasets": [{"URL": "https://brain-development.org/ixi-dataset/"}],
                "GeneratedBy": [{"Name": "medsynth", "Description":
                                 "T1, T2 and PD images copied unchanged; demographics sheet "
                                 "IXI.xls in sourcedata/, its age and sex in "
                                 "participants.tsv"}],
            }, rows)
    return chosen
