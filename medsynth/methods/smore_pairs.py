"""SMORE's self-supervised training data: pairs cut from the high-resolution
in-plane slices of the very volume to be super-resolved.

Acquisition model (:class:`SliceModel`): a thick slice is the object
integrated against a Gaussian slice profile whose FWHM is the slice thickness,
sampled every ``spacing_mm`` (a gap when the spacing exceeds the thickness),
and the scan is then interpolated onto the fine grid with a cubic B-spline.
That is :func:`medsynth.preprocess.degrade.simulate_thick_slices` followed by
the ``bspline`` baseline's resampler, so a training input here is made by
exactly the operators that made, and then interpolated, the real thick-slice
scan; only the direction differs: it is applied along an in-plane axis.

In-plane slices are rotated before they are degraded along their first axis,
so the network sees the degradation in several in-plane directions (Zhao et
al., IEEE TMI 40(3), 2021, who rotate the in-plane slices for the same
reason). Rotations by multiples of 90 degrees are exact; other angles use
cubic interpolation with zero fill, which the input and the target share.

Pairs by role (Zhao et al. 2021): without the anti-aliasing stage the
super-resolution network learns degraded -> sharp in one step. With it (2D
acquisitions with slice gaps, where sampling aliases), the anti-aliasing
network learns degraded -> blurred-only (the slice profile applied without
sampling) and the super-resolution network blurred-only -> sharp; at
inference the first feeds the second. This split is our reading of the
paper's SAA/SSR pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medsynth.preprocess.degrade import simulate_thick_slices
from medsynth.preprocess.resample import resample_to_grid

FOREGROUND = 0.1  # intensity (volume scaled to ~[0, 1]) above which a pixel is head


@dataclass(frozen=True)
class SliceModel:
    """How the thick slices were acquired: profile FWHM and slice spacing (mm)."""

    thickness_mm: float
    spacing_mm: float

    def __post_init__(self):
        if not (self.thickness_mm > 0 and self.spacing_mm > 0):
            raise ValueError(f"slice thickness ({self.thickness_mm}) and spacing "
                             f"({self.spacing_mm}) must be positive")

    @property
    def has_gaps(self) -> bool:
        return self.spacing_mm > self.thickness_mm * (1 + 1e-6)


def _along_first_axis(images: np.ndarray, pixel_mm: float, thickness_mm: float,
                      spacing_mm: float) -> np.ndarray:
    """Acquire (N, a, b) images along axis 1 and interpolate back onto their grid."""
    volume = np.ascontiguousarray(np.moveaxis(np.asarray(images, np.float32), 0, -1))  # (a, b, N)
    affine = np.diag([pixel_mm, pixel_mm, 1.0, 1.0])
    thick, thick_affine = simulate_thick_slices(volume, affine, thickness_mm, axis=0,
                                                spacing_mm=spacing_mm)
    if thick.shape == volume.shape and np.allclose(thick_affine, affine):
        back = thick  # sampled on the fine grid itself: nothing to interpolate
    else:
        back = resample_to_grid(thick, thick_affine, volume.shape, affine, order=3)
    return np.ascontiguousarray(np.moveaxis(back, -1, 0))


def degrade(images: np.ndarray, pixel_mm: float, model: SliceModel) -> np.ndarray:
    """The thick-slice acquisition along the first image axis, interpolated back."""
    return _along_first_axis(images, pixel_mm, model.thickness_mm, model.spacing_mm)


def blur_only(images: np.ndarray, pixel_mm: float, model: SliceModel) -> np.ndarray:
    """The slice profile along the first image axis without sampling: no aliasing."""
    return _along_first_axis(images, pixel_mm, model.thickness_mm, pixel_mm)


def rotate(images: np.ndarray, angle_deg: float) -> np.ndarray:
    """(N, a, b) images rotated in-plane; the frame grows to keep every pixel."""
    quarter_turns = float(angle_deg) / 90.0
    if np.isclose(quarter_turns, round(quarter_turns)):
        return np.ascontiguousarray(np.rot90(images, round(quarter_turns) % 4, axes=(1, 2)))
    return ndimage.rotate(images, angle_deg, axes=(1, 2), reshape=True, order=3,
                          mode="constant", cval=0.0).astype(np.float32)


def in_plane_slices(volume: np.ndarray, through_axis: int) -> np.ndarray:
    """(N, a, b) stack of the slices perpendicular to `through_axis`, with enough head."""
    stack = np.moveaxis(np.asarray(volume, np.float32), through_axis, 0)
    keep = (stack > FOREGROUND).mean(axis=(1, 2)) >= 0.05
    if not keep.any():
        raise ValueError("no in-plane slice holds enough signal to train on")
    return np.ascontiguousarray(stack[keep])


@dataclass
class PatchPairs:
    """Input/target image stacks (one per rotation) and where patches may start."""

    inputs: list[np.ndarray]
    targets: list[np.ndarray]
    patch_size: int
    starts: np.ndarray  # (M, 4): stack, image, row, column of each usable patch

    @classmethod
    def build(cls, inputs: list[np.ndarray], targets: list[np.ndarray], patch_size: int,
              min_foreground: float) -> PatchPairs:
        """Index every patch whose target is at least `min_foreground` head."""
        starts = []
        for k, target in enumerate(targets):
            n, a, b = target.shape
            if a < patch_size or b < patch_size:
                raise ValueError(f"in-plane slices of {a} x {b} pixels are smaller than the "
                                 f"{patch_size}-pixel training patch; lower patch_size")
            head = (target > FOREGROUND).astype(np.float32)
            fraction = ndimage.uniform_filter(head, size=(1, patch_size, patch_size),
                                              mode="constant")
            half = patch_size // 2  # uniform_filter centres the window at index + 0 - half
            fraction = fraction[:, half:a - patch_size + 1 + half, half:b - patch_size + 1 + half]
            image, row, column = np.nonzero(fraction >= min_foreground)
            starts.append(np.stack([np.full_like(image, k), image, row, column], axis=1))
        starts = np.concatenate(starts)
        if len(starts) == 0:
            raise ValueError(f"no {patch_size}-pixel patch is {min_foreground:.0%} head")
        return cls(inputs, targets, patch_size, starts)

    def sample(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """A batch of (B, 1, p, p) input and target patches."""
        p = self.patch_size
        chosen = self.starts[rng.integers(len(self.starts), size=batch_size)]
        inputs = np.stack([self.inputs[k][n, r:r + p, c:c + p] for k, n, r, c in chosen])
        targets = np.stack([self.targets[k][n, r:r + p, c:c + p] for k, n, r, c in chosen])
        return inputs[:, None], targets[:, None]


def training_pairs(slices: np.ndarray, pixel_mm: float, model: SliceModel,
                   angles_deg, role: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Input and target stacks for one network, one pair of stacks per angle.

    role ``sr``: degraded -> sharp (single-stage SMORE); ``sr_after_aa``:
    blurred-only -> sharp; ``aa``: degraded -> blurred-only (see module docstring).
    """
    if role not in ("sr", "sr_after_aa", "aa"):
        raise ValueError(f"unknown training-pair role {role!r}")
    inputs, targets = [], []
    for angle in angles_deg:
        sharp = rotate(slices, angle)
        if role == "sr":
            pair = degrade(sharp, pixel_mm, model), sharp
        elif role == "sr_after_aa":
            pair = blur_only(sharp, pixel_mm, model), sharp
        else:
            pair = degrade(sharp, pixel_mm, model), blur_only(sharp, pixel_mm, model)
        inputs.append(pair[0])
        targets.append(pair[1])
    return inputs, targets
