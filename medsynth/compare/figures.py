"""challengeR's two pictures of a comparison, per task: the significance map
(which pairs of methods differ after Holm correction, and which way) and the
blob plot (how often each method took each rank when the test subjects are
bootstrapped). Drawn from the compare stage's tables, never from images.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from medsynth import io
from medsynth.compare.orientation import HEADLINE_METRICS, headline_among
from medsynth.compare.paired import significance_matrix
from medsynth.report.common import (
    condition_label,
    condition_order,
    fitted_title,
    metric_label,
)

DPI = 110
# worse (row below column), not significant, better
_MAP_COLOURS = ListedColormap(["#d6604d", "#f0f0f0", "#4393c3"])


def _panels(table: pd.DataFrame, task: str) -> list[tuple[str, str, str]]:
    """(dataset, condition, metric) of the task's panels, conditions in reading order."""
    rows = table[table["task"] == task]
    order = {c: i for i, c in enumerate(condition_order(rows))}
    keys = rows[["dataset", "condition", "metric"]].drop_duplicates()
    keys = keys.assign(order=keys["condition"].map(order)).sort_values(["order", "metric"])
    return list(keys[["dataset", "condition", "metric"]].itertuples(index=False, name=None))


def _grid(n: int, size: float) -> tuple[Figure, np.ndarray]:
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = Figure(figsize=(size * cols, size * rows), layout="constrained")
    return fig, np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())


def _finish(fig: Figure, unused, title: str, out_png: str | os.PathLike) -> Path:
    """Blank the grid's unused axes, title the figure and write it."""
    for ax in unused:
        ax.axis("off")
    fig.suptitle(fitted_title(fig.get_figwidth(), title, 9), fontsize=9)
    with io.atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    return Path(out_png)


def significance_maps(tests: pd.DataFrame, task: str, out_png: str | os.PathLike) -> Path:
    """One method × method map per condition and headline metric (all metrics for a
    task without headline metrics): blue where the
    row method is significantly better than the column method (two-sided exact
    Wilcoxon, Holm within the family), red where worse, grey where no test
    could tell (or none could run: too few subjects, said in the title)."""
    if task in HEADLINE_METRICS:
        tests = tests[tests["metric"].isin(headline_among(task, tests["metric"].unique()))]
    panels = _panels(tests, task)
    fig, axes = _grid(max(len(panels), 1), 2.9)
    for ax, (dataset, condition, metric) in zip(axes, panels, strict=False):
        matrix = significance_matrix(tests, dataset, task, condition, metric)
        family = tests[(tests["task"] == task) & (tests["condition"] == condition)
                       & (tests["metric"] == metric)]
        ax.imshow(matrix.fillna(0).to_numpy(), cmap=_MAP_COLOURS, vmin=-1, vmax=1)
        ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=60, ha="right",
                      fontsize=7)
        ax.set_yticks(range(len(matrix.index)), matrix.index, fontsize=7)
        untestable = family["p_value"].isna().all()
        note = f"\nno test possible at n = {int(family['n'].max())}" if untestable else ""
        ax.set_title(f"{condition_label(task, condition)}: {metric_label(metric, task)}{note}",
                     fontsize=8)
    return _finish(fig, axes[len(panels):], f"{task}: row method better (blue) / worse (red) "
                   "than column, Holm-corrected paired Wilcoxon", out_png)


def blob_plots(counts: pd.DataFrame, task: str, out_png: str | os.PathLike) -> Path:
    """Per condition and headline metric: each method's bootstrap rank
    distribution, a dot per rank with area proportional to how often the
    method took it (challengeR's blob plot); methods in order of median rank."""
    panels = _panels(counts, task)
    fig, axes = _grid(max(len(panels), 1), 2.9)
    for ax, (dataset, condition, metric) in zip(axes, panels, strict=False):
        rows = counts[(counts["dataset"] == dataset) & (counts["task"] == task)
                      & (counts["condition"] == condition) & (counts["metric"] == metric)]
        table = rows.pivot(index="method", columns="rank", values="count").fillna(0)
        share = table.div(table.sum(axis=1), axis=0)
        median = share.cumsum(axis=1).ge(0.5).idxmax(axis=1)
        methods = median.sort_values(kind="stable").index.tolist()
        for x, method in enumerate(methods):
            ranks = share.columns.to_numpy(dtype=float)
            ax.scatter(np.full(len(ranks), x), ranks, s=400 * share.loc[method].to_numpy(),
                       color="#2166ac", alpha=0.8)
            ax.plot(x, median[method], marker="_", color="black", markersize=14)
        ax.set_xticks(range(len(methods)), methods, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(1, len(methods) + 1))
        ax.invert_yaxis()
        ax.set_ylabel("rank (1 = best)", fontsize=8)
        ax.set_title(f"{condition_label(task, condition)}: {metric_label(metric, task)}",
                     fontsize=8)
    return _finish(fig, axes[len(panels):], f"{task}: aggregate-then-rank ranks over bootstrap "
                   "samples of the test subjects (bar: median rank)", out_png)
