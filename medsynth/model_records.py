"""What a trained model's files say of its training: params.json read back,
and one row per evaluated (task, condition, method) in the report's
``models.tsv``, from which the tables mark collapsed models.

A model's ``params.json`` holds what its run was given and, after its final
validation, whether it collapsed (written by ``medsynth.train``). One model
may predict several conditions (the all-levels denoiser): it gets a row for
each. No torch here: the report's jobs read these files without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from medsynth import io

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
OUTCOME_KEYS = ("collapsed", f"{VAL_PREFIX}{SPREAD}")
COLUMNS = ["task", "condition", "method", "model", "iterations", "collapsed", "val_spread"]


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


def model_row(task: str, condition: str, method: str, model_dir: str | os.PathLike) -> dict:
    """The row of one evaluated (task, condition, method) and the model it predicted with.

    ``collapsed`` and ``val_spread`` are empty for a model trained without
    validation subjects, and everything but the model folder is for a method
    that fits no network (histogram matching keeps only its landmarks).
    """
    record = load_params(model_dir) if (Path(model_dir) / PARAMS).exists() else {}
    result = outcome(record)
    return {"task": task, "condition": condition, "method": method, "model": str(model_dir),
            "iterations": record.get("iterations"), "collapsed": result.get("collapsed"),
            "val_spread": result.get(f"{VAL_PREFIX}{SPREAD}")}


def write_model_table(entries, out_path) -> pd.DataFrame:
    """``models.tsv`` from (task, condition, method, model_dir) entries, atomically."""
    table = pd.DataFrame([model_row(*entry) for entry in entries], columns=COLUMNS)
    with io.atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return table


def read_model_table(path) -> pd.DataFrame:
    """``models.tsv`` back, ``collapsed`` as booleans (empty: False)."""
    table = pd.read_csv(path, sep="\t", dtype={"condition": str, "collapsed": str})
    table["collapsed"] = table["collapsed"].fillna("").str.strip().str.lower() == "true"
    return table
