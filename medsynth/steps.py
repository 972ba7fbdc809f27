"""The train, infer and evaluate steps, callable from the command line and
from the workflow's scripts alike, so one method can be run and debugged
without Snakemake."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

from medsynth import io
from medsynth import methods as registry
from medsynth.case import Case, TrainingData, input_path, load_case, training_grid
from medsynth.data.catalog import Dataset
from medsynth.seeding import subject_rng
from medsynth.tasks import Condition


def train(method: str, cond: Condition, arrays_dir, model_dir, params: dict,
          seed: int, threads: int, state_dir=None, dataset: Dataset | None = None) -> None:
    """Fit a trained method on a task/condition's training arrays, and record
    in the model folder how its data were prepared (``preparation.json``, for
    `medsynth apply`; `dataset` says where the training head masks came from).

    `arrays_dir` may be a list of several conditions' arrays, trained on
    together under `cond`: pooled subjects (one denoiser for every noise
    level), or, for a condition with several target contrasts (harmonize's
    one DeepHarmony for every contrast), the contrasts' arrays in its output
    order, their targets stacked as channels. `state_dir`
    holds the resumable checkpoint; it defaults to a sibling of `model_dir` so
    that removing a failed job's outputs keeps it.
    """
    from medsynth import preparation  # pulls in scipy.ndimage, which infer jobs need not load

    info = registry.get(method)
    if info.kind != "trained":
        raise ValueError(f"method {method!r} is {info.kind}: it has no training step")
    dirs = [arrays_dir] if isinstance(arrays_dir, str | Path) else list(arrays_dir)
    if cond.targets:
        data = TrainingData.all_contrasts(dirs, cond)
    elif len(dirs) == 1:
        data = TrainingData.load(dirs[0], cond)
    else:
        data = TrainingData.pooled(dirs, cond)
    grid = training_grid(dirs[0])
    Path(model_dir).mkdir(parents=True, exist_ok=True)
    state_dir = Path(state_dir) if state_dir else Path(model_dir).with_name("train_state")
    state_dir.mkdir(parents=True, exist_ok=True)
    registry.load(method).fit(data, params, Path(model_dir), seed=seed, threads=threads,
                              state_dir=state_dir)
    preparation.write(model_dir, preparation.record(
        method=method, cond=cond, method_params=params, seed=seed, grid=grid,
        target_background=_background(data), dataset=dataset))


def _background(data: TrainingData) -> float | None:
    """The training targets' median outside the head (over every target contrast):
    what apply writes there."""
    outside = [np.asarray(t)[:, ~np.asarray(m[0], bool)].ravel()
               for t, m in zip(data.target, data.mask, strict=True)]
    values = np.concatenate(outside) if outside else np.zeros(0)
    return float(np.median(values)) if values.size else None


def infer(method: str, cond: Condition, inputs_dir, subject: str, model_dir, params: dict,
          out_path, threads: int = 1) -> Path:
    """Predict one subject and write it on the target grid.

    torch is imported only by the methods that use it: the baselines' many
    short jobs do not pay its import (~1.5 s each).
    """
    if registry.get(method).kind == "self_supervised":
        raise ValueError(f"method {method!r} is self-supervised: it trains and predicts in one "
                         "step (medsynth self-supervised)")
    module = registry.load(method)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    case = load_case(inputs_dir, subject, cond)
    pred = module.predict(case, params, Path(model_dir) if model_dir else None)
    return _save_prediction(pred, case, method, out_path)


def _save_prediction(pred, case: Case, method: str, out_path) -> Path:
    pred = np.asarray(pred, dtype=np.float32)
    if pred.shape != tuple(case.target_shape):
        raise RuntimeError(f"method {method} returned shape {pred.shape} for subject "
                           f"{case.subject}, expected the target grid {case.target_shape}")
    return io.save_volume(out_path, pred, case.target_affine)


def self_supervised(method: str, cond: Condition, inputs_dir, subject: str, params: dict,
                    out_path, model_dir, state_dir, seed: int, threads: int,
                    dataset: Dataset | None = None) -> Path:
    """Train a self-supervised method on one subject's input and write its prediction.

    `state_dir` keeps the resumable training until the prediction is written.
    The model folder's ``preparation.json`` lets `medsynth apply` run the same
    method, with the same settings, on another scan.
    """
    from medsynth import preparation  # pulls in scipy.ndimage, which infer jobs need not load

    info = registry.get(method)
    if info.kind != "self_supervised":
        raise ValueError(f"method {method!r} is {info.kind}, not self-supervised")
    case = load_case(inputs_dir, subject, cond)
    Path(model_dir).mkdir(parents=True, exist_ok=True)
    pred = registry.load(method).fit_predict(case, params, Path(model_dir), Path(state_dir),
                                             seed=seed, threads=threads)
    out = _save_prediction(pred, case, method, out_path)
    preparation.write(model_dir, preparation.record(
        method=method, cond=cond, method_params=params, seed=seed, grid=None,
        target_background=None, dataset=dataset))
    shutil.rmtree(state_dir, ignore_errors=True)
    return out


def evaluate(cond: Condition, inputs_dir, pred_paths: dict[str, Path], ids: dict,
             protocol: str, extra_metrics: tuple[str, ...] = (), pet: dict | None = None,
             pet_dir=None, pet_map=None) -> list[dict]:
    """Metrics and Dice of each subject's prediction under `protocol`; one row per
    subject, the protocol's name in its ``protocol`` column.

    With `pet_dir` (mr_to_ct: the references of :func:`pet_references`) each row gets
    the PET end point's columns under the settings `pet`, and the first subject's
    relative-error map is written to `pet_map` (NaN where not scored; all NaN when the
    dataset was skipped).
    """
    from medsynth.evaluate import evaluate_prediction
    from medsynth.results_table import PROTOCOL  # pandas: infer jobs need not load it

    rows = []
    for subject, pred in sorted(pred_paths.items()):
        dseg = input_path(inputs_dir, subject, "dseg")
        target = input_path(inputs_dir, subject, "target")
        metrics = evaluate_prediction(
            pred, target, input_path(inputs_dir, subject, "mask"),
            input_path(inputs_dir, subject, "brainmask"), str(dseg) if dseg.exists() else None,
            cond.target, consistency=cond.task == "harmonize", protocol=protocol,
            extra_metrics=tuple(extra_metrics))
        if pet_dir is not None:
            metrics.update(_pet_columns(pred, subject, pet, Path(pet_dir),
                                        pet_map if not rows else None))
        rows.append({**ids, "subject": subject, PROTOCOL: protocol, **metrics})
    return rows


def _pet_reference_path(pet_dir: Path, subject: str) -> Path:
    return pet_dir / f"sub-{subject}_pet-reference.npz"


def pet_references(inputs_dir, subjects: list[str], pet: dict, out_dir: Path, seed: int = 0) -> str:
    """Write each subject's PET reference (:func:`medsynth.pet.endpoint.make_reference`)
    with its tissue labels, or segmented ones where the dataset has none
    (:func:`medsynth.pet.activity.labels_from_images`); where neither exists, a note
    saying why the end point is skipped. Return what was done."""
    from medsynth.pet import endpoint
    from medsynth.pet.activity import labels_from_images
    from medsynth.segment import SegmentationError

    settings = endpoint.PetSettings(**pet)
    segmented = []
    with io.atomic_folder(out_dir) as staging:
        for subject in subjects:
            target = input_path(inputs_dir, subject, "target")
            ct, affine = io.load_array(target)
            head, _ = io.load_mask(input_path(inputs_dir, subject, "mask"))
            dseg_path = input_path(inputs_dir, subject, "dseg")
            if dseg_path.exists():
                dseg = np.rint(io.load_array(dseg_path)[0]).astype(np.int16)
            else:
                t1_path = input_path(inputs_dir, subject, "source-T1w")
                try:
                    if not t1_path.exists():
                        raise SegmentationError("no T1w source to segment")
                    brain, _ = io.load_mask(input_path(inputs_dir, subject, "brainmask"))
                    dseg = labels_from_images(ct, io.load_array(t1_path)[0], head, brain, affine)
                except SegmentationError as err:
                    note = f"{endpoint.NO_LABELS} (sub-{subject}: {err})"
                    for written in Path(staging).iterdir():
                        written.unlink()
                    (Path(staging) / "skipped.txt").write_text(note + "\n")
                    return note
                segmented.append(subject)
            reference = endpoint.make_reference(ct, dseg, head, affine, settings, target,
                                                seed=subject_rng(seed, subject))
            endpoint.save_reference(reference, _pet_reference_path(Path(staging), subject))
    how = (f"; tissues segmented (no labels): {', '.join(segmented)}" if segmented else "")
    return f"PET references of {len(subjects)} subjects{how}"


def _pet_columns(pred, subject: str, pet: dict, pet_dir: Path, map_path) -> dict[str, float]:
    from medsynth.pet import endpoint

    data, affine = io.load_array(pred)
    skipped = pet_dir / "skipped.txt"
    if skipped.exists():
        error = np.full(data.shape, np.nan, dtype=np.float32)
        row = dict.fromkeys(endpoint.COLUMNS, float("nan"))
    else:
        reference = endpoint.load_reference(_pet_reference_path(pet_dir, subject))
        row, error = endpoint.pet_metrics(data, affine, reference, endpoint.PetSettings(**pet),
                                          pred)
    if map_path is not None:  # NaN marks voxels not scored, so not a NIfTI (io refuses NaN)
        with io.atomic_path(map_path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, error_pct=error, affine=affine, subject=subject)
    return row
