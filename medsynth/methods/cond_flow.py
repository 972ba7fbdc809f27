"""``cond_flow``: conditional rectified flow (Liu, Gong & Liu, "Flow straight
and fast", ICLR 2023; the flow-matching objective of Lipman et al., ICLR 2023,
with straight conditional paths) on axial slices.

Training: with x0 ~ N(0, I) the noise and x1 the target slice, a time
tau = 1 - t/T (t uniform in {0 .. T-1}, MONAI's ``RFlowScheduler`` with
discrete timesteps) gives the point x_tau = tau x1 + (1 - tau) x0 on the
straight line between them (``RFlowScheduler.add_noise``), and the U-Net,
seeing x_tau beside the source slice, regresses the line's velocity x1 - x0
under the L2 loss.

Sampling: Euler steps along the predicted velocity from pure noise (t = T) to
t = 0 in `sampling_steps` equal steps (``RFlowScheduler.step``, whose steps
follow its own timestep list). A straight path is what makes few steps
enough; reflow, Liu et al.'s retraining on the model's own couplings to
straighten it further, is not done.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medsynth.case import Case, TrainingData
from medsynth.methods import generative_slices

DEFAULTS = {
    **generative_slices.NETWORK_DEFAULTS,
    "sampling_steps": 300,  # Moschetto et al.'s Euler steps at test time
}


class FlowProcess(generative_slices.Process):
    """Straight-line training pairs and Euler sampling (MONAI's ``RFlowScheduler``)."""

    method = "cond_flow"

    def __init__(self, params: dict, target_contrast: str):
        """`target_contrast` is not needed: a straight path ends on the target, so
        there is no estimate to clip."""
        from monai.networks.schedulers import RFlowScheduler

        self.scheduler = RFlowScheduler(num_train_timesteps=params["num_train_timesteps"],
                                        use_discrete_timesteps=True, sample_method="uniform")

    def training_pair(self, target, noise, timesteps):
        return self.scheduler.add_noise(target, noise, timesteps), target - noise

    def sample(self, model, noise, steps: int):
        self.check_steps(steps)
        self.scheduler.set_timesteps(steps, device=noise.device)
        timesteps = [int(t) for t in self.scheduler.timesteps]
        x = noise
        for t, t_next in zip(timesteps, [*timesteps[1:], 0], strict=True):
            velocity = model(x, self.at(x, t))
            x, _ = self.scheduler.step(velocity, t, x, t_next)
        return x


PROCESS = FlowProcess


def fit(data: TrainingData, params: dict, model_dir: Path, seed: int, threads: int,
        state_dir: Path | None = None) -> None:
    """Train the conditional velocity field on the training subjects' axial slices."""
    generative_slices.fit("cond_flow", PROCESS, DEFAULTS, data, params, model_dir, seed,
                          threads, state_dir)


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """The target integrated by Euler steps, slice by slice, from the subject's seeded noise."""
    return generative_slices.predict("cond_flow", PROCESS, DEFAULTS, case, params, model_dir)
