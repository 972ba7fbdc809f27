"""Method registry: every built-in method, its kind and the tasks it solves.

The registry is plain data so that the Snakefile can read it at parse time
without importing torch; `load()` imports a method's module only when a job
needs it.

Kinds, which shape the DAG:
- ``trained``: fitted once per task and condition on the training subjects
  (rule ``train``), then applied to each test subject (rule ``infer``).
- ``per_volume``: no training at all; applied to each test subject on its
  own (the baselines).
- ``self_supervised``: trained on each test subject's own input and applied
  to it in the same job (rule ``self_supervised``): SMORE.

A trained harmonizer marked ``all_contrasts`` (DeepHarmony) is fitted once for
the harmonize task, every contrast out (rule ``train_all_contrasts``), and
predicts each contrast's condition with that one model.

A trained or per-volume method's module provides ``predict(case, params,
model_dir)`` returning the prediction on the target grid, and trained methods
also ``fit(data, params, model_dir, seed, threads)``. A self-supervised one
provides ``fit_predict(case, params, model_dir, state_dir, seed, threads)``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class MethodInfo:
    name: str
    kind: str  # "trained", "per_volume" or "self_supervised"
    tasks: tuple[str, ...]
    module: str
    summary: str
    # harmonize: one model outputs every target contrast and serves all the
    # task's conditions (trained once, rule train_all_contrasts)
    all_contrasts: bool = False


_METHODS = [
    MethodInfo("none", "per_volume", ("t1_to_t2", "denoise", "harmonize"),
               "medsynth.methods.identity", "no processing: the source image itself"),
    MethodInfo("histogram_matching", "trained", ("t1_to_t2", "harmonize"),
               "medsynth.methods.histogram_matching",
               "maps source intensities onto the training targets' mean histogram (Nyul-Udupa landmarks)"),
    MethodInfo("bulk_density", "per_volume", ("mr_to_ct",),
               "medsynth.methods.bulk_density",
               "segmentation-based pseudo-CT: air, soft tissue and bone at fixed HU"),
    MethodInfo("nlm", "per_volume", ("denoise",), "medsynth.methods.nlm",
               "non-local means with the noise level estimated from the image"),
    MethodInfo("bm4d", "per_volume", ("denoise",), "medsynth.methods.bm4d_baseline",
               "BM4D collaborative filtering with the noise level estimated from the image"),
    MethodInfo("red_wgan", "trained", ("denoise",), "medsynth.methods.red_wgan",
               "3D residual encoder-decoder Wasserstein GAN with gradient penalty, MSE "
               "(+ VGG-19 perceptual) loss (Ran 2019)"),
    MethodInfo("bspline", "per_volume", ("superres",), "medsynth.methods.interpolation",
               "cubic B-spline interpolation of the thick slices onto the fine grid"),
    MethodInfo("smore", "self_supervised", ("superres",), "medsynth.methods.smore",
               "self-supervised super-resolution: EDSR trained on the scan's own in-plane "
               "slices, two orientations fused (Zhao 2021)"),
    MethodInfo("unet", "trained", ("t1_to_t2", "mr_to_ct"), "medsynth.methods.unet",
               "2D U-Net on axial slices (Han 2017)"),
    MethodInfo("pix2pix", "trained", ("t1_to_t2", "mr_to_ct"), "medsynth.methods.pix2pix",
               "conditional GAN: U-Net generator, 70x70 PatchGAN, L1 (Isola 2017)"),
    MethodInfo("context_gan", "trained", ("t1_to_t2", "mr_to_ct"),
               "medsynth.methods.context_gan",
               "3D patch FCN with adversarial, L2 and gradient-difference losses in an "
               "auto-context cascade (Nie 2017)"),
    MethodInfo("cond_diffusion", "trained", ("t1_to_t2", "mr_to_ct"),
               "medsynth.methods.cond_diffusion",
               "conditional denoising diffusion: source concatenated to the noisy target, "
               "epsilon prediction, DDIM sampling (Saharia 2022, Palette)"),
    MethodInfo("cond_flow", "trained", ("t1_to_t2", "mr_to_ct"), "medsynth.methods.cond_flow",
               "conditional rectified flow: straight-line velocity regression, few-step Euler "
               "sampling (Liu 2023; Lipman 2023)"),
    MethodInfo("deepharmony", "trained", ("harmonize",), "medsynth.methods.deepharmony",
               "multi-contrast 2D U-Net with strided convolutions, L1, one network per "
               "orientation combined by the median; one model outputs every contrast "
               "(Dewey 2019)", all_contrasts=True),
    MethodInfo("cyclegan", "trained", ("t1_to_t2", "mr_to_ct"), "medsynth.methods.cyclegan",
               "unpaired cycle-consistent GAN, ResNet generators (Zhu 2017; Wolterink 2017)"),
]

REGISTRY: dict[str, MethodInfo] = {m.name: m for m in _METHODS}


def of_kind(*kinds: str) -> list[str]:
    """Names of the registered methods of the given kinds."""
    return [m.name for m in _METHODS if m.kind in kinds]


def get(name: str) -> MethodInfo:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def load(name: str) -> ModuleType:
    """Import the module implementing a registered method."""
    return importlib.import_module(get(name).module)
