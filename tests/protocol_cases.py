"""Fixed arrays the protocol tests score, shared with the command that produced
the official implementations' values pasted in ``test_protocols.py``."""

import numpy as np

SHAPE = (40, 36, 32)


def _head(shape=SHAPE) -> tuple[np.ndarray, np.ndarray]:
    """Normalised radius of an ellipsoidal head, and its mask (away from the border)."""
    grid = np.indices(shape, dtype=np.float64)
    centre = (np.array(shape) - 1) / 2
    radius = np.sqrt(sum(((g - c) / (0.42 * n)) ** 2 for g, c, n in zip(grid, centre, shape,
                                                                         strict=True)))
    return radius, radius < 1.0


def ct_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prediction, target, mask) in HU: air, soft tissue, a bone shell above 3071 HU in
    places, and a prediction with noise, a bias and voxels beyond both clip ranges."""
    rng = np.random.default_rng(2024)
    radius, mask = _head()
    target = np.full(SHAPE, -1000.0)
    target[radius < 1.0] = 40.0
    target[(radius > 0.8) & (radius < 0.95)] = 1500.0
    target += rng.normal(0.0, 30.0, SHAPE)
    target[(radius > 0.85) & (radius < 0.9)] = 3200.0
    pred = target + 25.0 + rng.normal(0.0, 80.0, SHAPE)
    pred[rng.random(SHAPE) < 0.01] = 3500.0
    pred[rng.random(SHAPE) < 0.01] = -1200.0
    return pred, target, mask


def mr_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prediction, target, mask) in normalised MR intensity, air near 0."""
    rng = np.random.default_rng(7)
    radius, mask = _head()
    target = np.where(radius < 1.0, 0.3 + 0.7 * np.cos(radius * 2.5) ** 2, 0.0)
    target = np.abs(target + rng.normal(0.0, 0.02, SHAPE))
    pred = 0.9 * target + 0.05 + rng.normal(0.0, 0.05, SHAPE)
    return pred, target, mask
