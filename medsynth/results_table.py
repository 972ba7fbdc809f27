"""Per-subject result rows: written per method, collected into one table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medsynth import io

ID_COLUMNS = ["dataset", "task", "condition", "method", "subject"]
# the training seed of a seeded method's row (medsynth.replicates); empty for a method without one
SEED = "seed"
# 1 where evaluation could not segment the prediction (its Dice then counts as 0), else 0
SEGMENTATION_FAILED = "segmentation_failed"
METRIC_ORDER = ["mae", "psnr", "ssim", "dice_CSF", "dice_GM", "dice_WM", "dice_bone", "dice_mean",
                SEGMENTATION_FAILED]


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    """Identifying columns (the seed after the method), then the known metrics, then any
    others by name."""
    missing = [c for c in ID_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"result rows lack identifying columns {missing}")
    ids = ID_COLUMNS[:4] + [SEED] * (SEED in table.columns) + ID_COLUMNS[4:]
    metrics = [c for c in METRIC_ORDER if c in table.columns]
    others = sorted(c for c in table.columns if c not in ids and c not in METRIC_ORDER)
    return table[ids + metrics + others]


def write_rows(rows: list[dict], path) -> Path:
    """Write rows (identifying columns first) as TSV, atomically."""
    table = _ordered(pd.DataFrame(rows))
    with io.atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return Path(path)


def collect_rows(paths, out_path) -> pd.DataFrame:
    """Concatenate per-method TSVs; subject ids stay strings ("001")."""
    frames = [pd.read_csv(p, sep="\t", dtype={"subject": str, SEED: "Int64"}) for p in paths]
    table = _ordered(pd.concat(frames, ignore_index=True, sort=False))
    with io.atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return table
