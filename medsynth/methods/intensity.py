"""Scaling between file intensities and the range networks work in.

Networks train best on inputs and targets of order one, centred near zero, so
every image is mapped linearly to about [-1, 1] before it enters a network
and mapped back exactly afterwards. The maps are fixed (not fitted per
image), so a prediction comes back on the target's own scale: HU for CT,
normalised intensity for MR.

- MR (T1w, T2w, PDw): preprocessing divides each image by the 99th
  percentile of its head (`medsynth.preprocess.normalise`), so tissue lies in
  about [0, 1.2]. ``2x - 1`` sends air (0) to -1 and the brightest tissue (1)
  to +1; nothing is clipped, since MR has no physical upper bound.
- CT: a fixed Hounsfield window, the dynamic range SynthRAD2023 evaluates in
  (``medsynth.protocols.SYNTHRAD2023_HU``, [-1024, 3000] HU; Huijben et al., Med
  Image Anal 2024;97:103276), is clipped to and scaled to [-1, 1]. Clipping
  removes only values outside the range PSNR and SSIM are scored in (metal
  and noise tails, which would otherwise dominate a squared-error loss); the
  inverse clips to the same window, so a synthetic CT never leaves it. Inside
  the window the round trip is exact up to float32 rounding.
"""

from __future__ import annotations

import numpy as np

from medsynth.protocols import SYNTHRAD2023_HU
from medsynth.tasks import MR_CONTRASTS

CT_WINDOW_HU = SYNTHRAD2023_HU


def _check(contrast: str) -> None:
    if contrast != "CT" and contrast not in MR_CONTRASTS:
        raise ValueError(f"unknown contrast {contrast!r}; known: CT, {', '.join(MR_CONTRASTS)}")


def to_network(x: np.ndarray, contrast: str) -> np.ndarray:
    """File intensities of `contrast` to the network's range (float32)."""
    _check(contrast)
    x = np.asarray(x, dtype=np.float32)
    if contrast == "CT":
        low, high = CT_WINDOW_HU
        clipped = np.clip(x, low, high)
        return (2.0 * (clipped - low) / (high - low) - 1.0).astype(np.float32)
    return (2.0 * x - 1.0).astype(np.float32)


def from_network(y: np.ndarray, contrast: str) -> np.ndarray:
    """The inverse of :func:`to_network` (float32); CT is clipped to its window."""
    _check(contrast)
    y = np.asarray(y, dtype=np.float32)
    if contrast == "CT":
        low, high = CT_WINDOW_HU
        hu = (y.astype(np.float64) + 1.0) * 0.5 * (high - low) + low
        return np.clip(hu, low, high).astype(np.float32)
    return ((y + 1.0) * 0.5).astype(np.float32)
