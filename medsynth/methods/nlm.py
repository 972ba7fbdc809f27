"""The ``nlm`` baseline for ``denoise``: 3D non-local means (Buades, Coll &
Morel, CVPR 2005; 3D MRI: Coupe et al., IEEE TMI 27(4), 2008) with the noise
level estimated from the image and the Rician bias removed afterwards.

Implementation: ``skimage.restoration.denoise_nl_means`` in its fast mode
(Darbon et al., ISBI 2008: integral images of patch distances, uniform patch
weights). We pass the estimated sigma to it, so that the expected noise
contribution 2 sigma^2 is subtracted from each patch distance, and set the
filtering strength h = 0.6 sigma: scikit-image's recommendation for the fast
mode when sigma is given (its non-local means gallery example, and the
``denoise_nl_means`` docstring: "when sigma is provided, a smaller h should
typically be used"). Patch 3^3 and search distance 5 (an 11^3 window) follow
the small-patch, small-window settings Coupe et al. found adequate for MRI
(patch radius 1, search radius 5) and keep a 2 mm head at about 10 s on one
core. Larger h (0.8 sigma without the sigma term, or Coupe's h^2 = 2 sigma^2
per voxel) blurred the 2 mm ICBM T1 more and scored worse. The filtered
magnitude is then bias-corrected for Rician noise (see
:func:`noise_estimate.rician_bias_correct`): on that image it changes brain
MAE by under 1 % but removes most of the error in dark tissue and background
(MAE within 8 mm of the brain 0.061 -> 0.035 at 9 % noise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.restoration import denoise_nl_means

from medsynth.case import Case
from medsynth.methods.identity import predict as source_on_target_grid
from medsynth.methods.noise_estimate import estimate_rician_sigma, rician_bias_correct

DEFAULTS = {
    "patch_size": 3,  # voxels per side (Coupe et al. 2008: patch radius 1)
    "patch_distance": 5,  # search radius in voxels (Coupe et al. 2008: 5)
    "h_over_sigma": 0.6,  # scikit-image's value for fast_mode with sigma given
    "rician_correction": True,
}


def denoise(noisy: np.ndarray, sigma: float, params: dict) -> np.ndarray:
    """Non-local means of a 3D magnitude image with known noise sigma."""
    params = {**DEFAULTS, **params}
    noisy = np.asarray(noisy, dtype=np.float32)
    if sigma <= 0:
        return noisy.copy()
    filtered = denoise_nl_means(
        noisy, patch_size=int(params["patch_size"]), patch_distance=int(params["patch_distance"]),
        h=float(params["h_over_sigma"]) * sigma, sigma=sigma, fast_mode=True, channel_axis=None,
    )
    if params["rician_correction"]:
        return rician_bias_correct(filtered, sigma)
    return filtered.astype(np.float32)


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Denoise source channel 0, sigma estimated inside the head mask."""
    noisy = source_on_target_grid(case, params, model_dir)
    sigma = estimate_rician_sigma(noisy, case.head_mask)
    return denoise(noisy, sigma, params)
