"""The compare stage as one call: from the per-subject metrics table to the
tables of uncertainty, paired tests and rankings that the report lays out.

Written as TSV (every number in its own column) plus one Markdown page per
task for reading. Bootstrap resamples and seeds are arguments, recorded in the
tables' ``ci_method`` column and the pages' captions, so a rerun with the same
arguments gives the same numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medsynth import io
from medsynth.compare import paired, ranking, uncertainty
from medsynth.compare.orientation import headline_metrics, higher_is_better
from medsynth.compare.plan import TABLES
from medsynth.results_table import PROTOCOL, protocol_of

COMBINED_SCHEMES = {
    "mean_rank": "mean over the headline metrics of each method's aggregate-then-rank rank",
    "synthrad_minmax": "SynthRAD's sum of min–max normalised means (depends on which "
                       "methods take part)",
}


def rankings(df: pd.DataFrame, summary: pd.DataFrame, alpha: float, n_boot: int,
             seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """challengeR's three rankings with bootstrap stability per task, condition and
    headline metric; how often each method took each aggregate-then-rank rank in
    the bootstrap (the blob plot's data); the combined rankings over the headline
    metrics."""
    per_metric, counts, combined = [], [], []
    for (dataset, task, condition), rows in df.groupby(["dataset", "task", "condition"],
                                                       sort=True):
        metrics = headline_metrics(task, rows)
        competitors = rows[~rows["method"].isin(paired.NOT_COMPETING)]
        if competitors["method"].nunique() < 2:
            continue
        for metric in metrics:
            values = ranking.subject_values(competitors, task, condition, metric, dataset)
            stability = ranking.ranking_stability(values, higher_is_better(metric),
                                                  "aggregate_then_rank", n_boot, seed)
            table = ranking.rank_table(competitors, task, condition, metric, dataset=dataset,
                                       alpha=alpha, n_boot=n_boot, seed=seed,
                                       stability=stability)
            per_metric.append(table.assign(dataset=dataset, task=task, condition=condition,
                                           metric=metric))
            long = stability["rank_counts"].rename_axis(index="method", columns="rank")
            counts.append(long.stack().rename("count").reset_index().assign(
                dataset=dataset, task=task, condition=condition, metric=metric))
        for scheme in COMBINED_SCHEMES:
            table = ranking.combined_ranking(summary, task, condition, metrics, scheme,
                                             dataset=dataset)
            combined.append(table[["method", "score", "rank"]].assign(
                dataset=dataset, task=task, condition=condition, scheme=scheme,
                metrics=" + ".join(metrics)))
    first = ["dataset", "task", "condition"]
    return (_front(pd.concat(per_metric, ignore_index=True), [*first, "metric"]),
            _front(pd.concat(counts, ignore_index=True), [*first, "metric"]),
            _front(pd.concat(combined, ignore_index=True), [*first, "scheme", "metrics"]))


def _front(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return table[columns + [c for c in table.columns if c not in columns]]


def compare(df: pd.DataFrame, task_baselines: dict[str, str], alpha: float = 0.05,
            n_resamples: int = 10_000, n_boot: int = 1000, seed: int = 0) -> dict:
    """Every table of the stage, by name (:data:`TABLES`). Rows evaluated under two
    protocols are refused: their numbers are not comparable."""
    if PROTOCOL in df.columns:
        protocol_of(df)
    summary = uncertainty.summarise(df, n_resamples=n_resamples, seed=seed)
    tests = paired.paired_tests(df, task_baselines, alpha=alpha, n_resamples=n_resamples,
                                seed=seed)
    per_metric, counts, combined = rankings(df, summary, alpha, n_boot, seed)
    return {"summary": summary, "paired_tests": tests, "rankings": per_metric,
            "rank_distribution": counts, "combined_rankings": combined,
            "seed_spread": uncertainty.seed_spread(df)}


def write_tables(tables: dict, out_dir: str | Path) -> list[Path]:
    """Each table as ``<name>.tsv`` in `out_dir`, atomically."""
    out_dir = Path(out_dir)
    written = []
    for name in TABLES:
        path = out_dir / f"{name}.tsv"
        with io.atomic_path(path) as tmp:
            tables[name].to_csv(tmp, sep="\t", index=False, float_format="%.6g")
        written.append(path)
    return written


def read_tables(out_dir: str | Path) -> dict:
    """The stage's tables back from `out_dir` (conditions and subjects stay strings)."""
    return {name: pd.read_csv(Path(out_dir) / f"{name}.tsv", sep="\t",
                              dtype={"condition": str})
            for name in TABLES}
