"""A one-page picture of a phantom subject, to check by eye that it looks like a head.

Columns: site-A T1w, T2w and PDw, site-B T1w, CT (bone window) and the tissue
labels; rows: an axial and a coronal slice through the brain, then through the
skull base (ear canals, mastoids, ethmoid and sphenoid sinuses) and the midface
(orbits, maxillary sinuses, nasal cavity), each through the same world point
in every column, so that site B, on its own grid, shows the same anatomy.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from medsynth import io
from medsynth.data.bids import anat_path
from medsynth.data.tissues import LABELS

PANELS = (("A_T1w", "A  T1w (1.5 T)"), ("A_T2w", "A  T2w"), ("A_PDw", "A  PDw"),
          ("B_T1w", "B  T1w (3 T MPRAGE)"), ("CT", "CT  [-400, 1600] HU"), ("dseg", "labels"))
CT_WINDOW = (-400.0, 1600.0)  # bone-friendly: soft tissue grey, diploë and tables apart
# (axial z, coronal y) world points: ventricles and basal ganglia; skull base and orbits
WORLD_POINTS_MM = ((0.0, -18.0, 12.0), (0.0, 55.0, -50.0))
LABEL_COLOURS = ("#000000", "#3b8bd9", "#8c8c8c", "#e6e6e6", "#c0504d", "#f4d03f",
                 "#8e44ad", "#e39b3a", "#1b5e20", "#2e7d32", "#43a047", "#66bb6a",
                 "#00838f", "#4dd0e1", "#b2ebf2", "#f06292")


def _subject_paths(subject_dir: Path) -> dict[str, Path]:
    subject = subject_dir.name.removeprefix("sub-")
    root = subject_dir.parent
    paths = {f"{site}_{c}": anat_path(root, subject, c, site)
             for site in ("A", "B") for c in ("T1w", "T2w", "PDw")}
    paths.update(CT=anat_path(root, subject, "CT"), dseg=anat_path(root, subject, "dseg"))
    return paths


def _slices(data: np.ndarray, affine: np.ndarray) -> list[np.ndarray]:
    """Axial and coronal slices through each of WORLD_POINTS_MM, oriented for display."""
    slices = []
    for point in WORLD_POINTS_MM:
        ijk = np.linalg.solve(affine, [*point, 1.0])[:3]
        _, j, k = (int(np.clip(round(v), 0, n - 1)) for v, n in zip(ijk, data.shape, strict=True))
        slices += [data[:, :, k].T, data[:, j, :].T]
    return slices


def save_subject_figure(subject_dir_or_paths: str | os.PathLike | dict, out_png) -> Path:
    """Draw one subject (a ``sub-<id>`` folder, or role -> path as from make_subject)."""
    if isinstance(subject_dir_or_paths, dict):
        paths = {k: Path(v) for k, v in subject_dir_or_paths.items()}
    else:
        paths = _subject_paths(Path(subject_dir_or_paths))
    missing = [role for role, _ in PANELS if role not in paths or not paths[role].exists()]
    if missing:
        raise io.InputError(str(subject_dir_or_paths), f"missing phantom images: {missing}")

    fig = Figure(figsize=(3.0 * len(PANELS), 12.8))
    axes = fig.subplots(2 * len(WORLD_POINTS_MM), len(PANELS))
    label_cmap = ListedColormap(LABEL_COLOURS[: len(LABELS)])
    for col, (role, title) in enumerate(PANELS):
        data, affine = io.load_array(paths[role])
        voxel = io.voxel_sizes(affine)
        if role == "CT":
            style = dict(cmap="gray", vmin=CT_WINDOW[0], vmax=CT_WINDOW[1])
        elif role == "dseg":
            style = dict(cmap=label_cmap, vmin=-0.5, vmax=len(LABELS) - 0.5,
                         interpolation="nearest")
        else:
            style = dict(cmap="gray", vmin=0.0, vmax=float(np.percentile(data, 99.5)))
        for row, (image, aspect) in enumerate(zip(_slices(data, affine),
                                                  (voxel[1] / voxel[0], voxel[2] / voxel[0])
                                                  * len(WORLD_POINTS_MM), strict=True)):
            ax = axes[row, col]
            ax.imshow(image, origin="lower", aspect=aspect, **style)
            ax.set_axis_off()
            if row == 0:
                ax.set_title(title, fontsize=10)
    handles = [Patch(color=LABEL_COLOURS[i], label=name)
               for i, name in LABELS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=8, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with io.atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return out_png
