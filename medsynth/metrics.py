"""Image metrics (MAE, PSNR, SSIM, MS-SSIM inside a mask) and Dice overlap:
the primitives every evaluation protocol (``medsynth.protocols``) is built from.

They take intensities and a data range as given; which clipping, range and
normalisation a score uses is the protocol's choice, not theirs.
"""

from __future__ import annotations

import numpy as np

# skimage's default SSIM window (7 voxels per axis) and the border it leaves
# out of its own mean; we drop the same border from the masked mean.
SSIM_WIN_SIZE = 7
_SSIM_PAD = (SSIM_WIN_SIZE - 1) // 2
_K1, _K2 = 0.01, 0.03  # SSIM's stabilising constants (Wang et al. 2004)

# Masked MS-SSIM as SynthRAD2025 computes it (see ms_ssim)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_MIN_SIZE = 97


def _masked(pred: np.ndarray, target: np.ndarray, mask: np.ndarray):
    mask = np.asarray(mask, dtype=bool)
    if pred.shape != target.shape or mask.shape != target.shape:
        raise ValueError(
            f"shapes differ: prediction {pred.shape}, target {target.shape}, mask {mask.shape}"
        )
    if not mask.any():
        raise ValueError("mask is empty: no voxels to evaluate")
    return (np.asarray(pred, dtype=np.float64)[mask],
            np.asarray(target, dtype=np.float64)[mask])


def mae(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute error over the mask voxels."""
    p, t = _masked(pred, target, mask)
    return float(np.mean(np.abs(p - t)))


def psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, data_range: float) -> float:
    """Peak signal-to-noise ratio 10·log10(range² / MSE) over the mask voxels, in dB.

    Identical images inside the mask give ``inf``.
    """
    p, t = _masked(pred, target, mask)
    mse = float(np.mean((p - t) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, data_range: float,
         floor: float = 0.0) -> float:
    """Mean of the 3D SSIM map inside the mask.

    SSIM needs a neighbourhood, so a plain masked mean of the map would still
    see voxels outside the mask. As SynthRAD2023 does, voxels outside the mask
    are set to ``floor`` in both images (air: -1024 HU for CT, 0 for normalised
    MR) and ``floor`` is subtracted so the luminance term sees non-negative
    intensities; then anything outside the mask cannot change the score. The
    map (skimage, 7-voxel window) is averaged over mask voxels away from the
    volume border, where skimage's own mean also excludes it.
    """
    if min(np.shape(target)) < SSIM_WIN_SIZE:
        raise ValueError(f"SSIM needs at least {SSIM_WIN_SIZE} voxels per axis, "
                         f"got {np.shape(target)}")
    p, t, mask = _outside_to_floor(pred, target, mask, floor)
    # scipy.ndimage and skimage load inside the SSIMs: every trained method's infer job
    # imports this module (through intensity and protocols) and never scores
    from skimage.metrics import structural_similarity

    _, ssim_map = structural_similarity(
        t, p, win_size=SSIM_WIN_SIZE, data_range=data_range, full=True
    )
    inner = (slice(_SSIM_PAD, -_SSIM_PAD),) * ssim_map.ndim
    inside = mask[inner]
    if not inside.any():
        raise ValueError("mask lies entirely in the volume border, where SSIM is undefined")
    return float(ssim_map[inner][inside].mean())


def spread_ratio(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """The prediction's standard deviation inside the mask over the target's:
    near 0 for a prediction that is (nearly) one value where the target has
    anatomy (a collapsed network), near 1 for one with the target's contrast."""
    p, t = _masked(pred, target, mask)
    spread = float(t.std())
    if spread == 0.0:
        raise ValueError("target is constant inside the mask; its spread is zero")
    return float(p.std()) / spread


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap 2|A∩B| / (|A|+|B|) of two boolean arrays.

    Both empty counts as perfect agreement (1.0), as MONAI's DiceMetric does
    with ``ignore_empty=False``: a structure absent from both images was
    reproduced correctly, and a NaN would silently drop the subject from means.
    """
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(a, b).sum()) / total


def dice_per_label(seg: np.ndarray, ref: np.ndarray, labels: dict[int, str]) -> dict[str, float]:
    """Dice of each label value between a segmentation and a reference, keyed by label name."""
    return {name: dice(seg == value, ref == value) for value, name in labels.items()}


def volume_difference_pct(seg: np.ndarray, ref: np.ndarray, label: int) -> float:
    """|V_seg - V_ref| / V_ref in percent for one label: how far a tissue volume
    measured on a harmonized scan lies from the same tissue measured on the real
    scan of the target scanner (DeepHarmony's volume consistency). Both on one
    grid, so voxel counts stand for volumes. 0 if the label is absent from both,
    inf if only from `ref`."""
    seg, ref = np.asarray(seg), np.asarray(ref)
    if seg.shape != ref.shape:
        raise ValueError(f"shapes differ: {seg.shape} vs {ref.shape}")
    v_seg, v_ref = int(np.count_nonzero(seg == label)), int(np.count_nonzero(ref == label))
    if v_ref == 0:
        return 0.0 if v_seg == 0 else float("inf")
    return 100.0 * abs(v_seg - v_ref) / v_ref


def target_range(target: np.ndarray, mask: np.ndarray) -> float:
    """The target's max - min inside the mask: the peak for images without an
    absolute scale (normalised MR), so extreme voxels outside the head do not set it."""
    _, t = _masked(target, target, mask)
    value = float(t.max() - t.min())
    if value <= 0.0:
        raise ValueError("target is constant inside the mask; PSNR/SSIM range is zero")
    return value


def _outside_to_floor(pred, target, mask, floor):
    """Both images with voxels outside the mask set to `floor`, shifted so the floor is 0:
    then nothing outside the mask can change a windowed score."""
    mask = np.asarray(mask, dtype=bool)
    _masked(pred, target, mask)  # shape and emptiness checks
    p = np.where(mask, np.asarray(pred, dtype=np.float64), floor) - floor
    t = np.where(mask, np.asarray(target, dtype=np.float64), floor) - floor
    return p, t, mask


def _ssim_components(x: np.ndarray, y: np.ndarray, data_range: float):
    """Per-voxel luminance, contrast and structure of SSIM over a 7-voxel uniform
    window (sample covariance, reflected borders: skimage's defaults), each clipped
    at 0 as SynthRAD2025's code clips them."""
    n = SSIM_WIN_SIZE**x.ndim
    cov_norm = n / (n - 1)

    def mean(a):
        from scipy.ndimage import uniform_filter  # see ssim

        return uniform_filter(a, size=SSIM_WIN_SIZE)

    ux, uy = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    sx, sy = np.sqrt(np.clip(vx, 0, None)), np.sqrt(np.clip(vy, 0, None))
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    c3 = c2 / 2
    luminance = np.clip((2 * ux * uy + c1) / (ux * ux + uy * uy + c1), 0, None)
    contrast = np.clip((2 * sx * sy + c2) / (vx + vy + c2), 0, None)
    structure = np.clip((vxy + c3) / (sx * sy + c3), 0, None)
    return luminance, contrast, structure


def _pad_to(a: np.ndarray, size: int) -> np.ndarray:
    """Edge-pad every axis shorter than `size` to `size`, the extra split evenly
    (the odd voxel after)."""
    pads = [(max(size - n, 0) // 2, max(size - n, 0) - max(size - n, 0) // 2) for n in a.shape]
    return np.pad(a, pads, mode="edge")


def _halve(a: np.ndarray) -> np.ndarray:
    """SynthRAD2025's down-sampling: the 2 x 2 x 2 mean of each voxel with its
    predecessors (zeros before the first voxel), every other voxel kept; what
    ``fftconvolve(a, ones((2, 2, 2)) / 8, mode="same")[::2, ::2, ::2]`` gives."""
    p = np.pad(a, [(1, 0)] * a.ndim)
    m = [(n + 1) // 2 for n in a.shape]
    p = p[tuple(slice(0, 2 * k) for k in m)]
    return p.reshape([v for k in m for v in (k, 2)]).mean(axis=tuple(range(1, 2 * a.ndim, 2)))


def ms_ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, data_range: float,
            floor: float = 0.0) -> float:
    """Masked multi-scale SSIM as SynthRAD2025's evaluation computes it.

    Voxels outside the mask are set to `floor` and the floor is subtracted (as
    :func:`ssim`); the volumes and the mask are edge-padded to at least 97 voxels
    per axis so that five scales fit. At each scale j the map
    (l·c·s)^w_j, with the 7³ uniform-window components of :func:`_ssim_components`
    and w = 0.0448, 0.2856, 0.3001, 0.2363, 0.1333, is averaged over the mask
    voxels away from the 3-voxel border, and that mean is clipped to [0, 1]; the
    score is the product over scales. Between scales the images are halved by
    :func:`_halve` and the mask by keeping every other voxel.

    Wang et al. (2003) weight luminance at the coarsest scale only; SynthRAD2025's
    code gives luminance the scale's weight at every scale, and we follow the code.
    """
    p, t, mask = _outside_to_floor(pred, target, mask, floor)
    p, t = _pad_to(p, MS_SSIM_MIN_SIZE), _pad_to(t, MS_SSIM_MIN_SIZE)
    m = _pad_to(mask, MS_SSIM_MIN_SIZE)
    score = 1.0
    for scale, weight in enumerate(MS_SSIM_WEIGHTS):
        luminance, contrast, structure = _ssim_components(t, p, data_range)
        values = luminance**weight * contrast**weight * structure**weight
        inner = (slice(_SSIM_PAD, -_SSIM_PAD),) * values.ndim
        inside = m[inner]
        if not inside.any():
            raise ValueError(f"the mask has no voxel inside the border at MS-SSIM scale {scale + 1}")
        score *= float(np.clip(values[inner][inside].mean(), 0.0, 1.0))
        p, t, m = _halve(p), _halve(t), m[::2, ::2, ::2]
    return score


def gaussian_ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean SSIM over the whole volume as torchmetrics' default computes it:
    Gaussian window (11 taps, σ 1.5), population (co)variances with the
    variances clamped at 0, borders mirrored, data range the larger of the two
    images' max - min, and the map averaged over every voxel."""
    x, y = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: prediction {x.shape}, target {y.shape}")
    data_range = max(float(np.ptp(x)), float(np.ptp(y)))
    if data_range == 0.0:
        raise ValueError("both images are constant: SSIM's data range is zero")

    def mean(a):  # scipy's "mirror" is torch's "reflect"; radius int(3.5 * 1.5 + 0.5) = 5
        from scipy.ndimage import gaussian_filter  # see ssim

        return gaussian_filter(a, sigma=1.5, truncate=3.5, mode="mirror")

    ux, uy = mean(x), mean(y)
    vx = np.clip(mean(x * x) - ux * ux, 0, None)
    vy = np.clip(mean(y * y) - uy * uy, 0, None)
    vxy = mean(x * y) - ux * uy
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    values = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(values.mean())


def percentile_normalise(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Clip an image to its own `low`-th and `high`-th percentiles over the whole
    volume (a negative lower bound raised to 0) and scale that window to [0, 1]."""
    image = np.asarray(image, dtype=np.float64)
    lo, hi = np.percentile(image, [low, high])
    lo = max(float(lo), 0.0)
    if hi <= lo:
        raise ValueError(f"the image's {low}-{high} percentile window [{lo:g}, {hi:g}] is empty")
    return (np.clip(image, lo, hi) - lo) / (hi - lo)
