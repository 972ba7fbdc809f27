"""Compare stage statistics: bootstrap CIs, Wilcoxon, Holm, summaries and seed spread."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from medsynth.compare.orientation import (
    headline_metrics,
    higher_is_better,
    metrics_in,
)
from medsynth.compare.paired import (
    holm,
    min_subjects_for,
    paired_tests,
    significance_matrix,
)
from medsynth.compare.uncertainty import (
    bootstrap_ci,
    format_ci,
    per_subject,
    seed_spread,
    summarise,
)

SAMPLE = [0.81, 0.79, 0.84, 0.77, 0.83, 0.80]


def rows(method, values, metric="psnr", task="superres", seed=None, **extra):
    """One metrics-table row per subject "001", "002", ... with the given values."""
    table = pd.DataFrame({"dataset": "phantom", "task": task, "condition": "default",
                          "method": method, "subject": [f"{i + 1:03d}" for i in
                                                        range(len(values))],
                          metric: values, **extra})
    if seed is not None:
        table["seed"] = seed
    return table


# --- orientation -----------------------------------------------------------------------------

def test_directions_and_unknown_metrics():
    assert not higher_is_better("mae") and not higher_is_better("volume_diff_pct_GM")
    assert higher_is_better("dice_bone") and higher_is_better("consistency_dice_mean")
    assert higher_is_better("psnr") and higher_is_better("ssim")
    for flag_or_unknown in ("segmentation_failed", "hd95"):
        with pytest.raises(ValueError, match=flag_or_unknown):
            higher_is_better(flag_or_unknown)


def test_metrics_present_need_a_finite_value():
    table = rows("unet", [1.0, 2.0], metric="mae").assign(
        dice_mean=np.nan, psnr=[math.inf, 30.0], segmentation_failed=0)
    assert metrics_in(table) == ["mae", "psnr"]
    assert headline_metrics("mr_to_ct", table.assign(task="mr_to_ct")) == ["mae"]
    assert headline_metrics("t1_to_t2", table.assign(task="t1_to_t2")) == ["mae"]  # fallback


# --- bootstrap CI ----------------------------------------------------------------------------

def test_bootstrap_ci_is_scipys_percentile_interval_and_repeatable():
    low, high = bootstrap_ci(SAMPLE, n_resamples=2000, seed=3)
    direct = stats.bootstrap((np.array(SAMPLE),), np.mean, n_resamples=2000,
                             confidence_level=0.95, method="percentile",
                             rng=np.random.default_rng(3)).confidence_interval
    assert (low, high) == (direct.low, direct.high)
    assert min(SAMPLE) < low < np.mean(SAMPLE) < high < max(SAMPLE)
    assert bootstrap_ci(SAMPLE, n_resamples=2000, seed=3) == (low, high)
    assert bootstrap_ci(SAMPLE, n_resamples=2000, seed=4) != (low, high)


def test_bootstrap_ci_of_degenerate_samples():
    assert all(math.isnan(v) for v in bootstrap_ci([0.8]))
    assert all(math.isnan(v) for v in bootstrap_ci([0.8, math.nan, math.inf]))
    assert bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)


# --- Wilcoxon and Holm -----------------------------------------------------------------------

def test_paired_p_values_are_scipys_wilcoxon_with_the_baseline_second():
    # differences unet - bspline: 0.5, 1.2, -0.3, 2.1, 0.8, 1.7, -0.9, 1.1 (distinct, non-zero)
    bspline = [30.0, 28.0, 31.0, 27.0, 29.0, 30.5, 32.0, 28.5]
    unet = [30.5, 29.2, 30.7, 29.1, 29.8, 32.2, 31.1, 29.6]
    table = pd.concat([rows("unet", unet), rows("bspline", bspline)])
    [test] = paired_tests(table, {"superres": "bspline"}, n_resamples=500).to_dict("records")
    assert (test["method_a"], test["method_b"], test["vs_baseline"]) == ("unet", "bspline", True)
    assert test["n"] == 8 and test["better"] == "unet"
    assert test["median_diff"] == pytest.approx(np.median(np.subtract(unet, bspline)))
    assert test["p_value"] == stats.wilcoxon(unet, bspline).pvalue
    assert test["p_value"] == stats.wilcoxon(unet, bspline, method="exact").pvalue
    assert test["p_holm"] == test["p_value"] and test["note"] == ""
    assert test["diff_ci_low"] < test["median_diff"] < test["diff_ci_high"]


def test_smallest_exact_two_sided_p_at_six_subjects():
    assert min_subjects_for(0.05) == 6 and min_subjects_for(0.01) == 8
    better = rows("unet", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], metric="mae")
    worse = rows("bulk_density", [1.5, 3.0, 4.5, 6.0, 7.5, 9.0], metric="mae", task="mr_to_ct")
    table = pd.concat([better.assign(task="mr_to_ct"), worse])
    [test] = paired_tests(table, {"mr_to_ct": "bulk_density"}, n_resamples=500).to_dict("records")
    assert test["p_value"] == 2 / 64
    assert test["better"] == "unet" and test["significant"]


def test_holm_by_hand():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max
    # 0.02, 0.03, 0.06, 0.06 -> back in the original order:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # NaN is not part of the family: 0.01*2 = 0.02, 0.04*1 = 0.04
    adjusted = holm([0.01, math.nan, 0.04])
    assert adjusted[[0, 2]] == pytest.approx([0.02, 0.04]) and math.isnan(adjusted[1])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.4, 0.7]) == pytest.approx([0.8, 0.8])  # monotone


def test_too_few_subjects_are_not_tested():
    table = pd.concat([rows("unet", [0.8, 0.9], metric="ssim"),
                       rows("bspline", [0.7, 0.6], metric="ssim")])
    [test] = paired_tests(table, {"superres": "bspline"}, n_resamples=500).to_dict("records")
    assert test["note"] == ("n = 2: too few subjects for a paired test to reach p < 0.05 "
                            "(an exact two-sided Wilcoxon needs n ≥ 6)")
    assert math.isnan(test["p_value"]) and math.isnan(test["p_holm"])
    assert test["significant"] is False and test["better"] == "unet"


def test_reference_is_left_out_and_significance_map_points_both_ways():
    base = np.array([30.0, 28.0, 31.0, 27.0, 29.0, 30.5, 32.0, 28.5])
    step = np.array([0.5, 1.2, 0.3, 2.1, 0.8, 1.7, 0.9, 1.1])
    table = pd.concat([rows("bspline", base), rows("smore", base + step),
                       rows("unet", base + 3 * step), rows("reference", [math.inf] * 8)])
    tests = paired_tests(table, {"superres": "bspline"}, n_resamples=200)
    pairs = set(zip(tests.method_a, tests.method_b, strict=True))
    assert pairs == {("smore", "bspline"), ("unet", "bspline"), ("smore", "unet")}
    # each p is 2/256, Holm over 3: 0.0234 < 0.05
    assert tests.significant.all() and tests.p_holm.max() == pytest.approx(3 * 2 / 256)
    matrix = significance_matrix(tests, "phantom", "superres", "default", "psnr")
    assert matrix.loc["unet", "bspline"] == 1 and matrix.loc["bspline", "unet"] == -1
    assert matrix.loc["smore", "unet"] == -1 and matrix.loc["unet", "smore"] == 1
    assert all(math.isnan(matrix.loc[m, m]) for m in matrix.index)


# --- summaries -------------------------------------------------------------------------------

def test_summarise_averages_seeds_before_summarising():
    unet = pd.concat([rows("unet", [0.70, 0.80, 0.60], metric="ssim", seed=0),
                      rows("unet", [0.90, 0.80, 1.00], metric="ssim", seed=1)])
    bspline = rows("bspline", [0.5, 0.6, 0.9], metric="ssim")
    reference = rows("reference", [1.0, 1.0, 1.0], metric="ssim")
    table = pd.concat([unet, bspline, reference]).assign(segmentation_failed=0)
    table.loc[table.method != "unet", "seed"] = np.nan
    summary = summarise(table, n_resamples=500).set_index("method")
    assert set(summary.metric) == {"ssim"}
    assert summary.loc["unet", "n"] == 3 and summary.loc["unet", "n_seeds"] == 2
    assert summary.loc["unet", "mean"] == pytest.approx(0.8)
    assert summary.loc["unet", "sd"] == pytest.approx(0.0)  # every subject averages to 0.8
    values = np.array([0.5, 0.6, 0.9])
    assert summary.loc["bspline", "n_seeds"] == 1
    assert summary.loc["bspline", "mean"] == pytest.approx(values.mean())
    assert summary.loc["bspline", "median"] == pytest.approx(np.median(values))
    assert summary.loc["bspline", "sd"] == pytest.approx(values.std(ddof=1))
    assert (summary.loc["bspline", "ci_low"], summary.loc["bspline", "ci_high"]) == \
        bootstrap_ci(values, n_resamples=500)
    assert summary.loc["reference", "ci_low"] == summary.loc["reference", "ci_high"] == 1.0
    assert set(summary.ci_method) == {"percentile bootstrap, 500 resamples"}


def test_per_subject_drops_non_finite_values_before_averaging():
    table = pd.concat([rows("unet", [0.6, math.nan], metric="dice_mean", seed=0),
                       rows("unet", [0.8, 0.5], metric="dice_mean", seed=1)])
    assert per_subject(table, "dice_mean")["dice_mean"].tolist() == pytest.approx([0.7, 0.5])


def test_one_subject_has_no_sample_sd():
    summary = summarise(rows("unet", [31.0]), n_resamples=100)
    assert summary.loc[0, "n"] == 1 and math.isnan(summary.loc[0, "sd"])
    assert math.isnan(summary.loc[0, "ci_low"])


def test_seed_spread_separates_seeds_from_subjects():
    a = [0.0, 0.3, -0.1]  # per seed
    b = [0.5, 0.7, 0.2, 0.9]  # per subject
    table = pd.concat([rows("unet", [a_s + b_j for b_j in b], metric="dice_mean", seed=s)
                       for s, a_s in enumerate(a)])
    extra = rows("unet", [0.1], metric="dice_mean", seed=0).assign(subject="005")
    single = rows("bspline", b, metric="dice_mean")
    spread = seed_spread(pd.concat([table, extra, single]))
    assert spread.method.tolist() == ["unet"]  # one seed: no seed spread
    [row] = spread.to_dict("records")
    assert (row["n_subjects"], row["n_seeds"]) == (4, 3)  # subject 005 lacks seeds 1 and 2
    assert abs(row["seed_sd"] - np.std(a, ddof=1)) < 1e-12
    assert abs(row["subject_sd"] - np.std(b, ddof=1)) < 1e-12
    assert row["seed_means"] == "0: 0.575; 1: 0.875; 2: 0.475"


def test_format_ci():
    assert format_ci(0.8123, 0.79, 0.8341, 3) == "0.812 [0.790, 0.834]"
    assert format_ci(28.456, math.nan, math.nan, 2) == "28.46"
    assert format_ci(math.nan, 0.1, 0.2, 3) == "—"
