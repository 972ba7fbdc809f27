"""Paper-versus-ours tables on hand-made compare tables: the verdicts, the cells,
the compute ratio, the overlay figure and the leaderboard section."""

import math

import pandas as pd
import pytest

from medsynth import schedule
from medsynth.papers import Claim, Paper, Result, papers
from medsynth.report.leaderboard import papers_section
from medsynth.report.papers import (
    NOT_AT_SCALE,
    Work,
    compute_ratio,
    paper_table,
    smore_overlay,
    verdict,
    write_paper_tables,
)

CLAIM = Claim("a", "b", "psnr", ("c1",), "a beats b")


def _summary(means: dict, metric="psnr", n=8, task="denoise", condition="c1") -> pd.DataFrame:
    return pd.DataFrame([dict(dataset="phantom", task=task, condition=condition, method=m,
                              metric=metric, n=n, mean=v, ci_low=v - 1, ci_high=v + 1)
                         for m, v in means.items()])


def _tests(better, p_holm, n=8, a="a", b="b", metric="psnr") -> pd.DataFrame:
    return pd.DataFrame([dict(dataset="phantom", task="denoise", condition="c1", metric=metric,
                              method_a=a, method_b=b, n=n, better=better, p_holm=p_holm,
                              significant=bool(p_holm < 0.05) if not math.isnan(p_holm) else False)])


@pytest.mark.parametrize("means, tests, status, text", [
    ({"a": 30.0, "b": 28.0}, _tests("a", 0.01), "holds",
     "holds, significant (Holm p = 0.01, n = 8)"),
    ({"a": 30.0, "b": 28.0}, _tests("b", 0.02), "reversed",  # the paired medians disagree
     "reversed, significant (Holm p = 0.02, n = 8)"),
    ({"a": 27.0, "b": 28.0}, _tests("b", 0.3), "reversed",
     "reversed in the means; not significant (Holm p = 0.3, n = 8)"),
    ({"a": 30.0, "b": 28.0}, _tests("a", math.nan, n=2), "holds",
     "holds in the means; not testable at n = 2"),
    # the test row may list the pair the other way round
    ({"a": 27.0, "b": 28.0}, _tests("b", math.nan, n=3, a="b", b="a"), "reversed",
     "reversed in the means; not testable at n = 3"),
    ({"a": 28.0, "b": 28.0}, _tests("tie", math.nan, n=2), "tie",
     "tie in the means; not testable at n = 2"),
    ({"a": 30.0}, _tests("a", math.nan), NOT_AT_SCALE, f"{NOT_AT_SCALE}: b not in this run"),
])
def test_verdict(means, tests, status, text):
    assert verdict(CLAIM, "denoise", "c1", _summary(means), tests) == (status, text)


def test_verdict_follows_the_metric_direction():
    mae = Claim("a", "b", "mae", ("c1",), "")
    got = verdict(mae, "denoise", "c1", _summary({"a": 80.0, "b": 90.0}, "mae"),
                  _tests("a", math.nan, n=2, metric="mae"))
    assert got == ("holds", "holds in the means; not testable at n = 2")


def _paper(results=(), claims=(CLAIM,), methods=None) -> Paper:
    return Paper(id="x", short="X 2020", citation="X et al. 2020.", url="https://x", where="T1",
                 task="denoise", dataset="d", resolution="1 mm", trained_method="a",
                 methods=methods or {"A": "a", "B": "b", "C": None}, results=tuple(results),
                 claims=tuple(claims), notes="", unverified=())


def test_paper_table_cells():
    result = Result("psnr", "c1", "1 %", {"A": (31.0, 0.5), "B": (29.0, None), "C": (33.0, None)})
    table = paper_table(_paper([result]), _summary({"a": 30.0, "b": 28.0}, n=2),
                        _tests("a", math.nan, n=2)).reset_index()
    assert list(table["paper method"]) == ["A", "B", "C"]
    assert list(table["paper"]) == ["31 ± 0.5", "29", "33"]
    assert list(table["this run"]) == ["30.00 [29.00, 31.00]", "28.00 [27.00, 29.00]", "—"]
    assert list(table["ours"]) == ["a", "b", "none in the suite"]
    assert table["claim"].iloc[0] == "vs b: holds in the means; not testable at n = 2"
    assert table["condition"].iloc[0] == "c1 (1 %)"


def test_stand_in_and_unverified_numbers():
    claim = Claim("a", "s", "psnr", ("c1",), "", stand_in=True)
    table = paper_table(_paper(claims=[claim], methods={"A": "a"}),
                        _summary({"a": 30.0, "s": 31.0}), _tests("a", 0.5, a="a", b="s"))
    assert list(table["ours"]) == ["a", "s (stand-in)"]
    assert list(table["paper"]) == ["not verified", "—"]


def test_compute_ratio():
    compute = pd.DataFrame({"task": ["denoise", "denoise"], "method": ["a", "a"],
                            "iterations": [100, 300]})
    work = {"a": Work(run_per_iteration=10.0, paper_total=4000.0)}
    assert compute_ratio(_paper(), compute, work) == pytest.approx(200 * 10 / 4000)
    assert compute_ratio(_paper(), compute.iloc[:0], work) is None


def test_schedule_voxels_by_hand():
    """pix2pix at 1 mm: 197 x 233 pads to 256 x 256; red_wgan: 32 x 32 x 6 patches."""
    assert schedule.slice_shape(schedule.PHANTOM_SLICE_MM, 1.0) == (197, 233)
    pix = {"n_downs": 8, "batch_size": 1, "iterations": 10}
    assert schedule.training_voxels("pix2pix", pix, (197, 233)) == 10 * 256 * 256
    red = {"patch_size": [32, 32, 6], "batch_size": 110}
    assert schedule.voxels_per_iteration("red_wgan", red, (1, 1)) == 110 * 6144
    ctx = {"kernels": [9, 3, 3, 3, 9, 3, 3, 3, 3], "patch_size": [16, 16, 16], "batch_size": 10,
           "n_stages": 3}
    assert schedule.voxels_per_iteration("context_gan", ctx, (1, 1)) == 10 * 32 ** 3 * 3


def test_written_tables_and_leaderboard_section(tmp_path):
    zhao = next(p for p in papers() if p.id == "zhao2019")
    rows = [dict(dataset="phantom", task="superres", condition=c, method=m, metric="dice_mean",
                 n=2, mean=v, ci_low=v - 0.01, ci_high=v + 0.01)
            for c in ("thick-1.2mm", "thick-4.8mm")
            for m, v in (("bspline", 0.90), ("smore", 0.92), ("reference", 0.95))]
    summary = pd.DataFrame(rows)
    tests = pd.DataFrame(columns=["task", "condition", "metric", "method_a", "method_b", "n",
                                  "better", "p_holm", "significant"])
    compute = pd.DataFrame({"task": ["superres"], "method": ["smore"], "iterations": [180]})
    paths = write_paper_tables([zhao], summary, tests, compute,
                               {"smore": Work(16 * 32 * 32, 20000 * 16 * 48 * 48)}, tmp_path)
    assert sorted(p.name for p in paths) == ["paper_zhao2019.csv", "paper_zhao2019.md",
                                             "paper_zhao2019.tex"]
    md = (tmp_path / "paper_zhao2019.md").read_text()
    assert "0.9408" in md and "holds in the means; no paired test" in md
    ratio = 180 * 16 * 32 * 32 / (20000 * 16 * 48 * 48)
    assert f"{ratio:.2g} ×" in md
    (tmp_path / "papers").mkdir()
    smore_overlay(zhao, summary, tmp_path / "papers" / "smore_dice_overlay.png")
    html = "\n".join(papers_section(paths, tmp_path))
    assert "paper_zhao2019" in html and "data:image/png;base64" in html and "0.9607" in html
