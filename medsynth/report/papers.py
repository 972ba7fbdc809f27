"""Paper versus ours: per paper, its published numbers beside this run's on the same
metric and condition, whether the run reproduces the paper's claimed orderings,
and how the run's training compute compares with the ``paper`` preset's.

Reads only the compare stage's ``summary.tsv`` (means and CIs) and
``paired_tests.tsv`` (the verdict's test), ``compute.tsv`` (iterations run) and
the papers' data file; the training work per iteration comes in from the caller
(:mod:`medsynth.schedule`), so this module needs no method code.

A verdict reads "<direction> in the means" (holds, reversed or tie, from the
two methods' means) followed by what the paired test can say: significant or
not after Holm correction, or "not testable at n = k" when the compare stage
had too few subjects for any p-value. A claim whose methods are not in this
run is "not at this scale".
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from medsynth.compare.orientation import HEADLINE_STANDINS, higher_is_better
from medsynth.papers import STAND_IN, Claim, Paper
from medsynth.report.common import metric_label
from medsynth.report.figures import _save
from medsynth.report.tables import MISSING, ci_cell, decimals, write_table

NOT_AT_SCALE = "not at this scale"


@dataclass(frozen=True)
class Work:
    """A trained method's training work: voxels per iteration in this run, and the
    ``paper`` preset's whole schedule (iterations × batch × voxels per sample)."""

    run_per_iteration: float
    paper_total: float


def our_metric(summary: pd.DataFrame, task: str, metric: str) -> str:
    """`metric`, or its protocol stand-in (MS-SSIM for SSIM) when the run has only that."""
    present = set(summary.loc[summary["task"] == task, "metric"])
    if metric not in present and HEADLINE_STANDINS.get(metric) in present:
        return HEADLINE_STANDINS[metric]
    return metric


def _mean(summary: pd.DataFrame, task: str, condition: str, method: str,
          metric: str) -> float | None:
    hit = summary[(summary["task"] == task) & (summary["condition"].astype(str) == condition)
                  & (summary["method"] == method) & (summary["metric"] == metric)]
    return None if hit.empty else float(hit["mean"].iloc[0])


def _test(tests: pd.DataFrame, task: str, condition: str, metric: str, a: str, b: str):
    hit = tests[(tests["task"] == task) & (tests["condition"].astype(str) == condition)
                & (tests["metric"] == metric)
                & (((tests["method_a"] == a) & (tests["method_b"] == b))
                   | ((tests["method_a"] == b) & (tests["method_b"] == a)))]
    return None if hit.empty else hit.iloc[0]


def verdict(claim: Claim, task: str, condition: str, summary: pd.DataFrame,
            tests: pd.DataFrame) -> tuple[str, str]:
    """(status, sentence): status is holds, reversed, tie or :data:`NOT_AT_SCALE`."""
    metric = our_metric(summary, task, claim.metric)
    a = _mean(summary, task, condition, claim.better, metric)
    b = _mean(summary, task, condition, claim.worse, metric)
    missing = [m for m, v in ((claim.better, a), (claim.worse, b)) if v is None]
    if missing:
        return NOT_AT_SCALE, f"{NOT_AT_SCALE}: {' and '.join(missing)} not in this run"
    if a == b:
        status = "tie"
    else:
        status = "holds" if (a > b) == higher_is_better(metric) else "reversed"
    row = _test(tests, task, condition, metric, claim.better, claim.worse)
    if row is None:
        return status, f"{status} in the means; no paired test"
    n = int(row["n"])
    if pd.isna(row["p_holm"]):
        return status, f"{status} in the means; not testable at n = {n}"
    p = float(row["p_holm"])
    if bool(row["significant"]) and row["better"] in (claim.better, claim.worse):
        tested = "holds" if row["better"] == claim.better else "reversed"
        return tested, f"{tested}, significant (Holm p = {p:.3g}, n = {n})"
    return status, f"{status} in the means; not significant (Holm p = {p:.3g}, n = {n})"


def _paper_cell(paper: Paper, value) -> str:
    """The paper's value; "not verified" where the entry has no numbers at all."""
    if value is None:
        return MISSING if paper.results else "not verified"
    mean, sd = value
    text = f"{mean:g}"
    return text if sd is None else f"{text} ± {sd:g}"


def _rows_of(paper: Paper) -> list[tuple[str, str, str]]:
    """(metric, condition, paper's wording) of every result and claim, in file order."""
    seen, rows = set(), []
    for r in paper.results:
        key = (r.metric, r.condition)
        if key not in seen:
            seen.add(key)
            rows.append((r.metric, r.condition, r.paper_condition))
    for c in paper.claims:
        for condition in c.conditions:
            if (c.metric, condition) not in seen:
                seen.add((c.metric, condition))
                rows.append((c.metric, condition, ""))
    return rows


def _methods_of(paper: Paper) -> list[tuple[str, str | None, bool]]:
    """(paper label, our method, stand-in?) of the paper's methods, then the claims' stand-ins."""
    out = [(label, ours, False) for label, ours in paper.methods.items()]
    known = set(paper.methods.values())
    for claim in paper.claims:
        for method in (claim.better, claim.worse):
            if method not in known:
                known.add(method)
                out.append(("—", method, claim.stand_in))
    return out


def paper_table(paper: Paper, summary: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    """One row per condition, metric and method: the paper's value, ours as 'mean [95 % CI]',
    and on the claim's favoured method the verdict of the claim at that condition."""
    rows = []
    for metric, condition, wording in _rows_of(paper):
        ours_metric = our_metric(summary, paper.task, metric)
        values = next((r.values for r in paper.results
                       if r.metric == metric and r.condition == condition), {})
        for label, method, stand_in in _methods_of(paper):
            paper_value = values.get(label) if label in paper.methods else None
            if method is None and label not in values:
                continue
            ours = (ci_cell(summary, paper.task, condition, method, ours_metric,
                            decimals(ours_metric, paper.task)) if method else MISSING)
            verdicts = [f"vs {c.worse}: {verdict(c, paper.task, condition, summary, tests)[1]}"
                        for c in paper.claims
                        if c.better == method and c.metric == metric and condition in c.conditions]
            rows.append({"condition": f"{condition} ({wording})" if wording else condition,
                         "metric": metric_label(ours_metric, paper.task),
                         "paper method": label,
                         "ours": (method or "none in the suite") + (STAND_IN if stand_in else ""),
                         "paper": _paper_cell(paper, paper_value) if label in paper.methods else MISSING,
                         "this run": ours, "claim": "; ".join(verdicts)})
    return pd.DataFrame(rows).set_index(["condition", "metric", "paper method"])


def compute_ratio(paper: Paper, compute: pd.DataFrame, work: dict[str, Work]) -> float | None:
    """This run's training work of the paper's method over the ``paper`` preset's
    (iterations run, from compute.tsv, × voxels per iteration); None if not trained here."""
    method = paper.trained_method
    hit = compute[(compute["task"] == paper.task) & (compute["method"] == method)]
    iterations = pd.to_numeric(hit["iterations"], errors="coerce").dropna()
    if iterations.empty or method not in work:
        return None
    return float(iterations.mean()) * work[method].run_per_iteration / work[method].paper_total


def _ratio_text(ratio: float | None, method: str) -> str:
    if ratio is None:
        return f"{method} was not trained in this run, so there is no compute ratio."
    return (f"Compute: this run trained {method} on {ratio:.2g} × the voxels of the `paper` "
            "preset's schedule (iterations × batch × voxels per sample; the preset follows the "
            "paper where the paper states its schedule).")


def caption(paper: Paper, ratio: float | None, n: int | None, protocol_note: str) -> str:
    """The table's caption: what was compared, where the numbers come from, the cost."""
    unverified = (f" Not verified, so not shown: {'; '.join(paper.unverified)}."
                  if paper.unverified else "")
    size = f"n = {n} test subjects" if n else "no test subjects"
    return (f"{paper.short}: the paper's numbers beside this run's (mean [95 % CI], {size}). "
            f"Source: {paper.citation} ({paper.where}; {paper.url}). Their data: {paper.dataset}; "
            f"resolution: {paper.resolution}.{unverified} {paper.notes} {_ratio_text(ratio, paper.trained_method)}"
            f"{protocol_note}").replace("  ", " ").strip()


def _n_of(summary: pd.DataFrame, task: str) -> int | None:
    n = pd.to_numeric(summary.loc[summary["task"] == task, "n"], errors="coerce")
    return int(n.max()) if n.notna().any() else None


def write_paper_tables(papers: Sequence[Paper], summary: pd.DataFrame, tests: pd.DataFrame,
                       compute: pd.DataFrame, work: dict[str, Work], out_dir: str | Path,
                       protocol_note: str = "") -> list[Path]:
    """``paper_<id>`` (.md, .csv, .tex) for each of `papers`."""
    written: list[Path] = []
    for paper in papers:
        text = caption(paper, compute_ratio(paper, compute, work), _n_of(summary, paper.task),
                       protocol_note)
        written += write_table(paper_table(paper, summary, tests), Path(out_dir) / f"paper_{paper.id}",
                               text)
    return written


_THICK = re.compile(r"thick-(\d+(?:\.\d+)?)mm")


def _paper_mm(wording: str) -> float:
    return float(wording.split()[0])


def smore_overlay(paper: Paper, summary: pd.DataFrame, out_png: str | os.PathLike) -> Path:
    """Our Dice-by-thickness curves (mean and 95 % CI) over the paper's (dashed)."""
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    metric = "dice_mean"
    for (label, ours, _), colour in zip(_methods_of(paper), ("C0", "C1", "k"), strict=False):
        points = sorted((_paper_mm(r.paper_condition), r.values[label][0])
                        for r in paper.results if label in r.values)
        if len(points) > 1:
            ax.plot(*zip(*points, strict=True), "--o", color=colour, mfc="none",
                    label=f"{label} (paper)")
        elif points and ours == "reference":
            ax.axhline(points[0][1], color=colour, linestyle=":", label=f"{label} (paper)")
        rows = summary[(summary["task"] == paper.task) & (summary["method"] == ours)
                       & (summary["metric"] == metric)].copy()
        if rows.empty:
            continue
        rows["mm"] = rows["condition"].astype(str).str.extract(_THICK)[0].astype(float)
        rows = rows.dropna(subset=["mm"]).sort_values("mm")
        if ours == "reference":
            ax.axhline(rows["mean"].mean(), color=colour, linestyle="-", linewidth=1,
                       label="HR reference (this run)")
            continue
        err = np.vstack([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]])
        ax.errorbar(rows["mm"], rows["mean"], yerr=np.nan_to_num(err), fmt="-s", color=colour,
                    capsize=3, label=f"{ours} (this run)")
    n = _n_of(summary, paper.task)
    ax.set_xlabel("slice thickness (mm)")
    ax.set_ylabel(metric_label(metric, paper.task))
    ax.set_title(f"Dice by slice thickness: {paper.short} (dashed) and this run\n"
                 f"(mean, 95 % CI over n = {n if n else math.nan} test subjects)")
    ax.legend(loc="best", fontsize="small")
    return _save(fig, out_png)
