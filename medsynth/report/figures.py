"""Figures from the per-subject result rows (box plots per task, Dice over
slice thickness, PSNR/SSIM over noise level) and example slices of one test
subject.

Drawn with matplotlib's object interface on Agg canvases (no pyplot state, so
figures never leak and no display is needed) and seaborn; PNG files are
written atomically. Non-finite values (inf PSNR of an image compared with
itself) are left out of every plot, and the ``reference`` pseudo-method only
appears where it means something: as the Dice ceiling.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.figure import Figure
from scipy import ndimage

from medsynth import io
from medsynth.report.common import (
    CONSISTENCY_METRICS,
    ID_COLUMNS,
    IMAGE_METRICS,
    REFERENCE,
    SYNTHETIC,
    condition_label,
    condition_order,
    finite,
    method_order,
    metric_label,
    metrics_present,
    parse_conditions,
    require_columns,
    structural_metric,
    task_order,
)
from medsynth.results_table import PROTOCOL, protocol_of

DPI = 120
BOX_METRICS = ("mae", "psnr", "ssim", "ms_ssim", "dice_mean")
# Display window for CT in HU: from soft tissue (just below water) to dense
# cortical bone, so that the bone the Dice is computed on stands out.
CT_WINDOW_HU = (-200.0, 1500.0)
# MR grey window: percentiles of the reference inside the head mask, robust to
# a few bright voxels (vessels, fat) that would darken everything else.
MR_WINDOW_PERCENTILES = (1.0, 99.5)
ERROR_PERCENTILE = 99.0  # top of the shared error colour scale
CROP_MARGIN_VOXELS = 3
CONDITION_TITLES = {"denoise": "Rician noise", "superres": "slice thickness",
                    "harmonize": "contrast (sites)"}


def _palette(methods: Sequence[str]) -> dict[str, tuple]:
    """One colour per method, stable across the figures of a run."""
    name = "tab10" if len(methods) <= 10 else "husl"  # tab10 would repeat colours
    return dict(zip(methods, sns.color_palette(name, max(len(methods), 1)), strict=False))


def _save(fig: Figure, out_png: str | os.PathLike) -> Path:
    out_png = Path(out_png)
    with io.atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png", bbox_inches="tight")
    return out_png


def _task_rows(df: pd.DataFrame, task: str) -> pd.DataFrame:
    require_columns(df, ID_COLUMNS)
    sub = df[df["task"] == task]
    if sub.empty:
        raise ValueError(f"no result rows for task {task!r}")
    return parse_conditions(sub)


def _long(sub: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per (subject, method, condition, metric) with a finite value."""
    long = sub.melt(id_vars=["method", "condition", "subject"], value_vars=list(metrics),
                    var_name="metric", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    long = long[np.isfinite(long["value"])]
    return long[~((long["method"] == REFERENCE) & long["metric"].isin(IMAGE_METRICS))]


def boxplots(df: pd.DataFrame, task: str, out_png: str | os.PathLike,
             order: Sequence[str] | None = None,
             metrics: Sequence[str] = BOX_METRICS) -> Path:
    """Box plots over test subjects, one panel per metric (MAE, PSNR, SSIM and
    mean Dice unless `metrics` says otherwise); x = method, hue = condition
    when the task has several; every subject drawn as a point (test sets are small)."""
    sub = _task_rows(df, task)
    wanted = metrics
    metrics = metrics_present(sub, wanted)
    if not metrics:
        raise ValueError(f"task {task!r} has no finite values of {list(wanted)} to plot")
    sub = sub[sub[metrics].notna().any(axis=1)]  # conditions with nothing to show get no legend
    long = _long(sub, metrics)
    conditions = condition_order(sub)
    labels = {c: condition_label(task, c) for c in conditions}
    long["condition"] = long["condition"].map(labels)
    hue_order = [labels[c] for c in conditions]
    multi = len(conditions) > 1
    methods = method_order(sub["method"], order)
    ncols = 2 if len(metrics) > 2 else max(len(metrics), 1)
    nrows = math.ceil(len(metrics) / ncols)
    width = max(4.0, 0.45 * len(methods) * (1 + 0.35 * len(conditions) * multi))
    fig = Figure(figsize=(ncols * width, 3.6 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    colours = sns.color_palette("Set2", len(conditions)) if multi else None
    for ax, metric in zip(axes, metrics, strict=False):
        data = long[long["metric"] == metric]
        shown = [m for m in methods if m in set(data["method"])]
        common = dict(data=data, x="method", y="value", order=shown, ax=ax)
        hue = dict(hue="condition", hue_order=hue_order, dodge=True) if multi else {}
        with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.11's deprecated `vert`
            warnings.filterwarnings("ignore", "vert: bool", MatplotlibDeprecationWarning)
            sns.boxplot(**common, **hue, palette=colours, color=None if multi else "#9ecae1",
                        showfliers=False, linewidth=1, legend=multi and ax is axes[0])
        sns.stripplot(**common, **hue, palette=["0.15"] * len(conditions) if multi else None,
                      color=None if multi else "0.15", size=3.5, jitter=0.12, legend=False)
        ax.set_title(metric_label(metric, task))
        ax.set_xlabel("method")
        ax.set_ylabel(metric_label(metric, task))
        if len(shown) > 3 or any(len(m) > 8 for m in shown):  # long names would collide
            for label in ax.get_xticklabels():
                label.set(rotation=25, ha="right", rotation_mode="anchor")
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    if multi and axes[0].get_legend() is not None:
        handles, texts = axes[0].get_legend_handles_labels()
        axes[0].get_legend().remove()
        fig.legend(handles, texts, title=CONDITION_TITLES.get(task, "condition"),
                   loc="outside lower center", ncols=len(texts))
    n = sub["subject"].nunique()
    protocol = f"; protocol {protocol_of(sub)}" if PROTOCOL in sub.columns else ""
    fig.suptitle(f"{task}: per-subject metrics (n = {n} test subjects; boxes over subjects"
                 f"{protocol})")
    return _save(fig, out_png)


def _mean_sd(values: pd.Series) -> tuple[float, float]:
    """Mean and sample sd (ddof = 1) of the finite values; sd 0 for a single value."""
    values = finite(values)
    if values.empty:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _curves(ax, sub: pd.DataFrame, x: str, metric: str, methods: Sequence[str],
            colours: dict) -> None:
    """Mean ± sd over subjects per method against `x`, slightly dodged so bars stay apart."""
    xs = sorted(sub[x].dropna().unique())
    step = (min(np.diff(xs)) if len(xs) > 1 else 1.0) * 0.06
    for i, method in enumerate(methods):
        rows = sub[sub["method"] == method]
        stats = [_mean_sd(rows.loc[rows[x] == v, metric]) for v in xs]
        mean = np.array([s[0] for s in stats])
        if not np.isfinite(mean).any():
            continue
        offset = (i - (len(methods) - 1) / 2) * step
        ax.errorbar(np.asarray(xs) + offset, mean, yerr=[s[1] for s in stats], marker="o",
                    capsize=3, color=colours[method], label=method)
    ax.set_xticks(xs, [f"{v:g}" for v in xs])
    ax.grid(True, alpha=0.3)


def dice_thickness_curve(df: pd.DataFrame, out_png: str | os.PathLike,
                         metric: str = "dice_mean",
                         order: Sequence[str] | None = None) -> Path:
    """Dice against slice thickness per method (mean ± sd over subjects), with the
    high-resolution reference as a dashed line and its ± sd band."""
    sub = _task_rows(df, "superres")
    require_columns(sub, [metric])
    all_methods = method_order(sub["method"], order)
    methods = [m for m in all_methods if m != REFERENCE]
    colours = _palette(methods)
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    _curves(ax, sub, "thickness_mm", metric, methods, colours)
    ref = sub[sub["method"] == REFERENCE]
    if not ref.empty:
        per_subject = ref.groupby("subject")[metric].apply(lambda v: finite(v).mean())
        mean, sd = _mean_sd(per_subject)
        ax.axhline(mean, color="k", linestyle="--", linewidth=1.2, label="HR reference")
        if sd > 0:
            ax.axhspan(mean - sd, mean + sd, color="0.5", alpha=0.15, linewidth=0)
    ax.set_xlabel("slice thickness (mm)")
    ax.set_ylabel(metric_label(metric, "superres"))
    ax.set_title(f"Super-resolution: {metric_label(metric, 'superres')} vs slice thickness\n"
                 f"(mean ± sd over n = {sub['subject'].nunique()} test subjects)")
    ax.legend(title="method", loc="best")
    return _save(fig, out_png)


def noise_curves(df: pd.DataFrame, out_png: str | os.PathLike,
                 order: Sequence[str] | None = None) -> Path:
    """PSNR and SSIM (the protocol's MS-SSIM where it defines that) against Rician
    noise level per method (mean ± sd over subjects);
    ``none`` is the noisy input. Our own noise only: BrainWeb's SBD levels are
    on another scale (its table rows say so)."""
    sub = _task_rows(df, "denoise")
    sub = sub[sub["test_set"] == SYNTHETIC]
    shown = ("psnr", structural_metric(sub))
    require_columns(sub, shown)
    methods = [m for m in method_order(sub["method"], order) if m != REFERENCE]
    colours = _palette(methods)
    fig = Figure(figsize=(10.5, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, shown, strict=True):
        _curves(ax, sub, "noise_percent", metric, methods, colours)
        ax.set_xlabel("Rician noise level (% of max. intensity)")
        ax.set_ylabel(metric_label(metric, "denoise"))
        ax.set_title(metric_label(metric, "denoise"))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="method", loc="outside right upper")
    fig.suptitle(f"Denoising: image quality vs noise level "
                 f"(mean ± sd over n = {sub['subject'].nunique()} test subjects)")
    return _save(fig, out_png)


def write_all_figures(df: pd.DataFrame, out_dir: str | os.PathLike,
                      order: Sequence[str] | None = None) -> list[Path]:
    """``box_<task>.png`` per task, ``dice_by_thickness.png`` (superres),
    ``harmonization_consistency.png`` (harmonize) and ``psnr_ssim_by_noise.png`` (denoise)."""
    require_columns(df, ID_COLUMNS)
    protocol_of(df)  # one definition per figure
    out_dir = Path(out_dir)
    tasks = task_order(df["task"].unique())
    written = [boxplots(df, task, out_dir / f"box_{task}.png", order) for task in tasks]
    if "superres" in tasks:
        written.append(dice_thickness_curve(df, out_dir / "dice_by_thickness.png", order=order))
    if "harmonize" in tasks:
        written.append(boxplots(df, "harmonize", out_dir / "harmonization_consistency.png", order,
                                CONSISTENCY_METRICS))
    if "denoise" in tasks:
        written.append(noise_curves(df, out_dir / "psnr_ssim_by_noise.png", order=order))
    return written


# Example slices


@dataclass
class _Plane:
    """The display plane: one axial slice of the target grid (made RAS-canonical)."""

    world: np.ndarray  # (4, nx*ny) homogeneous world coordinates of its voxel centres
    shape: tuple[int, int]
    target: np.ndarray  # target slice
    mask: np.ndarray  # head-mask slice
    target_in_mask: np.ndarray  # all target values in the head mask (for the grey window)
    aspect: float  # voxel height / width on screen
    index: int
    z_mm: float

    def sample(self, path: str | os.PathLike) -> np.ndarray:
        """Any image on this plane, read through world coordinates (linear), whatever its grid."""
        img = io.load_volume(path)
        coords = (np.linalg.inv(img.affine) @ self.world)[:3]
        data = np.asarray(img.dataobj, dtype=np.float32)
        flat = ndimage.map_coordinates(data, coords, order=1, mode="nearest")
        return flat.reshape(self.shape)


def _plane(target_path, mask_path) -> _Plane:
    """The axial slice where the head mask is largest (the 'central' one)."""
    target_img = io.load_volume(target_path)
    mask_img = io.load_volume(mask_path)
    io.require_same_grid(mask_path, mask_img, target_path, target_img)
    target_img = nib.as_closest_canonical(target_img)
    mask = np.asarray(nib.as_closest_canonical(mask_img).dataobj) > 0.5
    if not mask.any():
        raise io.InputError(mask_path, "mask is empty")
    target = np.asarray(target_img.dataobj, dtype=np.float32)
    k = int(np.argmax(mask.sum(axis=(0, 1))))
    nx, ny, _ = mask.shape
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    world = target_img.affine @ np.stack([i, j, np.full_like(i, k), np.ones_like(i)]).reshape(4, -1)
    sizes = io.voxel_sizes(target_img.affine)
    return _Plane(world, (nx, ny), target[:, :, k], mask[:, :, k], target[mask],
                  float(sizes[1] / sizes[0]), k, float(world[2, 0]))


def _mr_window(values: np.ndarray) -> tuple[float, float]:
    """Black at zero signal (or below, if the image goes negative), white at a high percentile."""
    low, high = np.percentile(values, MR_WINDOW_PERCENTILES)
    low = min(float(low), 0.0)
    return low, float(max(high, low + 1e-6))


def _crop(mask2d: np.ndarray) -> tuple[slice, slice]:
    xs, ys = np.nonzero(mask2d)
    m = CROP_MARGIN_VOXELS
    return (slice(max(xs.min() - m, 0), xs.max() + m + 1),
            slice(max(ys.min() - m, 0), ys.max() + m + 1))


def example_slices(rows: Sequence[tuple[str, str | os.PathLike]],
                   source_path: str | os.PathLike, target_path: str | os.PathLike,
                   mask_path: str | os.PathLike, out_png: str | os.PathLike,
                   is_ct: bool = False, title: str | None = None,
                   source_in_target_window: bool = False) -> Path:
    """One subject, one task/condition: input, reference and each method's
    prediction on the top row, each method's |prediction − reference| below it.

    The slice is the axial slice with the largest head-mask area. The source
    may lie on another grid (thick slices): it is sampled on the target's
    slice through world coordinates (linear). Predictions and reference share
    one grey window (CT: a fixed HU window; MR: zero to a high percentile of
    the reference in the mask); the input has its own (it may be another
    contrast) unless `source_in_target_window` (same contrast: denoise,
    superres, harmonize), so that its noise or blur compares by eye. Error
    maps, inside the head mask, share one colour scale.
    ``reference`` rows are skipped: the reference is already shown.
    """
    methods = [(m, p) for m, p in rows if m != REFERENCE]
    plane = _plane(target_path, mask_path)
    target, mask, crop = plane.target, plane.mask, _crop(plane.mask)
    window = CT_WINDOW_HU if is_ct else _mr_window(plane.target_in_mask)
    source = plane.sample(source_path)
    preds = [plane.sample(path) for _, path in methods]
    errors = [np.where(mask, np.abs(p - target), np.nan) for p in preds]
    inside = np.concatenate([e[mask] for e in errors]) if errors else np.zeros(1)
    err_max = float(max(np.percentile(inside, ERROR_PERCENTILE), 1e-6))
    unit = "HU" if is_ct else "norm. intensity"

    ncols = 2 + len(methods)
    height = 2.6 * plane.aspect * target[crop].shape[1] / target[crop].shape[0]
    fig = Figure(figsize=(2.6 * ncols + 0.8, 2 * height + 1.0), layout="constrained")
    axes = fig.subplots(2, ncols, squeeze=False)

    def show(ax, image, panel_title, **kwargs):
        shown = ax.imshow(image[crop].T, origin="lower", aspect=plane.aspect,
                          interpolation="nearest", **kwargs)
        ax.set_title(panel_title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        return shown

    grey = dict(cmap="gray", vmin=window[0], vmax=window[1])
    if source_in_target_window:
        show(axes[0, 0], source, "input", **grey)
    else:
        low, high = _mr_window(source[mask])
        show(axes[0, 0], source, "input (own window)", cmap="gray", vmin=low, vmax=high)
    grey_image = show(axes[0, 1], target, "reference", **grey)
    error_image = None
    for col, ((method, _), pred, error) in enumerate(zip(methods, preds, errors, strict=True), 2):
        show(axes[0, col], pred, method, **grey)
        slice_mae = float(np.nanmean(error))
        error_image = show(axes[1, col], error, f"|{method} − reference|\nslice MAE {slice_mae:.3g}",
                           cmap="magma", vmin=0, vmax=err_max)
        axes[1, col].set_facecolor("black")
    for ax in axes[1, :2]:
        ax.axis("off")
    legend = _legend_text(window, err_max, unit, source_in_target_window)
    axes[1, 0].text(0.0, 0.9, legend, va="top", fontsize=9,
                    transform=axes[1, 0].transAxes, wrap=True)
    fig.colorbar(grey_image, ax=list(axes[0, 1:]), shrink=0.9, label=f"intensity ({unit})")
    if error_image is not None:
        fig.colorbar(error_image, ax=list(axes[1, 2:]), shrink=0.9, label=f"|error| ({unit})")
    heading = title or Path(target_path).name
    fig.suptitle(f"{heading}: axial slice {plane.index} (z = {plane.z_mm:.0f} mm)")
    return _save(fig, out_png)


def _legend_text(window: tuple[float, float], err_max: float, unit: str, shared: bool) -> str:
    who = "(input, reference, predictions)." if shared else \
        "(reference and predictions);\ninput in its own window."
    return (f"Grey window {window[0]:.3g} to {window[1]:.3g} {unit}\n{who}\n\n"
            f"Error maps: |prediction − reference|\ninside the head mask,\n"
            f"shared scale 0 to {err_max:.3g} {unit}\n(99th percentile).\n\n"
            "Slice MAE: mean over the\nhead mask on this slice.")
