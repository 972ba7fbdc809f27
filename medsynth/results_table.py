"""Per-subject result rows: written per method, collected into one table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medsynth import io

ID_COLUMNS = ["dataset", "task", "condition", "method", "subject"]


def write_rows(rows: list[dict], path) -> Path:
    """Write rows (identifying columns first) as TSV, atomically."""
    table = pd.DataFrame(rows)
    table = table[ID_COLUMNS + [c for c in table.columns if c not in ID_COLUMNS]]
    with io.atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return Path(path)


def collect_rows(paths, out_path) -> pd.DataFrame:
    """Concatenate per-method TSVs; subject ids stay strings ("001")."""
    frames = [pd.read_csv(p, sep="\t", dtype={"subject": str}) for p in paths]
    table = pd.concat(frames, ignore_index=True, sort=False)
    table = table[ID_COLUMNS + [c for c in table.columns if c not in ID_COLUMNS]]
    with io.atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return table
