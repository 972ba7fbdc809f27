"""Emission data and OSEM reconstruction with attenuation in the system model.

Data: ȳ = a ⊙ A(G λ), with A the slice-wise projector, G the scanner's
resolution (a 3D Gaussian of `fwhm_mm`) and a = exp(-A μ) the attenuation
factors of the real CT's μ map. Reconstruction models ȳ = a' ⊙ A λ with a'
from the CT under test (the real one for the reference): the resolution is
not modelled, so reference and test share the same blur and differ only by
attenuation. With attenuation in the model, the OSEM update is
λ ← λ / (Aᵀ_s a'_s) · Aᵀ_s (y_s / A_s λ): the attenuation factors enter through
the sensitivity image alone. Noise-free data are the primary end point (the
attenuation error is a bias, measured alone without noise); :func:`poisson_data`
draws noisy replicates, each reconstructed with the reference and the test
attenuation alike, so that the comparison stays paired.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medsynth.pet.projector import Projector

SIGMA_PER_FWHM = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def attenuation_factors(projector: Projector, mu_per_cm: np.ndarray) -> np.ndarray:
    """exp(-∫μ) along every line of response: μ in /cm, line integrals in mm."""
    return np.exp(-projector.forward(mu_per_cm) / 10.0).astype(np.float32)


def emission_data(projector: Projector, activity: np.ndarray, factors: np.ndarray,
                  fwhm_mm: float, voxel_mm) -> np.ndarray:
    """Noise-free sinograms of an activity volume seen through `factors`."""
    sigma = [fwhm_mm * SIGMA_PER_FWHM / v for v in voxel_mm]
    blurred = ndimage.gaussian_filter(activity.astype(np.float32), sigma) if fwhm_mm > 0 else activity
    return (factors * projector.forward(blurred.astype(np.float32))).astype(np.float32)


def poisson_data(data: np.ndarray, total_counts: float, rng: np.random.Generator) -> np.ndarray:
    """A Poisson replicate of `data` with `total_counts` expected counts, on the same scale."""
    scale = total_counts / float(data.sum())
    return (rng.poisson(data * scale) / scale).astype(np.float32)


def osem(projector: Projector, data: np.ndarray, factors: np.ndarray, iterations: int,
         subsets: int) -> np.ndarray:
    """OSEM (MLEM for one subset) from a uniform start; returns (nx, ny, nz)."""
    n_slices = data.shape[1]
    nx, ny = projector.shape
    image = np.ones((nx * ny, n_slices), dtype=np.float32)
    n_bins = projector.n_bins
    parts = []
    for s in range(subsets):
        matrix = projector.subset(s, subsets)
        angles = np.arange(s, projector.n_angles, subsets)
        rows = (angles[:, None] * n_bins + np.arange(n_bins)[None, :]).ravel()
        sensitivity = matrix.T @ factors[rows]
        parts.append((matrix, matrix.T.tocsr(), data[rows],
                      np.where(sensitivity > 0, 1.0 / np.maximum(sensitivity, 1e-12), 0.0)
                      .astype(np.float32)))
    for _ in range(iterations):
        for matrix, transpose, y, inverse_sensitivity in parts:
            expected = matrix @ image
            ratio = np.divide(y, expected, out=np.zeros_like(y), where=expected > 0)
            image *= inverse_sensitivity * (transpose @ ratio)
    return image.reshape(nx, ny, n_slices)
