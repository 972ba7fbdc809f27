"""The PET end point's figure: relative-error maps of every mr_to_ct method on one subject."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from medsynth import io
from medsynth.report.common import method_order

ERROR_RANGE_PCT = 20.0  # colour scale ±: the no-bone control's errors reach about this far


def _slices(error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An axial slice through the skull base (the lowest quarter of the scored brain,
    where the cavities are) and the mid-sagittal slice, oriented for display."""
    scored = np.isfinite(error)
    z = np.flatnonzero(scored.any(axis=(0, 1)))
    x = np.flatnonzero(scored.any(axis=(1, 2)))
    k = int(z[len(z) // 4]) if z.size else error.shape[2] // 2
    i = int(x[len(x) // 2]) if x.size else error.shape[0] // 2
    return error[:, :, k].T, error[i, :, :].T


def pet_error_figure(maps: dict[str, str | Path], out_png) -> Path:
    """One column per method (name -> its ``pet_error.npz``; baselines first, the
    reference last), rows axial and sagittal."""
    maps = {method: maps[method] for method in method_order(maps)}
    fig = Figure(figsize=(2.6 * len(maps) + 1.0, 5.6))
    axes = fig.subplots(2, len(maps), squeeze=False)
    image = None
    subject = ""
    for col, (method, path) in enumerate(maps.items()):
        with np.load(path) as npz:
            error, affine, subject = npz["error_pct"], npz["affine"], str(npz["subject"])
        voxel = io.voxel_sizes(affine)
        for row, (view, aspect) in enumerate(zip(_slices(error), (voxel[1] / voxel[0],
                                                                  voxel[2] / voxel[1]),
                                                 strict=True)):
            ax = axes[row, col]
            ax.set_facecolor("0.85")
            image = ax.imshow(view, origin="lower", aspect=aspect, cmap="RdBu_r",
                              vmin=-ERROR_RANGE_PCT, vmax=ERROR_RANGE_PCT, interpolation="nearest")
            ax.set_axis_off()
            if row == 0:
                finite = error[np.isfinite(error)]
                mean = f"{finite.mean():+.1f} %" if finite.size else "skipped"
                ax.set_title(f"{method}\nmean {mean}", fontsize=9)
    fig.suptitle(f"PET relative error vs. the real CT's attenuation correction, sub-{subject}",
                 fontsize=10)
    fig.colorbar(image, ax=axes, shrink=0.8, label="relative error (%)")
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with io.atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return out_png
