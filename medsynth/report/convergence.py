"""Convergence: each trained model's validation metric over its training
iterations (its ``loss.csv``), one figure per task, so a reader sees which
models had converged when they were scored."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from matplotlib.figure import Figure

from medsynth import io
from medsynth.model_records import VAL_PREFIX
from medsynth.report.common import condition_label, fitted_title

LOSS_CSV = "loss.csv"
DPI = 110


def validation_curves(model_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """(iteration, value) of every validation column of a model's loss.csv; {} without one.
    A cascade's stages (``val_mae_stage2``) are columns of their own."""
    path = Path(model_dir) / LOSS_CSV
    if not path.exists():
        return {}
    curves: dict[str, list[tuple[int, float]]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                if key.startswith(f"{VAL_PREFIX}mae") and value not in ("", None):
                    curves.setdefault(key, []).append((int(float(row["iteration"])),
                                                       float(value)))
    return curves


def condition_curves(model_dir: str | os.PathLike,
                     condition: str) -> dict[str, list[tuple[int, float]]]:
    """A model's validation curves as they concern `condition`: a model that
    outputs several contrasts and serves each contrast's condition (harmonize's
    DeepHarmony logs ``val_mae_T2w``, ...) gives that condition only its own
    contrast's curve, under the plain ``val_mae`` key; any other model, all of them."""
    curves = validation_curves(model_dir)
    prefix = f"{VAL_PREFIX}mae_"
    own = [k for k in curves if k.startswith(prefix) and condition.endswith(f"-{k.removeprefix(prefix)}")]
    return {f"{VAL_PREFIX}mae": curves[own[0]]} if own else curves


def convergence_figure(task: str, models: list[tuple[str, str, str | os.PathLike]],
                       out_png: str | os.PathLike) -> Path:
    """One panel per condition: the validation MAE of each (condition, method,
    model folder) over iterations, on the target's scale (HU for CT)."""
    conditions = list(dict.fromkeys(c for c, _, _ in models)) or ["(no trained model)"]
    fig = Figure(figsize=(4.2 * min(len(conditions), 3), 3.4 * -(-len(conditions) // 3)),
                 layout="constrained")
    axes = fig.subplots(-(-len(conditions) // 3), min(len(conditions), 3), squeeze=False).ravel()
    for ax, condition in zip(axes, conditions, strict=False):
        for cond, method, model_dir in models:
            if cond != condition:
                continue
            for key, points in condition_curves(model_dir, condition).items():
                xs, ys = zip(*points, strict=True)
                label = method + key.removeprefix(f"{VAL_PREFIX}mae").replace("_", " ")
                ax.plot(xs, ys, marker="o", markersize=3, label=label)
        ax.set_title(condition_label(task, condition), fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel("validation MAE")
        if ax.lines:
            ax.legend(fontsize=7)
    for ax in axes[len(conditions):]:
        ax.axis("off")
    title = f"{task}: validation MAE during training (flat at the end = converged)"
    fig.suptitle(fitted_title(fig.get_figwidth(), title, 10), fontsize=10)
    with io.atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    return Path(out_png)
