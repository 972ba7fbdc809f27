"""Derive a task's inputs from the preprocessed images: pick the source and
target contrasts, apply the task's degradation (Rician noise, thick slices,
another site's scanner), and put target, masks and labels on one grid.

Writes the files described in :mod:`medsynth.case` for every subject.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medsynth import io
from medsynth.case import input_path
from medsynth.data.bids import anat_path
from medsynth.preprocess.degrade import (
    THICK_SLICE_AXIS,
    add_rician_noise,
    noise_reference,
    simulate_thick_slices,
)
from medsynth.preprocess.pipeline import preproc_path
from medsynth.preprocess.resample import resample_to_grid
from medsynth.seeding import subject_rng
from medsynth.tasks import Condition


def noise_rng(seed: int, subject: str, percent: float) -> np.random.Generator:
    """A generator fixed by run seed, subject and noise level, so each noisy
    image is reproducible on its own, whatever order jobs run in."""
    return subject_rng(seed, subject, round(percent * 1000))


def derive_subject(cond: Condition, subject: str, raw_root, preproc_root, out_dir, seed: int) -> None:
    """Write one subject's source channels, target, masks and labels for a condition."""
    site = cond.source_site
    mask, grid_affine = io.load_array(preproc_path(preproc_root, subject, "head_mask", site))
    grid = (mask.shape, grid_affine)

    def on_grid(path: Path, order: int) -> np.ndarray:
        data, affine = io.load_array(path)
        if io.same_grid((data.shape, affine), grid):
            return data
        return resample_to_grid(data, affine, mask.shape, grid_affine, order=order)

    def save(role: str, data: np.ndarray, affine=grid_affine, dtype=np.float32) -> None:
        io.save_volume(input_path(out_dir, subject, role), data, affine, dtype=dtype)

    sources = {c: on_grid(preproc_path(preproc_root, subject, c, site), 1)
               for c in cond.source_channels}
    if cond.target == "CT":
        target = on_grid(anat_path(raw_root, subject, "CT"), 1)
    else:
        target = on_grid(preproc_path(preproc_root, subject, cond.target, cond.target_site), 1)

    primary = cond.source_channels[0]
    if cond.noise_percent is not None:
        reference = noise_reference(sources[primary], mask > 0.5)
        sources[primary] = add_rician_noise(sources[primary], cond.noise_percent, reference,
                                            noise_rng(seed, subject, cond.noise_percent))
    if cond.thickness_mm is not None:
        thick, thick_affine = simulate_thick_slices(sources[primary], grid_affine, cond.thickness_mm,
                                                    axis=THICK_SLICE_AXIS, spacing_mm=cond.spacing_mm)
        save(f"source-{primary}", thick, thick_affine)
        sources.pop(primary)
    for contrast, data in sources.items():
        save(f"source-{contrast}", data)
    save("target", target)
    save("mask", mask, dtype=np.uint8)
    save("brainmask", on_grid(preproc_path(preproc_root, subject, "brain_mask"), 0), dtype=np.uint8)
    labels = anat_path(raw_root, subject, "dseg")
    if labels.exists():  # ground truth where the dataset has it; Dice falls back otherwise
        save("dseg", on_grid(labels, 0), dtype=np.uint8)


def derive_task_inputs(cond: Condition, subjects: list[str], raw_root, preproc_root,
                       out_dir, seed: int) -> None:
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for subject in subjects:
        derive_subject(cond, subject, raw_root, preproc_root, out_dir, seed)
