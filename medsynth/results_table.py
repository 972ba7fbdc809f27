"""Per-subject result rows: written per method, collected into one table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medsynth import io

ID_COLUMNS = ["dataset", "task", "condition", "method", "subject"]
# the training seed of a seeded method's row (medsynth.replicates); empty for a method without one
SEED = "seed"
# the evaluation protocol (medsynth.protocols) that defined a row's image metrics
PROTOCOL = "protocol"
# 1 where evaluation could not segment the prediction (its Dice then counts as 0), else 0
SEGMENTATION_FAILED = "segmentation_failed"
METRIC_ORDER = ["mae", "psnr", "ssim", "ms_ssim", "dice_CSF", "dice_GM", "dice_WM", "dice_bone", "dice_mean",
                SEGMENTATION_FAILED]


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    """Identifying columns (the seed after the method), the protocol, then the known
    metrics, then any others by name."""
    missing = [c for c in ID_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"result rows lack identifying columns {missing}")
    ids = (ID_COLUMNS[:4] + [SEED] * (SEED in table.columns) + ID_COLUMNS[4:]
           + [PROTOCOL] * (PROTOCOL in table.columns))
    metrics = [c for c in METRIC_ORDER if c in table.columns]
    others = sorted(c for c in table.columns if c not in ids and c not in METRIC_ORDER)
    return table[ids + metrics + others]


def write_rows(rows: list[dict], path) -> Path:
    """Write rows (identifying columns first) as TSV, atomically."""
    table = _ordered(pd.DataFrame(rows))
    with io.atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return Path(path)


def protocol_of(table: pd.DataFrame) -> str:
    """The one protocol every row of `table` was evaluated under: numbers defined two
    ways never share a table."""
    if PROTOCOL not in table.columns:
        raise ValueError(f"result rows do not record their evaluation protocol (no {PROTOCOL!r} "
                         "column)")
    names = sorted(table[PROTOCOL].dropna().astype(str).unique())
    if len(names) != 1:
        raise ValueError(f"result rows mix evaluation protocols {names}: evaluate every method "
                         "under one protocol")
    return names[0]


def collect_rows(paths, out_path) -> pd.DataFrame:
    """Concatenate per-method TSVs, all evaluated under one protocol (else an error naming
    a file of each); subject ids stay strings ("001")."""
    frames = [pd.read_csv(p, sep="\t", dtype={"subject": str, SEED: "Int64"}) for p in paths]
    example = {}
    for path, frame in zip(paths, frames, strict=True):
        names = frame[PROTOCOL].astype(str).unique() if PROTOCOL in frame else ["(none recorded)"]
        example.update({name: str(path) for name in names if name not in example})
    if len(example) > 1:
        raise ValueError("metrics would mix evaluation protocols: "
                         + "; ".join(f"{name} (e.g. {path})" for name, path in example.items()))
    table = _ordered(pd.concat(frames, ignore_index=True, sort=False))
    with io.atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return table
