"""The ``histogram_matching`` baseline: Nyul-Udupa piecewise-linear intensity
standardisation (Nyul & Udupa, MRM 42(6), 1999; Nyul, Udupa & Zhang, IEEE TMI
19(2), 2000).

Training learns a standard scale: the mean, over the training *targets*, of
each target's landmark intensities (percentiles 1, 10, 20, ..., 90, 99 inside
the head mask: the deciles plus the 1st/99th percentile end points of Nyul
et al. 2000). Prediction finds the same landmarks of the test source inside
its head mask and maps intensities piecewise-linearly, landmark to landmark,
onto the standard scale. The target scale is already the target's own
intensity scale, so the output can be scored against the target directly.

Beyond the end landmarks the end segments are extended linearly inside the
head mask, as Nyul et al. do, so the rare voxels below p1 and above p99 keep
their order and contrast. Outside the head mask the map is not used: the
background is mostly air, far below p1, where extending the first segment
would give arbitrary (often negative) values. It is set instead to the
training targets' background intensity (the mean over subjects of the median
outside the head mask), also learned by `fit`, so the
prediction has the target's own air (nothing outside the head is scored).

The map is monotone increasing, so it cannot invert contrast: for
``t1_to_t2`` it is a weak baseline by design (it fixes the histogram, not the
anatomy-to-intensity relation); for ``harmonize`` it is the classic one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medsynth import io
from medsynth.case import Case, TrainingData

DEFAULTS = {"percentiles": [1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99]}
MODEL_FILE = "landmarks.json"


def landmarks(image: np.ndarray, mask: np.ndarray, percentiles) -> np.ndarray:
    """Intensities at `percentiles` of the voxels of `image` inside `mask`."""
    values = np.asarray(image)[np.asarray(mask, dtype=bool)]
    if values.size == 0:
        raise ValueError("landmarks need a non-empty mask")
    return np.percentile(values.astype(np.float64), percentiles)


def piecewise_linear(values: np.ndarray, source_marks: np.ndarray,
                     target_marks: np.ndarray) -> np.ndarray:
    """Map `values` so that source_marks[i] -> target_marks[i], linear in between
    and extended with the end slopes beyond the first and last landmark.

    Tied source landmarks (a flat stretch of the histogram) are merged, keeping
    the first; if all tie, the image is constant and maps to the middle landmark.
    """
    source_marks = np.asarray(source_marks, dtype=np.float64)
    target_marks = np.asarray(target_marks, dtype=np.float64)
    keep = np.concatenate([[True], np.diff(source_marks) > 0])
    xs, ys = source_marks[keep], target_marks[keep]
    values = np.asarray(values, dtype=np.float64)
    if xs.size < 2:
        return np.full(values.shape, np.median(target_marks), dtype=np.float32)
    mapped = np.interp(values, xs, ys)
    low_slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
    high_slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    below, above = values < xs[0], values > xs[-1]
    mapped[below] = ys[0] + low_slope * (values[below] - xs[0])
    mapped[above] = ys[-1] + high_slope * (values[above] - xs[-1])
    return mapped.astype(np.float32)


def fit(data: TrainingData, params: dict, model_dir: Path, seed: int, threads: int,
        state_dir: Path | None = None) -> None:
    """Learn the standard scale (mean target landmarks over the training subjects)
    and the targets' background intensity.

    Deterministic, so `seed`, `threads` and `state_dir` are not needed.
    """
    params = {**DEFAULTS, **params}
    percentiles = [float(p) for p in params["percentiles"]]
    if len(percentiles) < 2 or np.any(np.diff(percentiles) <= 0):
        raise ValueError(f"percentiles must increase and number at least 2, got {percentiles}")
    n_subjects = int(data.target.shape[0])
    if n_subjects == 0:
        raise ValueError("histogram matching needs at least one training subject")
    per_subject, background = [], []
    for s in range(n_subjects):
        mask = np.asarray(data.mask[s, 0]) > 0
        if not mask.any():
            raise ValueError(f"training subject {s} has an empty head mask")
        target = np.asarray(data.target[s, 0])
        per_subject.append(landmarks(target, mask, percentiles))
        if not mask.all():
            background.append(np.median(target[~mask]))
    standard = np.mean(per_subject, axis=0)
    model = {
        "method": "histogram_matching",
        "percentiles": percentiles,
        "standard_landmarks": standard.tolist(),
        # masks without background leave nothing to learn: use the darkest landmark
        "background": float(np.mean(background) if background else standard[0]),
        "n_subjects": n_subjects,
    }
    model_dir = Path(model_dir)
    with io.atomic_path(model_dir / MODEL_FILE) as tmp:
        tmp.write_text(json.dumps(model, indent=2) + "\n")


def load_model(model_dir: Path) -> dict:
    """Read the standard scale written by :func:`fit`, checking its shape."""
    path = Path(model_dir) / MODEL_FILE
    if not path.exists():
        raise io.InputError(path, "no histogram-matching model here; run its training first")
    try:
        model = json.loads(path.read_text())
        percentiles = [float(p) for p in model["percentiles"]]
        standard = [float(v) for v in model["standard_landmarks"]]
        background = float(model["background"])
    except (ValueError, KeyError, TypeError) as err:
        raise io.InputError(path, f"not a histogram-matching model ({err})") from err
    if len(percentiles) != len(standard) or len(percentiles) < 2:
        raise io.InputError(path, "percentiles and landmarks differ in number or are too few")
    return {"percentiles": percentiles, "standard_landmarks": standard, "background": background}


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Map source channel 0 inside the head onto the learned standard scale."""
    if model_dir is None:
        raise ValueError("histogram_matching is trained: predict needs its model_dir")
    if not case.same_grid:
        raise ValueError(f"subject {case.subject}: source is not on the target grid")
    model = load_model(model_dir)
    source, head = case.source[0], np.asarray(case.head_mask, dtype=bool)
    marks = landmarks(source, head, model["percentiles"])
    out = np.full(source.shape, model["background"], dtype=np.float32)
    out[head] = piecewise_linear(source[head], marks, model["standard_landmarks"])
    return out
