"""challengeR's rankings (Wiesenfarth et al., Sci Rep 2021) and SynthRAD's min–max ranking.

The single-metric functions take `values`: a subjects × methods frame of seed-averaged
values, complete cases only, with the direction given as higher_better. Ranks are 1 = best
and ties take the minimum rank, as in challengeR.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from medsynth.compare.orientation import higher_is_better
from medsynth.compare.paired import NOT_COMPETING, holm, wilcoxon_p
from medsynth.compare.uncertainty import per_subject


def _rank(scores: pd.Series, higher_better: bool) -> pd.Series:
    """Rank scores 1 = best, ties at the minimum rank."""
    oriented = -scores.to_numpy(dtype=float) if higher_better else scores.to_numpy(dtype=float)
    return pd.Series(stats.rankdata(oriented, method="min").astype(int), index=scores.index,
                     name="rank")


def aggregate_then_rank(values: pd.DataFrame, higher_better: bool) -> pd.Series:
    """Rank the methods by their mean over subjects."""
    return _rank(values.mean(axis=0), higher_better)


def mean_ranks(values: pd.DataFrame, higher_better: bool) -> pd.Series:
    """Each method's rank within every subject (ties: minimum), averaged over subjects."""
    oriented = -values.to_numpy(dtype=float) if higher_better else values.to_numpy(dtype=float)
    ranks = stats.rankdata(oriented, method="min", axis=1)
    return pd.Series(ranks.mean(axis=0), index=values.columns, name="mean_rank")


def rank_then_aggregate(values: pd.DataFrame, higher_better: bool) -> pd.Series:
    """Rank the methods by their mean within-subject rank."""
    return _rank(mean_ranks(values, higher_better), higher_better=False)


def wins(values: pd.DataFrame, higher_better: bool, alpha: float = 0.05) -> pd.Series:
    """How many other methods each method beats in a one-sided paired Wilcoxon test.

    Holm runs over all ordered pairs of the family, k(k − 1) tests for k methods, so the
    smallest adjusted p is at least 2 / 2**n: below min_subjects_for(alpha) subjects nobody
    can win and every method shares rank 1.
    """
    alternative = "greater" if higher_better else "less"
    methods = list(values.columns)
    pairs = [(a, b) for a in methods for b in methods if a != b]
    p = [wilcoxon_p(values[a], values[b], alternative) for a, b in pairs]
    count = pd.Series(0, index=values.columns, name="wins")
    for (a, _), adjusted in zip(pairs, holm(p), strict=True):
        count[a] += int(adjusted < alpha)
    return count


def test_then_rank(values: pd.DataFrame, higher_better: bool, alpha: float = 0.05) -> pd.Series:
    """Rank the methods by their number of significant wins, most first."""
    return _rank(wins(values, higher_better, alpha), higher_better=True)


SCHEMES: dict[str, Callable[[pd.DataFrame, bool], pd.Series]] = {
    "aggregate_then_rank": aggregate_then_rank,
    "rank_then_aggregate": rank_then_aggregate,
    "test_then_rank": test_then_rank,
}


def _scheme(name: str) -> Callable[[pd.DataFrame, bool], pd.Series]:
    if name not in SCHEMES:
        raise ValueError(f"unknown ranking scheme {name!r}; known: {sorted(SCHEMES)}")
    return SCHEMES[name]


def bootstrap_rankings(values: pd.DataFrame, higher_better: bool, scheme: str,
                       n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """n_boot × methods ranks, each from subjects resampled with replacement (seeded).

    Aggregate-then-rank, the scheme the report bootstraps, is computed for all
    resamples at once; the others resample one at a time.
    """
    rank = _scheme(scheme)
    rng = np.random.default_rng(seed)
    n = len(values)
    draws = rng.integers(0, n, size=(n_boot, n))
    if scheme == "aggregate_then_rank":
        means = values.to_numpy(dtype=float)[draws].mean(axis=1)
        rankings = stats.rankdata(-means if higher_better else means, axis=1,
                                  method="min").astype(int)
    else:
        rankings = [rank(values.iloc[draw], higher_better).to_numpy() for draw in draws]
    return pd.DataFrame(rankings, columns=values.columns,
                        index=pd.RangeIndex(n_boot, name="bootstrap"))


def ranking_tau(full, resampled) -> float:
    """Kendall's tau-b of two rankings of the same methods.

    A constant resampled ranking keeps none of the full ranking's order, so it counts 0;
    against a constant full ranking there is no order to keep, so tau is NaN.
    """
    full, resampled = np.asarray(full), np.asarray(resampled)
    if np.all(full == full[0]):
        return math.nan
    if np.all(resampled == resampled[0]):
        return 0.0
    return float(stats.kendalltau(full, resampled).statistic)


def ranking_stability(values: pd.DataFrame, higher_better: bool, scheme: str,
                      n_boot: int = 1000, seed: int = 0) -> dict:
    """How well the full ranking survives resampling the subjects.

    Returns a dict with "ranking" (the full ranking), "bootstrap" (bootstrap_rankings),
    "rank_counts" (methods × ranks 1..k: how often each method took each rank, for a blob
    plot), "tau" (Kendall's tau-b of the full ranking with each bootstrap ranking),
    "tau_mean" and "tau_median". A constant bootstrap ranking counts as tau = 0 (it keeps none
    of the order); if the full ranking itself is constant (all tied) every tau is NaN.
    """
    ranking = _scheme(scheme)(values, higher_better)
    boot = bootstrap_rankings(values, higher_better, scheme, n_boot, seed)
    ranks = range(1, values.shape[1] + 1)
    rank_counts = pd.DataFrame({r: (boot == r).sum(axis=0) for r in ranks})
    rank_counts.columns.name = "rank"
    distinct, which = np.unique(boot.to_numpy(), axis=0, return_inverse=True)
    tau = np.array([ranking_tau(ranking.to_numpy(), row) for row in distinct])[which.ravel()]
    all_nan = np.all(np.isnan(tau))
    return {"ranking": ranking, "bootstrap": boot, "rank_counts": rank_counts, "tau": tau,
            "tau_mean": math.nan if all_nan else float(np.nanmean(tau)),
            "tau_median": math.nan if all_nan else float(np.nanmedian(tau))}


def _one_family(rows: pd.DataFrame, task: str, condition: str,
                dataset: str | None) -> pd.DataFrame:
    """Rows of one (dataset, task, condition), without the reference ceiling and controls.

    Without a dataset the rows must hold only one: subject ids of different datasets are
    different people and never pair up.
    """
    chosen = rows[(rows["task"] == task) & (rows["condition"] == condition)
                  & ~rows["method"].isin(NOT_COMPETING)]
    if dataset is not None:
        return chosen[chosen["dataset"] == dataset]
    datasets = sorted(chosen["dataset"].unique())
    if len(datasets) > 1:
        raise ValueError(f"{task}/{condition} has several datasets {datasets}; name one")
    return chosen


def subject_values(df: pd.DataFrame, task: str, condition: str, metric: str,
                   dataset: str | None = None) -> pd.DataFrame:
    """The subjects × methods frame of one family: seed-averaged, complete cases only."""
    family = _one_family(per_subject(df, metric), task, condition, dataset)
    values = family.pivot(index="subject", columns="method", values=metric).dropna()
    if values.empty:
        raise ValueError(f"{task}/{condition}/{metric}: no subject has a finite value "
                         "for every method")
    return values


def rank_table(df: pd.DataFrame, task: str, condition: str, metric: str, *,
               dataset: str | None = None, alpha: float = 0.05, n_boot: int = 1000,
               seed: int = 0, stability: dict | None = None) -> pd.DataFrame:
    """One row per method with all three challengeR rankings, best aggregate rank first.

    n and mean are over the complete cases the rankings use, which may be fewer subjects than
    summarise counts; tau_mean is the aggregate-then-rank bootstrap's mean Kendall's tau.
    """
    values = subject_values(df, task, condition, metric, dataset)
    higher_better = higher_is_better(metric)
    if stability is None:  # the caller may have bootstrapped this family already
        stability = ranking_stability(values, higher_better, "aggregate_then_rank", n_boot,
                                      seed)
    won = wins(values, higher_better, alpha)
    table = pd.DataFrame({
        "method": values.columns,
        "n": len(values),
        "mean": values.mean(axis=0).to_numpy(),
        "rank_aggregate": stability["ranking"].to_numpy(),
        "mean_rank": mean_ranks(values, higher_better).to_numpy(),
        "rank_rank_then_aggregate": rank_then_aggregate(values, higher_better).to_numpy(),
        "wins": won.to_numpy(),
        "rank_test": _rank(won, higher_better=True).to_numpy(),
        "tau_mean": stability["tau_mean"],
    })
    return table.sort_values(["rank_aggregate", "method"], ignore_index=True)


def _minmax_score(means: pd.Series, higher_better: bool) -> pd.Series:
    """Means scaled to [0, 1] with 1 = best; all equal means all score 1."""
    low, high = means.min(), means.max()
    if high == low:
        return pd.Series(1.0, index=means.index)
    scaled = (means - low) / (high - low)
    return scaled if higher_better else 1 - scaled


def combined_ranking(summary: pd.DataFrame, task: str, condition: str, metrics, scheme: str,
                     *, dataset: str | None = None) -> pd.DataFrame:
    """One ranking over several metrics from summarise's per-method means.

    "mean_rank": the mean over metrics of each method's aggregate-then-rank rank (score, lower
    is better), then ranked. "synthrad_minmax": SynthRAD's scheme, per metric the methods'
    means min–max normalised to [0, 1] with 1 = best, summed over metrics (score, higher is
    better), then ranked. The min–max scores depend on which methods take part: adding or
    removing one method moves the minimum or maximum and so changes everyone's scores.
    Only methods with a mean for every metric take part. Columns: method, one per metric
    (its rank or normalised score), score, rank.
    """
    metrics = list(metrics)
    rows = _one_family(summary[summary["metric"].isin(metrics)], task, condition, dataset)
    means = rows.pivot(index="method", columns="metric", values="mean")
    means = means.reindex(columns=metrics).dropna()
    if scheme == "mean_rank":
        parts = {m: _rank(means[m], higher_is_better(m)) for m in metrics}
        table = pd.DataFrame(parts)
        table["score"] = table[metrics].mean(axis=1)
        table["rank"] = _rank(table["score"], higher_better=False)
    elif scheme == "synthrad_minmax":
        table = pd.DataFrame({m: _minmax_score(means[m], higher_is_better(m)) for m in metrics})
        table["score"] = table[metrics].sum(axis=1)
        table["rank"] = _rank(table["score"], higher_better=True)
    else:
        raise ValueError(f"unknown combined scheme {scheme!r}; known: mean_rank, "
                         "synthrad_minmax")
    table = table.rename_axis("method").reset_index()
    return table.sort_values(["rank", "method"], ignore_index=True)
