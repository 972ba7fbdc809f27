"""Fourier burst accumulation (Delbracio & Sapiro, "Removing camera shake via
weighted Fourier burst accumulation", IEEE TIP 24(11), 2015), the fusion SMORE
uses for its two through-plane results.

Each input is sharp in some directions and blurred in others; blurring only
ever lowers the magnitude of a Fourier coefficient. The fused spectrum is a
weighted mean of the inputs' spectra in which every frequency trusts the input
with the larger magnitude there: weight ``|F_i|^p / sum_j |F_j|^p``. p = 0 is
the plain mean, p -> infinity picks the maximum; Delbracio & Sapiro use p = 11
and smooth the magnitudes with a Gaussian in the frequency domain (standard
deviation min(size)/50 frequency samples) so that noise does not pick the
weights. We do both in 3D; the frequency grid is periodic, so the smoothing
wraps around.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.special import logsumexp


def fourier_burst_accumulation(volumes: list[np.ndarray], power: float = 11.0,
                               smoothing: float | None = None) -> np.ndarray:
    """Fuse same-grid volumes; `smoothing` is the Gaussian's standard deviation
    in frequency samples (default min(shape)/50, 0 for none)."""
    if not volumes:
        raise ValueError("nothing to fuse")
    shape = np.shape(volumes[0])
    if any(np.shape(v) != shape for v in volumes):
        raise ValueError(f"volumes to fuse must share one shape, got {[np.shape(v) for v in volumes]}")
    if power < 0:
        raise ValueError(f"fusion power must be >= 0, got {power}")
    if len(volumes) == 1:
        return np.asarray(volumes[0], dtype=np.float32)
    sigma = min(shape) / 50.0 if smoothing is None else smoothing
    spectra = [np.fft.fftn(np.asarray(v, dtype=np.float64)) for v in volumes]
    log_magnitudes = []
    for spectrum in spectra:
        magnitude = np.abs(spectrum)
        if sigma > 0:
            magnitude = ndimage.gaussian_filter(magnitude, sigma, mode="wrap")
        log_magnitudes.append(power * np.log(np.maximum(magnitude, np.finfo(np.float64).tiny)))
    log_magnitudes = np.stack(log_magnitudes)
    weights = np.exp(log_magnitudes - logsumexp(log_magnitudes, axis=0))
    fused = np.fft.ifftn(sum(w * s for w, s in zip(weights, spectra, strict=True))).real
    return fused.astype(np.float32)
