"""The generic training loop every trained network of the suite runs through.

A method describes *what* to train as a :class:`TrainableModel` (its networks,
optimisers, schedulers, how to draw a batch and what one step does); this
module decides *how*: seeding, threads, device and mixed precision, logging,
regular checkpoints and resuming, and the files a finished run leaves.

Files. In ``model_dir`` (the rule's output): ``model.pt`` (state dicts of the
networks only), ``params.json`` (what the run was given), ``loss.csv`` (mean
losses per ``log_every`` iterations, validation metrics where computed,
elapsed seconds) and ``loss.png``. In ``state_dir`` (by default ``model_dir``;
the workflow puts it beside ``model_dir`` so that Snakemake, which deletes a
failed job's outputs, does not delete it): ``checkpoint.pt``.

Resuming. The checkpoint holds every network, optimiser, scheduler and
gradient-scaler state, the model's extra state (a GAN's image pool), the
iteration, the NumPy batch-sampling generator's state, the Python and torch
random states, the log and the elapsed time, so a run killed at any point and
restarted ends bit for bit where an uninterrupted run ends (on CPU; tested).
A checkpoint written for other params or another seed, or one that cannot be
read, is ignored, not resumed. The checkpoint is
deleted once the model files are written: it is as large as three copies of
the model, and a finished run has nothing left to resume. Checkpoints and
models are plain tensors, dicts, lists, numbers and strings, loadable with
``torch.load(..., weights_only=True)``.

Device. :func:`device` is the one place that picks it: CUDA when present,
else CPU. On CUDA, :class:`Runtime` turns on float16 autocast with a gradient
scaler, channels-last memory and the cuDNN autotuner; on CPU all three are off
and the scaler passes gradients through untouched, so the CPU path (the
tested one) computes in plain float32.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from medsynth import io
from medsynth.model_records import (
    COLLAPSE_SPREAD,
    OUTCOME_KEYS,
    PARAMS,
    SPREAD,
    VAL_PREFIX,
    load_params,
    outcome,
)

__all__ = ["COLLAPSE_SPREAD", "OUTCOME_KEYS", "PARAMS", "SPREAD", "VAL_PREFIX", "Runtime",
           "TrainableModel", "TrainingDiverged", "autocast", "device", "load_modules",
           "load_params", "merge_params", "outcome", "run_training", "seed_everything",
           "trained_with", "write_loss_log"]

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
LOSS_CSV = "loss.csv"
LOSS_PNG = "loss.png"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite: the run stops where it happened."""


def device() -> torch.device:
    """The device every network of the suite runs on: CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(dev: torch.device, cpu_bf16: bool = False):
    """Float16 autocast on CUDA; on the CPU bfloat16 autocast with `cpu_bf16`, else none."""
    if dev.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16)


def merge_params(defaults: dict, params: dict, method: str) -> dict:
    """``{**defaults, **params}``, refusing keys the method does not know (typos)."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"method {method}: unknown parameter(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(defaults))}")
    return {**defaults, **params}


@dataclass
class Runtime:
    """Where and in what precision a run computes; handed to the model it builds."""

    device: torch.device
    scaler: torch.amp.GradScaler
    # bfloat16 autocast of the training steps on a CPU (a method's ``cpu_bf16``
    # parameter): cores with AVX-512 BF16 run convolutions up to ~2x faster, and
    # bfloat16 keeps float32's range, so no loss scaling. Predictions (validation,
    # inference) stay float32: bfloat16's 8-bit mantissa would put ~0.4 % steps
    # into the output, the size of the 1 % noise a denoiser removes.
    cpu_bf16: bool = False

    @classmethod
    def create(cls, cpu_bf16: bool = False) -> Runtime:
        dev = device()
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
        return cls(dev, torch.amp.GradScaler(dev.type, enabled=dev.type == "cuda"), cpu_bf16)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        return autocast(self.device, self.cpu_bf16)

    def module(self, net: nn.Module) -> nn.Module:
        """Move a network to the device (channels-last on CUDA, 3D for 3D networks)."""
        net = net.to(self.device)
        if not self.cuda:
            return net
        volumetric = any(p.dim() == 5 for p in net.parameters())
        return net.to(memory_format=torch.channels_last_3d if volumetric else torch.channels_last)

    def tensor(self, array: np.ndarray) -> torch.Tensor:
        """A float32 batch on the device (channels-last on CUDA for 4D/5D batches)."""
        t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        if not self.cuda:
            return t
        t = t.pin_memory().to(self.device, non_blocking=True)
        if t.ndim == 4:
            return t.contiguous(memory_format=torch.channels_last)
        if t.ndim == 5:
            return t.contiguous(memory_format=torch.channels_last_3d)
        return t

    def optimize(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """One gradient step on `loss` (scaled under mixed precision).

        Several optimisers may step within one iteration (a GAN's D then G);
        the loop updates the scaler once after :meth:`TrainableModel.train_step`.
        """
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)


class TrainableModel(ABC):
    """What a method trains: networks, optimisers and one training step.

    Subclasses build their networks in ``__init__`` through ``runtime.module``
    (the loop has seeded torch before), draw batches only from the generator
    they are given, and step their optimisers with ``runtime.optimize``.
    """

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    @abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """The networks, by name: what model.pt holds."""

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers, by name."""

    def schedulers(self) -> dict[str, Any]:
        """Learning-rate schedulers by name; the loop steps each once per iteration."""
        return {}

    @abstractmethod
    def sample_batch(self, rng: np.random.Generator) -> Any:
        """Draw one training batch using only `rng` for randomness."""

    @abstractmethod
    def train_step(self, batch: Any) -> dict[str, float]:
        """One iteration on `batch`; returns its losses by name."""

    def validate(self) -> dict[str, float]:
        """Validation metrics by name (called with the networks in eval mode); none by default."""
        return {}

    def extra_state(self) -> dict:
        """Training state beyond networks, optimisers and schedulers that a
        resumed run needs (e.g. a GAN's image pool): tensors, lists, numbers."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore what :meth:`extra_state` returned."""
        if state:
            raise NotImplementedError(f"{type(self).__name__} saved extra state it cannot load")


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, torch (all devices) and return the batch-sampling generator."""
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def run_training(build: Callable[[Runtime], TrainableModel], *, name: str, iterations: int,
                 model_dir: str | os.PathLike, params: dict, seed: int, threads: int,
                 state_dir: str | os.PathLike | None = None, checkpoint_every: int = 500,
                 log_every: int = 50, val_every: int = 0, stop_after: int | None = None) -> None:
    """Train the model `build` returns for `iterations` steps, resuming a checkpoint.

    `name` says what is trained (method, task/condition) in errors and warnings.
    `params` (JSON-serialisable) is written to params.json and identifies the
    run: a checkpoint from other params or another seed is not resumed.
    Validation runs every `val_every` iterations (0: only at the end).
    `stop_after` ends the process's work after that iteration without writing
    anything more, as a killed job would (for tests of resuming).

    A NaN or infinite loss raises :class:`TrainingDiverged` at its iteration,
    before anything of that iteration is logged or saved. A final validation
    whose prediction is (near-)constant inside the head (spread below
    ``COLLAPSE_SPREAD``) logs a warning; params.json then says
    ``"collapsed": true`` (``false`` otherwise, absent without validation).
    params.json also records the seed, the parameter count of every network and the device.
    """
    if iterations < 1 or checkpoint_every < 1 or log_every < 1 or val_every < 0:
        raise ValueError("iterations, checkpoint_every and log_every must be positive, "
                         "val_every non-negative")
    torch.set_num_threads(threads)
    model_dir = Path(model_dir)
    state_dir = Path(state_dir) if state_dir is not None else model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    run_id = {"params": json.dumps(params, sort_keys=True), "seed": seed,
              "iterations": iterations}

    rng = seed_everything(seed)
    runtime = Runtime.create(bool(params.get("cpu_bf16", False)))
    model = build(runtime)
    state = _TrainState()
    checkpoint = state_dir / CHECKPOINT
    saved = _load_checkpoint(checkpoint, runtime.device)
    if saved is not None and saved.get("run") == run_id:
        state = _restore(saved, model, runtime, rng)
        log.info("resuming from %s at iteration %d", checkpoint, state.iteration)
    elif saved is not None:
        log.warning("ignoring %s: written for other params or another seed", checkpoint)
    for net in model.modules().values():
        net.train()

    started = time.perf_counter() - state.elapsed
    with tqdm(total=iterations, initial=state.iteration, file=sys.stderr, desc="training",
              mininterval=1.0 if sys.stderr.isatty() else 30.0) as bar:
        while state.iteration < iterations:
            losses = model.train_step(model.sample_batch(rng))
            _require_finite(losses, name, state.iteration + 1)
            runtime.scaler.update()
            for scheduler in model.schedulers().values():
                scheduler.step()
            state.iteration += 1
            state.accumulate(losses)
            bar.update(1)
            done = state.iteration == iterations
            validate = done or (val_every and state.iteration % val_every == 0)
            if state.iteration % log_every == 0 or done or validate:
                row = state.flush()
                if validate:
                    row.update({f"{VAL_PREFIX}{k}": v for k, v in _validate(model).items()})
                row["elapsed_s"] = time.perf_counter() - started
                state.log.append(row)
                bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k != "iteration"},
                                refresh=False)
            if state.iteration % checkpoint_every == 0 and not done:
                state.elapsed = time.perf_counter() - started
                _save_checkpoint(checkpoint, state, model, runtime, rng, run_id)
                write_loss_log(state.log, model_dir)
            if stop_after is not None and state.iteration >= stop_after and not done:
                return

    model_file = model_dir / MODEL
    with io.atomic_path(model_file) as tmp:
        torch.save({name: _cpu(net.state_dict()) for name, net in model.modules().items()}, tmp)
    with io.atomic_path(model_dir / PARAMS) as tmp:
        result = {**_collapse_record(state.log, name), "device": runtime.device.type,
                  "n_parameters": sum(p.numel() for net in model.modules().values()
                                      for p in net.parameters())}
        tmp.write_text(json.dumps({**params, "seed": seed, **result}, indent=2, sort_keys=True)
                       + "\n")
    write_loss_log(state.log, model_dir)
    checkpoint.unlink(missing_ok=True)
    log.info("trained %d iterations in %.1f s; wrote %s", iterations,
             time.perf_counter() - started, model_file)


def load_modules(model_dir: str | os.PathLike, map_location: torch.device) -> dict[str, dict]:
    """The state dicts of model.pt, by network name (weights only)."""
    path = Path(model_dir) / MODEL
    if not path.exists():
        raise io.InputError(path, "no trained model here; run the training first")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # a truncated or foreign file: name it
        raise io.InputError(path, f"not a readable model file ({err})") from err


def trained_with(model_dir: str | os.PathLike, params: dict, seed: int) -> bool:
    """Whether `model_dir` holds a finished model trained with exactly `params` and
    `seed` (an unreadable params.json counts as not)."""
    model_dir = Path(model_dir)
    if not (model_dir / MODEL).exists() or not (model_dir / PARAMS).exists():
        return False
    try:
        record = load_params(model_dir)
    except io.InputError:
        return False
    given = {k: v for k, v in record.items() if k not in OUTCOME_KEYS}
    return given == json.loads(json.dumps({**params, "seed": seed}))


def write_loss_log(rows: list[dict], model_dir: Path) -> None:
    """loss.csv (one column per loss or metric) and the loss-curve figure."""
    columns = ["iteration"]
    for row in rows:
        columns += [k for k in row if k not in columns and k != "elapsed_s"]
    columns.append("elapsed_s")
    with io.atomic_path(model_dir / LOSS_CSV) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
    with io.atomic_path(model_dir / LOSS_PNG) as tmp:
        _plot(rows, columns, tmp)


# --- internals ---------------------------------------------------------------------------


class _TrainState:
    """Progress that a checkpoint must carry: iteration, log, pending loss sums, time."""

    def __init__(self):
        self.iteration = 0
        self.log: list[dict] = []
        self.sums: dict[str, float] = {}
        self.count = 0
        self.elapsed = 0.0

    def accumulate(self, losses: dict[str, float]) -> None:
        for key, value in losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += 1

    def flush(self) -> dict:
        """The mean losses since the last log row, as a new row."""
        row = {"iteration": self.iteration}
        row.update({k: v / self.count for k, v in self.sums.items()})
        self.sums, self.count = {}, 0
        return row


def _require_finite(losses: dict[str, float], name: str, iteration: int) -> None:
    bad = {k: float(v) for k, v in losses.items() if not np.isfinite(float(v))}
    if bad:
        found = ", ".join(f"{k} = {v}" for k, v in bad.items())
        raise TrainingDiverged(f"{name}: loss {found} at iteration {iteration}; training "
                               "stopped (try a lower learning rate)")


def _collapse_record(rows: list[dict], name: str) -> dict:
    """``{"collapsed": bool, "val_spread": float}`` from the last validation, or {}."""
    key = f"{VAL_PREFIX}{SPREAD}"
    spread = next((row[key] for row in reversed(rows) if key in row), None)
    if spread is None:
        return {}
    collapsed = bool(spread < COLLAPSE_SPREAD)
    if collapsed:
        log.warning("%s collapsed: its validation prediction is near-constant inside the head "
                    "(sd %.3g of the target's, below %g); flagged in %s", name, spread,
                    COLLAPSE_SPREAD, PARAMS)
    return {"collapsed": collapsed, key: float(spread)}


def _validate(model: TrainableModel) -> dict[str, float]:
    nets = model.modules().values()
    for net in nets:
        net.eval()
    try:
        with torch.inference_mode():
            return {k: float(v) for k, v in model.validate().items()}
    finally:
        for net in nets:
            net.train()


def _cpu(state_dict: dict) -> dict:
    return {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in state_dict.items()}


def _load_checkpoint(path: Path, dev: torch.device) -> dict | None:
    """The checkpoint's contents; None if there is none or it cannot be read."""
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location=dev, weights_only=True)
    except Exception as err:  # e.g. a disk that filled up: start over rather than fail
        log.warning("ignoring unreadable checkpoint %s (%s)", path, err)
        return None


def _save_checkpoint(path: Path, state: _TrainState, model: TrainableModel, runtime: Runtime,
                     rng: np.random.Generator, run_id: dict) -> None:
    version, internal, gauss = random.getstate()
    payload = {
        "run": run_id,
        "iteration": state.iteration,
        "log": state.log,
        "sums": state.sums,
        "count": state.count,
        "elapsed": state.elapsed,
        "modules": {n: net.state_dict() for n, net in model.modules().items()},
        "optimizers": {n: opt.state_dict() for n, opt in model.optimizers().items()},
        "schedulers": {n: s.state_dict() for n, s in model.schedulers().items()},
        "extra": model.extra_state(),
        "scaler": runtime.scaler.state_dict(),
        "numpy_rng": rng.bit_generator.state,
        "python_rng": [version, list(internal), gauss],
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if runtime.cuda else [],
    }
    with io.atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _restore(saved: dict, model: TrainableModel, runtime: Runtime,
             rng: np.random.Generator) -> _TrainState:
    for name, net in model.modules().items():
        net.load_state_dict(saved["modules"][name])
    for name, opt in model.optimizers().items():
        opt.load_state_dict(saved["optimizers"][name])
    for name, scheduler in model.schedulers().items():
        scheduler.load_state_dict(saved["schedulers"][name])
    model.load_extra_state(saved["extra"])
    if saved["scaler"]:
        runtime.scaler.load_state_dict(saved["scaler"])
    rng.bit_generator.state = saved["numpy_rng"]
    version, internal, gauss = saved["python_rng"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(saved["torch_rng"].cpu())
    if runtime.cuda and saved["cuda_rng"]:
        torch.cuda.set_rng_state_all([s.cpu() for s in saved["cuda_rng"]])
    state = _TrainState()
    state.iteration = int(saved["iteration"])
    state.log = list(saved["log"])
    state.sums = dict(saved["sums"])
    state.count = int(saved["count"])
    state.elapsed = float(saved["elapsed"])
    return state


def _plot(rows: list[dict], columns: list[str], path: Path) -> None:
    """Training losses (left) and validation metrics (right, where logged) per iteration."""
    from matplotlib.figure import Figure  # infer jobs import this module and never plot

    losses = [c for c in columns[1:-1] if not c.startswith(VAL_PREFIX)]
    metrics = [c for c in columns[1:-1] if c.startswith(VAL_PREFIX)]
    fig = Figure(figsize=(10 if metrics else 5.5, 3.8), layout="constrained")
    axes = fig.subplots(1, 2 if metrics else 1, squeeze=False)[0]
    for ax, keys, title in zip(axes, (losses, metrics), ("training loss", "validation"),
                               strict=False):
        for key in keys:
            points = [(r["iteration"], r[key]) for r in rows if key in r]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o" if len(points) < 30 else None, label=key)
        ax.set_xlabel("iteration")
        ax.set_title(title)
        if keys and all(r[k] > 0 for r in rows for k in keys if k in r):
            ax.set_yscale("log")  # losses fall over decades
        if keys:
            ax.legend(fontsize="small")
    fig.savefig(path, format="png", dpi=100)
