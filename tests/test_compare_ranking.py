"""challengeR rankings, their bootstrap stability and SynthRAD's min-max combination."""

import math

import numpy as np
import pandas as pd
import pytest

from medsynth.compare import ranking  # module import: pytest must not collect test_then_rank


def frame(columns):
    return pd.DataFrame(columns, index=pd.Index(["001", "002", "003"], name="subject"))


# s1: A 9, B 8, C 7   s2: A 6, B 8, C 8 (B and C tied)   s3: A 9, B 7, C 8
TIED = frame({"A": [9.0, 6.0, 9.0], "B": [8.0, 8.0, 7.0], "C": [7.0, 8.0, 8.0]})


def test_rank_then_aggregate_with_a_tie_within_a_subject():
    # higher is better: s1 A1 B2 C3; s2 B1 C1 (minimum rank) A3; s3 A1 C2 B3
    # mean ranks A 5/3, B 2, C 2 -> A 1, B and C tied at 2
    assert ranking.mean_ranks(TIED, True).tolist() == pytest.approx([5 / 3, 2, 2])
    assert ranking.rank_then_aggregate(TIED, True).tolist() == [1, 2, 2]


def test_rank_then_aggregate_lower_is_better():
    # s1 C1 B2 A3; s2 A1 B2 C2; s3 B1 C2 A3 -> mean ranks A 7/3, B 5/3, C 5/3
    assert ranking.mean_ranks(TIED, False).tolist() == pytest.approx([7 / 3, 5 / 3, 5 / 3])
    assert ranking.rank_then_aggregate(TIED, False).tolist() == [3, 1, 1]


def test_aggregate_then_rank_with_a_tie():
    values = frame({"A": [1.0, 2.0, 3.0], "B": [3.0, 2.0, 1.0], "C": [0.0, 0.0, 0.5]})
    # means A 2, B 2, C 1/6
    assert ranking.aggregate_then_rank(values, True).tolist() == [1, 1, 3]
    assert ranking.aggregate_then_rank(values, False).tolist() == [2, 2, 1]


def test_kendall_tau_of_rankings():
    assert ranking.ranking_tau([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    assert ranking.ranking_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # pairs: only (2, 3) is discordant -> (5 - 1) / 6
    assert ranking.ranking_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert ranking.ranking_tau([1, 2, 3], [1, 1, 1]) == 0.0
    assert math.isnan(ranking.ranking_tau([1, 1, 1], [1, 2, 3]))


def noisy(n, seed=1):
    """n subjects: two methods with noise, and 'best' 0.2 above the better of them."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.7, 0.05, n), rng.normal(0.7, 0.05, n)
    return pd.DataFrame({"a": a, "b": b, "best": np.maximum(a, b) + 0.2 + rng.uniform(0, .01, n)},
                        index=pd.Index([f"{i:03d}" for i in range(n)], name="subject"))


def test_a_dominant_method_is_first_in_every_bootstrap():
    values = noisy(8)
    for scheme in ("aggregate_then_rank", "rank_then_aggregate"):
        result = ranking.ranking_stability(values, True, scheme, n_boot=200, seed=5)
        assert result["ranking"]["best"] == 1
        assert (result["bootstrap"]["best"] == 1).all()
        assert result["rank_counts"].loc["best", 1] == 200
        assert result["rank_counts"].sum(axis=1).tolist() == [200, 200, 200]
        assert len(result["tau"]) == 200 and -1 <= result["tau_mean"] <= 1
        again = ranking.ranking_stability(values, True, scheme, n_boot=200, seed=5)
        pd.testing.assert_frame_equal(result["bootstrap"], again["bootstrap"])
        assert again["tau_mean"] == result["tau_mean"]
    with pytest.raises(ValueError, match="unknown ranking scheme"):
        ranking.bootstrap_rankings(values, True, "mean")


def test_test_then_rank_counts_significant_wins():
    values = noisy(8)
    # best beats a and b in all 8 subjects: one-sided exact p = 1/256, Holm over 6 -> 0.023
    won = ranking.wins(values, True)
    assert won["best"] == 2 and won.max() == 2 and won.drop("best").max() < 2
    assert ranking.test_then_rank(values, True)["best"] == 1
    few = noisy(2)
    assert ranking.wins(few, True).tolist() == [0, 0, 0]
    assert ranking.test_then_rank(few, True).tolist() == [1, 1, 1]
    constant = ranking.ranking_stability(few, True, "test_then_rank", n_boot=10)
    assert math.isnan(constant["tau_mean"])


def metrics_rows(method, values, seed=None):
    table = pd.DataFrame({"dataset": "phantom", "task": "mr_to_ct", "condition": "default",
                          "method": method, "subject": [f"{i:03d}" for i in range(len(values))],
                          "mae": values})
    return table.assign(seed=seed) if seed is not None else table


def test_rank_table_from_the_metrics_table():
    values = noisy(8)
    table = pd.concat([metrics_rows("unet", values["best"] - 1, seed=0),
                       metrics_rows("unet", values["best"] - 1, seed=1),
                       metrics_rows("bulk_density", values["a"]),
                       metrics_rows("gan", values["b"]),
                       metrics_rows("reference", [0.0] * 8)])
    table.loc[0, "mae"] = math.inf  # unet seed 0 subject 000: dropped, seed 1 remains
    ranks = ranking.rank_table(table, "mr_to_ct", "default", "mae", n_boot=100)
    assert list(ranks.columns) == ["method", "n", "mean", "rank_aggregate", "mean_rank",
                                   "rank_rank_then_aggregate", "wins", "rank_test", "tau_mean"]
    assert ranks.method.iloc[0] == "unet" and "reference" not in set(ranks.method)
    first = ranks.iloc[0]
    assert (first["n"], first["rank_aggregate"], first["mean_rank"]) == (8, 1, 1.0)
    assert (first["rank_rank_then_aggregate"], first["wins"], first["rank_test"]) == (1, 2, 1)
    assert first["mean"] == pytest.approx((values["best"] - 1).mean())
    with pytest.raises(ValueError, match="several datasets"):
        ranking.rank_table(pd.concat([table, table.assign(dataset="other")]),
                           "mr_to_ct", "default", "mae", n_boot=10)


def summary_rows(means):
    return pd.DataFrame([dict(dataset="phantom", task="mr_to_ct", condition="default",
                              method=method, metric=metric, mean=mean)
                         for (method, metric), mean in means.items()])


# psnr (higher better): A 30, B 25, C 20 -> 1, 0.5, 0
# mae (lower better):   A 0.3, B 0.1, C 0.2 -> 0, 1, 0.5
# sums: A 1, B 1.5, C 0.5 -> B 1, A 2, C 3
SUMMARY = summary_rows({("A", "psnr"): 30.0, ("B", "psnr"): 25.0, ("C", "psnr"): 20.0,
                        ("A", "mae"): 0.3, ("B", "mae"): 0.1, ("C", "mae"): 0.2,
                        ("reference", "psnr"): 99.0, ("reference", "mae"): 0.0})


def test_synthrad_minmax_by_hand_and_its_dependence_on_the_field():
    table = ranking.combined_ranking(SUMMARY, "mr_to_ct", "default", ["psnr", "mae"],
                                     "synthrad_minmax").set_index("method")
    assert list(table.index) == ["B", "A", "C"]
    assert table["psnr"].tolist() == pytest.approx([0.5, 1.0, 0.0])
    assert table["mae"].tolist() == pytest.approx([1.0, 0.0, 0.5])
    assert table["score"].tolist() == pytest.approx([1.5, 1.0, 0.5])
    assert table["rank"].tolist() == [1, 2, 3]
    without_c = ranking.combined_ranking(SUMMARY[SUMMARY.method != "C"], "mr_to_ct", "default",
                                         ["psnr", "mae"], "synthrad_minmax").set_index("method")
    assert without_c.loc["B", "psnr"] == 0.0  # was 0.5 while C took part
    assert without_c["rank"].tolist() == [1, 1]


def test_mean_rank_over_metrics():
    # psnr ranks A1 B2 C3, mae ranks B1 C2 A3 -> mean A 2, B 1.5, C 2.5
    table = ranking.combined_ranking(SUMMARY, "mr_to_ct", "default", ["psnr", "mae"],
                                     "mean_rank").set_index("method")
    assert table["score"].to_dict() == pytest.approx({"B": 1.5, "A": 2.0, "C": 2.5})
    assert table["rank"].to_dict() == {"B": 1, "A": 2, "C": 3}
