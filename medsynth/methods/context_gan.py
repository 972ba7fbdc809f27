"""``context_gan``: the context-aware GAN of Nie, Trullo, Lian, Petitjean,
Ruan, Wang & Shen ("Medical image synthesis with context-aware generative
adversarial networks", MICCAI 2017; extended as "Medical image synthesis with
deep convolutional adversarial networks", IEEE Trans Biomed Eng 65(12), 2018).

Generator (:class:`ContextFCN`): a 3D fully convolutional network that maps
a source patch to a smaller target patch at its centre. As in the authors'
released 3D code (github.com/ginobilinie/medSynthesis, 3dganversion): eight
convolutions with batch normalisation and ReLU, kernels 9, 3, 3, 3, 9, 3, 3, 3
and widths 32, 32, 32, 32, 64, 64, 64, 32, then a linear 3x3x3 convolution to
one channel. The 9x9x9 layers are not padded, the 3x3x3 ones are: a 32^3
source patch gives the 16^3 target patch. Rule here: layers of kernel 3 (or 1)
keep their size, larger ones shrink it by kernel - 1, so the source margin is
the sum of (kernel - 1) / 2 over the larger ones.

Discriminator (:class:`Discriminator3D`): the paper's plain CNN on a target
patch, real or synthetic: three convolutions (5, 3, 3; 32, 64, 128 channels),
each with ReLU and 2x max pooling, then fully connected layers of 512 and 128
units and one logit.

Objective: the generator minimises lambda_adv * BCE(D(G(x)), real) +
lambda_rec * ||Y - G(x)||^2 + lambda_gdl * GDL(Y, G(x)) with the paper's
weights 0.5, 1 and 1; the discriminator the binary cross-entropy of real
against synthetic patches. The image gradient difference loss
(:func:`gradient_difference_loss`) compares the magnitudes of the voxel
differences along each axis, raised to alpha = 2, so that edges the L2 term
would blur count. Ours, stated: every term is a mean over voxels (the
paper's sums scale with the patch size), and the optimiser is Adam (the
released FCN code trains with SGD and momentum at a learning rate tuned for
raw intensities; ours are in [-1, 1], ``medsynth.methods.intensity``).

Auto-context: a cascade of ``n_stages`` generators (each with its own
discriminator). Stage 1 sees the source channels; stage k > 1 sees them
together with stage k - 1's synthesis as one more channel. Stage k trains on
what the stages before it synthesise on the *training* subjects, computed
once after stage k - 1 is trained, by the same tiled inference used at test
time: no test volume enters training. The paper does not fix the number of
stages in the text we could check; we take 3 (``n_stages``), and params.json
records it. ``use_stages`` predicts with only the first k stages, to measure
what each stage adds.

Inference (:func:`medsynth.infer.predict_tiles`): overlapping target-sized
tiles every ``infer_step`` voxels cover the volume, each from its source
patch with the margin of mirrored context at the borders, and overlaps are
averaged, as in the released test code; the result lies on the target grid.

Files: ``params.json`` (the settings and ``n_stages``), ``stage-<k>/`` with
each stage's ``model.pt``, ``params.json`` and loss log, and a ``loss.csv``
and ``loss.png`` of the whole cascade (stage k's iterations follow stage
k - 1's; validation MAE per stage). Resuming: a finished stage is kept in the
state folder and not retrained; an interrupted one resumes from its
checkpoint (:func:`medsynth.train.run_training`).
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medsynth import io, train
from medsynth.case import Case, TrainingData
from medsynth.infer import predict_tiles
from medsynth.methods import gan_parts
from medsynth.methods.intensity import from_network, to_network
from medsynth.methods.patches import VolumePatches
from medsynth.methods.slices import (
    Validation,
    load_network,
    model_record,
    network_source,
    trained_record,
)

log = logging.getLogger(__name__)

DEFAULTS = {
    "widths": [32, 32, 32, 32, 64, 64, 64, 32],  # released 3D code (module docstring)
    "kernels": [9, 3, 3, 3, 9, 3, 3, 3, 3],  # one more than widths: the output layer
    "patch_size": [16, 16, 16],  # target patch; the source patch adds the margin (32^3)
    "discriminator_widths": [32, 64, 128],
    "discriminator_kernels": [5, 3, 3],
    "discriminator_fc": [512, 128],
    "lambda_adversarial": 0.5,  # the paper's weights
    "lambda_reconstruction": 1.0,
    "lambda_gdl": 1.0,
    "gdl_alpha": 2.0,
    "n_stages": 3,  # auto-context stages (module docstring)
    "min_head_fraction": 0.3,  # ours: patches mostly of air teach only the background
    "batch_size": 10,  # released code
    "lr": 1e-4,  # ours (module docstring)
    "betas": [0.5, 0.999],
    "iterations": 50000,  # per stage; ours
    "cpu_bf16": False,  # bfloat16 autocast of the training steps on a CPU (train.Runtime)
    "log_every": 100,
    "checkpoint_every": 1000,
    "val_every": 10000,
    "infer_tile": [16, 16, 16],  # output tile at inference: the training patch
    "infer_step": [8, 8, 8],  # ours: half a tile
    "infer_batch_size": 8,
    "use_stages": None,  # predict with the first k stages only; None: all
}


def _padding(kernel: int) -> int:
    """3x3x3 (and 1x1x1) layers keep their size; larger kernels are unpadded."""
    return kernel // 2 if kernel <= 3 else 0


def source_margin(kernels) -> int:
    """Voxels of source context the generator consumes on each side."""
    return sum((k - 1) // 2 for k in kernels if _padding(k) == 0)


class ContextFCN(nn.Module):
    """The generator: a source patch to the target patch at its centre."""

    def __init__(self, in_channels: int, widths, kernels):
        super().__init__()
        widths, kernels = list(widths), list(kernels)
        if len(kernels) != len(widths) + 1 or any(k % 2 == 0 for k in kernels):
            raise ValueError(f"need one odd kernel per width plus one for the output layer, "
                             f"got widths {widths} and kernels {kernels}")
        layers: list[nn.Module] = []
        for c_in, c_out, k in zip([in_channels, *widths[:-1]], widths, kernels, strict=False):
            layers += [nn.Conv3d(c_in, c_out, k, padding=_padding(k)), nn.BatchNorm3d(c_out),
                       nn.ReLU(inplace=True)]
        layers.append(nn.Conv3d(widths[-1], 1, kernels[-1], padding=_padding(kernels[-1])))
        self.net = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.margin = source_margin(kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Discriminator3D(nn.Module):
    """Convolutions with ReLU and 2x max pooling, then fully connected layers to a logit."""

    def __init__(self, patch, widths, kernels, fc):
        super().__init__()
        size = np.asarray(patch, int) // 2 ** len(widths)
        if len(widths) != len(kernels) or (size < 1).any():
            raise ValueError(f"discriminator: {len(widths)} poolings do not fit a {list(patch)} "
                             f"patch, or widths {list(widths)} and kernels {list(kernels)} differ")
        layers: list[nn.Module] = []
        for c_in, c_out, k in zip([1, *widths[:-1]], widths, kernels, strict=True):
            layers += [nn.Conv3d(c_in, c_out, k, padding=k // 2), nn.ReLU(inplace=True),
                       nn.MaxPool3d(2)]
        layers.append(nn.Flatten())
        features = int(widths[-1] * size.prod())
        for units in fc:
            layers += [nn.Linear(features, units), nn.ReLU(inplace=True)]
            features = units
        layers.append(nn.Linear(features, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def gradient_difference_loss(fake: torch.Tensor, real: torch.Tensor,
                             alpha: float = 2.0) -> torch.Tensor:
    """GDL: over the spatial axes of (B, C, x, y, z) batches, the mean of
    | |real_i - real_(i-1)| - |fake_i - fake_(i-1)| | ** alpha, summed over axes
    (axes of length one have no differences and add nothing)."""
    total = fake.new_zeros(())
    for axis in range(2, fake.ndim):
        if fake.shape[axis] < 2:
            continue
        difference = real.diff(dim=axis).abs() - fake.diff(dim=axis).abs()
        total = total + difference.abs().pow(alpha).mean()
    return total


class ContextGanStage(train.TrainableModel):
    """One stage of the cascade: its generator and discriminator on 3D patches."""

    def __init__(self, runtime: train.Runtime, params: dict, source: np.ndarray,
                 target: np.ndarray, mask: np.ndarray,
                 validate: Callable[[nn.Module], dict[str, float]]):
        super().__init__(runtime)
        self.params = params
        self.generator = runtime.module(ContextFCN(source.shape[1], params["widths"],
                                                   params["kernels"]))
        self.patches = VolumePatches.build(source, target, mask, params["patch_size"],
                                           params["min_head_fraction"], self.generator.margin)
        self.discriminator = runtime.module(Discriminator3D(
            params["patch_size"], params["discriminator_widths"],
            params["discriminator_kernels"], params["discriminator_fc"]))
        betas = tuple(params["betas"])
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=params["lr"], betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=params["lr"],
                                      betas=betas)
        self._validate = validate

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def sample_batch(self, rng: np.random.Generator):
        return self.patches.sample(rng, self.params["batch_size"])

    def train_step(self, batch) -> dict[str, float]:
        source, target = (self.runtime.tensor(a) for a in batch)
        p = self.params
        with self.runtime.autocast():
            fake = self.generator(source)
            real_logits = self.discriminator(target)
            fake_logits = self.discriminator(fake.detach())
        loss_d = (gan_parts.gan_loss(real_logits.float(), True, "vanilla")
                  + gan_parts.gan_loss(fake_logits.float(), False, "vanilla"))
        self.runtime.optimize(self.opt_d, loss_d)
        gan_parts.set_requires_grad([self.discriminator], False)
        with self.runtime.autocast():
            fake_logits = self.discriminator(fake)
        fake = fake.float()
        losses = {"g_adversarial": gan_parts.gan_loss(fake_logits.float(), True, "vanilla"),
                  "g_l2": nn.functional.mse_loss(fake, target),
                  "g_gdl": gradient_difference_loss(fake, target, p["gdl_alpha"])}
        loss_g = (p["lambda_adversarial"] * losses["g_adversarial"]
                  + p["lambda_reconstruction"] * losses["g_l2"]
                  + p["lambda_gdl"] * losses["g_gdl"])
        self.runtime.optimize(self.opt_g, loss_g)
        gan_parts.set_requires_grad([self.discriminator], True)
        return {"d": float(loss_d.detach()), "g": float(loss_g.detach()),
                **{k: float(v.detach()) for k, v in losses.items()}}

    def validate(self) -> dict[str, float]:
        return self._validate(self.generator)


def stage_input(source: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """A stage's input channels: the source's, then the previous stage's synthesis."""
    return source if previous is None else np.concatenate([source, previous[None]])


def synthesise(generators, source: np.ndarray, params: dict, device: torch.device) -> np.ndarray:
    """The cascade over a whole network-range (C, x, y, z) source: stage 1 on
    the source, each later stage on the source and its predecessor's output;
    returns the last stage's network-range (x, y, z) synthesis."""
    previous = None
    for generator in generators:
        previous = _tiled(generator, stage_input(source, previous), params, device)
    return previous


def _tiled(generator: ContextFCN, inputs: np.ndarray, params: dict,
           device: torch.device) -> np.ndarray:
    return predict_tiles(generator, inputs, device, params["infer_tile"], generator.margin,
                         params["infer_step"], params["infer_batch_size"])


def _network_arrays(data: TrainingData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training source and target in network range, and the head masks, in memory."""
    contrasts = data.condition.source_channels
    source = np.stack([network_source(np.asarray(s), contrasts) for s in data.source])
    target = to_network(np.asarray(data.target), data.condition.target)
    return source, target, np.asarray(data.mask)


def fit(data: TrainingData, params: dict, model_dir: Path, seed: int, threads: int,
        state_dir: Path | None = None, stop_after: int | None = None) -> None:
    """Train the cascade stage by stage on the training subjects' patches.

    `stop_after` (for tests of resuming) ends the work after that many
    iterations counted over the whole cascade, as a killed job would.
    """
    params = train.merge_params(DEFAULTS, params, "context_gan")
    if data.source.ndim != 5 or data.source.shape[0] == 0:
        raise ValueError("context_gan needs at least one training subject")
    if params["n_stages"] < 1:
        raise ValueError(f"context_gan: n_stages must be at least 1, got {params['n_stages']}")
    torch.set_num_threads(threads)
    model_dir = Path(model_dir)
    stage_root = Path(state_dir) if state_dir is not None else model_dir
    record = model_record(params, data)
    source, target, mask = _network_arrays(data)
    validation = Validation.of(data)
    runtime = train.Runtime.create()
    generators: list[ContextFCN] = []
    previous = None  # the last trained stage's synthesis on each training subject
    for stage in range(1, params["n_stages"] + 1):
        stage_dir = stage_root / f"stage-{stage}"
        stage_record = {**record, "stage": stage}
        inputs = source if previous is None else np.concatenate([source, previous[:, None]], 1)
        remaining = None if stop_after is None else stop_after - (stage - 1) * params["iterations"]
        interrupted = remaining is not None and remaining < params["iterations"]
        if remaining is not None and remaining <= 0:
            return
        if not train.trained_with(stage_dir, stage_record, seed):
            before = list(generators)

            def validate(generator, before=before):
                return validation.score(lambda src: synthesise(
                    [*before, generator], src, params, runtime.device))

            train.run_training(
                lambda rt, inputs=inputs, validate=validate: ContextGanStage(
                    rt, params, inputs, target, mask, validate),
                name=f"context_gan stage {stage} {data.condition.task}/{data.condition.name}",
                iterations=params["iterations"], model_dir=stage_dir, params=stage_record,
                seed=seed + stage - 1, threads=threads, state_dir=stage_dir,
                checkpoint_every=params["checkpoint_every"], log_every=params["log_every"],
                val_every=params["val_every"], stop_after=remaining if interrupted else None)
            if interrupted:
                return
        generator = load_network(ContextFCN(inputs.shape[1], params["widths"], params["kernels"]),
                                 stage_dir, "generator", runtime)
        generators.append(generator)
        if stage < params["n_stages"]:
            previous = np.stack([_tiled(generator, x, params, runtime.device) for x in inputs])
            log.info("stage %d synthesised the %d training subjects for stage %d",
                     stage, len(inputs), stage + 1)
    _write_model(model_dir, stage_root, {**record, "seed": seed}, params["n_stages"])


def _write_model(model_dir: Path, stage_root: Path, record: dict, n_stages: int) -> None:
    """Gather the stages into model_dir with the cascade's params and loss log."""
    rows = []
    for stage in range(1, n_stages + 1):
        src, dst = stage_root / f"stage-{stage}", model_dir / f"stage-{stage}"
        if src != dst:
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst)
        offset = (stage - 1) * record["iterations"]
        with open(dst / train.LOSS_CSV) as handle:
            for row in _read_rows(handle):
                row["iteration"] += offset
                rows.append({(f"{k}_stage{stage}" if k.startswith(train.VAL_PREFIX) else k): v
                             for k, v in row.items()})
    train.write_loss_log(rows, model_dir)
    with io.atomic_path(model_dir / train.PARAMS) as tmp:
        stages = [train.outcome(train.load_params(model_dir / f"stage-{k}"))
                  for k in range(1, n_stages + 1)]
        cascade = {**stages[-1], "n_parameters": sum(s["n_parameters"] for s in stages)}
        tmp.write_text(json.dumps({**record, "n_stages": n_stages, **cascade}, indent=2,
                                  sort_keys=True) + "\n")
    if stage_root != model_dir:
        for stage in range(1, n_stages + 1):
            shutil.rmtree(stage_root / f"stage-{stage}", ignore_errors=True)


def _read_rows(handle) -> list[dict]:
    """loss.csv rows as numbers, leaving out empty cells."""
    return [{k: (int(v) if k == "iteration" else float(v)) for k, v in row.items() if v != ""}
            for row in csv.DictReader(handle)]


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Synthesise the target with the trained cascade (or its first ``use_stages``)."""
    record = trained_record(case, model_dir, "context_gan")
    params = train.merge_params(DEFAULTS, params, "context_gan")
    n_stages = int(record["n_stages"])
    use = n_stages if params["use_stages"] is None else int(params["use_stages"])
    if not 1 <= use <= n_stages:
        raise ValueError(f"use_stages must be between 1 and {n_stages}, got {use}")
    runtime = train.Runtime.create()
    generators = [load_network(ContextFCN(record["in_channels"] + (stage > 1), record["widths"],
                                          record["kernels"]),
                               Path(model_dir) / f"stage-{stage}", "generator", runtime)
                  for stage in range(1, use + 1)]
    source = network_source(case.source, case.condition.source_channels)
    return from_network(synthesise(generators, source, params, runtime.device),
                        case.condition.target)
