"""The leaderboard: the first page a user opens after a run. Per task, the
ranking with confidence intervals and compute, what the paired tests can and
cannot say at this n, the significance map, the ranking stability, the
convergence of the trained models and the example slices — one
self-contained HTML file (figures embedded), so that it also opens from
Snakemake's report.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import pandas as pd

from medsynth import io
from medsynth.compare.paired import min_subjects_for
from medsynth.protocols import caption as protocol_caption
from medsynth.report.common import condition_label, condition_order, metric_label, task_order
from medsynth.report.tables import ci_cell, collapsed_models, compute_cells, decimals

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.note { color: #555; font-size: 0.9em; max-width: 70em; }
.warn { color: #a33; }
img { display: block; max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }
nav a { margin-right: 1em; }
"""


def _image(path: str | os.PathLike, alt: str) -> str:
    path = Path(path)
    if not path.exists():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


LEADERBOARD_COMPUTE = ("iterations", "parameters", "train (s)", "infer (s/volume)")


def _combined_order(tables: dict, task: str, condition: str) -> pd.DataFrame:
    """The condition's combined mean-rank rows, best first; their ``metrics`` are the headline."""
    combined = tables["combined_rankings"]
    return combined[(combined["task"] == task) & (combined["condition"] == condition)
                    & (combined["scheme"] == "mean_rank")].sort_values(["rank", "method"])


def ranking_table(tables: dict, compute: pd.DataFrame, task: str, condition: str) -> str:
    """The condition's methods by combined rank (mean over the headline metrics of
    the aggregate-then-rank rank), each headline metric as 'mean [95 % CI]',
    their compute and any flag."""
    summary, order = tables["summary"], _combined_order(tables, task, condition)
    if order.empty:
        return ""
    metrics = order["metrics"].iloc[0].split(" + ")  # the task's headline metrics
    collapsed = collapsed_models(compute, task)
    head = ["rank", "method", *(metric_label(m, task) for m in metrics), *LEADERBOARD_COMPUTE,
            "flags"]
    rows = []
    for rank, method in zip(order["rank"], order["method"], strict=True):
        flag = "collapsed in training" if (condition, method) in collapsed else ""
        costs = compute_cells(compute, task, condition, method)
        cells = [str(rank), method,
                 *(ci_cell(summary, task, condition, method, m, decimals(m, task))
                   for m in metrics),
                 *(str(costs[h]) for h in LEADERBOARD_COMPUTE), flag]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
    return f"<table>{header}{''.join(rows)}</table>"


def _seed_note(tables: dict, task: str, condition: str) -> str:
    """Where methods trained with several seeds: the spread across seeds beside the
    spread across subjects, per headline metric."""
    spread, order = tables["seed_spread"], _combined_order(tables, task, condition)
    if order.empty:
        return ""
    rows = spread[(spread["task"] == task) & (spread["condition"] == condition)
                  & spread["metric"].isin(order["metrics"].iloc[0].split(" + "))]
    if rows.empty:
        return ""
    said = "; ".join(
        f"{r.method} {metric_label(r.metric, task)}: sd {r.seed_sd:.{decimals(r.metric, task)}f} "
        f"across {r.n_seeds} seeds, {_sd(r.subject_sd, decimals(r.metric, task))} across "
        f"{r.n_subjects} subject{'s' * (r.n_subjects > 1)}" for r in rows.itertuples())
    return f'<p class="note">Training seeds: {html.escape(said)}.</p>'


def _sd(value: float, digits: int) -> str:
    return f"sd {value:.{digits}f}" if pd.notna(value) else "no sd"


def _test_note(tables: dict, task: str, condition: str, alpha: float) -> str:
    tests = tables["paired_tests"]
    family = tests[(tests["task"] == task) & (tests["condition"] == condition)]
    if family.empty:
        return ""
    n = int(family["n"].max())
    if n < min_subjects_for(alpha):
        return (f'<p class="note warn">n = {n} test subjects: no paired test can reach '
                f"p &lt; {alpha:g} (an exact two-sided Wilcoxon needs n ≥ "
                f"{min_subjects_for(alpha)}); the ranking above is descriptive only.</p>")
    significant = family[family["significant"].astype(bool)]
    said = "; ".join(f"{r.better} better than "
                     f"{r.method_b if r.better == r.method_a else r.method_a} on "
                     f"{metric_label(r.metric, task)}" for r in significant.itertuples())
    return (f'<p class="note">n = {n}: {len(significant)} of {len(family)} paired comparisons '
            f"differ after Holm correction{': ' + html.escape(said) if said else ''}.</p>")


def _caption_of(md_path: Path) -> str:
    """The caption line a paper table's Markdown ends with."""
    lines = [ln for ln in md_path.read_text(encoding="utf-8").splitlines()
             if ln.startswith("Table: ")]
    return lines[-1].removeprefix("Table: ") if lines else ""


def papers_section(paper_tables, report_dir: Path) -> list[str]:
    """The paper-versus-ours tables (their .csv and the caption of their .md) and the
    SMORE overlay, as written by the paper_tables rule."""
    csvs = sorted(Path(p) for p in paper_tables if str(p).endswith(".csv"))
    if not csvs:
        return []
    parts = ['<h2 id="papers">Paper versus ours</h2>']
    for csv in csvs:
        table = pd.read_csv(csv, keep_default_na=False)
        parts.append(f"<h3>{html.escape(csv.stem)}</h3>")
        parts.append(table.to_html(index=False, escape=True, border=0))
        parts.append(f'<p class="note">{html.escape(_caption_of(csv.with_suffix(".md")))}</p>')
    parts.append(_image(report_dir / "papers" / "smore_dice_overlay.png",
                        "Dice by thickness, SMORE paper and this run"))
    return parts


def leaderboard(tables: dict, compute: pd.DataFrame, report_dir: str | os.PathLike,
                title: str, alpha: float = 0.05, protocol: str | None = None,
                paper_tables=()) -> str:
    """The page's HTML, figures read from `report_dir` (``compare/``, ``figures/``,
    ``examples/``, ``papers/``); `protocol` names the metrics' definition under the
    title; `paper_tables` are the paper_tables rule's files (none: no such section)."""
    report_dir = Path(report_dir)
    summary = tables["summary"]
    tasks = task_order(summary["task"].unique())
    parts = [f"<h1>{html.escape(title)}</h1>",
             "<nav>" + "".join(f'<a href="#{t}">{t}</a>' for t in tasks)
             + ('<a href="#papers">papers</a>' if paper_tables else "") + "</nav>",
             '<p class="note">Cells: mean [95 % percentile bootstrap CI of the mean over test '
             "subjects, 10,000 resamples]. Rank: the mean over the task's headline metrics of "
             "each method's rank by mean (aggregate-then-rank; ties share the best rank). Paired "
             "tests: two-sided exact Wilcoxon signed-rank on the subjects, Holm-corrected within "
             "each condition and metric. Every number is in <code>compare/*.tsv</code>; "
             "the cost of each result in <code>compute.tsv</code>.</p>"]
    if protocol is not None:
        parts.append(f'<p class="note">{html.escape(protocol_caption(protocol))}</p>')
    for task in tasks:
        rows = summary[summary["task"] == task]
        parts.append(f'<h2 id="{task}">{task}</h2>')
        for condition in condition_order(rows):
            parts.append(f"<h3>{html.escape(condition_label(task, condition))}</h3>")
            parts.append(ranking_table(tables, compute, task, condition))
            parts.append(_test_note(tables, task, condition, alpha))
            parts.append(_seed_note(tables, task, condition))
            parts.append(_image(report_dir / "examples" / f"{task}_{condition}.png",
                                f"example slices {task} {condition}"))
        for name, alt in ((f"compare/significance_{task}.png", "significance map"),
                          (f"compare/ranking_stability_{task}.png", "ranking stability"),
                          (f"figures/convergence_{task}.png", "convergence")):
            parts.append(_image(report_dir / name, f"{alt} {task}"))
    parts += papers_section(paper_tables, report_dir)
    body = "\n".join(p for p in parts if p)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body>{body}</body></html>\n")


def write_leaderboard(text: str, out_path: str | os.PathLike) -> Path:
    with io.atomic_path(out_path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(out_path)
