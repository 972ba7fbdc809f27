"""``cond_diffusion``: conditional denoising diffusion on axial slices, after
Palette (Saharia, Chan, Chang, Lee, Ho, Salimans, Fleet & Norouzi, "Palette:
Image-to-image diffusion models", SIGGRAPH 2022; arXiv 2111.05826).

Training (Ho et al., NeurIPS 2020): a target slice x0, noise e ~ N(0, I) and a
timestep t uniform in {0 .. T-1} make x_t = sqrt(a_t) x0 + sqrt(1 - a_t) e,
where a_t is the cumulative product of (1 - beta) of the noise schedule
(MONAI's ``DDPMScheduler.add_noise``); the U-Net sees x_t beside the source
slice and regresses e (``prediction_type: epsilon``, Palette's choice) or
v = sqrt(a_t) e - sqrt(1 - a_t) x0 (``v_prediction``; Salimans & Ho, ICLR
2022) under the L2 loss, which Palette keeps over L1 for its more faithful
sample distribution.

Sampling: deterministic DDIM (Song, Meng & Ermon, ICLR 2021, eta = 0) over
`sampling_steps` timesteps spread evenly from T - 1 to 0, each step
x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev) e_hat. x0_hat is clipped to
the target's network range (CT's window is [-1, 1]; MR, normalised to its
head's 99th percentile, stops at 1.5, i.e. 2 in network units), as DDPM clips
to the image range, and e_hat is re-derived from the clipped x0_hat, as the
guided-diffusion code whose U-Net Palette builds on does (its ``ddim_sample``). The step is written here and not taken
from MONAI's ``DDIMScheduler``: in MONAI 1.6 its ``set_timesteps`` spaces the
steps by (T - 1)/(n - 1) while ``step`` assumes T // n, so every step after
the first reads the wrong a_prev (T = 1000, 10 steps: the sample is moved to
t = 899 and the network then told it is at 888); the same mismatch is
diffusers issue #12633.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from medsynth.case import Case, TrainingData
from medsynth.methods import generative_slices

DEFAULTS = {
    **generative_slices.NETWORK_DEFAULTS,
    # Moschetto et al.'s DDPM: T = 1000, linear betas 1e-4 to 0.02, epsilon, and all 1000
    # timesteps at inference (they sample ancestrally; DDIM over every timestep here)
    "schedule": "linear_beta",
    "beta_start": 1e-4,
    "beta_end": 0.02,
    "prediction_type": "epsilon",
    "sampling_steps": 1000,
}
PREDICTION_TYPES = ("epsilon", "v_prediction")
# the largest network-range value a sample may take, per target (see module docstring)
SAMPLE_MAX = {"CT": 1.0}
MR_SAMPLE_MAX = 2.0


class DiffusionProcess(generative_slices.Process):
    """DDPM training pairs and deterministic DDIM sampling on one noise schedule."""

    method = "cond_diffusion"

    def __init__(self, params: dict, target_contrast: str):
        from monai.networks.schedulers import DDPMScheduler

        if params["prediction_type"] not in PREDICTION_TYPES:
            raise ValueError(f"cond_diffusion: prediction_type must be one of "
                             f"{', '.join(PREDICTION_TYPES)}, got {params['prediction_type']!r}")
        self.scheduler = DDPMScheduler(
            num_train_timesteps=params["num_train_timesteps"], schedule=params["schedule"],
            prediction_type=params["prediction_type"], beta_start=params["beta_start"],
            beta_end=params["beta_end"])
        self.alphas_cumprod = self.scheduler.alphas_cumprod.double()
        self.v_prediction = params["prediction_type"] == "v_prediction"
        self.clip = (-1.0, SAMPLE_MAX.get(target_contrast, MR_SAMPLE_MAX))

    def training_pair(self, target, noise, timesteps):
        noisy = self.scheduler.add_noise(target, noise, timesteps)
        goal = self.scheduler.get_velocity(target, noise, timesteps) if self.v_prediction else noise
        return noisy, goal

    def sampling_timesteps(self, steps: int) -> list[int]:
        """`steps` timesteps from T - 1 down to 0, evenly spaced and rounded."""
        self.check_steps(steps)
        return np.linspace(self.num_train_timesteps - 1, 0, steps).round().astype(int).tolist()

    def sample(self, model, noise, steps: int):
        timesteps = self.sampling_timesteps(steps)
        x = noise
        for t, t_prev in zip(timesteps, [*timesteps[1:], -1], strict=True):
            out = model(x, self.at(x, t))
            x = self.ddim_step(out, t, t_prev, x)
        return x

    def ddim_step(self, out: torch.Tensor, t: int, t_prev: int, x: torch.Tensor) -> torch.Tensor:
        """Deterministic DDIM from timestep `t` to `t_prev` (-1: the clean image)."""
        a = float(self.alphas_cumprod[t])
        a_prev = float(self.alphas_cumprod[t_prev]) if t_prev >= 0 else 1.0
        if self.v_prediction:
            x0 = a ** 0.5 * x - (1 - a) ** 0.5 * out
        else:
            x0 = (x - (1 - a) ** 0.5 * out) / a ** 0.5
        x0 = x0.clamp(*self.clip)
        eps = (x - a ** 0.5 * x0) / (1 - a) ** 0.5
        return a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps


PROCESS = DiffusionProcess


def fit(data: TrainingData, params: dict, model_dir: Path, seed: int, threads: int,
        state_dir: Path | None = None) -> None:
    """Train the conditional denoiser on the training subjects' axial slices."""
    generative_slices.fit("cond_diffusion", PROCESS, DEFAULTS, data, params, model_dir, seed,
                          threads, state_dir)


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """The target sampled by DDIM, slice by slice, from the subject's seeded noise."""
    return generative_slices.predict("cond_diffusion", PROCESS, DEFAULTS, case, params,
                                     model_dir)
