"""Which way each metric points, and which metrics a task is judged by."""

from __future__ import annotations

import numpy as np
import pandas as pd

# segmentation_failed is a flag, not a metric, so it is deliberately absent
METRICS: tuple[str, ...] = (
    "mae", "psnr", "ssim", "ms_ssim",
    "dice_CSF", "dice_GM", "dice_WM", "dice_bone", "dice_mean",
    "consistency_dice_CSF", "consistency_dice_GM", "consistency_dice_WM",
    "consistency_dice_mean",
    "volume_diff_pct_CSF", "volume_diff_pct_GM", "volume_diff_pct_WM", "volume_diff_pct_mean",
    # mr_to_ct's PET end point (medsynth.pet): the mean absolute relative error per region,
    # the fraction of brain voxels within ±10 %, and the brain's error with Poisson noise
    # (where evaluation.pet.noise_counts asks for it). The bias (mean signed error) has no
    # higher/lower direction (closer to 0 is better): it is reported, not tested.
    "pet_mae_pct_brain", "pet_mae_pct_gm", "pet_mae_pct_wm", "pet_mae_pct_skullbase",
    "pet_within10_brain", "pet_noisy_mae_pct_brain",
)

# a headline metric a protocol replaces: synthrad2025 defines MS-SSIM instead of SSIM
HEADLINE_STANDINS: dict[str, str] = {"ssim": "ms_ssim"}

HEADLINE_METRICS: dict[str, tuple[str, ...]] = {
    "t1_to_t2": ("ssim", "dice_mean"),
    "mr_to_ct": ("mae", "dice_bone", "pet_mae_pct_brain"),
    "denoise": ("psnr", "ssim"),
    "superres": ("dice_mean", "psnr"),
    "harmonize": ("consistency_dice_mean", "psnr"),
}



def higher_is_better(metric: str) -> bool:
    """Direction of a metric; an unknown one is refused rather than guessed."""
    if metric == "mae" or metric.startswith(("volume_diff_pct_", "pet_mae_pct_",
                                             "pet_noisy_mae_pct_")):
        return False
    if metric in ("psnr", "ssim", "ms_ssim") or metric.startswith(
            ("dice_", "consistency_dice_", "pet_within", "pet_noisy_within")):
        return True
    raise ValueError(f"unknown metric {metric!r}: no known direction (higher or lower is better)")


def metrics_in(df: pd.DataFrame) -> list[str]:
    """Known metrics present in df with at least one finite value, in METRICS order."""
    return [m for m in METRICS
            if m in df.columns and np.isfinite(pd.to_numeric(df[m], errors="coerce")).any()]


def headline_among(task: str, present) -> list[str]:
    """The task's headline metrics found in `present`; a headline missing there is
    replaced by its stand-in (SSIM by synthrad2025's MS-SSIM) when that is present."""
    present = set(present)
    wanted = [m if m in present else HEADLINE_STANDINS.get(m, m)
              for m in HEADLINE_METRICS.get(task, ())]
    return [m for m in wanted if m in present]


def headline_metrics(task: str, df: pd.DataFrame) -> list[str]:
    """The task's headline metrics that df can supply (rows of other tasks do not count;
    stand-ins as :func:`headline_among`).

    Falls back to the first metric present, so every task gets at least one headline.
    """
    rows = df[df["task"] == task] if "task" in df.columns else df
    present = metrics_in(rows)
    return headline_among(task, present) or present[:1]
