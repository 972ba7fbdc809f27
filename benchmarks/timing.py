"""Timing helpers shared by the benchmark scripts (run as ``python benchmarks/<name>.py``,
so this folder is on the import path)."""

from __future__ import annotations

import time

import torch


def _synchronise() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def seconds_per_step(model, rng, steps: int, warmup: int = 2) -> float:
    """Mean wall time of one ``train_step`` on a fresh ``sample_batch``, after
    `warmup` untimed steps (first-call allocations and kernel selection)."""
    for _ in range(warmup):
        model.train_step(model.sample_batch(rng))
    _synchronise()
    start = time.perf_counter()
    for _ in range(steps):
        model.train_step(model.sample_batch(rng))
    _synchronise()
    return (time.perf_counter() - start) / steps


def timed(fn, *args):
    """``fn(*args)`` and its wall time in seconds."""
    _synchronise()
    start = time.perf_counter()
    out = fn(*args)
    _synchronise()
    return out, time.perf_counter() - start
