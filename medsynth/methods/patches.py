"""3D training patches for the volumetric networks (RED-WGAN, the context-aware
GAN): where a patch may start, and drawing a batch of (source, target) patches.

A network without padding (the context-aware GAN's generator) maps a source
patch to a smaller, centred target patch: ``source_margin`` voxels more on
each side. The source volumes are then stored mirror-padded by that margin,
so that every target patch of the volume, border ones included, has its full
source context.

Patches that are mostly air teach a denoiser little but the background, so
only patches whose head fraction (from the head mask) reaches
``min_head_fraction`` are drawn. The usable corners are indexed once when the
model is built; a training step only slices arrays in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def usable_corners(mask: np.ndarray, patch: tuple[int, int, int],
                   min_head_fraction: float) -> np.ndarray:
    """(M, 3) corners of the `patch`-sized boxes of `mask` that are at least
    `min_head_fraction` inside it."""
    mask = np.asarray(mask, dtype=np.float32)
    if any(n < p for n, p in zip(mask.shape, patch, strict=True)):
        raise ValueError(f"volume {mask.shape} is smaller than the training patch {patch}")
    from scipy import ndimage  # training only: the patch GANs' infer jobs import this module

    fraction = ndimage.uniform_filter(mask, size=patch, mode="constant")
    # uniform_filter centres a window of size p at index i on i - p // 2 ... i + (p - 1) // 2
    valid = tuple(slice(p // 2, n - p + 1 + p // 2) for n, p in zip(mask.shape, patch, strict=True))
    return np.argwhere(fraction[valid] >= min_head_fraction - 1e-6)


@dataclass(frozen=True)
class VolumePatches:
    """Paired source/target volumes, (S, C, x, y, z) and (S, 1, x, y, z), and
    the usable target-patch corners of each: rows of (subject, x, y, z). The
    source is stored padded by `source_margin` on each spatial side."""

    source: np.ndarray
    target: np.ndarray
    patch: tuple[int, int, int]
    corners: np.ndarray
    source_margin: int = 0

    @classmethod
    def build(cls, source: np.ndarray, target: np.ndarray, mask: np.ndarray,
              patch, min_head_fraction: float, source_margin: int = 0) -> VolumePatches:
        patch = tuple(int(p) for p in patch)
        if source_margin < 0:
            raise ValueError(f"source_margin must be non-negative, got {source_margin}")
        corners = [np.column_stack([np.full(len(c), s), c])
                   for s in range(len(mask))
                   for c in [usable_corners(mask[s, 0], patch, min_head_fraction)]]
        corners = np.concatenate(corners) if corners else np.zeros((0, 4), int)
        if len(corners) == 0:
            raise ValueError(f"no {patch} patch of the training volumes is "
                             f"{min_head_fraction:.0%} head; lower min_head_fraction")
        source = np.asarray(source, np.float32)
        if source_margin:
            m = source_margin
            source = np.pad(source, [(0, 0), (0, 0), (m, m), (m, m), (m, m)], mode="reflect")
        return cls(np.ascontiguousarray(source), np.ascontiguousarray(target, np.float32),
                   patch, corners, source_margin)

    def sample(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """A batch of (B, C, px + 2m, py + 2m, pz + 2m) source patches, m the
        source margin, and the (B, 1, px, py, pz) target patches at their centres."""
        chosen = self.corners[rng.integers(len(self.corners), size=batch_size)]
        sx, sy, sz = (p + 2 * self.source_margin for p in self.patch)
        px, py, pz = self.patch
        return (np.stack([self.source[s, :, x:x + sx, y:y + sy, z:z + sz]
                          for s, x, y, z in chosen]),
                np.stack([self.target[s, :, x:x + px, y:y + py, z:z + pz]
                          for s, x, y, z in chosen]))
