"""Aggregate tables from per-subject result rows: one summary per task and the
two paper-style pivots (Dice by slice thickness as in SMORE, Zhao et al.,
IEEE TMI 2021; PSNR/SSIM by noise level as in RED-WGAN, Ran et al., Med
Image Anal 2019), written as Markdown, CSV and LaTeX.

Cells read "mean [lo, hi]" with the compare stage's bootstrap CI of the mean
over test subjects when its summary is given, else "mean ± sd" with the
*sample* standard deviation (ddof = 1); a group of one subject shows the mean
alone. Non-finite values (the inf PSNR of an image compared with itself)
never enter a mean.

A prediction evaluation could not segment keeps its row with Dice 0 (see
``medsynth.evaluate``); every table that shows Dice counts such rows in its
caption, and a summary row says so in its ``flags`` column, as it says when
the model behind the row collapsed in training (``compute.tsv``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from medsynth import io
from medsynth.compare.uncertainty import format_ci
from medsynth.protocols import caption as protocol_caption
from medsynth.report.common import (
    ID_COLUMNS,
    IMAGE_METRICS,
    METRICS,
    PET_REGIONS,
    PET_STATISTICS,
    REFERENCE,
    SBD,
    SYNTHETIC,
    TISSUE_DICE,
    condition_order,
    finite,
    is_ct_task,
    method_order,
    metric_label,
    metrics_present,
    parse_conditions,
    require_columns,
    structural_metric,
    task_order,
)
from medsynth.results_table import PROTOCOL, SEED, SEGMENTATION_FAILED, protocol_of

__all__ = ["collapse_note", "collapsed_models", "dice_by_thickness", "failure_note",
           "format_mean_sd", "harmonization_consistency", "pet_error_table", "parse_conditions", "psnr_ssim_by_noise",
           "segmentation_failures", "summary_table", "superres_by_thickness", "write_all_tables",
           "write_table"]

MISSING = "—"  # shown where a value does not exist or means nothing (reference image metrics)
SD_NOTE = "mean ± sd over test subjects (sample sd, ddof = 1)"


def decimals(metric: str, task: str) -> int:
    """Decimals per metric: HU MAE to 0.1 HU; normalised-MR MAE to 1e-4 (values ~0.01-0.1);
    PSNR to 0.01 dB; SSIM and MS-SSIM to 1e-4; Dice to 1e-3."""
    if metric == "mae":
        return 1 if is_ct_task(task) else 4
    if metric.startswith("pet_"):
        return 2 if "_pct_" in metric else 3
    if metric.startswith("volume_diff_pct_"):
        return 2
    return {"psnr": 2, "ssim": 4, "ms_ssim": 4}.get(metric, 3)


def format_mean_sd(values: pd.Series, digits: int) -> str:
    """'mean ± sd' of the finite values (sample sd); the mean alone for one value; '—' for none."""
    values = finite(values)
    if values.empty:
        return MISSING
    mean = float(values.mean())
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {float(values.std(ddof=1)):.{digits}f}"


def _one_dataset(df: pd.DataFrame) -> None:
    datasets = df["dataset"].dropna().unique()
    if len(datasets) > 1:
        raise ValueError(f"tables are made per dataset; rows mix {sorted(map(str, datasets))}")


def _rows_of(df: pd.DataFrame, task: str) -> pd.DataFrame:
    require_columns(df, ID_COLUMNS)
    sub = df[df["task"] == task]
    if sub.empty:
        raise ValueError(f"no result rows for task {task!r}; tasks present: "
                         f"{sorted(map(str, df['task'].unique()))}")
    _one_dataset(sub)
    if PROTOCOL in sub.columns:
        protocol_of(sub)  # one definition per table
    return sub


def _summary_metrics(sub: pd.DataFrame) -> list[str]:
    """Image metrics, the task's tissue Dice, and their mean when there are several tissues."""
    present = metrics_present(sub, METRICS)
    tissues = [m for m in present if m in TISSUE_DICE]
    return [m for m in present if m != "dice_mean" or len(tissues) != 1]


def segmentation_failures(rows: pd.DataFrame) -> int:
    """How many rows record a prediction evaluation could not segment."""
    if SEGMENTATION_FAILED not in rows.columns:
        return 0
    return int((pd.to_numeric(rows[SEGMENTATION_FAILED], errors="coerce") == 1).sum())


def collapsed_models(compute: pd.DataFrame | None, task: str) -> set[tuple[str, str]]:
    """(condition, method) pairs of `task` whose model collapsed in training."""
    if compute is None or compute.empty:
        return set()
    hit = compute[(compute["task"] == task) & compute["collapsed"]]
    return set(zip(hit["condition"].astype(str), hit["method"], strict=True))


def _flags(group: pd.DataFrame, collapsed: bool) -> str:
    flags = ["collapsed in training"] if collapsed else []
    failed = segmentation_failures(group)
    if failed:
        flags.append(f"segmentation failed {failed}/{len(group)}")
    return "; ".join(flags)


# compute columns of the summary tables: (compute.tsv column, header, decimals)
COMPUTE_COLUMNS = (("iterations", "iterations", 0), ("n_parameters", "parameters", 0),
                   ("train_wall_s", "train (s)", 0), ("train_cpu_s", "train CPU (s)", 0),
                   ("train_max_rss_mb", "train peak (MB)", 0),
                   ("infer_s_per_volume", "infer (s/volume)", 1),
                   ("sampling_steps", "sampling steps", 0), ("device", "device", None))
# a sampler's network passes per slice; shown only in tables that have a sampler
SAMPLING_STEPS = "sampling steps"


def compute_cells(compute: pd.DataFrame | None, task: str, condition: str,
                   method: str) -> dict:
    """A row's compute cells; a method trained with several seeds costs the mean of its models."""
    if compute is None:
        return {}
    hit = compute[(compute["task"] == task) & (compute["condition"].astype(str) == condition)
                  & (compute["method"] == method)]
    cells = {}
    for column, header, digits in COMPUTE_COLUMNS:
        if not len(hit) or column not in hit:
            value = None
        else:
            value = hit[column].iloc[0] if digits is None else pd.to_numeric(hit[column]).mean()
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            cells[header] = MISSING
        else:
            cells[header] = value if digits is None else f"{float(value):,.{digits}f}"
    return cells


def ci_cell(summary: pd.DataFrame, task: str, condition: str, method: str, metric: str,
             digits: int) -> str:
    hit = summary[(summary["task"] == task) & (summary["condition"].astype(str) == condition)
                  & (summary["method"] == method) & (summary["metric"] == metric)]
    if hit.empty:
        return MISSING
    row = hit.iloc[0]
    return format_ci(row["mean"], row["ci_low"], row["ci_high"], digits)


def _per_subject(group: pd.DataFrame, metric: str) -> pd.Series:
    """A method's values of `metric`, one per subject: averaged over its seeds where it has several."""
    if SEED not in group or group[SEED].nunique() < 2:
        return group[metric]
    return group.groupby("subject")[metric].mean()


def _cell(summary: pd.DataFrame | None, group: pd.DataFrame, task: str, metric: str,
          digits: int) -> str:
    """One method's `metric` in one condition (`group`: its rows): 'mean [lo, hi]'
    from the compare stage's `summary`, else 'mean ± sd' over subjects."""
    if summary is None:
        return format_mean_sd(_per_subject(group, metric), digits)
    first = group.iloc[0]
    return ci_cell(summary, task, str(first["condition"]), first["method"], metric, digits)


def summary_table(df: pd.DataFrame, task: str, order: Sequence[str] | None = None,
                  compute: pd.DataFrame | None = None,
                  summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """One task: rows (condition ×) method, columns n and every metric.

    Cells are 'mean [lo, hi]' with the compare stage's bootstrap CI when its
    `summary` is given, else 'mean ± sd'. The index is ``method``, or
    ``(condition, method)`` when the task has several conditions.
    ``reference`` shows '—' for image metrics, which would compare the target
    with itself. With `compute` (the ``compute.tsv`` table) each row also
    shows what it cost (:data:`COMPUTE_COLUMNS`; ``sampling steps`` only where a row
    has them). A column ``seeds`` counts the
    training seeds where a method has several (its cells then average each
    subject over them). Where a row's model
    collapsed or a prediction could not be segmented, a last column ``flags``
    says so.
    """
    sub = _rows_of(df, task)
    metrics = _summary_metrics(sub)
    conditions = condition_order(sub)
    collapsed = collapsed_models(compute, task)
    records = []
    for condition in conditions:
        rows = sub[sub["condition"] == condition]
        for method in method_order(rows["method"], order):
            group = rows[rows["method"] == method]
            record = {"condition": condition, "method": method, "n": group["subject"].nunique(),
                      "seeds": max(group[SEED].nunique(), 1) if SEED in group else 1}
            for metric in metrics:
                digits = decimals(metric, task)
                if method == REFERENCE and metric in IMAGE_METRICS:
                    cell = MISSING
                else:
                    cell = _cell(summary, group, task, metric, digits)
                record[metric_label(metric, task)] = cell
            record.update(compute_cells(compute, task, str(condition), method))
            record["flags"] = _flags(group, (str(condition), method) in collapsed)
            records.append(record)
    table = pd.DataFrame.from_records(records)
    if not table["flags"].astype(bool).any():
        table = table.drop(columns="flags")
    if SAMPLING_STEPS in table and (table[SAMPLING_STEPS] == MISSING).all():
        table = table.drop(columns=SAMPLING_STEPS)
    if (table["seeds"] == 1).all():  # one training per method: the usual table
        table = table.drop(columns="seeds")
    index = ["condition", "method"] if len(conditions) > 1 else ["method"]
    return table.drop(columns=[c for c in ["condition"] if c not in index]).set_index(index)


def _reference_cell(ref: pd.DataFrame, metric: str, summary: pd.DataFrame | None) -> str:
    """The reference's Dice is the same in every condition (one image): its spread is
    over subjects, not over repeated copies, so one condition's rows stand for all."""
    digits = decimals(metric, "superres")
    if summary is not None:
        return _cell(summary, ref[ref["condition"] == ref["condition"].iloc[0]], "superres",
                     metric, digits)
    per_subject = ref.groupby("subject")[metric].apply(lambda v: finite(v).mean())
    return format_mean_sd(per_subject, digits)


def dice_by_thickness(df: pd.DataFrame, metric: str = "dice_mean",
                      order: Sequence[str] | None = None,
                      hr_label: str = "HR (reference)",
                      summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """SMORE's table: rows slice thickness (mm, ascending), columns methods, Dice cells.

    `metric` is ``dice_mean`` (mean over tissues) or one tissue (``dice_GM``,
    …). A last row `hr_label` holds the high-resolution reference's Dice once,
    in the first column: the ceiling every method is read against.
    """
    sub = parse_conditions(_rows_of(df, "superres"))
    require_columns(sub, [metric])
    methods = [m for m in method_order(sub["method"], order) if m != REFERENCE]
    thicknesses = sorted(sub["thickness_mm"].dropna().unique())
    digits = decimals(metric, "superres")
    body = {
        f"{mm:g}": {m: _cell(summary, sub[(sub["thickness_mm"] == mm) & (sub["method"] == m)],
                             "superres", metric, digits)
                    for m in methods}
        for mm in thicknesses
    }
    table = pd.DataFrame.from_dict(body, orient="index", columns=methods)
    ref = sub[sub["method"] == REFERENCE]
    if not ref.empty and methods:
        hr = [_reference_cell(ref, metric, summary)] + [""] * (len(methods) - 1)
        table.loc[hr_label] = hr
    table.index.name = "slice thickness (mm)"
    return table


SUPERRES_METRICS = ("dice_CSF", "dice_GM", "dice_WM", "dice_mean", "psnr")


def superres_by_thickness(df: pd.DataFrame, order: Sequence[str] | None = None,
                          hr_label: str = "HR (reference)",
                          summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """SMORE's table in full: rows slice thickness, columns method x {Dice per
    tissue, mean Dice, PSNR, SSIM (or the protocol's MS-SSIM)}; the last row holds
    the high-resolution reference's Dice under the first method (its image metrics
    mean nothing)."""
    sub = parse_conditions(_rows_of(df, "superres"))
    metrics = [m for m in (*SUPERRES_METRICS, structural_metric(sub)) if m in sub.columns]
    require_columns(sub, ["dice_mean"])
    methods = [m for m in method_order(sub["method"], order) if m != REFERENCE]
    thicknesses = sorted(sub["thickness_mm"].dropna().unique())
    columns = pd.MultiIndex.from_tuples(
        [(m, metric_label(k, "superres")) for m in methods for k in metrics],
        names=["method", "metric"])
    cells = [
        [_cell(summary, sub[(sub["thickness_mm"] == mm) & (sub["method"] == m)], "superres", k,
               decimals(k, "superres"))
         for m in methods for k in metrics]
        for mm in thicknesses
    ]
    table = pd.DataFrame(cells, index=[f"{mm:g}" for mm in thicknesses], columns=columns)
    ref = sub[sub["method"] == REFERENCE]
    if not ref.empty and methods:
        first = [MISSING if k in IMAGE_METRICS else _reference_cell(ref, k, summary)
                 for k in metrics]
        table.loc[hr_label] = first + [""] * (len(columns) - len(metrics))
    table.index.name = "slice thickness (mm)"
    return table


def psnr_ssim_by_noise(df: pd.DataFrame, order: Sequence[str] | None = None,
                       summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """RED-WGAN's table: rows noise level (%), columns method × {PSNR, SSIM} (the
    protocol's MS-SSIM in place of SSIM where it defines that).

    ``none`` is the noisy input itself, the row every denoiser must beat.
    Levels of BrainWeb's SBD test follow our own, marked as such: BrainWeb's
    percent refers to the white-matter mean, ours to the head's maximum.
    """
    sub = parse_conditions(_rows_of(df, "denoise"))
    shown = ("psnr", structural_metric(sub))
    require_columns(sub, shown)
    methods = method_order(sub["method"], order)
    columns = pd.MultiIndex.from_tuples(
        [(m, metric_label(k, "denoise")) for m in methods for k in shown],
        names=["method", "metric"])
    index, cells = [], []
    for test_set in (SYNTHETIC, SBD):
        rows = sub[sub["test_set"] == test_set]
        for level in sorted(rows["noise_percent"].unique()):
            at_level = rows[rows["noise_percent"] == level]
            index.append(f"{level:g}" if test_set == SYNTHETIC else f"{level:g} ({SBD})")
            cells.append([_cell(summary, at_level[at_level["method"] == m], "denoise", k,
                                decimals(k, "denoise"))
                          for m in methods for k in shown])
    table = pd.DataFrame(cells, index=index, columns=columns)
    table.index.name = "noise (%)"
    return table


HARMONIZATION_METRICS = ("psnr", "ssim", "ms_ssim", "consistency_dice_CSF", "consistency_dice_GM",
                         "consistency_dice_WM", "consistency_dice_mean", "volume_diff_pct_CSF",
                         "volume_diff_pct_GM", "volume_diff_pct_WM")


def harmonization_consistency(df: pd.DataFrame, order: Sequence[str] | None = None,
                              summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """DeepHarmony's evaluation: rows (contrast, method), columns PSNR and SSIM
    against the target-scanner scan, the Dice of each tissue against that
    scan's own segmentation, and each tissue's volume difference (%)."""
    sub = parse_conditions(_rows_of(df, "harmonize"))
    metrics = [m for m in HARMONIZATION_METRICS if m in sub.columns]
    records = []
    for condition in condition_order(sub):
        rows = sub[sub["condition"] == condition]
        for method in method_order(rows["method"], order):
            group = rows[rows["method"] == method]
            record = {"contrast": group["contrast"].iloc[0], "method": method}
            record.update({metric_label(k, "harmonize"): _cell(
                summary, group, "harmonize", k, decimals(k, "harmonize")) for k in metrics})
            records.append(record)
    return pd.DataFrame.from_records(records).set_index(["contrast", "method"])


def pet_error_table(df: pd.DataFrame, order: Sequence[str] | None = None) -> pd.DataFrame:
    """mr_to_ct's PET end point: rows (condition ×) method, columns (region, statistic),
    cells mean ± sd over subjects (seeds averaged first). ``reference`` is the real CT
    (0 by construction), ``ct_no_bone`` the control with bone made soft tissue."""
    sub = _rows_of(df, "mr_to_ct")
    columns = [(region, stat) for region in PET_REGIONS for stat in PET_STATISTICS
               if f"pet_{stat}_{region}" in sub.columns]
    if not columns:
        raise ValueError("mr_to_ct rows carry no PET end point columns (pet_*)")
    conditions = condition_order(sub)
    records, index = [], []
    for condition in conditions:
        rows = sub[sub["condition"] == condition]
        for method in method_order(rows["method"], order):
            group = rows[rows["method"] == method]
            records.append([format_mean_sd(_per_subject(group, f"pet_{stat}_{region}"),
                                           decimals(f"pet_{stat}_{region}", "mr_to_ct"))
                            for region, stat in columns])
            index.append((condition, method) if len(conditions) > 1 else method)
    header = pd.MultiIndex.from_tuples([(PET_REGIONS[r], PET_STATISTICS[s]) for r, s in columns],
                                       names=["region", "statistic"])
    names = ["condition", "method"] if len(conditions) > 1 else ["method"]
    row_index = (pd.MultiIndex.from_tuples(index, names=names) if len(names) > 1
                 else pd.Index(index, name="method"))
    return pd.DataFrame(records, index=row_index, columns=header)


def _flat(table: pd.DataFrame) -> pd.DataFrame:
    """Index as columns and one header row: what Markdown and CSV can hold."""
    flat = table.reset_index()
    if isinstance(flat.columns, pd.MultiIndex):
        flat.columns = [" ".join(str(p) for p in parts if p) for parts in flat.columns]
    return flat


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}"}


def _tex(text) -> str:
    """Escape LaTeX specials (so ``bulk_density`` prints), then typeset ± and —."""
    escaped = "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(text))
    return escaped.replace("±", r"$\pm$").replace(MISSING, "---")


def _tex_index(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples([tuple(_tex(p) for p in parts) for parts in index],
                                         names=[_tex(n) if n else None for n in index.names])
    return pd.Index([_tex(v) for v in index], name=_tex(index.name) if index.name else None)


def _latex(table: pd.DataFrame, caption: str, label: str) -> str:
    """Booktabs tabular; a flat header keeps the index names in the header row,
    a method × metric header groups each method's columns under one heading."""
    tex = table.map(_tex)
    tex.index = _tex_index(table.index)
    tex.columns = _tex_index(table.columns)
    grouped = isinstance(tex.columns, pd.MultiIndex)
    if not grouped:
        tex = tex.reset_index()
    return tex.to_latex(escape=False, index=grouped, caption=_tex(caption), label=label,
                        multicolumn=True, multicolumn_format="c", multirow=False,
                        position="htbp")


def write_table(table: pd.DataFrame, stem: str | Path, caption: str) -> list[Path]:
    """Write `stem`.md (caption + pipe table), .csv (one header row) and .tex
    (booktabs table with caption); each file atomically, rendered before any is written."""
    stem = Path(stem)
    flat = _flat(table)
    rendered = {
        "md": f"{flat.to_markdown(index=False)}\n\nTable: {caption}\n",
        "csv": flat.to_csv(index=False),
        "tex": _latex(table, caption, f"tab:{stem.name}"),
    }
    paths = []
    for ext, text in rendered.items():
        path = stem.parent / f"{stem.name}.{ext}"
        with io.atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def failure_note(rows: pd.DataFrame) -> str:
    """The caption sentence counting `rows` whose prediction could not be segmented."""
    failed = segmentation_failures(rows)
    if not failed:
        return ""
    return (f" Segmentation failed on {failed} of {len(rows)} predictions: their Dice counts "
            "as 0 (no tissue found) and their tissue volume difference as 100 %.")


def collapse_note(compute: pd.DataFrame | None, tasks: Sequence[str]) -> str:
    """The caption sentence naming the models of `tasks` that collapsed in training."""
    names = sorted(f"{method} ({condition})" for task in tasks
                   for condition, method in collapsed_models(compute, task))
    if not names:
        return ""
    return (" Collapsed in training (validation prediction near-constant in the head): "
            f"{', '.join(names)}.")


def budget_note(compute: pd.DataFrame | None, tasks: Sequence[str], preset: str | None) -> str:
    """The caption sentences giving each learned model of `tasks` its training budget
    (iterations, CPU-seconds: the mean over a method's models where it has several)
    and, below the `paper` preset, saying that the scores are not the papers' scale."""
    if compute is None or "iterations" not in compute:
        return ""
    rows = compute[compute["task"].isin(tasks)]
    rows = rows[pd.to_numeric(rows["iterations"], errors="coerce").notna()]
    if rows.empty:
        return ""
    budgets = []
    for method, models in rows.groupby("method", sort=False):
        iterations = pd.to_numeric(models["iterations"])
        cpu = pd.to_numeric(models["train_cpu_s"], errors="coerce")
        span = (f"{iterations.min():,.0f}" if iterations.min() == iterations.max()
                else f"{iterations.min():,.0f}-{iterations.max():,.0f}")
        seconds = f", {cpu.mean():,.0f} CPU-s" if cpu.notna().any() else ""
        each = f" (mean of {len(models)} models)" if len(models) > 1 else ""
        budgets.append(f"{method} {span} iterations{seconds}{each}")
    scale = ("" if preset in (None, "paper") else
             f" The {preset} preset trains each model for a small fraction of its paper's "
             "schedule: these scores are not the papers' scale (the paper tables give the "
             "compute ratio).")
    return f" Training budget per model: {'; '.join(budgets)}.{scale}"


CI_NOTE = ("mean [95 % percentile bootstrap CI of the mean, 10,000 resamples] over test "
           "subjects (no CI for one subject)")
COMPUTE_NOTE = ("Compute per row: training iterations, parameters, training wall and CPU "
                "time and peak memory, inference seconds per volume, device (— where a "
                "method has no such step).")
SAMPLING_NOTE = (" An iterative sampler's inference makes one network pass over every slice "
                 "per sampling step (column sampling steps).")

SEEDS_NOTE = (" Methods trained with several seeds (column seeds): each subject's value is "
              "averaged over the seeds before the mean and its CI, and compute is the mean of "
              "the seeds' models; per-seed means and the spread across seeds beside the spread "
              "across subjects are in compare/seed_spread.tsv.")


def write_all_tables(df: pd.DataFrame, out_dir: str | Path, order: Sequence[str] | None = None,
                     compute: pd.DataFrame | None = None,
                     summary: pd.DataFrame | None = None,
                     preset: str | None = None) -> list[Path]:
    """``summary_<task>`` per task present, plus ``dice_by_thickness`` and
    ``superres_by_thickness`` (superres), ``harmonization_consistency``
    (harmonize) and ``psnr_ssim_by_noise`` (denoise) when those tasks are present.
    `compute` (``compute.tsv``) adds each row's cost and flags collapsed models;
    `summary` (the compare stage's) gives every table its CIs. Every
    caption names the evaluation protocol of `df`'s rows, which must be one,
    and, with `compute`, the training budget of the learned models in it
    (:func:`budget_note`, which names the run's `preset`)."""
    require_columns(df, ID_COLUMNS)
    out_dir = Path(out_dir)
    tasks = task_order(df["task"].unique())
    protocol = f" {protocol_caption(protocol_of(df))}"
    cells = CI_NOTE if summary is not None else SD_NOTE
    written: list[Path] = []
    for task in tasks:
        table = summary_table(df, task, order, compute, summary)
        n = int(table["n"].max())
        rows = df[df["task"] == task]
        costs = f" {COMPUTE_NOTE}" if compute is not None else ""
        if SAMPLING_STEPS in table.columns:
            costs += SAMPLING_NOTE
        seeds = SEEDS_NOTE if "seeds" in table.columns else ""
        written += write_table(table, out_dir / f"summary_{task}",
                               f"Task {task}: {cells}, n = {n}.{protocol}{costs}{seeds}"
                               f"{failure_note(rows)}{collapse_note(compute, [task])}"
                               f"{budget_note(compute, [task], preset)}")
    if "mr_to_ct" in tasks and any(c.startswith("pet_") for c in df.columns):
        written += write_table(
            pet_error_table(df, order=order), out_dir / "pet_error",
            "PET end point of mr_to_ct: voxel-wise relative error (%) of the PET reconstructed "
            "with each synthetic CT's attenuation against the PET reconstructed with the real "
            f"CT's, {SD_NOTE}; bias is the mean signed error, |error| the mean absolute one; "
            "within ±5/±10 % the fraction of voxels. Regions: brain voxels above "
            "evaluation.pet.threshold (default 0.2) × the reference's 99th percentile (GM, WM: "
            "the same per tissue; near air cavities: within near_air_mm, default 20 mm, of "
            "air inside the head). Noise-free slice-wise 2D OSEM, Carney 2006 "
            "HU-to-μ at 511 keV; reference is the real CT (0 by construction), ct_no_bone the "
            f"real CT with bone set to soft tissue (a Dixon-like control).{protocol}")
    if "superres" in tasks:
        notes = failure_note(df[df["task"] == "superres"]) + budget_note(compute, ["superres"],
                                                                         preset)
        written += write_table(
            dice_by_thickness(df, order=order, summary=summary), out_dir / "dice_by_thickness",
            f"Super-resolution: mean tissue Dice (CSF, GM, WM) by slice thickness, {cells}; "
            f"the last row is the high-resolution image itself.{protocol}{notes}")
        structural = metric_label(structural_metric(df[df["task"] == "superres"]), "superres")
        written += write_table(
            superres_by_thickness(df, order=order, summary=summary), out_dir / "superres_by_thickness",
            f"Super-resolution by slice thickness: Dice per tissue and mean, PSNR and "
            f"{structural} inside the head, {cells}; the last row is the high-resolution "
            f"image itself.{protocol}{notes}")
    if "harmonize" in tasks:
        notes = (failure_note(df[df["task"] == "harmonize"]) + collapse_note(compute, ["harmonize"])
                 + budget_note(compute, ["harmonize"], preset))
        written += write_table(
            harmonization_consistency(df, order=order, summary=summary), out_dir / "harmonization_consistency",
            f"Harmonization, site A to site B, per contrast: PSNR and "
            f"{metric_label(structural_metric(df[df['task'] == 'harmonize']), 'harmonize')} "
            f"against the real site-B scan, Dice of each Atropos tissue against the site-B "
            f"scan's own tissues, and the tissue volume difference |V - V_B| / V_B, {cells}. "
            f"PDw tissues do not separate by intensity (—).{protocol}{notes}")
    if "denoise" in tasks:
        by_noise = psnr_ssim_by_noise(df, order=order, summary=summary)
        sbd_note = (f"; {SBD} rows: BrainWeb's own noise, % of the white-matter mean, one subject"
                    if by_noise.index.str.endswith(f"({SBD})").any() else "")
        written += write_table(
            by_noise, out_dir / "psnr_ssim_by_noise",
            f"Denoising: PSNR and {by_noise.columns[1][1]} by Rician noise level (% of the "
            f"maximum intensity in the head{sbd_note}), {cells}; 'none' is the noisy input."
            f"{protocol}{collapse_note(compute, ['denoise'])}"
            f"{budget_note(compute, ['denoise'], preset)}")
    return written

