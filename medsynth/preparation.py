"""How a model's training data were prepared, kept in its folder as
``preparation.json`` so that `medsynth apply` can put a new scan through the
same steps and refuse when it cannot.

Written at training time (:func:`medsynth.steps.train`, and
:func:`medsynth.steps.self_supervised` for SMORE's per-scan models). Two
parts: what belongs to this model (task, condition, method and its params,
seed, commit, the expected contrasts in order, the training grid, the
target's unit and background) and ``settings``, the preparation the code
defines (head mask, N4, resampling, registration, normalisation, intensity
scaling). `apply` replays the settings with the suite's own functions and
refuses a model whose recorded settings differ from this code's, since
replaying them would then not reproduce the training data.

No torch here: reading a record is cheap.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import nibabel as nib
import numpy as np

import medsynth
from medsynth import io
from medsynth.data.catalog import Dataset
from medsynth.methods.intensity import CT_WINDOW_HU
from medsynth.preprocess import masks, normalise, register
from medsynth.provenance import git_commit
from medsynth.tasks import Condition

FILE = "preparation.json"
FORMAT = 1
N4_SHRINK_FACTOR = 4  # medsynth.preprocess.bias.n4_correct's default, used by preprocessing
REFERENCE_CONTRAST = "T1w"  # every dataset's first contrast: the mask and registration reference
# what a record must hold; an older or partial one is refused with the keys it lacks
REQUIRED = ("format", "task", "condition", "method", "method_params", "seed", "commit",
            "contrasts", "target", "grid", "settings")


def settings() -> dict:
    """The preparation this code applies, with every constant it depends on."""
    return {
        "reorientation": "none on disk: the grid's axes are the training grid's (direction "
                         "cosines below), whatever the scan's slice orientation",
        "resampling": {"antialias": "gaussian, FWHM sqrt(target^2 - source^2) per axis",
                       "image_order": 1, "mask_order": 0, "outside_fov": "edge value"},
        "registration": {"reference_contrast": REFERENCE_CONTRAST, "transform": "Rigid",
                         "metric": "mattes", "shrink_factors": list(register.SHRINK_FACTORS),
                         "smoothing_sigmas": list(register.SMOOTHING_SIGMAS),
                         "iterations": list(register.ITERATIONS),
                         "when": "a contrast not on the reference contrast's grid"},
        "head_mask": {"function": "medsynth.preprocess.masks.head_mask",
                      "from_contrast": REFERENCE_CONTRAST,
                      "smooth_sigma_voxels": masks.SMOOTH_SIGMA_VOXELS,
                      "closing_radius_mm": masks.CLOSING_RADIUS_MM},
        "n4": {"function": "medsynth.preprocess.bias.n4_correct",
               "shrink_factor": N4_SHRINK_FACTOR, "fit": "positive voxels in the head mask",
               "clip_negative": True},
        "normalisation": {"function": "medsynth.preprocess.normalise.normalise_mr",
                          "percentile": normalise.REFERENCE_PERCENTILE, "region": "head mask"},
        "intensity_scaling": {"MR": "2 x - 1", "CT_window_hu": list(CT_WINDOW_HU)},
    }


def _mask_source(dataset: Dataset | None) -> str:
    if dataset is None or dataset.is_phantom:
        return "head_mask of each site's raw T1w"
    if dataset.has_head_mask:
        return "the dataset's own head mask (apply computes head_mask instead)"
    if dataset.has_labels:
        return "the dataset's labels > 0 (apply computes head_mask instead)"
    return "head_mask of the raw T1w"


def grid_record(grid: dict) -> dict:
    """Shape, voxel sizes, direction cosines and axis codes of a training grid."""
    affine = np.asarray(grid["affine"], dtype=np.float64)
    voxel = io.voxel_sizes(affine)
    return {"shape": [int(n) for n in grid["shape"]], "voxel_mm": voxel.round(6).tolist(),
            "direction": (affine[:3, :3] / voxel).round(6).tolist(),
            "axcodes": "".join(nib.aff2axcodes(affine)),
            "convention": "the training subjects' shape, voxel size and axes, centred on the "
                          "head mask's centroid; a scan already on such a grid is kept on it"}


def record(*, method: str, cond: Condition, method_params: dict, seed: int, grid: dict | None,
           target_background: float | None, dataset: Dataset | None) -> dict:
    """The preparation.json of a model trained (or, SMORE, fitted) under `cond`."""
    return {
        "format": FORMAT,
        "task": cond.task, "condition": asdict(cond), "method": method,
        "method_params": method_params, "seed": seed,
        "commit": git_commit(Path(medsynth.__file__).resolve().parents[1]),
        "medsynth_version": medsynth.__version__,
        "dataset": None if dataset is None else dataset.name,
        "head_mask_in_training": _mask_source(dataset),
        "contrasts": list(cond.source_channels),
        "target": {"contrast": cond.target,
                   # the model's output contrasts, in channel order (one but for an
                   # all-contrasts harmonizer, whose `contrast` is "": apply picks one)
                   "contrasts": list(cond.output_contrasts),
                   "unit": "HU" if cond.is_ct else
                   "normalised MR: the head's 99th percentile is 1",
                   "background": target_background},
        "grid": None if grid is None else grid_record(grid),
        "settings": settings(),
    }


def write(model_dir, rec: dict) -> Path:
    path = Path(model_dir) / FILE
    with io.atomic_path(path) as tmp:
        tmp.write_text(json.dumps(rec, indent=2, default=str) + "\n")
    return path


def load(model_dir) -> dict:
    """A model folder's preparation record, checked complete and replayable by this code."""
    model_dir = Path(model_dir)
    path = model_dir / FILE
    if not model_dir.is_dir():
        raise io.InputError(model_dir, "not a model folder")
    if not path.exists():
        hint = ""
        if any(model_dir.glob(f"sub-*/{FILE}")):
            hint = "; a self-supervised method keeps one model per scan: pass its sub-<id> folder"
        raise io.InputError(path, "missing: this model folder records no data preparation "
                            "(written by trainings since medsynth recorded it: voxel grid, "
                            "head mask, N4, normalisation, intensity scaling, contrasts, task, "
                            f"method, commit); retrain the model{hint}")
    try:
        rec = json.loads(path.read_text())
    except ValueError as err:
        raise io.InputError(path, f"not valid JSON ({err})") from err
    missing = [key for key in REQUIRED if key not in rec]
    if missing:
        raise io.InputError(path, f"lacks {', '.join(missing)}: written by an older medsynth; "
                            "retrain the model")
    if rec["format"] != FORMAT:
        raise io.InputError(path, f"format {rec['format']}, this medsynth reads {FORMAT}")
    current = json.loads(json.dumps(settings()))
    differ = [key for key in current if rec["settings"].get(key) != current[key]]
    if differ:
        raise io.InputError(path, f"the training data were prepared with other {', '.join(differ)} "
                            f"settings than this medsynth applies; use medsynth at commit "
                            f"{rec['commit']}")
    return rec


def condition(rec: dict) -> Condition:
    """The Condition a record was trained under."""
    fields = dict(rec["condition"])
    fields["source_channels"] = tuple(fields["source_channels"])
    fields["targets"] = tuple(fields.get("targets", ()))
    return Condition(**fields)
