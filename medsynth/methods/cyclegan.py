"""``cyclegan``: unpaired image-to-image translation with cycle consistency
(Zhu, Park, Isola & Efros, ICCV 2017), in the unpaired MR-to-CT setting of
Wolterink et al. ("Deep MR to CT synthesis using unpaired data", SASHIMI
2017), on axial slices.

Unpaired by construction: the training subjects are split, seeded, into two
disjoint halves (:func:`unpaired_halves`); source slices come only from the
first and target slices only from the second, so no source slice is ever
seen with its own target, nor with any other slice of its subject.
``unpaired: false`` draws both domains from every training subject, still
independently (unaligned slices), for comparison.

Generators (:class:`ResnetGenerator`, Johnson et al., ECCV 2016, as in the
CycleGAN appendix): c7s1-64, d128, d256, n residual blocks R256 (9 at 256 x 256,
6 at 128 x 128), u128, u64, c7s1-out with Tanh; instance norm, reflection
padding. G maps source to target, F target to source. Two 70x70 PatchGAN
discriminators with instance norm, D_target and D_source.

Objective: least-squares GAN losses (Mao et al. 2017) for both directions,
cycle consistency lambda * (|F(G(a)) - a|_1 + |G(F(b)) - b|_1) with
lambda = 10. No identity loss by default: the paper adds
``lambda_identity`` * lambda * (|G(b) - b|_1 + |F(a) - a|_1) only for
painting-to-photo, to keep colours (Zhu et al., Sec. 5.2; the reference
code's 0.5 is its command-line default), and Wolterink et al.'s MR-to-CT
objective has adversarial and cycle terms alone. Here it would pull G towards
the identity on a task that inverts contrast (T1w to T2w): phantom t1_to_t2,
216 iterations, validation MAE 0.256 with 0.5 against 0.208 without
(benchmarks/tune_quick.py; the T1w itself scores 0.259). It applies where
source and target have the same number of channels (G must accept a target
image as input). The discriminators see generated images through a
history pool of 50 (:class:`gan_parts.ImagePool`) and minimise half the
sum of their real and fake terms. Adam, lr 2e-4, betas (0.5, 0.999), batch
size 1; constant learning rate for the first half of training, linear decay
to zero over the second (the paper's 100 + 100 epochs).

Intensities and inference as for pix2pix: the network range of
:mod:`medsynth.methods.intensity`, Tanh output; slices mirror-padded to a
multiple of 4 and cropped back; G alone predicts (instance norm makes eval
and training mode the same).

Random crops (``crop_size``), as the reference code's ``--preprocess crop``
trains: each step sees a ``crop_size`` square cut at random from each padded
slice (source and target independently), and inference runs over whole
slices (the networks are fully convolutional). ``None``, the default, trains
on whole slices: the paper's 256 x 256 crops are about a whole 1 mm slice.
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
    "generator_width": 64,
    "residual_blocks": 9,  # 9 at 256 x 256 (the paper preset's 1 mm slices pad to 256 or less)
    "discriminator_width": 64,
    "discriminator_layers": 3,  # 70x70 patches
    "lambda_cycle": 10.0,
    "lambda_identity": 0.0,  # times lambda_cycle; the paper's 0.5 is for painting-to-photo
    "pool_size": 50,
    "unpaired": True,
    "lr": 2e-4,
    "beta1": 0.5,
    "batch_size": 1,
    "iterations": 400000,  # ~200 epochs of the paper preset's training slices
    "decay_iterations": 200000,
    "min_head_fraction": 0.05,
    "crop_size": None,  # whole slices (see module docstring)
    "cpu_bf16": False,  # bfloat16 autocast of the training steps on a CPU (train.Runtime)
    "log_every": 500,
    "checkpoint_every": 5000,
    "val_every": 20000,
    "infer_batch_size": 8,
}
PAD_MULTIPLE = 4  # two stride-2 downsamplings


class ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), nn.InstanceNorm2d(width),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), nn.InstanceNorm2d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-w, d2w, d4w, n x R4w, u2w, uw, c7s1-out (see module docstring)."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, blocks: int = 9):
        super().__init__()
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7),
                  nn.InstanceNorm2d(width), nn.ReLU(inplace=True)]
        for scale in (1, 2):
            layers += [nn.Conv2d(width * scale, width * scale * 2, 3, stride=2, padding=1),
                       nn.InstanceNorm2d(width * scale * 2), nn.ReLU(inplace=True)]
        layers += [ResidualBlock(width * 4) for _ in range(blocks)]
        for scale in (4, 2):
            layers += [nn.ConvTranspose2d(width * scale, width * scale // 2, 3, stride=2,
                                          padding=1, output_padding=1),
                       nn.InstanceNorm2d(width * scale // 2), nn.ReLU(inplace=True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        gan_parts.init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def unpaired_halves(n_subjects: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training-subject indices split, seeded, into disjoint source and target halves
    (the source half takes the odd one out)."""
    if n_subjects < 2:
        raise ValueError(f"unpaired CycleGAN needs at least 2 training subjects, got {n_subjects}")
    order = np.random.default_rng(seed).permutation(n_subjects)
    cut = (n_subjects + 1) // 2
    return np.sort(order[:cut]), np.sort(order[cut:])


def generator_losses(d_target_fake: torch.Tensor, d_source_fake: torch.Tensor,
                     source: torch.Tensor, reconstructed_source: torch.Tensor,
                     target: torch.Tensor, reconstructed_target: torch.Tensor,
                     identity_target: torch.Tensor | None, identity_source: torch.Tensor | None,
                     lambda_cycle: float, lambda_identity: float) -> dict[str, torch.Tensor]:
    """G and F's objective from the discriminators' logits on their outputs, the
    cycle reconstructions and (or None) the identity mappings G(b) and F(a)."""
    l1 = nn.functional.l1_loss
    losses = {"g_gan": gan_parts.gan_loss(d_target_fake, True, "lsgan"),
              "f_gan": gan_parts.gan_loss(d_source_fake, True, "lsgan"),
              "cycle_source": l1(reconstructed_source, source),
              "cycle_target": l1(reconstructed_target, target)}
    total = (losses["g_gan"] + losses["f_gan"]
             + lambda_cycle * (losses["cycle_source"] + losses["cycle_target"]))
    if identity_target is not None:
        losses["identity_target"] = l1(identity_target, target)
        losses["identity_source"] = l1(identity_source, source)
        total = total + lambda_cycle * lambda_identity * (
            losses["identity_target"] + losses["identity_source"])
    losses["g"] = total
    return losses


def random_crop(batch: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    """One `size` x `size` window of the last two axes of `batch` (B, C, x, y), at a
    random place per batch element; the batch itself where `size` is None or as
    large as the slices."""
    if size is None or size >= min(batch.shape[-2:]):
        return batch
    if size % PAD_MULTIPLE:
        raise ValueError(f"cyclegan: crop_size must be a multiple of {PAD_MULTIPLE}, got {size}")
    xs = rng.integers(batch.shape[-2] - size + 1, size=len(batch))
    ys = rng.integers(batch.shape[-1] - size + 1, size=len(batch))
    return np.stack([b[..., x:x + size, y:y + size] for b, x, y in zip(batch, xs, ys, strict=True)])


class CycleGAN(train.TrainableModel):
    """G: source -> target, F: target -> source, and a PatchGAN per domain."""

    def __init__(self, runtime: train.Runtime, params: dict, data: TrainingData, seed: int):
        super().__init__(runtime)
        self.params = params
        slices = training_slices(data, params["min_head_fraction"])
        if params["unpaired"]:
            source_subjects, target_subjects = unpaired_halves(data.source.shape[0], seed)
        else:
            source_subjects = target_subjects = np.arange(data.source.shape[0])
        self.source = slices.of_subjects(source_subjects).source
        self.target = slices.of_subjects(target_subjects).target
        channels = data.in_channels
        self.g = runtime.module(ResnetGenerator(channels, 1, params["generator_width"],
                                                params["residual_blocks"]))
        self.f = runtime.module(ResnetGenerator(1, channels, params["generator_width"],
                                                params["residual_blocks"]))
        self.d_target, self.d_source = (runtime.module(gan_parts.PatchGAN(
            c, params["discriminator_width"], params["discriminator_layers"], norm="instance"))
            for c in (1, channels))
        # the identity passes G(b), F(a) cost a third of the generators' work: only with a weight
        self.identity = channels == 1 and params["lambda_identity"] > 0
        betas = (params["beta1"], 0.999)
        self.opt_g = torch.optim.Adam([*self.g.parameters(), *self.f.parameters()],
                                      lr=params["lr"], betas=betas)
        self.opt_d = torch.optim.Adam([*self.d_target.parameters(), *self.d_source.parameters()],
                                      lr=params["lr"], betas=betas)
        self.scheds = {name: gan_parts.linear_decay(opt, params["iterations"],
                                                    params["decay_iterations"])
                       for name, opt in (("g", self.opt_g), ("d", self.opt_d))}
        self.pools = {"target": gan_parts.ImagePool(params["pool_size"]),
                      "source": gan_parts.ImagePool(params["pool_size"])}
        self.validation = Validation.of(data)

    def modules(self) -> dict[str, nn.Module]:
        return {"g": self.g, "f": self.f, "d_target": self.d_target, "d_source": self.d_source}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def schedulers(self) -> dict:
        return self.scheds

    def extra_state(self) -> dict:
        return {name: pool.state() for name, pool in self.pools.items()}

    def load_extra_state(self, state: dict) -> None:
        for name, pool in self.pools.items():
            pool.load(state[name], self.runtime.device)

    def sample_batch(self, rng: np.random.Generator):
        """Source and target slices drawn independently, each from its own half."""
        n = self.params["batch_size"]
        source = self.source[rng.integers(len(self.source), size=n)]
        target = self.target[rng.integers(len(self.target), size=n)]
        return tuple(random_crop(pad_slices(x, PAD_MULTIPLE), self.params["crop_size"], rng)
                     for x in (source, target))

    def train_step(self, batch) -> dict[str, float]:
        a, b = (self.runtime.tensor(x) for x in batch)
        discriminators = [self.d_target, self.d_source]
        gan_parts.set_requires_grad(discriminators, False)
        with self.runtime.autocast():
            fake_b, fake_a = self.g(a), self.f(b)
            rec_a, rec_b = self.f(fake_b), self.g(fake_a)
            idt_b, idt_a = (self.g(b), self.f(a)) if self.identity else (None, None)
            d_fake_b, d_fake_a = self.d_target(fake_b), self.d_source(fake_a)
        losses = generator_losses(
            d_fake_b.float(), d_fake_a.float(), a, rec_a.float(), b, rec_b.float(),
            None if idt_b is None else idt_b.float(), None if idt_a is None else idt_a.float(),
            self.params["lambda_cycle"], self.params["lambda_identity"])
        self.runtime.optimize(self.opt_g, losses["g"])
        gan_parts.set_requires_grad(discriminators, True)
        with self.runtime.autocast():
            pooled_b = self.pools["target"].query(fake_b.detach())
            pooled_a = self.pools["source"].query(fake_a.detach())
            logits = {"d_target": (self.d_target(b), self.d_target(pooled_b)),
                      "d_source": (self.d_source(a), self.d_source(pooled_a))}
        d_losses = {name: gan_parts.discriminator_loss(real.float(), fake.float(), "lsgan")
                    for name, (real, fake) in logits.items()}
        self.runtime.optimize(self.opt_d, d_losses["d_target"] + d_losses["d_source"])
        return {k: float(v.detach()) for k, v in {**losses, **d_losses}.items()}

    def validate(self) -> dict[str, float]:
        return self.validation.score(lambda source: predict_slices(
            self.g, source, self.params["infer_batch_size"], self.runtime.device, PAD_MULTIPLE))


def fit(data: TrainingData, params: dict, model_dir: Path, seed: int, threads: int,
        state_dir: Path | None = None) -> None:
    """Train both generators and discriminators on unpaired training slices."""
    params = train.merge_params(DEFAULTS, params, "cyclegan")
    record = model_record(params, data)
    if params["unpaired"]:
        source, target = unpaired_halves(data.source.shape[0], seed)
        record["source_half"], record["target_half"] = source.tolist(), target.tolist()
    run_slice_training(lambda runtime: CycleGAN(runtime, params, data, seed), "cyclegan", data,
                       params, record, model_dir, seed, threads, state_dir)


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Synthesise the target slice by slice with G."""
    trained = trained_record(case, model_dir, "cyclegan")
    params = train.merge_params(DEFAULTS, params, "cyclegan")
    runtime = train.Runtime.create()
    g = load_network(ResnetGenerator(trained["in_channels"], 1, trained["generator_width"],
                                     trained["residual_blocks"]), model_dir, "g", runtime)
    source = network_source(case.source, case.condition.source_channels)
    pred = predict_slices(g, source, params["infer_batch_size"], runtime.device, PAD_MULTIPLE)
    return from_network(pred, case.condition.target)
