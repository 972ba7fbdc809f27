"""Axial slices for the 2D networks (U-Net, pix2pix, CycleGAN): the training
set as in-memory slice stacks in the network's intensity range, and the
validation score every 2D method logs.

Slices are cut once, when a model is built, from the memory-mapped training
arrays, so a training step only indexes arrays in memory. Slices with less
than ``min_head_fraction`` of head voxels (the air above the vertex, the
neck's last planes) are left out: they teach nothing but the background.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from medsynth import metrics, train
from medsynth.case import Case, TrainingData
from medsynth.methods.intensity import from_network, to_network


def network_source(source: np.ndarray, contrasts) -> np.ndarray:
    """(C, ...) source channels scaled to the network's range, each by its contrast."""
    return np.stack([to_network(channel, c) for channel, c in zip(source, contrasts, strict=True)])


@dataclass(frozen=True)
class SliceSet:
    """Axial training slices in network range: source (N, C, x, y), target
    (N, 1, x, y), and the training subject (index into the arrays) of each."""

    source: np.ndarray
    target: np.ndarray
    subject: np.ndarray

    def of_subjects(self, subjects) -> SliceSet:
        keep = np.isin(self.subject, np.asarray(subjects))
        return SliceSet(self.source[keep], self.target[keep], self.subject[keep])


def training_slices(data: TrainingData, min_head_fraction: float) -> SliceSet:
    """The training subjects' axial slices that hold enough head."""
    contrasts, target = data.condition.source_channels, data.condition.target
    sources, targets, subjects = [], [], []
    for s in range(data.source.shape[0]):
        head_fraction = np.asarray(data.mask[s, 0], dtype=bool).mean(axis=(0, 1))
        keep = np.flatnonzero(head_fraction >= min_head_fraction)
        src = network_source(np.asarray(data.source[s][..., keep]), contrasts)
        sources.append(np.moveaxis(src, -1, 0))
        tgt = to_network(np.asarray(data.target[s][..., keep]), target)
        targets.append(np.moveaxis(tgt, -1, 0))
        subjects.append(np.full(len(keep), s))
    source = np.concatenate(sources)
    if len(source) == 0:
        raise ValueError(f"no training slice has at least {min_head_fraction:g} head voxels")
    return SliceSet(np.ascontiguousarray(source), np.ascontiguousarray(np.concatenate(targets)),
                    np.concatenate(subjects))


@dataclass(frozen=True)
class Validation:
    """The validation subjects, whole: network-range source, target on its own
    scale, head mask."""

    cases: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    target_contrast: str

    @classmethod
    def of(cls, data: TrainingData) -> Validation:
        contrasts = data.condition.source_channels
        n_val = data.val_source.shape[0] if data.val_source.ndim == 5 else 0
        cases = [(network_source(np.asarray(data.val_source[s]), contrasts),
                  np.asarray(data.val_target[s, 0]), np.asarray(data.val_mask[s, 0], bool))
                 for s in range(n_val)]
        return cls(cases, data.condition.target)

    def score(self, predict: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
        """Mean absolute error inside the head on the target's scale (HU for CT),
        averaged over subjects, and the smallest spread (see
        :func:`validation_scores`); `predict` maps a (C, x, y, z) network-range
        source to a network-range (x, y, z) prediction."""
        return validation_scores(
            [(from_network(predict(source), self.target_contrast), target, mask)
             for source, target, mask in self.cases])


def validation_scores(cases) -> dict[str, float]:
    """``mae``: mean absolute error inside the head, averaged over the
    (prediction, target, head mask) cases; ``spread`` (``train.SPREAD``): the
    smallest prediction-to-target spread ratio, which tells the loop that a
    model collapsed. Empty without cases."""
    if not cases:
        return {}
    errors = [metrics.mae(pred, target, mask) for pred, target, mask in cases]
    spreads = [metrics.spread_ratio(pred, target, mask) for pred, target, mask in cases]
    return {"mae": float(np.mean(errors)), train.SPREAD: float(min(spreads))}


def model_record(params: dict, data: TrainingData) -> dict:
    """What params.json keeps of a 2D model: its settings and the mapping it learnt."""
    return {**params, "in_channels": data.in_channels,
            "source_contrasts": list(data.condition.source_channels),
            "target_contrast": data.condition.target}


def model_params(case: Case, model_dir: Path | None, method: str) -> dict:
    """The params.json of a trained 2D model that is to predict `case` on its own grid."""
    if model_dir is None:
        raise ValueError(f"{method} is trained: predict needs its model_dir")
    if not case.same_grid:
        raise ValueError(f"subject {case.subject}: source is not on the target grid")
    return train.load_params(model_dir)


def trained_record(case: Case, model_dir: Path | None, method: str) -> dict:
    """The params.json of a trained 2D model, checked against the case it is to predict."""
    record = model_params(case, model_dir, method)
    contrasts = list(case.condition.source_channels)
    if contrasts != record["source_contrasts"] or case.condition.target != record["target_contrast"]:
        raise ValueError(f"{model_dir}: model maps {record['source_contrasts']} to "
                         f"{record['target_contrast']}, not {contrasts} to {case.condition.target}")
    return record


def run_slice_training(build: Callable[[train.Runtime], train.TrainableModel], method: str,
                       data: TrainingData, params: dict, record: dict, model_dir: Path,
                       seed: int, threads: int, state_dir: Path | None) -> None:
    """The generic loop with a 2D method's schedule keys (iterations, log_every,
    checkpoint_every, val_every), after checking there is something to train on."""
    if data.source.ndim != 5 or data.source.shape[0] == 0:
        raise ValueError(f"{method} needs at least one training subject")
    train.run_training(build, name=f"{method} {data.condition.task}/{data.condition.name}",
                       iterations=params["iterations"], model_dir=model_dir,
                       params=record, seed=seed, threads=threads, state_dir=state_dir,
                       checkpoint_every=params["checkpoint_every"],
                       log_every=params["log_every"], val_every=params["val_every"])


def load_network(net: torch.nn.Module, model_dir: Path, name: str,
                 runtime: train.Runtime) -> torch.nn.Module:
    """`net` with the weights model.pt holds under `name`, on the runtime's device."""
    net.load_state_dict(train.load_modules(model_dir, runtime.device)[name])
    return runtime.module(net)
