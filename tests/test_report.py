"""Report tables and figures: hand-computed cells (sample sd, ddof = 1), paper
pivot order, inf PSNR kept out of means, files that parse back, figures that
draw, and example slices whose source lies on a coarser grid."""

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from scipy import stats

from medsynth.compare.uncertainty import summarise
from medsynth.io import save_volume
from medsynth.report import figures, tables
from medsynth.report.common import condition_order, method_order, metric_label, parse_conditions


def rows(task, condition, method, **metrics):
    """One row per subject; each metric given as a list of per-subject values."""
    n = len(next(iter(metrics.values())))
    return [dict(dataset="phantom", task=task, condition=condition, method=method,
                 subject=f"{i + 1:03d}", protocol="synthrad2023",
                 **{k: v[i] for k, v in metrics.items()})
            for i in range(n)]


def mr(task, condition, method, dice, **image):
    """MR rows: three tissue Dice equal to `dice`, their mean too."""
    tissues = {f"dice_{t}": dice for t in ("CSF", "GM", "WM")}
    return rows(task, condition, method, **image, **tissues, dice_mean=dice)


IMG = dict(mae=[0.1, 0.2, 0.4], psnr=[30.0, 32.0, 34.0], ssim=[0.8, 0.85, 0.9])
INF_REF = dict(mae=[0.0] * 3, psnr=[math.inf] * 3, ssim=[1.0] * 3)


@pytest.fixture
def results():
    """All five tasks; superres and denoise conditions deliberately out of order."""
    out = []
    out += mr("t1_to_t2", "default", "unet", [0.7, 0.8, 0.9], **IMG)
    out += mr("t1_to_t2", "default", "none", [0.5, 0.5, 0.5], **IMG)
    out += rows("mr_to_ct", "default", "bulk_density", mae=[80.0, 100.0, 120.0],
                psnr=[20.0, 21.0, 22.0], ssim=[0.7, 0.7, 0.7], dice_bone=[0.6, 0.7, 0.8],
                dice_mean=[0.6, 0.7, 0.8])
    for cond, base in [("thick-4.8mm", 0.6), ("thick-1.2mm", 0.8), ("thick-10mm", 0.4)]:
        out += mr("superres", cond, "smore", [base + 0.05] * 3, **IMG)
        out += mr("superres", cond, "bspline", [base, base + 0.01, base + 0.02], **IMG)
        out += mr("superres", cond, "reference", [0.9, 0.92, 0.94], **INF_REF)
    for cond, psnr in [("noise-9", 20.0), ("noise-1", 40.0), ("noise-3", 30.0)]:
        out += mr("denoise", cond, "bm4d", [0.8] * 3, mae=[0.1] * 3,
                  psnr=[psnr + 3, psnr + 4, psnr + 5], ssim=[0.9, 0.91, 0.92])
        out += mr("denoise", cond, "none", [0.7] * 3, mae=[0.2] * 3,
                  psnr=[psnr, psnr, psnr + 1], ssim=[0.6, 0.6, 0.6])
    for contrast in ("PDw", "T1w", "T2w"):
        for method, shift in (("histogram_matching", 0.0), ("deepharmony", 0.1)):
            segmentable = contrast != "PDw"  # PDw: no tissues, NaN consistency
            dice = [0.7 + shift] * 3 if segmentable else [math.nan] * 3
            out += mr("harmonize", f"AtoB-{contrast}", method, [0.8] * 3, **IMG,
                      **{f"consistency_dice_{t}": dice for t in ("CSF", "GM", "WM", "mean")},
                      **{f"volume_diff_pct_{t}": [5.0 - 10 * shift, 6.0, 10.0] if segmentable
                         else [math.nan] * 3 for t in ("CSF", "GM", "WM", "mean")})
    return pd.DataFrame(out)


def test_summary_cell_is_mean_and_sample_sd(results):
    table = tables.summary_table(results, "t1_to_t2")
    assert list(table.index) == ["none", "unet"]  # baseline first
    # mae 0.1, 0.2, 0.4: mean 0.23333, sample sd sqrt(0.046667 / 2) = 0.15275
    # (the population sd, ddof = 0, would be 0.12472)
    assert table.loc["unet", "MAE (norm. intensity)"] == "0.2333 ± 0.1528"
    assert table.loc["unet", "PSNR (dB)"] == "32.00 ± 2.00"
    assert table.loc["unet", "SSIM"] == "0.8500 ± 0.0500"
    assert table.loc["unet", "Dice (mean of tissues)"] == "0.800 ± 0.100"
    assert table.loc["unet", "n"] == 3
    ct = tables.summary_table(results, "mr_to_ct")
    assert ct.loc["bulk_density", "MAE (HU)"] == "100.0 ± 20.0"
    assert "Dice bone" in ct.columns and "Dice (bone)" not in ct.columns  # no duplicate column


def test_summary_of_several_conditions_orders_them_by_value(results):
    table = tables.summary_table(results, "superres")
    conditions = list(dict.fromkeys(table.index.get_level_values("condition")))
    assert conditions == ["thick-1.2mm", "thick-4.8mm", "thick-10mm"]
    assert list(table.loc["thick-1.2mm"].index) == ["bspline", "smore", "reference"]
    harm = tables.summary_table(results, "harmonize")
    assert list(dict.fromkeys(harm.index.get_level_values("condition"))) == [
        "AtoB-T1w", "AtoB-T2w", "AtoB-PDw"]


def test_inf_psnr_of_reference_shows_a_dash_and_stays_out_of_other_means(results):
    table = tables.summary_table(results, "superres")
    ref = table.loc[("thick-1.2mm", "reference")]
    assert ref["PSNR (dB)"] == ref["MAE (norm. intensity)"] == ref["SSIM"] == "—"
    assert ref["Dice (mean of tissues)"] == "0.920 ± 0.020"
    assert table.loc[("thick-1.2mm", "bspline"), "PSNR (dB)"] == "32.00 ± 2.00"
    assert not table.apply(lambda c: c.astype(str).str.contains("nan|inf")).any().any()
    # a method that reproduces the target for one subject: that inf is left out
    assert tables.format_mean_sd(pd.Series([math.inf, 30.0, 32.0]), 2) == "31.00 ± 1.41"
    assert tables.format_mean_sd(pd.Series([math.inf]), 2) == "—"
    assert tables.format_mean_sd(pd.Series([0.5]), 3) == "0.500"


def test_dice_by_thickness_rows_ascend_and_end_with_the_reference(results):
    table = tables.dice_by_thickness(results)
    assert list(table.index) == ["1.2", "4.8", "10", "HR (reference)"]
    assert list(table.columns) == ["bspline", "smore"]
    assert table.loc["1.2", "bspline"] == "0.810 ± 0.010"
    assert table.loc["10", "smore"] == "0.450 ± 0.000"
    # the reference, identical in each condition, counted once per subject
    assert table.loc["HR (reference)"].tolist() == ["0.920 ± 0.020", ""]
    gm = tables.dice_by_thickness(results, metric="dice_GM", order=["smore"])
    assert list(gm.columns) == ["smore", "bspline"]


def test_superres_table_holds_tissue_dice_and_image_metrics(results):
    table = tables.superres_by_thickness(results)
    assert list(table.index) == ["1.2", "4.8", "10", "HR (reference)"]
    assert list(dict.fromkeys(table.columns.get_level_values("method"))) == ["bspline", "smore"]
    assert table.loc["1.2", ("bspline", metric_label("dice_mean", "superres"))] == "0.810 ± 0.010"
    hr = table.loc["HR (reference)"]
    assert hr[("bspline", metric_label("dice_mean", "superres"))] == "0.920 ± 0.020"
    assert hr[("bspline", metric_label("psnr", "superres"))] == "—"
    assert set(hr["smore"]) == {""}


def test_psnr_ssim_by_noise_rows_ascend_with_the_noisy_input_first(results):
    table = tables.psnr_ssim_by_noise(results)
    assert list(table.index) == ["1", "3", "9"]
    assert list(table.columns.get_level_values("method")) == ["none", "none", "bm4d", "bm4d"]
    assert table.loc["3", ("bm4d", "PSNR (dB)")] == "34.00 ± 1.00"
    assert table.loc["9", ("none", "PSNR (dB)")] == "20.33 ± 0.58"
    assert table.loc["1", ("bm4d", "SSIM")] == "0.9100 ± 0.0100"


def _percentile_ci(values):
    """95 % percentile bootstrap CI of the mean, computed with scipy directly."""
    ci = stats.bootstrap((np.asarray(values),), np.mean, n_resamples=2000, method="percentile",
                         rng=np.random.default_rng(0)).confidence_interval
    return ci.low, ci.high


def test_paper_pivots_print_the_compare_stages_ci_when_given_its_summary(results):
    summary = summarise(results, n_resamples=2000)
    low, high = _percentile_ci([33.0, 34.0, 35.0])
    by_noise = tables.psnr_ssim_by_noise(results, summary=summary)
    assert by_noise.loc["3", ("bm4d", "PSNR (dB)")] == f"34.00 [{low:.2f}, {high:.2f}]"
    low, high = _percentile_ci([0.8, 0.81, 0.82])
    by_thickness = tables.dice_by_thickness(results, summary=summary)
    assert by_thickness.loc["1.2", "bspline"] == f"0.810 [{low:.3f}, {high:.3f}]"
    # the reference, one image in every condition: its CI over the three subjects
    low, high = _percentile_ci([0.9, 0.92, 0.94])
    assert by_thickness.loc["HR (reference)", "bspline"] == f"0.920 [{low:.3f}, {high:.3f}]"
    harmonization = tables.harmonization_consistency(results, summary=summary)
    low, high = _percentile_ci([5.0 - 1.0, 6.0, 10.0])
    cell = harmonization.loc[("T1w", "deepharmony"), metric_label("volume_diff_pct_CSF", "harmonize")]
    assert cell == f"6.67 [{low:.2f}, {high:.2f}]"


def test_brainweb_sbd_rows_follow_the_synthetic_levels_marked_and_stay_off_the_curves(results, tmp_path):
    sbd = mr("denoise", "sbd-noise-3", "bm4d", [0.75], mae=[0.1], psnr=[33.0], ssim=[0.88])
    sbd += mr("denoise", "sbd-noise-3", "none", [0.7], mae=[0.2], psnr=[29.0], ssim=[0.61])
    df = pd.concat([results, pd.DataFrame(sbd).assign(subject="sbd")], ignore_index=True)
    table = tables.psnr_ssim_by_noise(df)
    assert list(table.index) == ["1", "3", "9", "3 (BrainWeb SBD)"]
    assert table.loc["3 (BrainWeb SBD)", ("bm4d", "PSNR (dB)")] == "33.00"  # one subject: no sd
    assert table.loc["3", ("bm4d", "PSNR (dB)")] == "34.00 ± 1.00"  # synthetic rows unchanged
    parsed = parse_conditions(df[df.task == "denoise"]).drop_duplicates("condition")
    assert dict(zip(parsed.condition, parsed.test_set, strict=True))["sbd-noise-3"] == "BrainWeb SBD"
    assert condition_order(df[df.task == "denoise"])[-1] == "sbd-noise-3"
    png = figures.noise_curves(df, tmp_path / "noise.png")
    assert imread(png).shape[0] > 100
    tables.write_all_tables(df, tmp_path / "with")
    tables.write_all_tables(results, tmp_path / "without")
    caption = "BrainWeb SBD rows: BrainWeb's own noise, % of the white-matter mean"
    assert caption in (tmp_path / "with" / "psnr_ssim_by_noise.md").read_text(encoding="utf-8")
    assert "SBD" not in (tmp_path / "without" / "psnr_ssim_by_noise.md").read_text(encoding="utf-8")


def test_write_table_files_parse_back(results, tmp_path):
    summary = tables.summary_table(pd.DataFrame(
        mr("t1_to_t2", "default", "histogram_matching", [0.5, 0.6], mae=[0.1, 0.2],
           psnr=[30.0, 31.0], ssim=[0.8, 0.9])), "t1_to_t2")
    paths = tables.write_table(summary, tmp_path / "summary_t1_to_t2", "T1w to T2w, 50% done")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "summary_t1_to_t2.csv", "summary_t1_to_t2.md", "summary_t1_to_t2.tex"]
    assert [p.suffix for p in paths] == [".md", ".csv", ".tex"]
    csv = pd.read_csv(tmp_path / "summary_t1_to_t2.csv")
    assert csv.loc[0, "method"] == "histogram_matching"
    assert csv.loc[0, "PSNR (dB)"] == "30.50 ± 0.71"
    md = (tmp_path / "summary_t1_to_t2.md").read_text(encoding="utf-8").splitlines()
    assert md[0].startswith("| method") and "histogram_matching" in md[2]
    assert md[-1] == "Table: T1w to T2w, 50% done"
    tex = (tmp_path / "summary_t1_to_t2.tex").read_text(encoding="utf-8")
    assert r"\begin{tabular}" in tex and r"\toprule" in tex
    assert r"histogram\_matching" in tex and "histogram_matching" not in tex
    assert r"50\% done" in tex and r"30.50 $\pm$ 0.71" in tex and "±" not in tex
    pivot = tables.psnr_ssim_by_noise(results)
    tables.write_table(pivot, tmp_path / "noise", "noise")
    assert r"\multicolumn{2}{c}{bm4d}" in (tmp_path / "noise.tex").read_text(encoding="utf-8")
    flat = pd.read_csv(tmp_path / "noise.csv")
    assert flat.columns[:3].tolist() == ["noise (%)", "none PSNR (dB)", "none SSIM"]
    assert flat["noise (%)"].tolist() == [1, 3, 9]


def test_write_all_tables_names_what_the_workflow_expects(results, tmp_path):
    written = tables.write_all_tables(results, tmp_path)
    stems = {p.stem for p in written}
    assert stems == {"summary_t1_to_t2", "summary_mr_to_ct", "summary_denoise",
                     "summary_superres", "summary_harmonize", "dice_by_thickness",
                     "superres_by_thickness", "psnr_ssim_by_noise", "harmonization_consistency"}
    assert len(written) == 3 * len(stems) and all(p.stat().st_size > 0 for p in written)
    only_ct = tables.write_all_tables(results[results.task == "mr_to_ct"], tmp_path / "ct")
    assert {p.stem for p in only_ct} == {"summary_mr_to_ct"}


def test_harmonization_table_gives_consistency_per_contrast(results):
    table = tables.harmonization_consistency(results)
    assert list(dict.fromkeys(table.index.get_level_values("contrast"))) == ["T1w", "T2w", "PDw"]
    assert list(table.loc["T1w"].index) == ["histogram_matching", "deepharmony"]
    dice_gm = metric_label("consistency_dice_GM", "harmonize")
    volume_gm = metric_label("volume_diff_pct_GM", "harmonize")
    assert table.loc[("T2w", "deepharmony"), dice_gm] == "0.800 ± 0.000"
    # 4, 6, 10 %: mean 6.67, sample sd sqrt(((4-6.67)^2 + (6-6.67)^2 + (10-6.67)^2) / 2) = 3.06
    assert table.loc[("T2w", "deepharmony"), volume_gm] == "6.67 ± 3.06"
    assert table.loc[("PDw", "deepharmony"), dice_gm] == "—"
    assert table.loc[("T1w", "histogram_matching"), "PSNR (dB)"] == "32.00 ± 2.00"


def test_tables_refuse_mixed_datasets_and_missing_tasks(results):
    mixed = results.copy()
    mixed.loc[0, "dataset"] = "ixi"
    with pytest.raises(ValueError, match="ixi"):
        tables.summary_table(mixed, "t1_to_t2")
    with pytest.raises(ValueError, match="superres"):
        tables.dice_by_thickness(results[results.task == "denoise"])


def test_parse_conditions_and_method_order(results):
    parsed = parse_conditions(results).drop_duplicates("condition").set_index("condition")
    assert parsed.loc["noise-3", "noise_percent"] == 3.0
    assert parsed.loc["thick-1.2mm", "thickness_mm"] == 1.2
    assert parsed.loc["AtoB-T2w", "contrast"] == "T2w"
    assert np.isnan(parsed.loc["default", "noise_percent"])
    assert np.isnan(parsed.loc["noise-3", "thickness_mm"])
    methods = ["cyclegan", "reference", "unet", "none", "pix2pix", "bspline"]
    assert method_order(methods) == ["none", "bspline", "unet", "cyclegan", "pix2pix", "reference"]
    assert method_order(methods, order=["pix2pix", "none"]) == [
        "pix2pix", "none", "bspline", "cyclegan", "unet", "reference"]


def assert_png(path, min_width=200):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert imread(path).shape[1] >= min_width


def test_metric_figures_draw_with_inf_values(results, tmp_path):
    written = figures.write_all_figures(results, tmp_path)
    assert {p.name for p in written} == {
        "box_t1_to_t2.png", "box_mr_to_ct.png", "box_denoise.png", "box_superres.png",
        "box_harmonize.png", "dice_by_thickness.png", "psnr_ssim_by_noise.png",
        "harmonization_consistency.png"}
    for path in written:
        assert_png(path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def head_volumes(tmp_path):
    """A 2 mm target and mask whose largest axial mask slice is k = 7, a source
    on a 6 mm slice grid whose value is its world z, and two predictions."""
    shape = (20, 24, 18)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-19.0, -23.0, -17.0]
    x, y, z = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    radius = np.sqrt(((x - 9.5) / 8) ** 2 + ((y - 11.5) / 10) ** 2 + ((z - 7) / 4) ** 2)
    mask = radius < 1
    target = np.where(mask, 0.5 + 0.5 * (radius < 0.6), 0.0).astype(np.float32)
    coarse = affine.copy()
    coarse[2, 2], coarse[2, 3] = 6.0, affine[2, 3] + 2.0
    zs = coarse[2, 3] + 6.0 * np.arange(6)
    source = np.broadcast_to(zs, (20, 24, 6)).astype(np.float32)
    paths = {name: tmp_path / f"{name}.nii.gz" for name in
             ("target", "mask", "source", "good", "bad")}
    save_volume(paths["target"], target, affine)
    save_volume(paths["mask"], mask.astype(np.float32), affine, np.uint8)
    save_volume(paths["source"], source, coarse)
    save_volume(paths["good"], target + 0.01, affine)
    save_volume(paths["bad"], target * 0.5, affine)
    return paths, affine


def test_example_slices_with_a_source_on_a_coarser_grid(tmp_path):
    paths, affine = head_volumes(tmp_path)
    plane = figures._plane(paths["target"], paths["mask"])
    assert plane.index == 7
    # the 6 mm source holds its own world z, so linear sampling on the plane returns the plane's z
    assert plane.z_mm == pytest.approx(affine[2, 3] + 2.0 * 7)
    np.testing.assert_allclose(plane.sample(paths["source"]), plane.z_mm, atol=1e-4)
    out = figures.example_slices(
        [("none", paths["good"]), ("histogram_matching", paths["bad"]),
         ("reference", paths["target"])],
        paths["source"], paths["target"], paths["mask"], tmp_path / "ex" / "slices.png",
        title="superres / thick-6mm / sub-001", source_in_target_window=True)
    assert_png(out, min_width=400)
    ct = figures.example_slices([("unet", paths["good"])], paths["source"], paths["target"],
                                paths["mask"], tmp_path / "ct.png", is_ct=True)
    assert_png(ct)


def _as_synthrad2025(results):
    """The fixture as synthrad2025 would record it: MS-SSIM in place of SSIM."""
    return results.rename(columns={"ssim": "ms_ssim"}).assign(protocol="synthrad2025")


def test_every_caption_names_the_protocol_and_ms_ssim_replaces_ssim(results, tmp_path):
    written = tables.write_all_tables(_as_synthrad2025(results), tmp_path)
    for path in (p for p in written if p.suffix == ".md"):
        caption = path.read_text(encoding="utf-8").splitlines()[-1]
        assert "protocol synthrad2025" in caption and "[-1024, 3071] HU" in caption, path.name
    noise = pd.read_csv(tmp_path / "psnr_ssim_by_noise.csv")
    assert "bm4d MS-SSIM" in noise.columns and "bm4d SSIM" not in noise.columns
    assert noise.loc[0, "bm4d MS-SSIM"] == "0.9100 ± 0.0100"  # 0.90, 0.91, 0.92
    assert "MS-SSIM" in pd.read_csv(tmp_path / "summary_t1_to_t2.csv").columns
    assert any("MS-SSIM" in c for c in pd.read_csv(tmp_path / "superres_by_thickness.csv"))
    assert "PSNR and MS-SSIM" in (tmp_path / "psnr_ssim_by_noise.md").read_text(encoding="utf-8")
    default = tables.write_all_tables(results, tmp_path / "default")
    assert "protocol synthrad2023" in default[0].read_text(encoding="utf-8")


def test_tables_and_figures_refuse_rows_of_two_protocols(results, tmp_path):
    mixed = pd.concat([results[results.task != "t1_to_t2"],
                       results[results.task == "t1_to_t2"].assign(protocol="brasyn")])
    with pytest.raises(ValueError, match="mix evaluation protocols"):
        tables.write_all_tables(mixed, tmp_path)
    with pytest.raises(ValueError, match="mix evaluation protocols"):
        tables.summary_table(mixed.assign(task="t1_to_t2"), "t1_to_t2")
    with pytest.raises(ValueError, match="mix evaluation protocols"):
        figures.write_all_figures(mixed, tmp_path)


def test_ms_ssim_figures_draw(results, tmp_path):
    written = figures.write_all_figures(_as_synthrad2025(results), tmp_path)
    assert all(p.stat().st_size > 0 for p in written)


def test_pet_error_table_and_figure(tmp_path):
    from medsynth.report.pet import pet_error_figure

    rows = []
    for method, bias in (("bulk_density", -4.0), ("reference", 0.0), ("ct_no_bone", -12.0)):
        for subject, shift in (("001", -1.0), ("002", 1.0)):
            value = bias + shift if bias else 0.0
            rows.append({"dataset": "phantom", "task": "mr_to_ct", "condition": "default",
                         "method": method, "subject": subject, "pet_bias_pct_brain": value,
                         "pet_mae_pct_brain": abs(value), "pet_within5_brain": 1.0 * (bias == 0)})
    table = tables.pet_error_table(pd.DataFrame(rows))
    assert list(table.index) == ["bulk_density", "ct_no_bone", "reference"]
    assert table.loc["ct_no_bone", ("brain", "bias %")] == "-12.00 ± 1.41"
    assert table.loc["reference", ("brain", "within ±5 %")] == "1.000 ± 0.000"
    assert metric_label("pet_mae_pct_skullbase", "mr_to_ct") == "PET |error| % (near air cavities)"
    maps = {}
    for method, level in (("bulk_density", -4.0), ("reference", 0.0)):
        error = np.full((10, 12, 8), np.nan, dtype=np.float32)
        error[2:8, 3:9, 1:6] = level
        maps[method] = tmp_path / f"{method}.npz"
        np.savez(maps[method], error_pct=error, affine=np.diag([2.0, 2.0, 2.0, 1.0]), subject="001")
    out = pet_error_figure(maps, tmp_path / "pet.png")
    assert imread(out).shape[1] > 300


def test_captions_give_each_learned_model_its_budget_and_the_scale(results, tmp_path):
    compute = pd.DataFrame([
        {"task": "denoise", "condition": c, "method": "red_wgan", "iterations": it,
         "train_cpu_s": cpu} for c, it, cpu in (("1", 200, 80.0), ("3", 200, 100.0),
                                                 ("9", 240, 90.0))] + [
        {"task": "denoise", "condition": "1", "method": "nlm", "iterations": None,
         "train_cpu_s": None},
        {"task": "mr_to_ct", "condition": "default", "method": "unet", "iterations": 520,
         "train_cpu_s": 91.6}]).assign(collapsed=False)
    note = tables.budget_note(compute, ["denoise"], "quick")
    assert note.startswith(" Training budget per model: red_wgan 200-240 iterations, 90 CPU-s "
                           "(mean of 3 models).")
    assert "nlm" not in note and "unet" not in note
    assert "quick preset" in note and "not the papers' scale" in note
    assert "not the papers' scale" not in tables.budget_note(compute, ["denoise"], "paper")
    assert tables.budget_note(compute, ["harmonize"], "quick") == ""
    tables.write_all_tables(results, tmp_path, compute=compute, preset="quick")
    caption = (tmp_path / "psnr_ssim_by_noise.md").read_text()
    assert "red_wgan 200-240 iterations, 90 CPU-s" in caption
    assert "unet 520 iterations, 92 CPU-s" in (tmp_path / "summary_mr_to_ct.md").read_text()


def test_sampling_steps_are_a_compute_column_only_where_a_sampler_is(tmp_path):
    rows = pd.DataFrame([{"dataset": "phantom", "task": "t1_to_t2", "condition": "default",
                          "method": m, "subject": s, "mae": 0.1}
                         for m in ("unet", "cond_flow") for s in ("003", "004")])
    compute = pd.DataFrame([
        {"task": "t1_to_t2", "condition": "default", "method": "unet", "iterations": 680,
         "train_cpu_s": 100.0, "sampling_steps": None},
        {"task": "t1_to_t2", "condition": "default", "method": "cond_flow", "iterations": 400,
         "train_cpu_s": 100.0, "sampling_steps": 4}]).assign(collapsed=False)
    table = tables.summary_table(rows, "t1_to_t2", compute=compute)
    assert table.loc["cond_flow", "sampling steps"] == "4"
    assert table.loc["unet", "sampling steps"] == tables.MISSING
    regression_only = tables.summary_table(rows[rows["method"] == "unet"], "t1_to_t2",
                                           compute=compute)
    assert "sampling steps" not in regression_only.columns
    rows = pd.concat([rows, rows.assign(task="mr_to_ct", method="unet")]).assign(
        protocol="synthrad2023")
    tables.write_all_tables(rows, tmp_path, compute=compute, preset="quick")
    assert "one network pass over every slice" in (tmp_path / "summary_t1_to_t2.md").read_text()
    assert "one network pass" not in (tmp_path / "summary_mr_to_ct.md").read_text()
