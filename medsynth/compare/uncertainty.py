"""How sure each method's score is: seed-averaged per-subject values, bootstrap CIs, seed spread."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from medsynth.compare.orientation import metrics_in

SUBJECT_KEYS = ["dataset", "task", "condition", "method", "subject"]
METHOD_KEYS = SUBJECT_KEYS[:-1]


def _finite_rows(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows whose metric value is finite (inf PSNR, NaN Dice never enter a statistic)."""
    values = pd.to_numeric(df[metric], errors="coerce")
    return df.assign(**{metric: values})[np.isfinite(values)]


def _seeds(rows: pd.DataFrame) -> pd.Series:
    """The seed of each row; a missing column or NaN both mean the single replicate."""
    if "seed" not in rows.columns:
        return pd.Series(np.nan, index=rows.index)
    return pd.to_numeric(rows["seed"], errors="coerce")


def per_subject(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One value per subject, averaged over seeds, so subjects (not seeds) are the test unit.

    Columns: dataset, task, condition, method, subject, <metric>.
    """
    rows = _finite_rows(df, metric)
    return rows.groupby(SUBJECT_KEYS, as_index=False, sort=True)[metric].mean()


def bootstrap_ci(values, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0,
                 statistic: Callable = np.mean) -> tuple[float, float]:
    """Percentile bootstrap CI of a statistic (the mean by default), seeded and repeatable.

    Percentile rather than BCa: with the 2–6 subjects of a test split, BCa's jackknife
    acceleration is undefined or unstable. Fewer than two values give (nan, nan); identical
    values give (v, v) without calling scipy, whose resamples would all be equal.
    """
    sample = np.asarray(values, dtype=float)
    sample = sample[np.isfinite(sample)]
    if sample.size < 2:
        return math.nan, math.nan
    if np.all(sample == sample[0]):
        return float(sample[0]), float(sample[0])
    result = stats.bootstrap((sample,), statistic, n_resamples=n_resamples,
                             confidence_level=confidence, method="percentile",
                             rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _sample_sd(values) -> float:
    """Sample standard deviation (ddof=1); NaN below two values."""
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1)) if values.size >= 2 else math.nan


def summarise(df: pd.DataFrame, n_resamples: int = 10_000, seed: int = 0,
              confidence: float = 0.95) -> pd.DataFrame:
    """Per (dataset, task, condition, method, metric): the spread over seed-averaged subjects.

    The reference ceiling is summarised like any method; n_seeds is the number of distinct
    seeds of the method (1 for a single replicate).
    """
    ci_method = f"percentile bootstrap, {n_resamples} resamples"
    rows = []
    for metric in metrics_in(df):
        finite = _finite_rows(df, metric)
        seeds = _seeds(finite).groupby([finite[k] for k in METHOD_KEYS]).nunique()
        for keys, group in per_subject(df, metric).groupby(METHOD_KEYS, sort=True):
            values = group[metric].to_numpy()
            low, high = bootstrap_ci(values, confidence, n_resamples, seed)
            rows.append(dict(zip(METHOD_KEYS, keys, strict=True), metric=metric,
                             n=len(values), n_seeds=max(1, int(seeds.loc[keys])),
                             mean=float(np.mean(values)), median=float(np.median(values)),
                             sd=_sample_sd(values), ci_low=low, ci_high=high,
                             ci_method=ci_method))
    columns = [*METHOD_KEYS, "metric", "n", "n_seeds", "mean", "median", "sd",
               "ci_low", "ci_high", "ci_method"]
    return pd.DataFrame(rows, columns=columns)


def _seed_label(seed: float) -> str:
    return str(int(seed)) if float(seed).is_integer() else str(seed)


def seed_spread(df: pd.DataFrame) -> pd.DataFrame:
    """Separate the spread across training seeds from the spread across subjects.

    Only methods with at least two seeds, on the subjects present for every seed (balanced).
    seed_sd is the sample sd of the per-seed means over subjects; subject_sd the sample sd over
    subjects of their means over seeds. seed_means is a string "seed: mean; ..." (seeds in
    ascending order, means to 6 significant digits) so the row stays one row of a table.
    """
    rows = []
    for metric in metrics_in(df):
        finite = _finite_rows(df, metric)
        finite = finite.assign(seed=_seeds(finite)).dropna(subset=["seed"])
        for keys, group in finite.groupby(METHOD_KEYS, sort=True):
            grid = group.pivot_table(index="subject", columns="seed", values=metric,
                                     aggfunc="mean").dropna()
            if grid.shape[1] < 2 or grid.empty:
                continue
            seed_means = grid.mean(axis=0)
            rows.append(dict(zip(METHOD_KEYS, keys, strict=True), metric=metric,
                             n_subjects=grid.shape[0], n_seeds=grid.shape[1],
                             seed_means="; ".join(f"{_seed_label(s)}: {m:.6g}"
                                                  for s, m in seed_means.items()),
                             seed_sd=_sample_sd(seed_means),
                             subject_sd=_sample_sd(grid.mean(axis=1))))
    columns = [*METHOD_KEYS, "metric", "n_subjects", "n_seeds", "seed_means", "seed_sd",
               "subject_sd"]
    return pd.DataFrame(rows, columns=columns)


def format_ci(mean: float, low: float, high: float, digits: int) -> str:
    """"mean [low, high]" for a table cell; the mean alone without a CI, "—" without a mean."""
    if not np.isfinite(mean):
        return "—"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
