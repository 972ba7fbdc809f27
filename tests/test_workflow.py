"""The whole workflow through Snakemake on the smoke preset: every task, every
built-in method, the outside-method example, the report, and the failure modes
a user meets first (a typo in the config, a broken input file)."""

import re
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from workflow_run import SMOKE_CONFIG, snakemake

from medsynth.tasks import sbd_levels

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("smoke")
    result = snakemake(workdir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return workdir / "results" / "phantom"


def test_every_method_is_evaluated_on_every_test_subject(smoke_run):
    metrics = pd.read_csv(smoke_run / "report" / "metrics.tsv", sep="\t", dtype={"subject": str})
    split = pd.read_csv(smoke_run / "split.tsv", sep="\t")
    test_subjects = sorted(split.loc[split.split == "test", "participant_id"].str[4:])
    expected = set()
    for task, block in SMOKE_CONFIG["tasks"].items():
        conditions = {
            "denoise": [f"noise-{n}" for n in block.get("noise_levels", [])],
            "superres": [f"thick-{t}mm" for t in block.get("thicknesses_mm", [])],
            "harmonize": [f"AtoB-{c}" for c in block.get("contrasts", [])],
        }.get(task, ["default"])
        methods = block["methods"] + (["reference"] if task == "superres" else [])
        expected |= {(task, c, m, s) for c in conditions for m in methods for s in test_subjects}
    found = set(metrics[["task", "condition", "method", "subject"]].itertuples(index=False, name=None))
    assert found == expected
    finite = metrics[metrics.method != "reference"]
    assert np.isfinite(finite[["mae", "psnr", "ssim", "dice_mean"]].to_numpy()).all()


def test_predictions_lie_on_the_target_grid(smoke_run):
    preds = sorted(smoke_run.glob("*/*/*/pred/sub-*.nii.gz"))
    assert preds
    for pred in preds:
        condition_dir = pred.parents[2]
        subject = pred.name.removesuffix(".nii.gz")
        target = nib.load(condition_dir / "inputs" / f"{subject}_target.nii.gz")
        image = nib.load(pred)
        assert image.shape == target.shape, pred
        np.testing.assert_allclose(image.affine, target.affine, atol=1e-4, err_msg=str(pred))


def test_outside_method_joins_tables(smoke_run):
    table = (smoke_run / "report" / "tables" / "psnr_ssim_by_noise.md").read_text()
    assert "gaussian_smoothing" in table


def test_report_files_and_provenance(smoke_run):
    report = smoke_run / "report"
    for stem in ["summary_t1_to_t2", "summary_mr_to_ct", "dice_by_thickness",
                 "superres_by_thickness", "psnr_ssim_by_noise"]:
        for ext in ("md", "csv", "tex"):
            assert (report / "tables" / f"{stem}.{ext}").stat().st_size > 0
    assert (report / "figures" / "box_denoise.png").stat().st_size > 0
    assert (report / "examples" / "superres_thick-12mm.png").stat().st_size > 0
    assert (smoke_run / "t1_to_t2" / "default" / "unet" / "model" / "loss.png").exists()
    assert "smore" in (report / "tables" / "dice_by_thickness.md").read_text()


def test_smore_trains_once_per_test_volume_and_cleans_its_state(smoke_run):
    split = pd.read_csv(smoke_run / "split.tsv", sep="\t")
    test_subjects = sorted(split.loc[split.split == "test", "participant_id"])
    for condition in ("thick-6mm", "thick-12mm"):
        method_dir = smoke_run / "superres" / condition / "smore"
        assert sorted(p.name for p in (method_dir / "model").iterdir()) == test_subjects
        for subject in test_subjects:
            assert (method_dir / "model" / subject / "ssr" / "model.pt").exists()
        assert not list((method_dir / "train_state").iterdir())
    provenance = (smoke_run / "provenance.json").read_text()
    assert '"snakemake"' in provenance and '"preset": "smoke"' in provenance


def test_second_run_has_nothing_to_do_and_html_report_builds(smoke_run):
    workdir = smoke_run.parents[1]
    dry = snakemake(workdir, "-n")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    html = snakemake(workdir, "--report", str(workdir / "results" / "report.html"))
    assert html.returncode == 0, html.stderr[-3000:]
    assert (workdir / "results" / "report.html").stat().st_size > 10_000


def test_one_denoiser_for_all_levels_is_one_training_job(tmp_path):
    denoise = {**SMOKE_CONFIG["tasks"]["denoise"], "one_model_per_level": False}
    config = {**SMOKE_CONFIG, "tasks": {"denoise": denoise}}
    result = snakemake(tmp_path, "-n", "--quiet", "rules", config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout + result.stderr, re.M))
    assert counts["train_all_levels"] == "1"
    assert "train" not in counts  # no per-level training
    assert counts["extract_training_arrays"] == "2"  # each level's arrays feed the one model


def test_sbd_test_downloads_its_volumes_once_and_reuses_the_trained_denoiser(tmp_path):
    denoise = {**SMOKE_CONFIG["tasks"]["denoise"], "sbd_test": True, "one_model_per_level": False}
    config = {**SMOKE_CONFIG, "tasks": {"denoise": denoise}}
    result = snakemake(tmp_path, "-n", "--quiet", "rules", config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout + result.stderr, re.M))
    sbd = sbd_levels(denoise)
    assert sbd and counts["download"] == str(len(sbd) + 2)  # + noise-free T1w + labels
    assert counts["acquire_brainweb_sbd"] == "1" and counts["derive_sbd_inputs"] == str(len(sbd))
    assert counts["train_all_levels"] == "1"  # the SBD conditions train nothing of their own
    assert counts["extract_training_arrays"] == str(len(denoise["noise_levels"]))


def test_config_typo_is_named_before_anything_runs(tmp_path):
    config = {**SMOKE_CONFIG, "tsaks": {}}
    result = snakemake(tmp_path, "-n", config=config)
    assert result.returncode != 0
    # Snakemake prints its error log on stdout or stderr depending on version
    assert "('tsaks' was unexpected)" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_broken_input_fails_with_its_name_and_leaves_no_output(smoke_run, tmp_path):
    raw = tmp_path / "results" / "phantom" / "rawdata"
    shutil.copytree(smoke_run / "rawdata", raw)
    broken = raw / "sub-001" / "anat" / "sub-001_acq-A_T2w.nii.gz"
    image = nib.load(broken)
    data = image.get_fdata(dtype=np.float32)
    data[5, 5, 5] = np.nan
    nib.save(nib.Nifti1Image(data, image.affine), broken)
    preproc = tmp_path / "results" / "phantom" / "preproc" / "sub-001"
    target = preproc / "anat" / "sub-001_acq-A_desc-preproc_T1w.nii.gz"
    result = snakemake(tmp_path, str(target.relative_to(tmp_path)))
    assert result.returncode != 0
    assert "sub-001_acq-A_T2w.nii.gz: contains 1 NaN" in result.stdout + result.stderr
    assert not list(preproc.rglob("*.nii.gz"))
