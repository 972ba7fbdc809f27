"""evaluate_prediction and write_row on small NIfTI files."""

import math

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from medsynth import io
from medsynth.evaluate import evaluate_prediction

N = 40
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
T1_BY_LABEL = {1: 0.30, 2: 0.60, 3: 0.90, 4: 0.80, 6: 0.10}
HU_BY_LABEL = {0: -1000.0, 1: 10.0, 2: 40.0, 3: 30.0, 4: 50.0, 6: 1200.0}


def head_labels() -> np.ndarray:
    """dseg of a spherical head: CSF core, WM, GM, CSF rim, scalp (4), bone shell (6)."""
    grid = np.indices((N, N, N)) - (N - 1) / 2
    r = np.sqrt((grid**2).sum(axis=0))
    dseg = np.zeros((N, N, N), dtype=np.uint8)
    dseg[r < 19] = 4
    dseg[r < 18.5] = 6
    dseg[r < 16.5] = 1
    dseg[r < 15] = 2
    dseg[r < 11] = 3
    dseg[r < 6] = 1
    return dseg


def render(dseg, values, noise, seed=0):
    image = np.zeros(dseg.shape, dtype=np.float32)
    for label, value in values.items():
        image[dseg == label] = value
    return image + np.random.default_rng(seed).normal(0, noise, dseg.shape).astype(np.float32)


@pytest.fixture
def subject(tmp_path):
    return write_subject(tmp_path)


def write_subject(tmp_path):
    """Write one subject's task inputs; returns a dict of paths and arrays."""
    dseg = head_labels()
    paths = {role: tmp_path / f"sub-01_{role}.nii.gz"
             for role in ("t1", "ct", "mask", "brainmask", "dseg")}
    t1 = render(dseg, T1_BY_LABEL, 0.03)
    ct = render(dseg, HU_BY_LABEL, 5.0)
    io.save_volume(paths["t1"], t1, AFFINE)
    io.save_volume(paths["ct"], ct, AFFINE)
    io.save_volume(paths["mask"], dseg > 0, AFFINE, dtype=np.uint8)
    io.save_volume(paths["brainmask"], np.isin(dseg, (1, 2, 3)), AFFINE, dtype=np.uint8)
    io.save_volume(paths["dseg"], dseg, AFFINE, dtype=np.uint8)
    return {"paths": paths, "dseg": dseg, "t1": t1, "ct": ct, "dir": tmp_path}


def test_perfect_mr_prediction_against_labels(subject):
    p = subject["paths"]
    result = evaluate_prediction(p["t1"], p["t1"], p["mask"], p["brainmask"], p["dseg"], "T1w")
    assert list(result) == ["mae", "psnr", "ssim", "dice_CSF", "dice_GM", "dice_WM", "dice_mean",
                            "segmentation_failed"]
    assert result["segmentation_failed"] == 0.0
    assert all(isinstance(v, float) for v in result.values())
    assert result["mae"] == 0.0
    assert result["psnr"] == math.inf
    assert result["ssim"] == pytest.approx(1.0, abs=1e-12)
    for tissue in ("CSF", "GM", "WM"):
        assert result[f"dice_{tissue}"] > 0.95
    assert result["dice_mean"] == pytest.approx(
        np.mean([result["dice_CSF"], result["dice_GM"], result["dice_WM"]]))


def test_pd_target_gets_image_metrics_and_no_dice(subject):
    p = subject["paths"]
    result = evaluate_prediction(p["t1"], p["t1"], p["mask"], p["brainmask"], p["dseg"], "PDw")
    assert result["mae"] == 0.0
    assert all(math.isnan(result[k]) for k in ("dice_CSF", "dice_GM", "dice_WM", "dice_mean"))


def test_without_labels_dice_is_against_the_target_segmentation(subject):
    p, tmp = subject["paths"], subject["dir"]
    perfect = evaluate_prediction(p["t1"], p["t1"], p["mask"], p["brainmask"], None, "T1w")
    assert perfect["dice_mean"] == 1.0  # same image, same deterministic segmentation
    blurred_path = tmp / "pred.nii.gz"
    flat = subject["t1"].copy()
    flat[subject["dseg"] == 3] = 0.60  # WM painted as GM: WM lost, GM and CSF kept
    io.save_volume(blurred_path, flat, AFFINE)
    worse = evaluate_prediction(blurred_path, p["t1"], p["mask"], p["brainmask"], None, "T1w")
    assert worse["dice_mean"] < 0.9
    assert worse["mae"] == pytest.approx(0.3 * (subject["dseg"] == 3).sum()
                                         / (subject["dseg"] > 0).sum(), rel=0.05)


def test_prediction_on_the_wrong_grid_names_the_prediction(subject):
    p, tmp = subject["paths"], subject["dir"]
    bad = tmp / "sub-01_pred_wronggrid.nii.gz"
    io.save_volume(bad, subject["t1"][:, :, :-1], AFFINE)
    with pytest.raises(io.InputError, match="wronggrid") as info:
        evaluate_prediction(bad, p["t1"], p["mask"], p["brainmask"], p["dseg"], "T1w")
    assert str(bad) in str(info.value)
    shifted = tmp / "sub-01_pred_shifted.nii.gz"
    moved = AFFINE.copy()
    moved[0, 3] = 2.0
    io.save_volume(shifted, subject["t1"], moved)
    with pytest.raises(io.InputError) as info:
        evaluate_prediction(shifted, p["t1"], p["mask"], p["brainmask"], p["dseg"], "T1w")
    assert str(shifted) in str(info.value)


def test_ct_prediction_scores_bone_dice(subject):
    p, tmp, dseg = subject["paths"], subject["dir"], subject["dseg"]
    perfect = evaluate_prediction(p["ct"], p["ct"], p["mask"], p["brainmask"], p["dseg"], "CT")
    assert list(perfect) == ["mae", "psnr", "ssim", "dice_bone", "dice_mean", "segmentation_failed"]
    assert perfect["dice_bone"] == 1.0 and perfect["dice_mean"] == 1.0
    assert perfect["mae"] == 0.0
    # Lose the bone in one half of the head: Dice = 2|kept| / (|bone| + |kept|).
    pred = subject["ct"].copy()
    bone = dseg == 6
    lost = bone.copy()
    lost[N // 2:] = False
    pred[lost] = 50.0
    half = tmp / "pred_ct.nii.gz"
    io.save_volume(half, pred, AFFINE)
    kept = int((bone & ~lost).sum())
    expected = 2 * kept / (int(bone.sum()) + kept)
    for dseg_path in (p["dseg"], None):
        result = evaluate_prediction(half, p["ct"], p["mask"], p["brainmask"], dseg_path, "CT")
        assert result["dice_bone"] == pytest.approx(expected)
        assert result["dice_mean"] == result["dice_bone"]


def test_unknown_contrast_is_rejected(subject):
    p = subject["paths"]
    with pytest.raises(ValueError, match="FLAIR"):
        evaluate_prediction(p["t1"], p["t1"], p["mask"], p["brainmask"], None, "FLAIR")


def test_consistency_compares_tissues_and_volumes_with_the_target_scan(subject):
    p, tmp = subject["paths"], subject["dir"]
    same = evaluate_prediction(p["t1"], p["t1"], p["mask"], p["brainmask"], p["dseg"], "T1w",
                               consistency=True)
    assert same["consistency_dice_mean"] == 1.0 and same["volume_diff_pct_mean"] == 0.0
    grown = subject["t1"].copy()
    grown[subject["dseg"] == 3] = T1_BY_LABEL[2]  # all WM looks like GM on the "harmonized" scan
    io.save_volume(tmp / "pred.nii.gz", grown, AFFINE)
    worse = evaluate_prediction(tmp / "pred.nii.gz", p["t1"], p["mask"], p["brainmask"],
                                p["dseg"], "T1w", consistency=True)
    assert worse["consistency_dice_CSF"] > 0.95  # CSF untouched
    assert worse["consistency_dice_mean"] < 0.8 and worse["volume_diff_pct_GM"] > 50
    assert worse["volume_diff_pct_mean"] == pytest.approx(np.mean(
        [worse[f"volume_diff_pct_{t}"] for t in ("CSF", "GM", "WM")]))
    pd = evaluate_prediction(p["t1"], p["t1"], p["mask"], p["brainmask"], p["dseg"], "PDw",
                             consistency=True)
    assert math.isnan(pd["consistency_dice_mean"]) and math.isnan(pd["volume_diff_pct_GM"])


def test_volume_difference_and_consistency_by_hand():
    from medsynth.evaluate import segmentation_consistency
    from medsynth.metrics import volume_difference_pct

    target = np.array([1, 1, 1, 1, 2, 2, 3, 3, 3, 3])
    seg = np.array([1, 1, 1, 2, 2, 2, 2, 3, 3, 3])
    # CSF 3 vs 4 voxels: 25 %; GM 4 vs 2: 100 %; WM 3 vs 4: 25 %
    assert volume_difference_pct(seg, target, 1) == 25.0
    assert volume_difference_pct(seg, target, 2) == 100.0
    assert volume_difference_pct(seg, target, 5) == 0.0  # absent from both
    assert volume_difference_pct(np.array([5]), np.array([0]), 5) == math.inf
    row = segmentation_consistency(seg, target)
    assert row["volume_diff_pct_mean"] == pytest.approx(50.0)
    # Dice CSF 2*3/(3+4), GM 2*2/(4+2), WM 2*3/(3+4)
    assert row["consistency_dice_GM"] == pytest.approx(2 / 3)
    assert row["consistency_dice_mean"] == pytest.approx((6 / 7 + 2 / 3 + 6 / 7) / 3)


# --- degenerate predictions: scored, never an exception -------------------------------------

def _degenerate(name, target, head):
    """A poor prediction of `target` of kind `name` (seeded)."""
    rng = np.random.default_rng(7)
    inside = target[head]
    median, spread = float(np.median(inside)), float(inside.max() - inside.min())
    if name == "zeros":
        return np.zeros_like(target)
    if name == "constant":
        return np.full_like(target, median)
    if name == "zeros_76pct_small_noise":  # the smoke DeepHarmony's dead final ReLU
        noisy = median + rng.normal(0, 0.01 * spread, target.shape)
        return np.where(rng.random(target.shape) < 0.76, 0, noisy).astype(np.float32)
    if name == "two_values":
        return np.where(target > median, inside.max(), inside.min()).astype(np.float32)
    if name == "very_large":
        return (target * 1e30).astype(np.float32)
    if name == "negative":
        return (target - 10 * spread).astype(np.float32)
    if name == "pure_noise":
        return rng.normal(inside.mean(), inside.std(), target.shape).astype(np.float32)
    raise ValueError(name)


DEGENERATE = ("zeros", "constant", "zeros_76pct_small_noise", "two_values", "very_large",
              "negative", "pure_noise")
# where the segmenter cannot run: Atropos on MR (no three tissues), or no CT voxel above
# the bone threshold where the reference has bone
SEGMENTATION_FAILS = {
    "mr": {"zeros", "constant", "zeros_76pct_small_noise", "two_values"},
    "ct": {"zeros", "constant", "zeros_76pct_small_noise", "negative"},
}
KINDS = {  # evaluation kind: (target image, target contrast, consistency, failure set)
    "mr_tissue_dice": ("t1", "T1w", False, "mr"),
    "ct_bone_dice": ("ct", "CT", False, "ct"),
    "harmonization_consistency": ("t1", "T1w", True, "mr"),
}


def _score_matrix(subject):
    p, tmp = subject["paths"], subject["dir"]
    head = subject["dseg"] > 0
    rows = []
    for kind, (image, contrast, consistency, fails) in KINDS.items():
        for name in DEGENERATE:
            pred = tmp / f"pred_{kind}_{name}.nii.gz"
            io.save_volume(pred, _degenerate(name, subject[image], head), AFFINE)
            row = evaluate_prediction(pred, p[image], p["mask"], p["brainmask"], p["dseg"],
                                      contrast, consistency=consistency)
            rows.append({"kind": kind, "prediction": name,
                         "expected_failure": name in SEGMENTATION_FAILS[fails], **row})
    return rows


@pytest.fixture(scope="module")
def degenerate_subject(tmp_path_factory):
    return write_subject(tmp_path_factory.mktemp("degenerate"))


@pytest.fixture(scope="module")
def degenerate_rows(degenerate_subject):
    return _score_matrix(degenerate_subject)


def test_every_degenerate_prediction_is_scored_and_flagged_where_segmentation_fails(
        degenerate_rows):
    assert len(degenerate_rows) == len(KINDS) * len(DEGENERATE)
    for row in degenerate_rows:
        where = f"{row['kind']} / {row['prediction']}"
        assert np.isfinite([row["mae"], row["ssim"]]).all(), where
        assert not math.isnan(row["psnr"]), where
        assert row["segmentation_failed"] == float(row["expected_failure"]), where
        dice_keys = [k for k in row if k.startswith(("dice_", "consistency_dice_"))]
        assert dice_keys, where
        if row["expected_failure"]:  # a failed segmentation found no tissue
            assert all(row[k] == 0.0 for k in dice_keys), where
            volume_keys = [k for k in row if k.startswith("volume_diff_pct_")]
            assert all(row[k] == 100.0 for k in volume_keys), where
        else:
            assert all(0.0 <= row[k] <= 1.0 for k in dice_keys), where


def test_the_image_metrics_of_a_failed_segmentation_are_still_computed(degenerate_subject,
                                                                       degenerate_rows):
    subject = degenerate_subject
    head = subject["dseg"] > 0
    zeros = next(r for r in degenerate_rows
                 if r["kind"] == "ct_bone_dice" and r["prediction"] == "zeros")
    assert zeros["mae"] == pytest.approx(np.abs(subject["ct"][head]).mean(), rel=1e-5)


def test_summary_tables_count_the_failed_segmentations(degenerate_rows, tmp_path):
    from medsynth.report import tables

    task_of = {"mr_tissue_dice": "t1_to_t2", "ct_bone_dice": "mr_to_ct",
               "harmonization_consistency": "harmonize"}
    condition_of = {"harmonize": "AtoB-T1w"}
    df = pd.DataFrame([{"dataset": "phantom", "task": task_of[r["kind"]],
                        "condition": condition_of.get(task_of[r["kind"]], "default"),
                        "method": r["prediction"], "subject": "01", "protocol": "synthrad2023",
                        **{k: v for k, v in r.items()
                           if k not in ("kind", "prediction", "expected_failure")}}
                       for r in degenerate_rows])
    tables.write_all_tables(df, tmp_path)
    for kind, task in task_of.items():
        failed = sum(r["expected_failure"] for r in degenerate_rows if r["kind"] == kind)
        md = (tmp_path / f"summary_{task}.md").read_text(encoding="utf-8")
        assert f"Segmentation failed on {failed} of {len(DEGENERATE)} predictions" in md
        summary = pd.read_csv(tmp_path / f"summary_{task}.csv")
        flagged = summary.loc[summary["flags"].fillna("").str.contains("segmentation failed"),
                              "method"]
        assert set(flagged) == {r["prediction"] for r in degenerate_rows
                                if r["kind"] == kind and r["expected_failure"]}
    consistency = (tmp_path / "harmonization_consistency.md").read_text(encoding="utf-8")
    assert "Segmentation failed on 4 of 7 predictions" in consistency


def test_a_reference_that_cannot_be_segmented_is_bad_input_named(subject):
    p, tmp = subject["paths"], subject["dir"]
    head = subject["dseg"] > 0
    two = tmp / "sub-01_target_two_values.nii.gz"
    io.save_volume(two, _degenerate("two_values", subject["t1"], head), AFFINE)
    with pytest.raises(io.InputError, match="cannot be segmented") as info:
        evaluate_prediction(p["t1"], two, p["mask"], p["brainmask"], None, "T1w")
    assert str(two) in str(info.value)


def test_a_prediction_with_nan_voxels_still_stops_evaluation_naming_it(subject):
    p, tmp = subject["paths"], subject["dir"]
    bad = tmp / "sub-01_pred_nan.nii.gz"
    data = subject["t1"].copy()
    data[3, 3, 3] = np.nan
    nib.save(nib.Nifti1Image(data, AFFINE), bad)
    with pytest.raises(io.InputError, match="NaN") as info:
        evaluate_prediction(bad, p["t1"], p["mask"], p["brainmask"], p["dseg"], "T1w")
    assert str(bad) in str(info.value)


def test_the_protocol_chooses_the_image_metrics_and_is_recorded_in_each_row(subject, tmp_path):
    from medsynth import protocols, steps
    from medsynth.tasks import Condition

    p = subject["paths"]
    ct = subject["ct"] + 30.0
    io.save_volume(tmp_path / "pred.nii.gz", ct, AFFINE)
    row = evaluate_prediction(tmp_path / "pred.nii.gz", p["ct"], p["mask"], p["brainmask"],
                              p["dseg"], "CT", protocol="synthrad2025")
    assert list(row)[:3] == ["mae", "psnr", "ms_ssim"] and "ssim" not in row
    expected = protocols.get("synthrad2025").image_metrics(
        io.load_array(tmp_path / "pred.nii.gz")[0], subject["ct"], subject["dseg"] > 0, True)
    assert row["ms_ssim"] == expected["ms_ssim"]
    with pytest.raises(ValueError, match="'brasyn' defines no metrics for CT"):
        evaluate_prediction(p["ct"], p["ct"], p["mask"], p["brainmask"], p["dseg"], "CT",
                            protocol="brasyn")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for role, src in (("target", "t1"), ("mask", "mask"), ("brainmask", "brainmask"),
                      ("dseg", "dseg")):
        (inputs / f"sub-01_{role}.nii.gz").write_bytes(p[src].read_bytes())
    cond = Condition("t1_to_t2", "default", ("T1w",), None, "T1w", None)
    rows = steps.evaluate(cond, inputs, {"01": p["t1"]}, {"dataset": "phantom"}, "brasyn",
                          ("ms_ssim",))
    assert rows[0]["protocol"] == "brasyn" and rows[0]["ms_ssim"] == pytest.approx(1.0)
