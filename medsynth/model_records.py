"""What a result cost and how its model ended: params.json read back, and
one row per evaluated (task, condition, method, training seed) in the report's
``compute.tsv`` — iterations, parameters, device, training and inference
time and memory (from Snakemake's benchmark files), and whether the model
collapsed — so that no score travels without its compute.

A model's ``params.json`` holds what its run was given and, after it
finished, its outcome (written by ``medsynth.train``): the parameter count,
the device, and whether its final validation collapsed. One model may predict
several conditions (the all-levels denoiser): each gets a row. No torch here:
the report's jobs read these files without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from medsynth import io

if TYPE_CHECKING:
    import pandas as pd

PARAMS = "params.json"
VAL_PREFIX = "val_"  # log keys of validation metrics start with this
# Validation key of the prediction's spread inside the head: its sd over the
# target's (medsynth.metrics.spread_ratio), the smallest over validation subjects.
SPREAD = "spread"
# A model whose final validation spread is below this predicts a (near-)constant
# head: it collapsed. Even a heavily blurred synthesis keeps most of the tissue
# contrast's spread; 1/20 of it is an image with no anatomy left.
COLLAPSE_SPREAD = 0.05
# what params.json says of a finished run's result, beside what the run was given
OUTCOME_KEYS = ("collapsed", f"{VAL_PREFIX}{SPREAD}", "n_parameters", "device")
COLUMNS = ["task", "condition", "method", "seed", "model", "iterations", "n_parameters", "device",
           "train_wall_s", "train_cpu_s", "train_max_rss_mb", "infer_s_per_volume",
           "infer_max_rss_mb", "sampling_steps", "collapsed", "val_spread"]


def load_params(model_dir: str | os.PathLike) -> dict:
    """The params a model was trained with (params.json), and its outcome keys."""
    path = Path(model_dir) / PARAMS
    if not path.exists():
        raise io.InputError(path, "no params.json here; run the training first")
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise io.InputError(path, f"not valid JSON ({err})") from err


def outcome(record: dict) -> dict:
    """The outcome keys (``collapsed``, ``val_spread``) of a params.json record."""
    return {k: record[k] for k in OUTCOME_KEYS if k in record}


def _benchmarks(paths) -> pd.DataFrame:
    """Snakemake benchmark rows (``s``, ``cpu_time``, ``max_rss``) of the files that exist."""
    import pandas as pd  # here and below: infer jobs read params.json through this module
    frames = [pd.read_csv(p, sep="\t") for p in paths if Path(p).exists()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["s", "cpu_time", "max_rss"])


def _model_record(model_dir) -> dict:
    """params.json of a model folder; a self-supervised method's first volume's
    first stage (``sub-<id>/<stage>/``); {} for a method that fits no network
    (histogram matching keeps only its landmarks)."""
    if model_dir is None:
        return {}
    model_dir = Path(model_dir)
    found = sorted(model_dir.glob(PARAMS)) or sorted(model_dir.glob(f"sub-*/*/{PARAMS}"))
    return load_params(found[0].parent) if found else {}


def model_row(task: str, condition: str, method: str, seed: int | None, model_dir,
              train_benchmarks, infer_benchmarks) -> dict:
    """The row of one evaluated (task, condition, method, seed): its model's record
    and the cost of the jobs that made its predictions (seed None: a method without one).

    Training time and memory sum / take the maximum over `train_benchmarks` (one
    training, or a self-supervised method's one per test volume); inference is
    the mean wall time per volume over `infer_benchmarks`. Empty where a method
    has no such job (baselines train nothing; an outside rule's cost is its own).
    """
    record = _model_record(model_dir)
    result = outcome(record)
    trains, infers = _benchmarks(train_benchmarks), _benchmarks(infer_benchmarks)
    return {"task": task, "condition": condition, "method": method, "seed": seed,
            "model": "" if model_dir is None else str(model_dir),
            "iterations": record.get("iterations"),
            "n_parameters": result.get("n_parameters"), "device": result.get("device"),
            "train_wall_s": trains["s"].sum() if len(trains) else None,
            "train_cpu_s": trains["cpu_time"].sum() if len(trains) else None,
            "train_max_rss_mb": trains["max_rss"].max() if len(trains) else None,
            "infer_s_per_volume": infers["s"].mean() if len(infers) else None,
            "infer_max_rss_mb": infers["max_rss"].max() if len(infers) else None,
            # network passes per slice of an iterative sampler (diffusion, flow)
            "sampling_steps": record.get("sampling_steps"),
            "collapsed": result.get("collapsed"),
            "val_spread": result.get(f"{VAL_PREFIX}{SPREAD}")}


def write_model_table(entries, out_path) -> pd.DataFrame:
    """``compute.tsv`` from (task, condition, method, seed or None, model_dir or None,
    train benchmark files, infer benchmark files) entries, atomically."""
    import pandas as pd
    table = pd.DataFrame([model_row(*entry) for entry in entries], columns=COLUMNS)
    table["seed"] = table["seed"].astype("Int64")
    with io.atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return table


def read_model_table(path) -> pd.DataFrame:
    """``compute.tsv`` back, ``collapsed`` as booleans (empty: False)."""
    import pandas as pd
    table = pd.read_csv(path, sep="\t", dtype={"condition": str, "collapsed": str,
                                               "seed": "Int64"})
    table["collapsed"] = table["collapsed"].fillna("").str.strip().str.lower() == "true"
    return table
