"""Paired comparisons of methods on the same subjects: Wilcoxon, Holm, significance maps."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from medsynth.compare.orientation import higher_is_better, metrics_in
from medsynth.compare.uncertainty import bootstrap_ci, per_subject

REFERENCE = "reference"  # a ceiling row, not a competitor
# rows of the tables that are not competitors: the ceiling, and mr_to_ct's PET control
# (the real CT with its bone made soft tissue, a Dixon-like attenuation map)
NOT_COMPETING = (REFERENCE, "ct_no_bone")
FAMILY_KEYS = ["dataset", "task", "condition", "metric"]
EXACT_MAX_N = 25


def min_subjects_for(alpha: float = 0.05) -> int:
    """Smallest n at which a two-sided exact Wilcoxon can reach p < alpha.

    With n pairs all pointing one way the exact two-sided p is 2 / 2**n, its smallest value.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
    n = 1
    while 2 / 2**n >= alpha:
        n += 1
    return n


def too_few_note(n: int, alpha: float) -> str:
    """Why a pair of n subjects carries no p-value."""
    return (f"n = {n}: too few subjects for a paired test to reach p < {alpha:g} "
            f"(an exact two-sided Wilcoxon needs n ≥ {min_subjects_for(alpha)})")


def holm(pvalues) -> np.ndarray:
    """Holm–Bonferroni step-down adjusted p-values: monotone, capped at 1.

    NaN entries (untested pairs) stay NaN and do not count in the family size.
    """
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    factors = len(order) - np.arange(len(order))
    adjusted[order] = np.minimum(np.maximum.accumulate(p[order] * factors), 1.0)
    return adjusted


def wilcoxon_p(a, b, alternative: str = "two-sided") -> float:
    """Wilcoxon signed-rank p of a against b, exact when small and free of zeros and ties.

    With zeros or tied |differences| scipy's default applies (an exhaustive permutation test
    up to n = 13, the normal approximation above); all differences zero give p = 1.
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if np.all(diff == 0):
        return 1.0
    magnitudes = np.abs(diff)
    exact = (len(diff) <= EXACT_MAX_N and np.all(diff != 0)
             and len(np.unique(magnitudes)) == len(magnitudes))
    result = stats.wilcoxon(a, b, alternative=alternative, method="exact" if exact else "auto")
    return float(result.pvalue)


def _better(a: str, b: str, median_diff: float, higher_better: bool) -> str:
    """The method the median paired difference a − b favours, or "tie"."""
    if median_diff == 0:
        return "tie"
    return a if (median_diff > 0) == higher_better else b


def _ordered_pairs(methods: list[str], baseline: str | None) -> list[tuple[str, str]]:
    """Pairs in name order, except that the task's baseline is always method_b."""
    return [(b, a) if a == baseline else (a, b) for a, b in combinations(sorted(methods), 2)]


def _pair_row(wide: pd.DataFrame, a: str, b: str, higher_better: bool, alpha: float,
              n_resamples: int, seed: int) -> dict | None:
    both = wide[[a, b]].dropna()
    n = len(both)
    if n == 0:
        return None
    diff = (both[a] - both[b]).to_numpy()
    median_diff = float(np.median(diff))
    low, high = bootstrap_ci(diff, 1 - alpha, n_resamples, seed, statistic=np.median)
    testable = n >= min_subjects_for(alpha)
    return dict(method_a=a, method_b=b, n=n, median_diff=median_diff,
                diff_ci_low=low, diff_ci_high=high,
                better=_better(a, b, median_diff, higher_better),
                p_value=wilcoxon_p(both[a], both[b]) if testable else math.nan,
                note="" if testable else too_few_note(n, alpha))


def paired_tests(df: pd.DataFrame, baselines: dict[str, str], alpha: float = 0.05,
                 n_resamples: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """Every pair of methods in each (dataset, task, condition, metric) family.

    Pairs use the subjects both methods have, seed-averaged; pairs without a common subject
    are left out. The median difference's CI is a percentile bootstrap at level 1 − alpha;
    Holm runs within the family, over the pairs that carry a p-value.
    """
    rows = []
    for metric in metrics_in(df):
        higher_better = higher_is_better(metric)
        values = per_subject(df, metric)
        values = values[~values["method"].isin(NOT_COMPETING)]
        for (dataset, task, condition), family in values.groupby(FAMILY_KEYS[:3], sort=True):
            wide = family.pivot(index="subject", columns="method", values=metric)
            baseline = baselines.get(task)
            found = []
            for a, b in _ordered_pairs(list(wide.columns), baseline):
                row = _pair_row(wide, a, b, higher_better, alpha, n_resamples, seed)
                if row is not None:
                    found.append(dict(dataset=dataset, task=task, condition=condition,
                                      metric=metric, vs_baseline=b == baseline, **row))
            p_holm = holm([r["p_value"] for r in found])
            for row, adjusted in zip(found, p_holm, strict=True):
                row.update(p_holm=adjusted, significant=bool(adjusted < alpha))
            rows.extend(found)
    columns = [*FAMILY_KEYS, "method_a", "method_b", "vs_baseline", "n", "median_diff",
               "diff_ci_low", "diff_ci_high", "better", "p_value", "p_holm", "significant",
               "note"]
    return pd.DataFrame(rows, columns=columns)


def significance_matrix(tests: pd.DataFrame, dataset: str, task: str, condition: str,
                        metric: str) -> pd.DataFrame:
    """Method × method map: +1 row significantly better than column, −1 worse, 0 neither.

    NaN on the diagonal and for pairs without a p-value. A significant pair whose median
    difference is exactly zero has no direction and shows 0.
    """
    family = tests[(tests["dataset"] == dataset) & (tests["task"] == task)
                   & (tests["condition"] == condition) & (tests["metric"] == metric)]
    methods = sorted(set(family["method_a"]) | set(family["method_b"]))
    matrix = pd.DataFrame(np.nan, index=pd.Index(methods, name="method"),
                          columns=pd.Index(methods, name="versus"))
    for row in family.itertuples(index=False):
        if np.isnan(row.p_holm):
            continue
        a, b = row.method_a, row.method_b
        matrix.loc[a, b] = matrix.loc[b, a] = 0.0
        if row.significant and row.better != "tie":
            loser = b if row.better == a else a
            matrix.loc[row.better, loser] = 1.0
            matrix.loc[loser, row.better] = -1.0
    return matrix
