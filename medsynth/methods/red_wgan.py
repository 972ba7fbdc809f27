"""``red_wgan``: 3D MRI denoising with a residual encoder-decoder Wasserstein
GAN (Ran, Hu, Chen, Chen, Sun, Zhou & Zhang, "Denoising of 3D magnetic
resonance images using a residual encoder-decoder Wasserstein generative
adversarial network", Med Image Anal 55:165-180, 2019).

Generator (:class:`REDGenerator`): four 3x3x3 convolutions without stride or
pooling (32, 64, 128, 256 channels), each followed by batch normalisation and
LeakyReLU, mirrored by four 3x3x3 deconvolutions (transposed convolutions,
stride 1) back to 128, 64, 32 and 1 channel. Residual shortcuts add each
encoder layer's output to the output of the mirrored deconvolution before its
normalisation and activation, and the input volume to the last one, which then
passes a ReLU: the network learns the noise to remove and cannot return a
negative magnitude.

Critic (:class:`Critic`): three 3x3x3 convolutions (32, 64, 128 channels,
LeakyReLU, no normalisation, as WGAN-GP requires of a critic) and a fully
connected layer to one score per patch.

Objective: the Wasserstein distance with gradient penalty (Gulrajani et al.
2017), lambda = 10, five critic steps per generator step; the generator
minimises lambda_mse * MSE + lambda_p * perceptual - lambda_a * critic score,
with weights 1, 0.1 and 1e-3. The perceptual term is VGG-19's feature
distance (:mod:`medsynth.methods.perceptual`); without local VGG-19 weights
it is left out, which params.json records. Training draws 32 x 32 x 6 patches
(six axial planes) with at least ``min_head_fraction`` of head; Adam with
betas (0.5, 0.9), the learning rate halved at 40 % and 80 % of training.

Where the paper leaves details open we follow the authors' released code
(github.com/Deep-Imaging-Group/RED-WGAN, model5.py): the layer widths, the
LeakyReLU slope (0.01), Kaiming initialisation, batch size 110, betas, the
loss weights, the step schedule and the critic's five steps on the
generator's batch. Ours, stated: the last deconvolution is initialised to
zero, so that training starts from the identity (the noisy input) rather
than from the large random residual that Kaiming initialisation of eight
stacked layers adds (MSE 0.35 on unit-scale intensities); learning rate 1e-4 (the code's 5e-6 was for
raw intensities up to 4096, ours are about [0, 1.2]); the gradient-penalty
norm taken over each sample's voxels, as WGAN-GP defines it (the code's norm
runs over one axis only); a training length in iterations (20 000).

Inference runs the generator over the whole volume (it is fully
convolutional), in slabs with enough context to equal one pass
(:func:`medsynth.infer.predict_volume`). One model per noise level, as in the
paper; ``denoise.one_model_per_level: false`` in the config trains one model
on all levels together (the paper's RED-WGAN-m).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medsynth import train
from medsynth.case import Case, TrainingData
from medsynth.infer import predict_volume
from medsynth.methods import gan_parts, perceptual
from medsynth.methods.patches import VolumePatches
from medsynth.methods.slices import load_network, model_record, trained_record, validation_scores

log = logging.getLogger(__name__)

DEFAULTS = {
    "widths": [32, 64, 128, 256],
    "critic_widths": [32, 64, 128],
    "patch_size": [32, 32, 6],  # x, y, z: six axial planes
    "min_head_fraction": 0.5,
    "batch_size": 110,
    "lr": 1e-4,
    "betas": [0.5, 0.9],
    "lr_halved_at": [0.4, 0.8],  # fractions of training
    "critic_iterations": 5,
    "lambda_gp": 10.0,
    "lambda_mse": 1.0,
    "lambda_perceptual": 0.1,
    "lambda_adversarial": 1e-3,
    "perceptual_weights": None,  # local VGG-19 weights; None: the fallback without the term
    "iterations": 20000,
    "cpu_bf16": False,  # bfloat16 autocast of the training steps on a CPU (train.Runtime)
    "log_every": 100,
    "checkpoint_every": 1000,
    "val_every": 5000,
    "infer_slab": 32,  # axial planes per inference pass
}


def _init(net: nn.Module) -> nn.Module:
    """The released code's initialisation: Kaiming-normal weights, zero biases, unit BN."""
    for module in net.modules():
        if isinstance(module, nn.Conv3d | nn.ConvTranspose3d | nn.Linear):
            nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm3d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return net


class REDGenerator(nn.Module):
    """The residual encoder-decoder generator (see module docstring)."""

    def __init__(self, widths=(32, 64, 128, 256), in_channels: int = 1):
        super().__init__()
        widths = list(widths)
        self.encoder = nn.ModuleList(
            nn.Sequential(nn.Conv3d(c_in, c_out, 3, padding=1), nn.BatchNorm3d(c_out),
                          nn.LeakyReLU())
            for c_in, c_out in zip([in_channels, *widths[:-1]], widths, strict=True))
        mirrored = widths[::-1]
        self.deconv = nn.ModuleList(
            nn.ConvTranspose3d(c_in, c_out, 3, padding=1)
            for c_in, c_out in zip(mirrored, [*mirrored[1:], 1], strict=True))
        self.after = nn.ModuleList(nn.Sequential(nn.BatchNorm3d(c), nn.LeakyReLU())
                                   for c in mirrored[1:])
        _init(self)
        # the last deconvolution starts at zero: an untrained generator returns its input
        nn.init.zeros_(self.deconv[-1].weight)

    @property
    def receptive_radius(self) -> int:
        """Voxels of context one output needs on each side: one per 3x3x3 layer."""
        return len(self.encoder) + len(self.deconv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for layer in self.encoder:
            h = layer(h)
            skips.append(h)
        skips.pop()  # the deepest layer feeds the first deconvolution directly
        for deconv, after in zip(self.deconv[:-1], self.after, strict=True):
            h = after(deconv(h) + skips.pop())
        return torch.relu(self.deconv[-1](h) + x[:, :1])


class Critic(nn.Module):
    """Three stride-free 3x3x3 convolutions and a linear score per patch."""

    def __init__(self, patch, widths=(32, 64, 128), in_channels: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in zip([in_channels, *widths[:-1]], widths, strict=True):
            layers += [nn.Conv3d(c_in, c_out, 3, padding=1), nn.LeakyReLU()]
        self.features = nn.Sequential(*layers)
        self.score = nn.Linear(int(widths[-1] * np.prod(patch)), 1)
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(x).flatten(1))


class RedWgan(train.TrainableModel):
    """Generator, critic and (optionally) the VGG-19 perceptual loss on 3D patches."""

    def __init__(self, runtime: train.Runtime, params: dict, data: TrainingData):
        super().__init__(runtime)
        self.params = params
        self.patches = VolumePatches.build(data.source, data.target, data.mask,
                                           params["patch_size"], params["min_head_fraction"])
        self.generator = runtime.module(REDGenerator(params["widths"]))
        self.critic = runtime.module(Critic(params["patch_size"], params["critic_widths"]))
        self.perceptual = None
        if params["perceptual_weights"] is not None:
            features = perceptual.load_vgg19_features(params["perceptual_weights"])
            self.perceptual = perceptual.PerceptualLoss(features).to(runtime.device)
        betas = tuple(params["betas"])
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=params["lr"], betas=betas)
        self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=params["lr"], betas=betas)
        milestones = [int(f * params["iterations"]) for f in params["lr_halved_at"]]
        self.scheds = {name: torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.5)
                       for name, opt in (("g", self.opt_g), ("d", self.opt_d))}
        self.validation = [(np.asarray(data.val_source[s]), np.asarray(data.val_target[s, 0]),
                            np.asarray(data.val_mask[s, 0], bool))
                           for s in range(data.val_source.shape[0] if data.val_source.ndim == 5
                                          else 0)]

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "critic": self.critic}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def schedulers(self) -> dict:
        return self.scheds

    def sample_batch(self, rng: np.random.Generator):
        return self.patches.sample(rng, self.params["batch_size"])

    def train_step(self, batch) -> dict[str, float]:
        noisy, clean = (self.runtime.tensor(a) for a in batch)
        p = self.params
        with self.runtime.autocast():
            fake = self.generator(noisy)
        # the critic: several steps on this batch, in float32 (the penalty's
        # second derivatives), stepping its optimiser outside the loss scaler
        fake_d = fake.detach().float()
        for _ in range(p["critic_iterations"]):
            alpha = torch.rand(len(clean), device=clean.device)
            distance = self.critic(clean).mean() - self.critic(fake_d).mean()
            penalty = gan_parts.gradient_penalty(self.critic, clean, fake_d, alpha)
            loss_d = -distance + p["lambda_gp"] * penalty
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        # the generator against the updated (frozen) critic
        gan_parts.set_requires_grad([self.critic], False)
        fake = fake.float()
        losses = {"g_mse": nn.functional.mse_loss(fake, clean),
                  "g_adversarial": -self.critic(fake).mean()}
        loss_g = p["lambda_mse"] * losses["g_mse"] + p["lambda_adversarial"] * losses["g_adversarial"]
        if self.perceptual is not None:
            losses["g_perceptual"] = self.perceptual(fake, clean)
            loss_g = loss_g + p["lambda_perceptual"] * losses["g_perceptual"]
        self.runtime.optimize(self.opt_g, loss_g)
        gan_parts.set_requires_grad([self.critic], True)
        return {"d": float(loss_d.detach()), "wasserstein": float(distance.detach()),
                "gp": float(penalty.detach()), "g": float(loss_g.detach()),
                **{k: float(v.detach()) for k, v in losses.items()}}

    def validate(self) -> dict[str, float]:
        """MAE, spread and PSNR inside the head over the validation volumes."""
        cases = [(denoise(self.generator, source, self.params, self.runtime.device), target, mask)
                 for source, target, mask in self.validation]
        scores = validation_scores(cases)
        if cases:
            scores["psnr"] = float(np.mean([
                10 * np.log10(target[mask].max() ** 2 / np.mean((pred[mask] - target[mask]) ** 2))
                for pred, target, mask in cases]))
        return scores


def denoise(generator: REDGenerator, source: np.ndarray, params: dict,
            device: torch.device) -> np.ndarray:
    """The generator over a whole (1, x, y, z) noisy volume."""
    return predict_volume(generator, source, device, generator.receptive_radius,
                          params["infer_slab"])


def fit(data: TrainingData, params: dict, model_dir: Path, seed: int, threads: int,
        state_dir: Path | None = None) -> None:
    """Train generator and critic on the training subjects' noisy/clean patches."""
    params = train.merge_params(DEFAULTS, params, "red_wgan")
    if data.source.ndim != 5 or data.source.shape[0] == 0:
        raise ValueError("red_wgan needs at least one training subject")
    if data.in_channels != 1:
        raise ValueError(f"red_wgan denoises one image, got {data.in_channels} source channels")
    record = {**model_record(params, data), **perceptual.describe(params["perceptual_weights"])}
    log.info("red_wgan perceptual loss: %s", record["perceptual_loss"])
    train.run_training(lambda runtime: RedWgan(runtime, params, data),
                       name=f"red_wgan {data.condition.task}/{data.condition.name}",
                       iterations=params["iterations"], model_dir=model_dir, params=record,
                       seed=seed, threads=threads, state_dir=state_dir,
                       checkpoint_every=params["checkpoint_every"],
                       log_every=params["log_every"], val_every=params["val_every"])


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Denoise the subject's volume with the trained generator."""
    record = trained_record(case, model_dir, "red_wgan")
    params = train.merge_params(DEFAULTS, params, "red_wgan")
    runtime = train.Runtime.create()
    generator = load_network(REDGenerator(record["widths"]), model_dir, "generator", runtime)
    return denoise(generator, case.source[:1], params, runtime.device)
