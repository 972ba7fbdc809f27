"""What a method sees: one test subject's source channels and target grid,
and the training set of a task/condition as memory-mapped arrays.

Task inputs live in ``<task>/<condition>/inputs/`` with one file per role:
``sub-<id>_source-<contrast>.nii.gz`` for each source channel (primary first),
``sub-<id>_target.nii.gz``, ``sub-<id>_mask.nii.gz`` (head),
``sub-<id>_brainmask.nii.gz`` and, where ground truth exists,
``sub-<id>_dseg.nii.gz``; all but the sources are on the target grid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsynth import io
from medsynth.tasks import Condition, contrast_conditions


def input_path(inputs_dir: str | Path, subject: str, role: str) -> Path:
    """Path of one task-input file, e.g. role ``source-T1w``, ``target``, ``mask``."""
    return Path(inputs_dir) / f"sub-{subject}_{role}.nii.gz"


@dataclass
class Case:
    """One subject as a method receives it: never the target image itself."""

    subject: str
    condition: Condition
    source: np.ndarray  # (channels, x, y, z) float32 on the source grid
    source_affine: np.ndarray
    target_shape: tuple[int, int, int]
    target_affine: np.ndarray
    head_mask: np.ndarray  # bool, target grid
    brain_mask: np.ndarray  # bool, target grid

    @property
    def same_grid(self) -> bool:
        return io.same_grid((self.source.shape[1:], self.source_affine),
                            (self.target_shape, self.target_affine))


def load_case(inputs_dir: str | Path, subject: str, condition: Condition) -> Case:
    """Read a subject's source channels and masks, checking their grids agree."""
    channels, affine, first = [], None, None
    for contrast in condition.source_channels:
        path = input_path(inputs_dir, subject, f"source-{contrast}")
        img = io.load_volume(path)
        if first is None:
            first, affine = (path, img), img.affine
        else:
            io.require_same_grid(path, img, *first)
        channels.append(np.asarray(img.dataobj, dtype=np.float32))
    mask_path = input_path(inputs_dir, subject, "mask")
    head = io.load_volume(mask_path)
    brain_path = input_path(inputs_dir, subject, "brainmask")
    brain = io.load_volume(brain_path)
    io.require_same_grid(brain_path, brain, mask_path, head)
    return Case(
        subject=subject,
        condition=condition,
        source=np.stack(channels),
        source_affine=affine,
        target_shape=tuple(head.shape),
        target_affine=head.affine.copy(),
        head_mask=np.asarray(head.dataobj) > 0.5,
        brain_mask=np.asarray(brain.dataobj) > 0.5,
    )


ARRAY_ROLES = ("source", "target", "mask")
# The training grid (shape, and the first training subject's affine) beside the
# arrays, which carry no geometry: a model folder records it for `medsynth apply`.
GRID_FILE = "grid.json"


def array_path(arrays_dir: str | Path, split: str, role: str) -> Path:
    return Path(arrays_dir) / f"{split}_{role}.npy"


def extract_arrays(inputs_dir, subjects_by_split: dict[str, list[str]],
                   condition: Condition, arrays_dir, misregistration: dict | None = None,
                   seed: int = 0) -> None:
    """Decode a task's training and validation volumes once into .npy stacks.

    Shapes: source (S, C, x, y, z), target and mask (S, 1, x, y, z). All
    subjects must share the target grid, and sources must be on it: a task whose
    source lives on another grid (super-resolution) has no cross-subject training.
    The first training subject's grid is written to ``grid.json``.
    `misregistration` (see :mod:`medsynth.preprocess.misregister`) moves each
    subject's source by its own seeded rigid error; only these arrays carry it.
    """
    from medsynth.preprocess.misregister import misregister  # scipy.ndimage: not for infer jobs

    grid = None
    for split, subjects in subjects_by_split.items():
        stacks: dict[str, list[np.ndarray]] = {role: [] for role in ARRAY_ROLES}
        reference = None
        for subject in subjects:
            case = load_case(inputs_dir, subject, condition)
            target_path = input_path(inputs_dir, subject, "target")
            target = io.load_volume(target_path)
            io.require_same_grid(target_path, target, input_path(inputs_dir, subject, "mask"),
                                 (case.target_shape, case.target_affine))
            if not case.same_grid:
                raise io.InputError(
                    input_path(inputs_dir, subject, f"source-{condition.source_channels[0]}"),
                    "source is not on the target grid; this task cannot train across subjects",
                )
            if reference is None:
                reference = (target_path, target)
            elif tuple(target.shape) != tuple(reference[1].shape):
                raise io.InputError(target_path, f"shape {target.shape} differs from "
                                    f"{reference[0]} {reference[1].shape}; resample to one grid first")
            source = case.source
            if misregistration is not None:
                source = misregister(source, io.voxel_sizes(case.target_affine), seed, subject,
                                     misregistration)
            stacks["source"].append(source)
            stacks["target"].append(np.asarray(target.dataobj, dtype=np.float32)[None])
            stacks["mask"].append(case.head_mask[None].astype(np.uint8))
            if grid is None and split == "train":
                grid = {"shape": list(case.target_shape), "affine": case.target_affine.tolist()}
        for role, arrays in stacks.items():
            with io.atomic_path(array_path(arrays_dir, split, role)) as tmp:
                with open(tmp, "wb") as handle:
                    np.save(handle, np.stack(arrays) if arrays else np.zeros((0,), np.float32))
    if grid is not None:
        with io.atomic_path(Path(arrays_dir) / GRID_FILE) as tmp:
            tmp.write_text(json.dumps(grid) + "\n")


def training_grid(arrays_dir: str | Path) -> dict:
    """The ``grid.json`` of a training set: ``shape`` and ``affine`` (4 x 4 lists)."""
    path = Path(arrays_dir) / GRID_FILE
    if not path.exists():
        raise io.InputError(path, "missing: these arrays were extracted before medsynth kept "
                            "their grid; delete the arrays folder and extract them again")
    return json.loads(path.read_text())


@dataclass
class TrainingData:
    """Memory-mapped training and validation stacks of one task/condition."""

    condition: Condition
    source: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    val_source: np.ndarray
    val_target: np.ndarray
    val_mask: np.ndarray

    @classmethod
    def load(cls, arrays_dir: str | Path, condition: Condition) -> TrainingData:
        def read(split, role):
            return np.load(array_path(arrays_dir, split, role), mmap_mode="r")

        return cls(condition, *(read("train", r) for r in ARRAY_ROLES),
                   *(read("val", r) for r in ARRAY_ROLES))

    @classmethod
    def pooled(cls, arrays_dirs, condition: Condition) -> TrainingData:
        """Several conditions' training sets as one (e.g. every noise level), in memory."""
        parts = [cls.load(d, condition) for d in arrays_dirs]
        if not parts:
            raise ValueError("pooling needs at least one training set")
        stacks = [np.concatenate([np.asarray(getattr(p, f)) for p in parts])
                  for f in ("source", "target", "mask", "val_source", "val_target", "val_mask")]
        return cls(condition, *stacks)

    @classmethod
    def all_contrasts(cls, arrays_dirs, condition: Condition) -> TrainingData:
        """One training set with every contrast as a target (an all-contrasts
        harmonize condition, :func:`medsynth.tasks.all_contrasts_condition`), in
        memory, from the one-contrast conditions' arrays given in its output order.

        Those conditions hold the same site-A sources (their primary contrast
        first) and differ in their site-B target: the sources are taken from the
        first, reordered to `condition`'s channels, and the targets stacked as
        channels, shapes source (S, C, x, y, z) and target (S, K, x, y, z).
        """
        arrays_dirs = list(arrays_dirs)
        parts = contrast_conditions(condition)
        if len(arrays_dirs) != len(parts):
            raise ValueError(f"{condition.name}: {len(parts)} contrasts "
                             f"({', '.join(condition.targets)}) need as many training sets, "
                             f"got {len(arrays_dirs)}")
        loaded = [cls.load(d, c) for d, c in zip(arrays_dirs, parts, strict=True)]
        first = loaded[0]
        order = [first.condition.source_channels.index(c) for c in condition.source_channels]

        def sources(array):
            return np.asarray(array)[:, order] if np.ndim(array) == 5 else np.asarray(array)

        def targets(role):
            stacks = [np.asarray(getattr(p, role)) for p in loaded]
            if stacks[0].ndim != 5:  # no validation subjects
                return stacks[0]
            for d, stack in zip(arrays_dirs, stacks, strict=True):
                if stack.shape != stacks[0].shape:
                    raise ValueError(f"{d}: {role} {stack.shape} differs from "
                                     f"{arrays_dirs[0]}'s {stacks[0].shape}; extract the "
                                     "contrasts' arrays from one split")
            return np.concatenate(stacks, axis=1)

        return cls(condition, sources(first.source), targets("target"), np.asarray(first.mask),
                   sources(first.val_source), targets("val_target"), np.asarray(first.val_mask))

    @property
    def in_channels(self) -> int:
        return int(self.source.shape[1])

    @property
    def out_channels(self) -> int:
        return int(self.target.shape[1])
