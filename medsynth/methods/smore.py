"""SMORE: self-supervised anti-aliasing and super-resolution of thick-slice MRI
(Zhao et al., IEEE TMI 40(3):805-817, 2021; first as Zhao et al., MICCAI
2018 / Magn Reson Imaging 64, 2019).

SMORE needs no training set: the in-plane slices of a thick-slice scan are
high-resolution, so degrading them along one in-plane axis with the
acquisition's own slice model gives training pairs from the scan itself
(:mod:`medsynth.methods.smore_pairs`). A network trained on them is applied to
the through-plane slices of the scan, interpolated onto the fine grid, in
both through-plane orientations, and the two results are fused by Fourier
burst accumulation (:mod:`medsynth.methods.fourier_fusion`). Every test
volume gets its own training: in the workflow one job per subject and slice
thickness (rule ``self_supervised``).

Stages. ``anti_aliasing: auto`` adds the anti-aliasing network (SAA) in
front of the super-resolution network (SSR) when the slices have gaps
(spacing > thickness), the 2D-acquisition case of the paper; ``on``/``off``
force it. Each stage trains EDSR (:mod:`medsynth.methods.edsr`, the network
SMORE uses) with EDSR's L1 loss and Adam settings on random patches.

Paper preset: EDSR's large model (32 residual blocks, 256 features, residual
scaling 0.1), EDSR's 48-pixel patches, batch 16 and learning rate 1e-4; the
rotations 0/45/90/135 degrees; the iteration count per volume is ours.
Simplifications, stated: the slice profile is the Gaussian the suite
simulates with (SMORE's own model; the 2021 paper also handles a measured
profile), and the whole through-plane slices go through the network at once
instead of in patches.

Intensities are divided by the 99th percentile of the volume's positive
voxels before training and multiplied back after, so raw scans and the
suite's normalised images alike reach the network at about [0, 1].

Model files: ``<model_dir>/<stage>/`` (``ssr``, and ``saa`` when used) with
the generic loop's model.pt, params.json, loss.csv and loss.png. Stages train
into the resumable ``state_dir`` first; a stage found finished there is not
trained again when a job is restarted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medsynth import io, train
from medsynth.case import Case
from medsynth.infer import predict_slices
from medsynth.methods import smore_pairs
from medsynth.methods.edsr import EDSR
from medsynth.methods.fourier_fusion import fourier_burst_accumulation
from medsynth.methods.smore_pairs import PatchPairs, SliceModel
from medsynth.preprocess.degrade import THICK_SLICE_AXIS
from medsynth.preprocess.resample import resample_to_grid

DEFAULTS = {
    "residual_blocks": 32,  # EDSR (Lim et al. 2017), the large model
    "features": 256,
    "res_scale": 0.1,
    "patch_size": 48,  # EDSR's training patches, batch and learning rate
    "batch_size": 16,
    "lr": 1e-4,
    "iterations": 20000,  # ours: SMORE trains per volume
    "rotations_deg": [0, 45, 90, 135],
    "anti_aliasing": "auto",  # auto: only for slices with gaps; on | off
    "fusion_power": 11.0,  # Delbracio & Sapiro 2015
    "min_foreground": 0.25,  # patches need this fraction of head in their target
    "cpu_bf16": False,  # bfloat16 autocast of the training steps on a CPU (train.Runtime)
    "log_every": 100,
    "checkpoint_every": 1000,
    "infer_batch_size": 8,
}
ANTI_ALIASING = ("auto", "on", "off")
MODEL_FILES = (train.MODEL, train.PARAMS, train.LOSS_CSV, train.LOSS_PNG)


class PatchRegression(train.TrainableModel):
    """One SMORE stage: EDSR fitted to patch pairs with the L1 loss."""

    def __init__(self, runtime: train.Runtime, params: dict, pairs: PatchPairs):
        super().__init__(runtime)
        self.params, self.pairs = params, pairs
        self.net = runtime.module(network(params))
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=params["lr"],
                                          betas=(0.9, 0.999), eps=1e-8)

    def modules(self) -> dict[str, nn.Module]:
        return {"edsr": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer}

    def sample_batch(self, rng: np.random.Generator):
        return self.pairs.sample(rng, self.params["batch_size"])

    def train_step(self, batch) -> dict[str, float]:
        source, target = (self.runtime.tensor(a) for a in batch)
        with self.runtime.autocast():
            pred = self.net(source)
        loss = nn.functional.l1_loss(pred.float(), target)
        self.runtime.optimize(self.optimizer, loss)
        return {"l1": float(loss.detach())}


def network(params: dict) -> EDSR:
    return EDSR(params["residual_blocks"], params["features"], params["res_scale"])


def intensity_scale(volume: np.ndarray) -> float:
    """The 99th percentile of the positive voxels: what maps the scan to ~[0, 1]."""
    volume = np.asarray(volume)
    positive = volume[volume > 0]
    if positive.size == 0:
        raise ValueError("the thick-slice volume has no positive voxel to learn from")
    return float(np.percentile(positive, 99))


def uses_anti_aliasing(setting: str, model: SliceModel) -> bool:
    if setting not in ANTI_ALIASING:
        raise ValueError(f"smore: anti_aliasing must be one of {', '.join(ANTI_ALIASING)}, "
                         f"got {setting!r}")
    return setting == "on" or (setting == "auto" and model.has_gaps)


def through_plane_axis(affine: np.ndarray) -> int:
    """The axis whose voxels are strictly the longest: the thick-slice direction."""
    sizes = io.voxel_sizes(affine)
    axis = int(np.argmax(sizes))
    if np.sum(np.isclose(sizes, sizes[axis], rtol=0.01)) > 1:
        raise ValueError(f"voxel sizes {np.round(sizes, 3).tolist()} mm have no single "
                         "longest axis; name the thick-slice axis")
    return axis


def fine_grid(shape, affine: np.ndarray, axis: int) -> tuple[tuple[int, ...], np.ndarray]:
    """The isotropic grid at the in-plane voxel size over the scan's field of view
    (the field of view along `axis` is slices x spacing, centred as acquired)."""
    pixel = in_plane_pixel(affine, axis)
    spacing = float(io.voxel_sizes(affine)[axis])
    n_fine = int(np.floor(shape[axis] * spacing / pixel + 1e-6))
    fine_shape = list(shape)
    fine_shape[axis] = n_fine
    fine_affine = np.array(affine, dtype=np.float64)
    fine_affine[:3, axis] = affine[:3, axis] * (pixel / spacing)
    # voxel 0 of the fine grid: half a fine voxel inside the start of the field of view
    start = -spacing / 2 + (shape[axis] * spacing - n_fine * pixel) / 2 + pixel / 2
    fine_affine[:3, 3] = affine[:3, 3] + affine[:3, axis] * (start / spacing)
    return tuple(fine_shape), fine_affine


def in_plane_pixel(affine: np.ndarray, axis: int) -> float:
    """The in-plane voxel size; SMORE rotates in-plane slices, so pixels must be square."""
    sizes = np.delete(io.voxel_sizes(affine), axis)
    if not np.isclose(sizes[0], sizes[1], rtol=0.01):
        raise ValueError(f"in-plane voxels are {sizes[0]:.3f} x {sizes[1]:.3f} mm; SMORE needs "
                         "square in-plane voxels (resample in-plane first)")
    return float(sizes.mean())


def _check_fine_grid(thick_affine, axis, pixel, out_shape, out_affine) -> None:
    """The network works in in-plane pixels: the output grid must be isotropic at
    that size, with its `axis` along the thick-slice direction."""
    sizes = io.voxel_sizes(out_affine)
    if not np.allclose(sizes, pixel, rtol=0.01):
        raise ValueError(f"output grid voxels {np.round(sizes, 3).tolist()} mm are not the "
                         f"in-plane size {pixel:.3f} mm in every direction")
    direction = thick_affine[:3, axis] / np.linalg.norm(thick_affine[:3, axis])
    if abs(np.dot(direction, out_affine[:3, axis] / sizes[axis])) < 0.999:
        raise ValueError(f"output grid axis {axis} is not along the thick-slice direction")


def apply_through_plane(net: nn.Module, volume: np.ndarray, axis: int, in_plane_axis: int,
                        runtime: train.Runtime, batch_size: int) -> np.ndarray:
    """Run a stage network over the planes spanned by (`axis`, `in_plane_axis`),
    the thick direction first, as the network was trained (the suite's slice-wise
    inference over the remaining axis; EDSR needs no padding)."""
    planes = np.moveaxis(np.asarray(volume, np.float32), (axis, in_plane_axis), (0, 1))
    out = predict_slices(net, planes[None], batch_size, runtime.device, pad_multiple=1)
    return np.moveaxis(out, (0, 1), (axis, in_plane_axis))


def _train_stage(role: str, slices: np.ndarray, pixel: float, model: SliceModel, params: dict,
                 stage_dir: Path, seed: int, threads: int) -> nn.Module:
    """Train (or find trained in `stage_dir`) one stage network and load it."""
    record = {**params, "role": role, "thickness_mm": model.thickness_mm,
              "spacing_mm": model.spacing_mm, "pixel_mm": pixel}
    if not train.trained_with(stage_dir, record, seed):
        inputs, targets = smore_pairs.training_pairs(slices, pixel, model,
                                                     params["rotations_deg"], role)
        pairs = PatchPairs.build(inputs, targets, params["patch_size"], params["min_foreground"])
        train.run_training(lambda runtime: PatchRegression(runtime, params, pairs),
                           name=f"smore {role} network ({stage_dir})", iterations=params["iterations"], model_dir=stage_dir, params=record,
                           seed=seed, threads=threads, checkpoint_every=params["checkpoint_every"],
                           log_every=params["log_every"])
    runtime = train.Runtime.create()
    net = network(params)
    net.load_state_dict(train.load_modules(stage_dir, runtime.device)["edsr"])
    return runtime.module(net)


def super_resolve(thick: np.ndarray, thick_affine: np.ndarray, model: SliceModel, axis: int,
                  out_shape, out_affine: np.ndarray, params: dict, work_dir: Path, seed: int,
                  threads: int) -> tuple[np.ndarray, list[str]]:
    """Train SMORE on `thick` and resolve it onto (`out_shape`, `out_affine`).

    Returns the prediction and the stages trained (their folders in `work_dir`).
    """
    params = train.merge_params(DEFAULTS, params, "smore")
    torch.set_num_threads(threads)
    thick = np.asarray(thick, dtype=np.float32)
    if thick.ndim != 3:
        raise ValueError(f"SMORE expects a 3D volume, got shape {thick.shape}")
    spacing = float(io.voxel_sizes(thick_affine)[axis])
    if not np.isclose(spacing, model.spacing_mm, rtol=0.01):
        raise ValueError(f"slice spacing in the header is {spacing:.3f} mm, the slice model "
                         f"says {model.spacing_mm:.3f} mm")
    pixel = in_plane_pixel(thick_affine, axis)
    _check_fine_grid(thick_affine, axis, pixel, out_shape, np.asarray(out_affine))
    scale = intensity_scale(thick)
    scaled = thick / scale
    slices = smore_pairs.in_plane_slices(scaled, axis)

    work_dir = Path(work_dir)
    stages = ["saa", "ssr"] if uses_anti_aliasing(params["anti_aliasing"], model) else ["ssr"]
    roles = {"saa": "aa", "ssr": "sr_after_aa" if "saa" in stages else "sr"}
    nets = [_train_stage(roles[s], slices, pixel, model, params, work_dir / s, seed, threads)
            for s in stages]

    runtime = train.Runtime.create()
    interpolated = resample_to_grid(scaled, thick_affine, tuple(out_shape), out_affine, order=3)
    results = []
    for in_plane_axis in (a for a in range(3) if a != axis):
        volume = interpolated
        for net in nets:
            volume = apply_through_plane(net, volume, axis, in_plane_axis, runtime,
                                         params["infer_batch_size"])
        results.append(volume)
    fused = fourier_burst_accumulation(results, power=params["fusion_power"])
    return fused * np.float32(scale), stages


def fit_predict(case: Case, params: dict, model_dir: Path, state_dir: Path, seed: int,
                threads: int) -> np.ndarray:
    """The workflow's self-supervised step: train on the case's thick slices
    (along the suite's thick-slice axis) and resolve them onto the target grid;
    the stage models end up in `model_dir`."""
    if case.condition.thickness_mm is None:
        raise ValueError(f"smore solves superres; condition {case.condition.name} has no "
                         "slice thickness")
    axis = THICK_SLICE_AXIS
    model = SliceModel(case.condition.thickness_mm,
                       case.condition.spacing_mm or case.condition.thickness_mm)
    pred, stages = super_resolve(case.source[0], case.source_affine, model, axis,
                                 case.target_shape, case.target_affine, params, Path(state_dir),
                                 seed, threads)
    for stage in stages:
        (Path(model_dir) / stage).mkdir(parents=True, exist_ok=True)
        for name in MODEL_FILES:
            shutil.copy2(Path(state_dir) / stage / name, Path(model_dir) / stage / name)
    return pred


def super_resolve_file(in_path, out_path, params: dict, thickness_mm: float | None = None,
                       axis: int | None = None, seed: int = 42, threads: int = 1,
                       work_dir=None) -> Path:
    """Resolve one thick-slice NIfTI onto the isotropic grid of its in-plane voxels.

    The thick axis defaults to the one with the longest voxels and the slice
    thickness to the spacing (no gap: NIfTI headers do not record thickness).
    Training state goes to `work_dir` (default ``<out_path>.smore-work``) so
    an interrupted run resumes, and is removed once the output is written.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    if out_path.exists():
        raise FileExistsError(f"{out_path} exists; SMORE does not overwrite files")
    img = io.load_volume(in_path)
    data = np.asarray(img.dataobj, dtype=np.float32)
    try:
        axis = through_plane_axis(img.affine) if axis is None else axis
        spacing = float(io.voxel_sizes(img.affine)[axis])
        model = SliceModel(thickness_mm or spacing, spacing)
        out_shape, out_affine = fine_grid(data.shape, img.affine, axis)
    except ValueError as err:
        raise io.InputError(in_path, str(err)) from err
    work_dir = Path(work_dir) if work_dir else out_path.with_name(out_path.name + ".smore-work")
    pred, _ = super_resolve(data, img.affine, model, axis, out_shape, out_affine, params,
                            work_dir, seed, threads)
    io.save_volume(out_path, pred, out_affine)
    shutil.rmtree(work_dir, ignore_errors=True)
    return out_path
