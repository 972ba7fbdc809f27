"""The compare stage end to end on a synthetic metrics table, the compute table
from benchmark files, the convergence curves, and the leaderboard page."""

import numpy as np
import pandas as pd
import pytest

from medsynth.compare import figures, plan, stage
from medsynth.model_records import read_model_table, write_model_table
from medsynth.report import tables
from medsynth.report.convergence import convergence_figure, validation_curves
from medsynth.report.leaderboard import leaderboard


def metrics_table(n_subjects: int) -> pd.DataFrame:
    """superres at two thicknesses: smore better than bspline by 0.05 Dice in every
    subject, reference at the ceiling."""
    rng = np.random.default_rng(0)
    rows = []
    for condition in ("thick-1.2mm", "thick-4.8mm"):
        for s in range(n_subjects):
            base = 0.7 + 0.05 * rng.standard_normal()
            for method, gain in (("bspline", 0.0), ("smore", 0.05), ("reference", 0.2)):
                rows.append({"dataset": "phantom", "task": "superres", "condition": condition,
                             "method": method, "subject": f"{s:03d}",
                             "dice_mean": base + gain + 0.005 * rng.standard_normal(),
                             "psnr": 30 + 10 * gain + rng.standard_normal()})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def compared():
    df = metrics_table(8)
    return df, stage.compare(df, plan.baselines({"superres": {}}), n_resamples=2000, n_boot=200)


def test_a_consistent_gain_is_significant_at_eight_subjects(compared):
    _, result = compared
    tests = result["paired_tests"]
    dice = tests[(tests.metric == "dice_mean")]
    assert len(dice) == 2  # one pair per thickness; the reference is no competitor
    assert dice["vs_baseline"].all() and (dice["method_b"] == "bspline").all()
    assert dice["significant"].all() and (dice["better"] == "smore").all()
    # all 8 differences positive: the exact two-sided p is 2 / 2^8, Holm over one test
    assert dice["p_value"].to_numpy() == pytest.approx([2 / 256] * 2)
    ranks = result["rankings"]
    first = ranks[ranks["rank_aggregate"] == 1]
    assert set(first["method"]) == {"smore"}
    # the Dice gain holds in every subject, so in every bootstrap sample; PSNR's
    # 0.5 dB gain under 1 dB of noise does not
    assert (first.loc[first.metric == "dice_mean", "tau_mean"] == 1.0).all()
    assert (first.loc[first.metric == "psnr", "tau_mean"] < 1.0).any()


def test_tables_round_trip_and_too_few_subjects_are_said(compared, tmp_path):
    _, result = compared
    stage.write_tables(result, tmp_path)
    back = stage.read_tables(tmp_path)
    assert set(back) == set(plan.TABLES)
    pd.testing.assert_frame_equal(back["summary"][["mean"]], result["summary"][["mean"]],
                                  check_exact=False, rtol=1e-5)
    few = stage.compare(metrics_table(2), plan.baselines({"superres": {}}), n_resamples=500,
                        n_boot=50)["paired_tests"]
    assert few["p_value"].isna().all() and not few["significant"].any()
    assert few["note"].str.startswith("n = 2: too few subjects").all()


def test_compute_row_from_benchmark_files(tmp_path):
    bench = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    paths = []
    for i, (s, rss, cpu) in enumerate([(10.0, 300.0, 8.0), (14.0, 500.0, 12.0)]):
        path = tmp_path / f"b{i}.tsv"
        path.write_text(bench + f"{s}\t0:00:10\t{rss}\t0\t0\t0\t0\t0\t0\t{cpu}\n")
        paths.append(path)
    model = tmp_path / "model"
    model.mkdir()
    (model / "params.json").write_text('{"iterations": 30, "n_parameters": 1234, '
                                       '"device": "cpu", "collapsed": false}')
    write_model_table([("superres", "thick-1.2mm", "smore", 7, model, paths, []),
                       ("superres", "thick-1.2mm", "bspline", None, None, [], paths),
                       ("superres", "thick-1.2mm", "outside", None, None, [], [tmp_path / "none"])],
                      tmp_path / "compute.tsv")
    table = read_model_table(tmp_path / "compute.tsv").set_index("method")
    assert table.loc["smore", "seed"] == 7 and table["seed"].isna().sum() == 2
    assert table.loc["smore", "train_wall_s"] == 24.0 and table.loc["smore", "train_cpu_s"] == 20.0
    assert table.loc["smore", "train_max_rss_mb"] == 500.0
    assert table.loc["smore", "n_parameters"] == 1234 and table.loc["smore", "iterations"] == 30
    assert table.loc["bspline", "infer_s_per_volume"] == 12.0
    assert np.isnan(table.loc["bspline", "train_wall_s"])
    assert np.isnan(table.loc["outside", "infer_s_per_volume"])  # no benchmark: no figure


def test_convergence_curves_and_figure(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "loss.csv").write_text("iteration,l1,val_mae,val_spread,elapsed_s\n"
                                    "10,0.5,,,1\n20,0.4,0.30,0.9,2\n40,0.3,0.20,0.9,3\n")
    assert validation_curves(model) == {"val_mae": [(20, 0.30), (40, 0.20)]}
    out = convergence_figure("t1_to_t2", [("default", "unet", model)], tmp_path / "c.png")
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_summary_cells_carry_the_ci_and_leaderboard_renders(compared, tmp_path):
    df, result = compared
    table = tables.summary_table(df, "superres", summary=result["summary"])
    row = result["summary"].query("condition == 'thick-1.2mm' and method == 'smore' "
                                  "and metric == 'dice_mean'").iloc[0]
    expected = f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    assert table.loc[("thick-1.2mm", "smore"), "Dice (mean of tissues)"] == expected
    (tmp_path / "compare").mkdir()
    figures.significance_maps(result["paired_tests"], "superres",
                              tmp_path / "compare" / "significance_superres.png")
    figures.blob_plots(result["rank_distribution"], "superres",
                       tmp_path / "compare" / "ranking_stability_superres.png")
    compute = pd.DataFrame(columns=["task", "condition", "method", "collapsed"])
    page = leaderboard(result, compute, tmp_path, "test board", protocol="synthrad2023")
    assert "Image metrics under protocol synthrad2023" in page
    assert page.count("<table>") == 2  # one ranking per thickness
    assert "smore better than bspline on Dice (mean of tissues)" in page
    assert page.count("data:image/png;base64,") == 2
    assert expected in page


def test_ms_ssim_is_higher_better_and_stands_in_for_ssim_as_a_headline():
    from medsynth.compare.orientation import headline_metrics, higher_is_better

    assert higher_is_better("ms_ssim")
    df = pd.DataFrame({"task": ["t1_to_t2"] * 2, "ms_ssim": [0.9, 0.8], "dice_mean": [0.7, 0.6]})
    assert headline_metrics("t1_to_t2", df) == ["ms_ssim", "dice_mean"]
    both = df.assign(ssim=[0.5, 0.4])  # synthrad2023 with the extra MS-SSIM: SSIM stays
    assert headline_metrics("t1_to_t2", both) == ["ssim", "dice_mean"]


def test_compare_refuses_rows_of_two_protocols():
    df = pd.DataFrame({"dataset": "phantom", "task": "t1_to_t2", "condition": "default",
                       "method": ["a", "b"], "subject": "001", "mae": [0.1, 0.2],
                       "protocol": ["synthrad2023", "synthrad2025"]})
    with pytest.raises(ValueError, match="mix evaluation protocols"):
        stage.compare(df, {"t1_to_t2": "a"})
