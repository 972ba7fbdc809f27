"""What tables and figures share: method and condition order, metric labels
with units, and the rule that non-finite values never enter an aggregate.

Kept in one place so that a table row and the figure drawn beside it order
methods and name axes the same way.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from medsynth.tasks import MR_CONTRASTS, TASKS

# The high-resolution image scored as if it were a prediction (superres): it
# gives the Dice ceiling; its image metrics compare the target with itself.
REFERENCE = "reference"

# Comparators the reproduced papers report, listed before any other method.
# This orders rows; it does not choose them: unknown methods follow by name.
BASELINE_ORDER = ("none", "bspline", "nlm", "bm4d", "histogram_matching", "bulk_density", "unet")

IMAGE_METRICS = ("mae", "psnr", "ssim", "ms_ssim")
# a protocol's SSIM-like metric: SSIM, or MS-SSIM (synthrad2025); tables take whichever is there
STRUCTURAL_METRICS = ("ssim", "ms_ssim")
TISSUE_DICE = ("dice_CSF", "dice_GM", "dice_WM", "dice_bone")
# harmonization: the tissues of the harmonized scan against those of the real
# target-scanner scan, and the tissue volume differences between the two (DeepHarmony)
CONSISTENCY_METRICS = ("consistency_dice_mean", "volume_diff_pct_mean")
# mr_to_ct's PET end point in the summary table: the whole brain's mean absolute relative
# error (bias and the other regions are in the pet_error table)
PET_SUMMARY_METRICS = ("pet_mae_pct_brain",)
METRICS = (*IMAGE_METRICS, *TISSUE_DICE, "dice_mean", *CONSISTENCY_METRICS, *PET_SUMMARY_METRICS)
PET_REGIONS = {"brain": "brain", "gm": "GM", "wm": "WM", "skullbase": "near air cavities"}
PET_STATISTICS = {"bias_pct": "bias %", "mae_pct": "|error| %", "within5": "within ±5 %",
                  "within10": "within ±10 %"}
ID_COLUMNS = ("dataset", "task", "condition", "method", "subject")

_NOISE = re.compile(r"^noise-(\d+(?:\.\d+)?)$")
_SBD_NOISE = re.compile(r"^sbd-noise-(\d+)$")
# the denoise task's test sets: our own Rician noise, or BrainWeb's simulated MRI
SYNTHETIC, SBD = "synthetic", "BrainWeb SBD"
_THICK = re.compile(r"^thick-(\d+(?:\.\d+)?)mm$")
_HARMONIZE = re.compile(r"^([A-Za-z0-9]+)to([A-Za-z0-9]+)-([A-Za-z0-9]+)$")


def method_order(methods: Iterable[str], order: Sequence[str] | None = None) -> list[str]:
    """Methods present, in `order` if given, else baselines first then by name.

    Methods missing from `order` follow it alphabetically; ``reference`` always
    comes last, since it is a ceiling rather than a competitor.
    """
    present = set(methods)
    preferred = list(order) if order is not None else list(BASELINE_ORDER)
    head = [m for m in preferred if m in present and m != REFERENCE]
    tail = sorted(present - set(head) - {REFERENCE})
    return head + tail + ([REFERENCE] if REFERENCE in present else [])


def parse_conditions(df: pd.DataFrame) -> pd.DataFrame:
    """Add numeric ``noise_percent``, ``thickness_mm`` and ``contrast`` columns,
    and the denoise ``test_set`` (:data:`SYNTHETIC` or :data:`SBD`).

    Parsed from the condition wildcards of `medsynth.tasks.condition_names`
    (``noise-3``, ``sbd-noise-3``, ``thick-1.2mm``, ``AtoB-T2w``); NaN / None
    where a task has no such parameter. Returns a copy.
    """
    out = df.copy()
    cond = out["condition"].astype(str)
    task = out["task"].astype(str)
    sbd = cond.str.extract(_SBD_NOISE)[0].astype(float)
    noise = cond.str.extract(_NOISE)[0].astype(float).fillna(sbd)
    thick = cond.str.extract(_THICK)[0].astype(float)
    contrast = cond.str.extract(_HARMONIZE)[2]
    out["noise_percent"] = noise.where(task == "denoise")
    out["thickness_mm"] = thick.where(task == "superres")
    out["contrast"] = contrast.where(task == "harmonize", None)
    out["test_set"] = pd.Series(np.where(sbd.notna(), SBD, SYNTHETIC), index=out.index).where(
        out["noise_percent"].notna(), None)
    return out


def condition_order(df: pd.DataFrame) -> list[str]:
    """Conditions of `df` in reading order: by test set (synthetic noise first),
    noise %, thickness, contrast, then name."""
    parsed = parse_conditions(df).drop_duplicates("condition")
    contrast_rank = parsed["contrast"].map(
        lambda c: MR_CONTRASTS.index(c) if c in MR_CONTRASTS else len(MR_CONTRASTS))
    keys = pd.DataFrame({
        "external": parsed["test_set"] == SBD,
        "noise": parsed["noise_percent"].fillna(-1.0),
        "thick": parsed["thickness_mm"].fillna(-1.0),
        "contrast": contrast_rank,
        "name": parsed["condition"].astype(str),
    })
    return keys.sort_values(["external", "noise", "thick", "contrast", "name"])["name"].tolist()


def condition_label(task: str, condition: str) -> str:
    """Short legend text: ``3 %`` for noise, ``1.2 mm`` for thickness, the contrast for harmonize."""
    for pattern, fmt in ((_NOISE, "{} %"), (_SBD_NOISE, "{} % (" + SBD + ")"), (_THICK, "{} mm")):
        found = pattern.match(condition)
        if found:
            return fmt.format(f"{float(found.group(1)):g}")
    found = _HARMONIZE.match(condition)
    if task == "harmonize" and found:
        return f"{found.group(3)} ({found.group(1)}→{found.group(2)})"
    return condition


def task_order(tasks: Iterable[str]) -> list[str]:
    """Tasks in the order `medsynth.tasks.TASKS` defines, unknown ones after by name."""
    present = set(tasks)
    return [t for t in TASKS if t in present] + sorted(present - set(TASKS))


def is_ct_task(task: str) -> bool:
    return task in TASKS and TASKS[task].is_ct()


def metric_label(metric: str, task: str) -> str:
    """Column header / axis label with units (HU for CT, normalised intensity for MR)."""
    if metric == "mae":
        return "MAE (HU)" if is_ct_task(task) else "MAE (norm. intensity)"
    if metric == "dice_mean":
        return "Dice (bone)" if is_ct_task(task) else "Dice (mean of tissues)"
    if metric.startswith("consistency_dice_"):
        return f"Dice vs. target-scan tissues ({metric.removeprefix('consistency_dice_')})"
    if metric.startswith("volume_diff_pct_"):
        return f"|ΔV| vs. target scan, % ({metric.removeprefix('volume_diff_pct_')})"
    if metric.startswith("pet_"):
        noisy = metric.startswith("pet_noisy_")
        for stat, stat_label in PET_STATISTICS.items():
            region = metric.removeprefix("pet_noisy_" if noisy else "pet_").removeprefix(f"{stat}_")
            if region in PET_REGIONS and metric.endswith(f"{stat}_{region}"):
                return f"PET {'(noisy) ' if noisy else ''}{stat_label} ({PET_REGIONS[region]})"
    return {"psnr": "PSNR (dB)", "ssim": "SSIM", "ms_ssim": "MS-SSIM"}.get(
        metric, metric.replace("dice_", "Dice ") if metric.startswith("dice_") else metric)


def metrics_present(df: pd.DataFrame, candidates: Sequence[str] = METRICS) -> list[str]:
    """Metric columns of `df` holding at least one finite value (a task's own Dice set)."""
    return [m for m in candidates
            if m in df.columns and np.isfinite(pd.to_numeric(df[m], errors="coerce")).any()]


def structural_metric(df: pd.DataFrame) -> str:
    """The SSIM-like metric `df` holds: its protocol's own (``ssim``, or ``ms_ssim`` under
    synthrad2025), so that a paper table shows whichever the run defined."""
    present = metrics_present(df, STRUCTURAL_METRICS)
    if not present:
        raise ValueError(f"result table has no finite values of {list(STRUCTURAL_METRICS)}")
    return present[0]


def finite(values: pd.Series) -> pd.Series:
    """The finite values of a column: inf PSNR (identical images) and NaN are left out."""
    values = pd.to_numeric(values, errors="coerce")
    return values[np.isfinite(values)]


def require_columns(df: pd.DataFrame, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"result table lacks columns {missing}; has {list(df.columns)}")


def fitted_title(fig_width_in: float, title: str, fontsize: float) -> str:
    """`title` wrapped to a figure's width: a suptitle longer than its figure is
    cut off at both edges when the figure is written."""
    chars_per_line = max(int(fig_width_in * 72 / (0.6 * fontsize)), 20)
    return textwrap.fill(title, chars_per_line)
