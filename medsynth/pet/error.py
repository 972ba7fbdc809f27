"""Ladefoged-style PET error metrics (NeuroImage 2017;147:346-359): the voxel-wise
relative error (%) of the PET reconstructed with a synthetic CT against the PET
reconstructed with the real CT, summarised per region as mean (bias), mean
absolute error, and the fraction of voxels within ±5 % and ±10 %."""

from __future__ import annotations

import numpy as np

STATISTICS = ("bias_pct", "mae_pct", "within5", "within10")


def relative_error_pct(test: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """100·(test - reference)/reference inside `mask` (where reference > 0), NaN elsewhere."""
    mask = np.asarray(mask, dtype=bool) & (reference > 0)
    out = np.full(reference.shape, np.nan, dtype=np.float32)
    out[mask] = 100.0 * (test[mask] - reference[mask]) / reference[mask]
    return out


def region_statistics(error_pct: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """Bias, MAE and the fractions within ±5 % and ±10 % over a region's finite errors."""
    values = error_pct[np.asarray(region, dtype=bool) & np.isfinite(error_pct)]
    if values.size == 0:
        return dict.fromkeys(STATISTICS, float("nan"))
    magnitude = np.abs(values)
    return {"bias_pct": float(values.mean()), "mae_pct": float(magnitude.mean()),
            "within5": float((magnitude <= 5.0).mean()), "within10": float((magnitude <= 10.0).mean())}
