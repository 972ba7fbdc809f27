"""``pix2pix``: paired image-to-image translation with a conditional GAN
(Isola, Zhu, Zhou & Efros, "Image-to-image translation with conditional
adversarial networks", CVPR 2017), on axial slices.

Generator (:class:`UNetGenerator`): the paper's U-Net ``unet_256``: eight 4x4
stride-2 convolutions (C64-C128-C256-C512-C512-C512-C512-C512; LeakyReLU 0.2,
batch norm except on the first and the innermost), mirrored by eight 4x4
stride-2 transposed convolutions (ReLU, batch norm) with skip connections
concatenating each encoder level, dropout 0.5 in the three decoder blocks
after the innermost, and Tanh at the output. ``n_downs`` downsamplings need
sides that are multiples of 2^n_downs: slices are mirror-padded to that
(256 x 256 at 1 mm with the paper's eight; 128 x 128 at 2 mm with seven, the
reference code's ``unet_128``) and cropped back.

Discriminator: the 70x70 PatchGAN (:class:`gan_parts.PatchGAN`, batch norm)
on the source and the real or generated target, concatenated as channels.

Objective: G* = arg min_G max_D L_cGAN(G, D) + lambda * L1(G), lambda = 100;
D's objective is halved; G maximises log D(x, G(x)) (the non-saturating
form). Adam, lr 2e-4, betas (0.5, 0.999), batch size 1; the learning rate
is constant for the first half of training and decays linearly to zero over
the second (the reference code's 100 + 100 epochs). The ``paper`` preset's
400 000 iterations are ~200 epochs of its ~2 000 training slices.

Inference as in the paper (section 3.3 and 6.1): the generator runs "in
exactly the same manner as during the training phase": dropout stays on and
batch norm uses the test batch's statistics, which with one slice per batch
is instance normalisation. The dropout draws are seeded, so a prediction is
reproducible; ``test_time_dropout: false`` runs the usual eval mode instead.

Intensities: sources and targets in the network range of
:mod:`medsynth.methods.intensity` (CT: the [-1024, 3000] HU window). Tanh
bounds the output to that range, so MR above 1 (the head's 99th percentile
after normalisation, about 1 % of head voxels, at most ~1.1) saturates at 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from medsynth import train
from medsynth.case import Case, TrainingData
from medsynth.infer import pad_slices, predict_slices
from medsynth.methods import gan_parts
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

DEFAULTS = {
    "n_downs": 8,  # unet_256
    "generator_width": 64,
    "dropout": 0.5,
    "discriminator_width": 64,
    "discriminator_layers": 3,  # 70x70 patches
    "gan_mode": "vanilla",
    "lambda_l1": 100.0,
    "lr": 2e-4,
    "beta1": 0.5,
    "batch_size": 1,
    "iterations": 400000,  # ~200 epochs of the paper preset's training slices
    "decay_iterations": 200000,  # linear decay over the second half
    "min_head_fraction": 0.05,
    "test_time_dropout": True,
    "inference_seed": 0,
    "cpu_bf16": False,  # bfloat16 autocast of the training steps on a CPU (train.Runtime)
    "log_every": 500,
    "checkpoint_every": 5000,
    "val_every": 20000,
    "infer_batch_size": 1,  # one slice per batch: batch norm = instance norm at test time
}


class UNetGenerator(nn.Module):
    """Isola et al.'s U-Net generator with ``n_downs`` levels (see module docstring)."""

    def __init__(self, in_channels: int, out_channels: int, n_downs: int = 8, width: int = 64,
                 dropout: float = 0.5):
        super().__init__()
        if n_downs < 2:
            raise ValueError(f"n_downs must be at least 2, got {n_downs}")
        widths = [width * min(2 ** i, 8) for i in range(n_downs)]
        self.down = nn.ModuleList()
        for level in range(n_downs):
            layers = [] if level == 0 else [nn.LeakyReLU(0.2, inplace=True)]
            layers.append(nn.Conv2d(in_channels if level == 0 else widths[level - 1],
                                    widths[level], 4, stride=2, padding=1, bias=False))
            if 0 < level < n_downs - 1:
                layers.append(nn.BatchNorm2d(widths[level]))
            self.down.append(nn.Sequential(*layers))
        # decoder blocks, innermost first; the reference code's dropout blocks are
        # the full-width ones between the innermost and the four outer levels
        self.up = nn.ModuleList()
        for level in reversed(range(n_downs)):
            inner = widths[level] * (1 if level == n_downs - 1 else 2)
            if level == 0:
                self.up.append(nn.Sequential(
                    nn.ReLU(inplace=True),
                    nn.ConvTranspose2d(inner, out_channels, 4, stride=2, padding=1), nn.Tanh()))
                continue
            layers = [nn.ReLU(inplace=True),
                      nn.ConvTranspose2d(inner, widths[level - 1], 4, stride=2, padding=1,
                                         bias=False),
                      nn.BatchNorm2d(widths[level - 1])]
            if 4 <= level < n_downs - 1 and dropout > 0:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        gan_parts.init_weights(self)
        self.multiple = 2 ** n_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()  # the innermost output feeds the first decoder block directly
        x = self.up[0](x)
        for block in self.up[1:]:
            x = block(torch.cat([skips.pop(), x], dim=1))
        return x


def generator_loss(fake_logits: torch.Tensor, fake: torch.Tensor, real: torch.Tensor,
                   lambda_l1: float, gan_mode: str = "vanilla") -> dict[str, torch.Tensor]:
    """G's objective: fool D on (source, G(source)), plus lambda times the L1 to the target."""
    adversarial = gan_parts.gan_loss(fake_logits, True, gan_mode)
    l1 = nn.functional.l1_loss(fake, real)
    return {"g_gan": adversarial, "g_l1": l1, "g": adversarial + lambda_l1 * l1}


class Pix2Pix(train.TrainableModel):
    """Generator and PatchGAN on paired axial slices."""

    def __init__(self, runtime: train.Runtime, params: dict, data: TrainingData):
        super().__init__(runtime)
        self.params = params
        slices = training_slices(data, params["min_head_fraction"])
        self.source, self.target = slices.source, slices.target
        self.generator = runtime.module(UNetGenerator(
            data.in_channels, 1, params["n_downs"], params["generator_width"], params["dropout"]))
        self.discriminator = runtime.module(gan_parts.PatchGAN(
            data.in_channels + 1, params["discriminator_width"], params["discriminator_layers"],
            norm="batch"))
        betas = (params["beta1"], 0.999)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=params["lr"], betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=params["lr"],
                                      betas=betas)
        self.scheds = {name: gan_parts.linear_decay(opt, params["iterations"],
                                                    params["decay_iterations"])
                       for name, opt in (("g", self.opt_g), ("d", self.opt_d))}
        self.validation = Validation.of(data)

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def schedulers(self) -> dict:
        return self.scheds

    def sample_batch(self, rng: np.random.Generator):
        index = rng.integers(len(self.source), size=self.params["batch_size"])
        multiple = self.generator.multiple
        return pad_slices(self.source[index], multiple), pad_slices(self.target[index], multiple)

    def train_step(self, batch) -> dict[str, float]:
        source, target = (self.runtime.tensor(a) for a in batch)
        mode = self.params["gan_mode"]
        with self.runtime.autocast():
            fake = self.generator(source)
        # D: real pairs against generated ones (G's output detached)
        with self.runtime.autocast():
            real_logits = self.discriminator(torch.cat([source, target], 1))
            fake_logits = self.discriminator(torch.cat([source, fake.detach()], 1))
        loss_d = gan_parts.discriminator_loss(real_logits.float(), fake_logits.float(), mode)
        self.runtime.optimize(self.opt_d, loss_d)
        # G: fool the (frozen) D and stay close to the target
        gan_parts.set_requires_grad([self.discriminator], False)
        with self.runtime.autocast():
            fake_logits = self.discriminator(torch.cat([source, fake], 1))
        losses = generator_loss(fake_logits.float(), fake.float(), target,
                                self.params["lambda_l1"], mode)
        self.runtime.optimize(self.opt_g, losses["g"])
        gan_parts.set_requires_grad([self.discriminator], True)
        return {"d": float(loss_d.detach()), **{k: float(v.detach()) for k, v in losses.items()}}

    def validate(self) -> dict[str, float]:
        return self.validation.score(lambda source: generate(
            self.generator, source, self.params, self.runtime.device))


def generate(generator: UNetGenerator, source: np.ndarray, params: dict,
              device: torch.device) -> np.ndarray:
    """G over every slice, with seeded test-time dropout unless switched off."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(params["inference_seed"])
        return predict_slices(generator, source, params["infer_batch_size"], device,
                              generator.multiple, train_mode=params["test_time_dropout"])


def fit(data: TrainingData, params: dict, model_dir: Path, seed: int, threads: int,
        state_dir: Path | None = None) -> None:
    """Train generator and discriminator on the training subjects' paired slices."""
    params = train.merge_params(DEFAULTS, params, "pix2pix")
    run_slice_training(lambda runtime: Pix2Pix(runtime, params, data), "pix2pix", data, params,
                       model_record(params, data), model_dir, seed, threads, state_dir)


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Synthesise the target slice by slice with the trained generator."""
    trained = trained_record(case, model_dir, "pix2pix")
    params = train.merge_params(DEFAULTS, params, "pix2pix")
    runtime = train.Runtime.create()
    generator = load_network(UNetGenerator(trained["in_channels"], 1, trained["n_downs"],
                                           trained["generator_width"], trained["dropout"]),
                             model_dir, "generator", runtime)
    source = network_source(case.source, case.condition.source_channels)
    return from_network(generate(generator, source, params, runtime.device),
                        case.condition.target)
