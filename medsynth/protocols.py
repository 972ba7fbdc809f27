"""Evaluation protocols: named definitions of MAE, PSNR and (MS-)SSIM.

The same prediction scores differently under each challenge's rules (clip
range, data range, normalisation, SSIM variant), so the definition is a named
choice (``evaluation: {protocol: ...}`` in the config), recorded in every row
of ``metrics.tsv`` and in every table caption. Each protocol is written from
its published code:

``synthrad2023`` (the default): SynthRAD2023's ``functions/image_metrics.py``
(github.com/SynthRAD2023/metrics, commit fe7e3853133dfb13da42f13c461c3d25c0123582;
Huijben et al., Med Image Anal 2024;97:103276). CT: MAE on raw HU inside the
mask; PSNR and SSIM on images clipped to [-1024, 3000] HU with that range
(4024); SSIM with voxels outside the mask set to -1024, shifted non-negative,
7³ uniform window, map averaged over mask voxels with the 3-voxel border
cropped.

``synthrad2025``: SynthRAD2025's evaluation repository, ``image_metrics.py``
(github.com/SynthRAD2025/evaluation, commit 17cac47b6288fcb66c5818c9d50eb9534d613fa2,
"Change range of clipping"). CT: MAE as above; PSNR on images clipped to
[-1024, 3071] HU with range 4095; SSIM replaced by the masked MS-SSIM of
:func:`medsynth.metrics.ms_ssim` on the same clipped, masked, shifted images.
The range is that repository's current value: its standalone metrics repository
(github.com/SynthRAD2025/metrics, ``functions/image_metrics.py``, commit
0beef65be7eb20f5fa64a5980f6050d5d9d4ddf3) still gives [-1024, 3000], and the
challenge web page reportedly gives yet another (not checked here). Where its
MS-SSIM departs from Wang et al. 2003 (luminance weighted at every scale) we
follow the code.

``brasyn``: the BraSyn challenge's ``ssim.py`` (github.com/hongweilibran/BraSyn,
commit 890804083b446f3d6fa0b17a4ef09b174bcd0209; Li et al., arXiv:2305.09011).
MR only. Prediction and target are each clipped to their own 0.5th-99.5th
percentiles over the whole volume (a negative lower bound raised to 0) and
scaled to [0, 1]. SSIM is torchmetrics' default (:func:`medsynth.metrics.gaussian_ssim`,
Gaussian window 11 / σ 1.5, as torchmetrics 1.9 computes it) on both images
with everything outside the scored region set to 0, averaged over the whole
volume, background included: BraSyn scores its tumour and non-tumour regions
that way; our tasks have no tumour, so the head mask is the region.
torchmetrics before its PR #2721 (merged 2024-09-04) left a 5-voxel border out
of that mean, so older BraSyn numbers differ slightly near the volume edge.
BraSyn ranks by SSIM only; our MAE and PSNR use the same normalised images
inside the head mask, PSNR with range 1 as the repository's
``evaluation_utils.py`` does.

MR under the SynthRAD protocols is medsynth's own extension (both challenges
score CT only): MAE on the normalised intensities inside the head mask, PSNR
and (MS-)SSIM with the target's max - min inside the head mask as the range,
no clipping, voxels outside the mask set to 0.

``extra_metrics: [ms_ssim]`` adds MS-SSIM for MR targets under any protocol:
the SynthRAD2025 masked MS-SSIM on the images and range that protocol's MR
metrics see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from medsynth import metrics

DEFAULT_PROTOCOL = "synthrad2023"
EXTRA_METRICS = ("ms_ssim",)

SYNTHRAD2023_HU = (-1024.0, 3000.0)
SYNTHRAD2025_HU = (-1024.0, 3071.0)


def _synthrad_mr(pred, target, mask):
    """SynthRAD protocols on MR: the images as they are, the target's range in the mask."""
    return pred, target, metrics.target_range(target, mask)


def _brasyn_mr(pred, target, mask):
    """BraSyn: each image percentile-normalised on its own to [0, 1]; range 1."""
    return metrics.percentile_normalise(pred), metrics.percentile_normalise(target), 1.0


def _synthrad(hu_range: tuple[float, float], structural: str):
    """A SynthRAD year's metrics: MAE unclipped; PSNR and the structural metric on
    images clipped to `hu_range` (CT) with its width as the range, outside-mask
    voxels at the range's floor."""
    score = metrics.ssim if structural == "ssim" else metrics.ms_ssim

    def compute(pred, target, mask, is_ct):
        row = {"mae": metrics.mae(pred, target, mask)}
        if is_ct:
            floor, top = hu_range
            pred, target = np.clip(pred, floor, top), np.clip(target, floor, top)
            data_range = top - floor
        else:
            pred, target, data_range = _synthrad_mr(pred, target, mask)
            floor = 0.0
        row["psnr"] = metrics.psnr(pred, target, mask, data_range)
        row[structural] = score(pred, target, mask, data_range, floor=floor)
        return row

    return compute


def _brasyn(pred, target, mask, is_ct):
    pred, target, _ = _brasyn_mr(pred, target, mask)
    inside = np.asarray(mask, dtype=bool)
    return {"mae": metrics.mae(pred, target, inside),
            "psnr": metrics.psnr(pred, target, inside, 1.0),
            "ssim": metrics.gaussian_ssim(np.where(inside, pred, 0.0), np.where(inside, target, 0.0))}


@dataclass(frozen=True)
class Protocol:
    """A named metric definition; `targets` are the target kinds it defines ("CT", "MR")."""

    name: str
    targets: tuple[str, ...]
    structural: str  # its SSIM-like metric: "ssim" or "ms_ssim"
    caption: str  # one sentence for table captions
    compute: Callable
    mr_images: Callable  # (pred, target, mask) -> (pred, target, data range) for MR

    def image_metrics(self, pred: np.ndarray, target: np.ndarray, mask: np.ndarray,
                      is_ct: bool, extra: Iterable[str] = ()) -> dict[str, float]:
        """MAE, PSNR and the protocol's structural metric inside `mask`, plus any
        `extra` metric (``ms_ssim``, MR targets only)."""
        kind = "CT" if is_ct else "MR"
        if kind not in self.targets:
            raise ValueError(f"protocol {self.name!r} defines no metrics for {kind} targets")
        row = self.compute(pred, target, mask, is_ct)
        if "ms_ssim" in extra and not is_ct and "ms_ssim" not in row:
            p, t, data_range = self.mr_images(pred, target, mask)
            row["ms_ssim"] = metrics.ms_ssim(p, t, mask, data_range)
        return row


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("synthrad2023", ("CT", "MR"), "ssim",
             "SynthRAD2023 (CT: MAE on raw HU; PSNR and SSIM on [-1024, 3000] HU; MR: the "
             "target's range in the head mask), all inside the head mask",
             _synthrad(SYNTHRAD2023_HU, "ssim"), _synthrad_mr),
    Protocol("synthrad2025", ("CT", "MR"), "ms_ssim",
             "SynthRAD2025 (CT: MAE on raw HU; PSNR and masked MS-SSIM on [-1024, 3071] HU; "
             "MR: the target's range in the head mask), all inside the head mask",
             _synthrad(SYNTHRAD2025_HU, "ms_ssim"), _synthrad_mr),
    Protocol("brasyn", ("MR",), "ssim",
             "BraSyn (each volume clipped to its 0.5-99.5th percentiles and scaled to [0, 1]; "
             "MAE and PSNR (range 1) inside the head mask; torchmetrics' Gaussian SSIM over the "
             "volume with the outside of the head set to 0)",
             _brasyn, _brasyn_mr),
)}


def get(name: str) -> Protocol:
    """The protocol called `name`; an unknown name is an error that lists the known ones."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {name!r} (known: {', '.join(PROTOCOLS)})")
    return PROTOCOLS[name]


def caption(name: str) -> str:
    """The caption sentence naming protocol `name` and what it defines."""
    return f"Image metrics under protocol {name}: {get(name).caption}."
