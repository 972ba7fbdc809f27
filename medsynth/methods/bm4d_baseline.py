"""The ``bm4d`` baseline for ``denoise``: BM4D collaborative filtering
(Maggioni, Katkovnik, Egiazarian & Foi, IEEE TIP 22(1), 2013), through the
authors' ``bm4d`` package (Makinen, Azzari & Foi, IEEE TIP 29, 2020, whose
implementation it ships), with sigma estimated from the image.

Stages: ``all`` runs hard thresholding and then Wiener filtering with the
first result as pilot (the full algorithm, the default and the ``paper``
setting); ``hard`` stops after the first stage. Measured on the ICBM 2009a T1
at 2 mm (99x117x95) with 5 % Rician noise: ``hard`` takes brain MAE from
0.040 to 0.022 in 20 s on one thread (12 s wall on two); ``all`` reaches
0.021 in about 60 s on one thread (33 s wall on two). ``hard`` gives most of
the gain at a third of the cost, which suits the CPU ``quick`` preset.
A reference-block step of 4 instead of 3 (``step_ht``) halves the cost of
hard thresholding again for a small loss (phantom, 2 mm, 5 %: MAE 0.0163 with
step 3 in 30 s, 0.0173 with step 4 in 14 s, one thread).

Most of what remains is the package's noise model, not the filtering: it turns a
scalar sigma into a flat power spectrum and computes each group's coefficient
variances on a grid of ``psd_size``³ frequencies (its ``nf``, 16 by default).
Noise that is white has a flat spectrum on any grid, and a grid of 4 (the block
size) cuts hard thresholding to about a fifth of its CPU time with PSNR within
0.11 dB at 1, 5 and 9 % noise (``benchmarks/bm4d_time.py``: phantom sub-004,
2 mm, step 4: 16.4 s -> 2.9 s, 42.76 -> 42.87 dB at 1 %; 15.4 -> 3.3 s,
33.61 -> 33.63 dB at 5 %; 15.7 -> 3.1 s, 29.63 -> 29.54 dB at 9 %).

Rician noise: the original BM4D release handled it with a variance-stabilising
transform (Foi, ISBI 2011); the Python package has no Rician mode (it takes a
Gaussian sigma or a noise PSD), so we filter the magnitude as if Gaussian and
then remove the Rician bias as for NLM (:func:`noise_estimate.rician_bias_correct`).
"""

from __future__ import annotations

from pathlib import Path

import bm4d
import numpy as np

from medsynth.case import Case
from medsynth.methods.identity import predict as source_on_target_grid
from medsynth.methods.noise_estimate import estimate_rician_sigma, rician_bias_correct

DEFAULTS = {
    "stage": "all",  # "all" (hard thresholding + Wiener) or "hard" (hard thresholding only)
    "profile": "np",  # the package's default ("normal profile") settings; or "refilter"
    "num_threads": 1,  # 1: reproducible bit for bit, one core per job; 0: all cores
    "step_ht": 3,  # voxels between reference blocks in hard thresholding (the profiles' 3)
    "psd_size": 16,  # frequencies per side of the package's noise-spectrum grid (its nf, 16)
    "rician_correction": True,
}

STAGES = {"all": bm4d.BM4DStages.ALL_STAGES, "hard": bm4d.BM4DStages.HARD_THRESHOLDING}
PROFILES = {"np": bm4d.BM4DProfile, "refilter": bm4d.BM4DProfileRefilter}


def make_profile(name: str, num_threads: int) -> bm4d.BM4DProfile:
    """The package's named 3D profile with the thread count set.

    One thread by default, against the package's 0 (all cores): the workflow
    schedules one core per inference job, and with more threads the package's
    aggregation order varies, so results differ in the last float digits
    between runs (about 1e-6 here).
    """
    if name not in PROFILES:
        raise ValueError(f"bm4d profile must be one of {sorted(PROFILES)}, got {name!r}")
    profile = PROFILES[name]()
    profile.num_threads = int(num_threads)
    return profile


def denoise(noisy: np.ndarray, sigma: float, params: dict) -> np.ndarray:
    """BM4D of a 3D magnitude image with known noise sigma."""
    params = {**DEFAULTS, **params}
    if params["stage"] not in STAGES:
        raise ValueError(f"bm4d stage must be one of {sorted(STAGES)}, got {params['stage']!r}")
    profile = make_profile(params["profile"], params["num_threads"])
    profile.step_ht = (int(params["step_ht"]),) * 3
    profile.nf = (_psd_size(params["psd_size"]),) * 3
    noisy = np.asarray(noisy, dtype=np.float32)
    if noisy.ndim != 3 or min(noisy.shape) < 5:
        raise ValueError(f"bm4d needs a 3D volume at least 5 voxels per side, got {noisy.shape}")
    if sigma <= 0:
        return noisy.copy()
    filtered = bm4d.bm4d(noisy, sigma, profile=profile, stage_arg=STAGES[params["stage"]])
    filtered = np.asarray(filtered, dtype=np.float32).reshape(noisy.shape)
    if params["rician_correction"]:
        return rician_bias_correct(filtered, sigma)
    return filtered


def _psd_size(value) -> int:
    """The noise-spectrum grid size, checked here: the package's library aborts the
    whole process (an uncaught C++ exception) on a size that is not a power of two
    from 4 up (seen with 2, 6 and 12)."""
    size = int(value)
    if size < 4 or size & (size - 1):
        raise ValueError(f"bm4d psd_size must be a power of two, at least 4; got {value!r}")
    return size


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Denoise source channel 0, sigma estimated inside the head mask."""
    noisy = source_on_target_grid(case, params, model_dir)
    sigma = estimate_rician_sigma(noisy, case.head_mask)
    return denoise(noisy, sigma, params)
