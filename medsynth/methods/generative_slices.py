"""What the two iterative generative methods share, ``cond_diffusion`` and
``cond_flow``: a conditional time-embedded 2D U-Net on axial slices, trained
to regress a noise process's target from a noisy target slice with the source
slice beside it, and sampled from seeded noise, slice by slice, onto the
target's grid.

Conditioning as in Palette (Saharia et al., SIGGRAPH 2022): the source
channels are concatenated to the noisy target slice as input channels of
MONAI's ``DiffusionModelUNet`` (noisy target first). A method supplies the
noise process (:class:`Process`): how a training pair is made from a target
slice, its noise and a timestep, and how a slice is sampled from noise.

Intensities as for the other 2D methods (:mod:`medsynth.methods.intensity`).
Slices are mirror-padded to a multiple of 2^(levels - 1) (the U-Net
downsamples between levels); the noise is drawn at the slice's own size and
mirror-padded with it, in training and in sampling alike, so the network
never meets padding it was not trained on. The loss covers the whole padded
slice: sampling evolves the padding too.

Randomness: a training batch draws its slices, noise and timesteps from the
loop's generator, so a resumed run repeats the uninterrupted one bit for bit.
A prediction starts from noise drawn per subject from the run's seed
(:func:`medsynth.seeding.subject_rng`) and samples deterministically, so it
repeats; validation starts from a fixed draw, so its curve compares like with
like.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medsynth import seeding, train
from medsynth.case import Case, TrainingData
from medsynth.infer import pad_slices, predict_slices
from medsynth.methods.intensity import from_network
from medsynth.methods.slices import (
    Validation,
    load_network,
    model_record,
    network_source,
    run_slice_training,
    trained_record,
    training_slices,
)

# The settings both methods share, the paper preset's: Moschetto et al.'s benchmark of
# pix2pix against diffusion and flow matching for T1w -> T2w (arXiv 2507.14575; code
# github.com/AndreaMoschetto/medical-I2I-benchmark at 8e592a6, scripts/diffusion_t1t2.py and
# unetflow-noiset1t2.py) trains both on one U-Net, MONAI's DiffusionModelUNet at its default
# size, with Adam 3e-4 cosine-annealed to 1e-6 and batches of 6; Palette's own network (the
# 256-channel U-Net of Dhariwal & Nichol 2021) is far beyond a CPU.
NETWORK_DEFAULTS = {
    "channels": [32, 64, 64, 64],
    "attention_levels": [False, False, True, True],
    "num_res_blocks": 2,
    "num_head_channels": 8,
    "norm_num_groups": 32,
    "resblock_updown": False,
    "num_train_timesteps": 1000,
    "lr": 3e-4,
    "lr_min": 1e-6,  # the cosine schedule's end
    "batch_size": 6,
    # ours: 300 epochs of Moschetto's slices cannot be converted without their slice count
    "iterations": 100000,
    "min_head_fraction": 0.05,  # slices with less head than this are not sampled
    "cpu_bf16": False,  # bfloat16 autocast of the training steps on a CPU (train.Runtime)
    "log_every": 100,
    "checkpoint_every": 2000,
    "val_every": 10000,
    "infer_batch_size": 16,
}
VALIDATION_SEED = 0


class Process(ABC):
    """A noise process over T discrete timesteps (its MONAI ``scheduler``): the training
    objective, with timesteps uniform over {0 .. T-1} as in DDPM and rectified flow, and
    the sampler that inverts it. Built from a method's merged params and the target's
    contrast (``Process(params, target_contrast)``)."""

    method: str  # the method's name, for errors
    scheduler: Any

    @property
    def num_train_timesteps(self) -> int:
        return self.scheduler.num_train_timesteps

    def timesteps(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` training timesteps (int64) drawn with `rng`."""
        return rng.integers(self.num_train_timesteps, size=n, dtype=np.int64)

    def check_steps(self, steps: int) -> None:
        if not 1 <= steps <= self.num_train_timesteps:
            raise ValueError(f"{self.method}: sampling_steps must be in "
                             f"1..{self.num_train_timesteps}, got {steps}")

    @staticmethod
    def at(x: torch.Tensor, t: int) -> torch.Tensor:
        """Timestep `t` for every sample of the batch `x`."""
        return torch.full((len(x),), t, dtype=torch.long, device=x.device)

    @abstractmethod
    def training_pair(self, target: torch.Tensor, noise: torch.Tensor,
                      timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the noisy target the network sees, what it must output)."""

    @abstractmethod
    def sample(self, model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
               noise: torch.Tensor, steps: int) -> torch.Tensor:
        """A target sampled from `noise` in `steps` network calls; `model(x_t, t)`
        is the network's output for the batch at timesteps `t` (a (B,) tensor)."""


def network(params: dict, source_channels: int) -> nn.Module:
    """MONAI's time-embedded U-Net: noisy target + source channels in, one channel out."""
    from monai.networks.nets import DiffusionModelUNet

    return DiffusionModelUNet(
        spatial_dims=2, in_channels=1 + source_channels, out_channels=1,
        channels=tuple(params["channels"]), attention_levels=tuple(params["attention_levels"]),
        num_res_blocks=params["num_res_blocks"], num_head_channels=params["num_head_channels"],
        norm_num_groups=params["norm_num_groups"], resblock_updown=params["resblock_updown"])


def pad_multiple(params: dict) -> int:
    """Slice sides must be multiples of this: the U-Net halves them between levels."""
    return 2 ** (len(params["channels"]) - 1)


class Sampler(nn.Module):
    """A whole sampling run as one module: (B, C + 1, x, y) source channels and
    starting noise in, (B, 1, x, y) sample out, so the slice inference
    (:func:`medsynth.infer.predict_slices`) pads, batches and crops it as it
    does any 2D network."""

    def __init__(self, net: nn.Module, process: Process, steps: int):
        super().__init__()
        self.net, self.process, self.steps = net, process, steps

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        source, noise = batch[:, :-1], batch[:, -1:]

        def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.net(torch.cat([x.to(source.dtype), source], 1), t).float()

        return self.process.sample(model, noise.float(), self.steps)


def sample_volume(net: nn.Module, process: Process, source: np.ndarray,
                  rng: np.random.Generator, params: dict, device: torch.device) -> np.ndarray:
    """A (x, y, z) network-range sample for a (C, x, y, z) network-range source,
    starting from noise drawn with `rng`."""
    noise = rng.standard_normal((1, *source.shape[1:]), dtype=np.float32)
    sampler = Sampler(net, process, params["sampling_steps"])
    return predict_slices(sampler, np.concatenate([source, noise]), params["infer_batch_size"],
                          device, pad_multiple(params))


class ConditionalSliceModel(train.TrainableModel):
    """The U-Net trained on the process's objective over random axial slices."""

    def __init__(self, runtime: train.Runtime, params: dict, data: TrainingData,
                 process: Process):
        super().__init__(runtime)
        self.params, self.process = params, process
        slices = training_slices(data, params["min_head_fraction"])
        self.source, self.target = slices.source, slices.target
        self.net = runtime.module(network(params, data.in_channels))
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=params["lr"])
        self.cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=params["iterations"], eta_min=params["lr_min"])
        self.validation = Validation.of(data)

    def modules(self) -> dict[str, nn.Module]:
        return {"unet": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer}

    def schedulers(self) -> dict:
        return {"cosine": self.cosine}

    def sample_batch(self, rng: np.random.Generator):
        n, multiple = self.params["batch_size"], pad_multiple(self.params)
        index = rng.integers(len(self.source), size=n)
        target = self.target[index]
        noise = rng.standard_normal(target.shape, dtype=np.float32)
        return (pad_slices(self.source[index], multiple), pad_slices(target, multiple),
                pad_slices(noise, multiple), self.process.timesteps(rng, n))

    def train_step(self, batch) -> dict[str, float]:
        source, target, noise = (self.runtime.tensor(a) for a in batch[:3])
        timesteps = torch.from_numpy(batch[3]).to(self.runtime.device)
        noisy, goal = self.process.training_pair(target, noise, timesteps)
        with self.runtime.autocast():
            out = self.net(torch.cat([noisy, source], 1), timesteps)
        loss = nn.functional.mse_loss(out.float(), goal)
        self.runtime.optimize(self.optimizer, loss)
        return {"mse": float(loss.detach())}

    def validate(self) -> dict[str, float]:
        rng = np.random.default_rng(VALIDATION_SEED)
        return self.validation.score(lambda source: sample_volume(
            self.net, self.process, source, rng, self.params, self.runtime.device))


def fit(method: str, process_type: type[Process], defaults: dict, data: TrainingData,
        params: dict, model_dir: Path, seed: int, threads: int, state_dir: Path | None) -> None:
    """Train `method`'s U-Net on the training subjects' axial slices."""
    params = train.merge_params(defaults, params, method)
    process = process_type(params, data.condition.target)
    run_slice_training(lambda runtime: ConditionalSliceModel(runtime, params, data, process),
                       method, data, params, model_record(params, data), model_dir, seed,
                       threads, state_dir)


def predict(method: str, process_type: type[Process], defaults: dict, case: Case,
            params: dict, model_dir: Path | None) -> np.ndarray:
    """The target sampled slice by slice onto the case's grid from the subject's seeded
    noise; the network as trained, the number of sampling steps as configured now."""
    trained = trained_record(case, model_dir, method)
    params = train.merge_params(defaults, params, method)
    runtime = train.Runtime.create()
    net = load_network(network(trained, trained["in_channels"]), model_dir, "unet", runtime)
    source = network_source(case.source, case.condition.source_channels)
    rng = seeding.subject_rng(trained["seed"], case.subject)
    sampled = sample_volume(net, process_type(trained, trained["target_contrast"]), source, rng,
                            {**trained, "sampling_steps": params["sampling_steps"],
                             "infer_batch_size": params["infer_batch_size"]}, runtime.device)
    return from_network(sampled, case.condition.target)
