"""Image metrics (MAE, PSNR, SSIM inside a mask) and Dice overlap: the one
implementation every table and figure of the suite is computed with.

Metrics are taken on the target's own scale: Hounsfield units for CT,
normalised intensity for MR. For CT we follow the SynthRAD2023 challenge's
evaluation code (github.com/SynthRAD2023/metrics, ``functions/image_metrics.py``,
commit fe7e385; Huijben et al., Med Image Anal 2024;97:103276): a fixed dynamic
range of [-1024, 3000] HU, to which prediction and target are clipped for PSNR
and SSIM (not for MAE), so scores are comparable across patients and methods.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

# SynthRAD2023's fixed CT dynamic range in HU (see module docstring).
CT_RANGE_HU = (-1024.0, 3000.0)

# skimage's default SSIM window (7 voxels per axis) and the border it leaves
# out of its own mean; we drop the same border from the masked mean.
SSIM_WIN_SIZE = 7
_SSIM_PAD = (SSIM_WIN_SIZE - 1) // 2


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
    mask = np.asarray(mask, dtype=bool)
    _masked(pred, target, mask)  # shape and emptiness checks
    if min(target.shape) < SSIM_WIN_SIZE:
        raise ValueError(f"SSIM needs at least {SSIM_WIN_SIZE} voxels per axis, got {target.shape}")
    p = np.where(mask, np.asarray(pred, dtype=np.float64), floor) - floor
    t = np.where(mask, np.asarray(target, dtype=np.float64), floor) - floor
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


def data_range_for(target: np.ndarray, mask: np.ndarray, is_ct: bool) -> float:
    """Dynamic range for PSNR and SSIM.

    CT: the fixed SynthRAD2023 range, 3000 - (-1024) = 4024 HU, so a subject's
    score does not depend on its own extreme voxels. MR has no absolute scale;
    its intensities are normalised per subject, so the target's range inside
    the mask is the natural peak.
    """
    if is_ct:
        return CT_RANGE_HU[1] - CT_RANGE_HU[0]
    _, t = _masked(target, target, mask)
    value = float(t.max() - t.min())
    if value <= 0.0:
        raise ValueError("target is constant inside the mask; PSNR/SSIM range is zero")
    return value


def image_metrics(pred: np.ndarray, target: np.ndarray, mask: np.ndarray,
                  is_ct: bool) -> dict[str, float]:
    """MAE, PSNR and SSIM inside the mask, as ``{"mae", "psnr", "ssim"}``.

    CT follows SynthRAD2023: MAE on raw HU; PSNR and SSIM on images clipped to
    [-1024, 3000] HU with that fixed range, SSIM with air (-1024) as its floor.
    """
    data_range = data_range_for(target, mask, is_ct)
    result = {"mae": mae(pred, target, mask)}
    if is_ct:
        lo, hi = CT_RANGE_HU
        pred, target, floor = np.clip(pred, lo, hi), np.clip(target, lo, hi), lo
    else:
        floor = 0.0
    result["psnr"] = psnr(pred, target, mask, data_range)
    result["ssim"] = ssim(pred, target, mask, data_range, floor=floor)
    return result
