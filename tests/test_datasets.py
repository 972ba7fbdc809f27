"""Dataset adapters: each format converted into the BIDS-like layout, the
config errors for tasks a dataset cannot serve, and the whole workflow run on
served mirrors of IXI, SynthRAD2023 and BrainWeb."""

import gzip
import hashlib
import shutil
import tarfile
from io import BytesIO
from urllib.parse import parse_qs, urlsplit

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import xlwt
from mirror_server import serve
from mirrors import (
    BRAINWEB_SHAPE,
    IXI_SCANS,
    IXI_T1_SHAPE,
    SBD_MIRROR_SHAPE,
    ixi_phantom_image,
    make_brainweb_mirror,
    make_ixi_mirror,
    make_sbd_mirror,
    make_synthrad_zip,
)
from workflow_run import snakemake

from medsynth import io
from medsynth.case import input_path
from medsynth.config import ConfigError, validate
from medsynth.data import bids_folder, brainweb, brainweb_sbd, catalog, ixi, synthrad2023
from medsynth.data.bids import anat_path
from medsynth.data.download import fetch
from medsynth.pet.endpoint import NO_LABELS
from medsynth.preprocess.resample import resample_to_grid
from medsynth.split import read_split, split_subjects


@pytest.fixture(scope="module")
def ixi_mirror(tmp_path_factory):
    return make_ixi_mirror(tmp_path_factory.mktemp("ixi"))


@pytest.fixture(scope="module")
def synthrad_mirror(tmp_path_factory):
    return make_synthrad_zip(tmp_path_factory.mktemp("synthrad") / "records" / "Task1.zip").parent


@pytest.fixture(scope="module")
def brainweb_mirror(tmp_path_factory):
    """The 20 models' volumes and, beside them on the same form, the SBD's."""
    return make_sbd_mirror(make_brainweb_mirror(tmp_path_factory.mktemp("brainweb")))


def test_ixi_archives_convert_to_the_layout_with_sites(ixi_mirror, tmp_path):
    subjects = ixi.convert(ixi_mirror, tmp_path / "raw")
    assert subjects == sorted(scan.split("-")[0] for scan in IXI_SCANS)  # IXI016 lacks PD
    t1 = nib.load(anat_path(tmp_path / "raw", "IXI002", "T1w"))
    assert t1.shape == IXI_T1_SHAPE and nib.aff2axcodes(t1.affine) == ("P", "I", "R")
    assert nib.aff2axcodes(nib.load(anat_path(tmp_path / "raw", "IXI002", "T2w")).affine)[2] == "S"
    participants = pd.read_csv(tmp_path / "raw" / "participants.tsv", sep="\t")
    participants = participants.set_index("participant_id")
    assert participants.loc["sub-IXI012", "field_strength_T"] == 3.0
    # age and sex from IXI.xls; IXI012's fuller row wins over its duplicate; unknowns n/a
    assert participants.loc["sub-IXI012", ["age", "sex"]].tolist() == [38.78, "M"]
    assert participants.loc["sub-IXI002", ["age", "sex"]].tolist() == [35.8, "F"]
    assert pd.isna(participants.loc["sub-IXI013", "sex"])  # pandas reads n/a as missing
    assert pd.isna(participants.loc["sub-IXI035", "age"])
    assert "n/a" in (tmp_path / "raw" / "participants.tsv").read_text()
    assert (tmp_path / "raw" / "sourcedata" / "IXI.xls").exists()
    assert ixi.convert(ixi_mirror, tmp_path / "two", max_subjects=2) == subjects[:2]


@pytest.mark.parametrize("content", [b"", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
                                     b"IXI_ID,AGE\n2,35.8\n"])
def test_unreadable_demographics_sheet_is_named_and_nothing_is_written(ixi_mirror, tmp_path,
                                                                        content):
    mirror = tmp_path / "mirror"
    shutil.copytree(ixi_mirror, mirror, ignore=shutil.ignore_patterns("work"))
    (mirror / "IXI.xls").write_bytes(content)  # empty, a bare OLE header, CSV under .xls
    with pytest.raises(io.InputError, match=r"IXI\.xls: cannot be read as IXI's demographics"):
        ixi.convert(mirror, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_demographics_sheet_without_the_age_column_is_refused(tmp_path):
    book = xlwt.Workbook()
    table = book.add_sheet("Table")
    for col, name in enumerate(["IXI_ID", "SEX_ID (1=m, 2=f)"]):
        table.write(0, col, name)
    book.save(str(tmp_path / "IXI.xls"))
    with pytest.raises(io.InputError, match="no column 'AGE'"):
        ixi.read_demographics(tmp_path / "IXI.xls")


def test_broken_ixi_file_is_named_and_nothing_is_written(ixi_mirror, tmp_path):
    broken = tmp_path / "mirror"
    broken.mkdir()
    shutil.copy(ixi_mirror / "IXI.xls", broken)
    for modality in ("T1", "T2", "PD"):
        shutil.copy(ixi_mirror / f"IXI-{modality}.tar", broken)
        with tarfile.open(broken / f"IXI-{modality}.tar", "a") as tf:
            info = tarfile.TarInfo(f"IXI099-Guys-0999-{modality}.nii.gz")
            info.size = 4
            tf.addfile(info, BytesIO(b"junk"))
    with pytest.raises(io.InputError, match=r"IXI099-Guys-0999-T1\.nii\.gz: cannot be read as NIfTI"):
        ixi.convert(broken, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_synthrad_zip_converts_brain_patients_on_one_grid(synthrad_mirror, tmp_path):
    subjects = synthrad2023.convert(synthrad_mirror / "Task1.zip", tmp_path / "raw")
    assert subjects == ["1BA001", "1BA004", "1BB002", "1BC003"]  # the pelvis patient is not taken
    raw = tmp_path / "raw"
    ct = nib.load(anat_path(raw, "1BA001", "CT"))
    assert io.same_grid(ct, nib.load(anat_path(raw, "1BA001", "T1w")))
    assert np.asarray(ct.dataobj).min() >= -1024
    assert nib.load(anat_path(raw, "1BA001", "desc-head_mask")).get_fdata().max() == 1
    assert pd.read_csv(raw / "participants.tsv", sep="\t").centre.tolist() == ["A", "A", "B", "C"]


def test_brainweb_raw_volumes_become_simulated_contrasts_with_labels(brainweb_mirror, tmp_path):
    url_base = "cgi/brainweb1"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    for remote in catalog.brainweb_remotes("http://unused/" + url_base, 1):
        alias = remote.name.removesuffix(".rawsh.gz")
        shutil.copyfile(brainweb_mirror / url_base / alias, downloads / remote.name)
    assert brainweb.convert(downloads, tmp_path / "raw", 1, shape=BRAINWEB_SHAPE) == ["04"]
    raw = tmp_path / "raw"
    labels, affine = io.load_array(anat_path(raw, "04", "dseg"))
    t1, _ = io.load_array(anat_path(raw, "04", "T1w"))
    t2, _ = io.load_array(anat_path(raw, "04", "T2w"))
    assert labels.shape == BRAINWEB_SHAPE and set(np.unique(labels)) >= {0, 1, 2, 3}
    np.testing.assert_allclose(io.voxel_sizes(affine), np.array([181, 217, 181]) / BRAINWEB_SHAPE)
    # 1.5 T contrast: WM brighter than GM on T1w, CSF brightest on T2w
    wm, gm, csf = (labels == 3), (labels == 2), (labels == 1)
    assert t1[wm].mean() > t1[gm].mean() > t1[csf].mean()
    assert t2[csf].mean() > t2[gm].mean() > t2[wm].mean()


def test_brainweb_truncated_volume_is_named(brainweb_mirror, tmp_path):
    bad = tmp_path / "subject04_csf.rawsh.gz"
    bad.write_bytes((brainweb_mirror / "cgi" / "brainweb1" / "subject04_csf").read_bytes()[:100])
    with pytest.raises(io.InputError, match="subject04_csf.rawsh.gz: not a complete gzip file"):
        brainweb.read_raw(bad, BRAINWEB_SHAPE)


SBD_CONFIG = {"tasks": {"denoise": {"noise_levels": [3, 5, 9, 10], "methods": ["none"],
                                   "sbd_test": True}}}


def _sbd_downloads(mirror, tmp_path):
    """The mirror's SBD files under the names their remotes give them."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    for remote in catalog.sbd_remotes(SBD_CONFIG):
        alias = parse_qs(urlsplit(remote.url).query)["do_download_alias"][0]
        shutil.copyfile(mirror / "cgi" / "brainweb1" / alias, downloads / remote.name)
    return downloads


def test_sbd_remotes_are_the_form_requests_of_the_configured_levels():
    remotes = catalog.sbd_remotes(SBD_CONFIG)
    assert [r.name for r in remotes] == [
        "t1_icbm_normal_1mm_pn0_rf0.rawsh.gz", "t1_icbm_normal_1mm_pn3_rf0.rawsh.gz",
        "t1_icbm_normal_1mm_pn5_rf0.rawsh.gz", "t1_icbm_normal_1mm_pn9_rf0.rawsh.gz",
        "phantom_1.0mm_normal_crisp.rawb.gz"]  # 10 % is not an SBD level
    query = parse_qs(urlsplit(remotes[2].url).query)
    assert remotes[2].url.startswith(catalog.BRAINWEB_URL + "?")
    assert query["do_download_alias"] == ["T1 ICBM normal 1mm pn5 rf0"]
    assert query["format_value"] == ["raw_short"] and query["zip_value"] == ["gnuzip"]
    assert parse_qs(urlsplit(remotes[-1].url).query)["format_value"] == ["raw_byte"]
    assert catalog.sbd_remotes({"tasks": {"denoise": {"noise_levels": [5], "methods": []}}}) == ()
    md5 = {"checksums": {remotes[0].name: "a" * 32}}
    assert catalog.sbd_remotes({**SBD_CONFIG, **md5})[0].md5 == "a" * 32
    catalog.dataset({**SBD_CONFIG, **md5, "dataset": "ixi"})  # an SBD file is a known name


def test_sbd_test_needs_a_noise_level_the_sbd_has():
    config = {"dataset": "brainweb", "preset": "smoke",
              "tasks": {"denoise": {"noise_levels": [2, 4], "methods": ["none"], "sbd_test": True}}}
    with pytest.raises(ConfigError, match=r"tasks\.denoise\.sbd_test: .*1, 3, 5, 7, 9 %; none of"):
        validate(config)


def test_sbd_raw_volumes_convert_to_nifti_with_labels(brainweb_mirror, tmp_path):
    downloads = _sbd_downloads(brainweb_mirror, tmp_path)
    brainweb_sbd.convert(downloads, tmp_path / "sbd", [3, 5, 9], 0, shape=SBD_MIRROR_SHAPE)
    labels, affine = io.load_array(anat_path(tmp_path / "sbd", "sbd", "dseg"))
    t1, t1_affine = io.load_array(anat_path(tmp_path / "sbd", "sbd", "rec-pn5rf0_T1w"))
    assert labels.shape == t1.shape == SBD_MIRROR_SHAPE and io.same_grid((labels.shape, affine),
                                                                         (t1.shape, t1_affine))
    np.testing.assert_allclose(io.voxel_sizes(affine), np.array([181, 217, 181]) / SBD_MIRROR_SHAPE)
    assert set(np.unique(labels)) <= {0, 1, 2, 3, 4, 5, 6} and {1, 2, 3} <= set(np.unique(labels))
    raw = brainweb.read_raw(downloads / "t1_icbm_normal_1mm_pn5_rf0.rawsh.gz", SBD_MIRROR_SHAPE)
    np.testing.assert_array_equal(t1, raw)  # voxel for voxel, MINC order undone
    assert t1[labels == 3].mean() > t1[labels == 2].mean() > t1[labels == 1].mean()


def test_sbd_labels_outside_the_discrete_model_are_named(brainweb_mirror, tmp_path):
    downloads = _sbd_downloads(brainweb_mirror, tmp_path)
    (downloads / catalog.SBD_LABELS_FILE).write_bytes(
        gzip.compress(np.full(SBD_MIRROR_SHAPE, 160, np.uint8).tobytes()))  # class x 16
    with pytest.raises(io.InputError, match=r"phantom_1\.0mm_normal_crisp\.rawb\.gz: class index 160"):
        brainweb_sbd.convert(downloads, tmp_path / "sbd", [5], 0, shape=SBD_MIRROR_SHAPE)
    assert not (tmp_path / "sbd").exists()


@pytest.mark.parametrize("level", [3, 9])
def test_sbd_inputs_keep_brainwebs_noise_on_the_suites_grid(brainweb_mirror, tmp_path, level):
    brainweb_sbd.convert(_sbd_downloads(brainweb_mirror, tmp_path), tmp_path / "sbd", [3, 5, 9], 0,
                         shape=SBD_MIRROR_SHAPE)
    noise = brainweb_sbd.derive_inputs(tmp_path / "sbd", level, 0, 4.0, tmp_path / "inputs")
    (source, affine), (target, target_affine) = (
        io.load_array(input_path(tmp_path / "inputs", "sbd", role)) for role in ("source-T1w", "target"))
    labels, _ = io.load_array(input_path(tmp_path / "inputs", "sbd", "dseg"))
    assert source.shape == (50, 60, 50) and io.same_grid((source.shape, affine),
                                                         (target.shape, target_affine))
    np.testing.assert_allclose(io.voxel_sizes(affine), 4.0)
    # the mirror's volumes are exported each to its own range: the gain is matched,
    # and the noise is BrainWeb's (sd = level % of the white-matter mean), not averaged away
    white = labels == 3
    assert np.median(source[white]) / np.median(target[white]) == pytest.approx(1.0, abs=0.005)
    measured = (source - target)[white].std() / target[white].mean() * 100
    assert measured == pytest.approx(level, rel=0.12)
    assert 0 < noise["percent_of_head_maximum"] < level  # the head's maximum is above WM


def test_bids_folder_is_only_read(tmp_path, ixi_mirror):
    user = tmp_path / "user_bids"
    ixi.convert(ixi_mirror, user)  # any BIDS folder will do
    (user / "sub-IXI002" / "anat" / "sub-IXI002_T2w.nii.gz").unlink()  # lacks T2w: skipped
    before = {p: p.stat().st_mtime_ns for p in user.rglob("*")}
    subjects = bids_folder.convert(user, tmp_path / "raw", ("T1w", "T2w"))
    assert subjects == ["IXI012", "IXI013", "IXI035"]
    assert {p: p.stat().st_mtime_ns for p in user.rglob("*")} == before
    assert anat_path(tmp_path / "raw", "IXI012", "T2w").exists()
    with pytest.raises(io.InputError, match="inside the user's BIDS folder"):
        bids_folder.convert(user, user / "derivatives" / "raw", ("T1w",))


@pytest.mark.parametrize("dataset, task, reason", [
    ("ixi", "mr_to_ct", "it has no CT"),
    ("ixi", "harmonize", "no subject scanned at two sites"),
    ("synthrad2023", "t1_to_t2", "no paired T1w and T2w"),
    ("brainweb", "mr_to_ct", "it has no CT"),
])
def test_tasks_a_dataset_cannot_serve_are_config_errors(dataset, task, reason):
    config = {"dataset": dataset, "tasks": {task: {"methods": ["none"], "contrasts": ["T1w"]}}}
    with pytest.raises(ConfigError, match=rf"tasks\.{task}: dataset '{dataset}' cannot run .*{reason}"):
        catalog.check_tasks(config, catalog.dataset(config))


def test_checksum_override_must_name_a_file_of_the_dataset():
    config = {"dataset": "ixi", "tasks": {}, "checksums": {"IXI-T3.tar": "0" * 32}}
    with pytest.raises(ConfigError, match="checksums: 'IXI-T3.tar' is not a file of dataset 'ixi'"):
        catalog.dataset(config)


def test_published_ixi_checksum_rejects_another_archive(ixi_mirror, tmp_path):
    with serve(ixi_mirror) as (url, _):
        remote = catalog.dataset({"dataset": "ixi", "ixi_url": url, "tasks": {}}).remotes[0]
        with pytest.raises(Exception, match=r"IXI-T1\.tar\.part: MD5 .* differs from the published"):
            fetch(remote, tmp_path)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- end to end


def _md5s(folder, pattern):
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.glob(pattern)}


def _run(tmp_path, config):
    config = {"preset": "smoke", "seed": 3, "downloads": str(tmp_path / "downloads"), **config}
    result = snakemake(tmp_path, config=config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    results = tmp_path / "results" / config["dataset"]
    metrics = pd.read_csv(results / "report" / "metrics.tsv", sep="\t", dtype={"subject": str})
    stratify_by = catalog.dataset(config).stratify_by  # IXI's sites, SynthRAD's centres
    strata = catalog.read_participant_column(results / "rawdata", stratify_by) if stratify_by else None
    split = split_subjects(catalog.read_participants(results / "rawdata"), 3, 1, 1, strata)
    if (results / "split.tsv").exists():  # written where a method trains
        assert read_split(results / "split.tsv") == split
    own = metrics[~metrics.condition.str.startswith("sbd-")]  # not the external SBD test
    assert sorted(own.subject.unique()) == split["test"]
    return results, metrics, config


@pytest.mark.slow
def test_t1_to_t2_on_a_served_ixi_mirror(ixi_mirror, tmp_path):
    with serve(ixi_mirror) as (url, _):
        config = {"dataset": "ixi", "ixi_url": url, "checksums": _md5s(ixi_mirror, "IXI-*.tar"),
                  "tasks": {"t1_to_t2": {"methods": ["none", "unet"]}}}
        results, metrics, config = _run(tmp_path, config)
    assert set(metrics.method) == {"none", "unet"}
    assert np.isfinite(metrics[["mae", "psnr", "ssim"]].to_numpy()).all()
    _assert_t2_registered_onto_t1(results, ixi_mirror)
    # re-runnable: nothing to do, nothing downloaded again (the mirror is gone)
    dry = snakemake(tmp_path, "-n", config=config)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr


@pytest.mark.slow
def test_t1_to_t2_on_a_users_bids_folder_with_contrasts_on_their_own_grids(ixi_mirror, tmp_path):
    user = tmp_path / "user_bids"
    ixi.convert(ixi_mirror, user)  # sagittal T1w, axial T2w, a head movement between them
    before = {p: p.stat().st_mtime_ns for p in user.rglob("*")}
    results, metrics, _ = _run(tmp_path, {"dataset": "bids", "bids_root": str(user),
                                          "tasks": {"t1_to_t2": {"methods": ["none", "unet"]}}})
    assert set(metrics.method) == {"none", "unet"}
    assert np.isfinite(metrics[["mae", "psnr", "ssim"]].to_numpy()).all()
    _assert_t2_registered_onto_t1(results, ixi_mirror)
    assert {p: p.stat().st_mtime_ns for p in user.rglob("*")} == before  # only read


def _assert_t2_registered_onto_t1(results, ixi_mirror):
    """IXI002's preprocessed T2w lies on its T1w's RAS grid and matches the
    mirror's T2w before the simulated head movement, which the T2w placed by
    its header alone does not."""
    anat = results / "preproc" / "sub-IXI002" / "anat"
    assert (anat / "sub-IXI002_from-T2w_to-T1w_mode-image_xfm.mat").exists()
    t1, affine = io.load_array(anat / "sub-IXI002_desc-preproc_T1w.nii.gz")
    t2, t2_affine = io.load_array(anat / "sub-IXI002_desc-preproc_T2w.nii.gz")
    assert io.same_grid((t1.shape, affine), (t2.shape, t2_affine))
    assert nib.aff2axcodes(affine) == ("R", "A", "S")
    head = io.load_array(anat / "sub-IXI002_desc-head_mask.nii.gz")[0] > 0
    truth = resample_to_grid(*io.load_array(ixi_phantom_image(ixi_mirror, 0, "T2w")), t2.shape, affine)
    raw = io.load_array(results / "rawdata" / "sub-IXI002" / "anat" / "sub-IXI002_T2w.nii.gz")
    unregistered = resample_to_grid(*raw, t2.shape, affine)
    assert np.corrcoef(truth[head], t2[head])[0, 1] > 0.9
    assert np.corrcoef(truth[head], unregistered[head])[0, 1] < 0.8


@pytest.mark.slow
def test_mr_to_ct_on_a_served_synthrad_mirror(synthrad_mirror, tmp_path):
    with serve(synthrad_mirror) as (url, _):
        _, metrics, _ = _run(tmp_path, {
            "dataset": "synthrad2023", "synthrad2023_url": f"{url}/Task1.zip",
            "tasks": {"mr_to_ct": {"methods": ["bulk_density", "unet"]}}})
    results = tmp_path / "results" / "synthrad2023"
    assert set(metrics.method) == {"bulk_density", "unet", "reference", "ct_no_bone"}
    assert metrics.dice_bone.notna().all()
    assert (metrics.loc[metrics.method != "reference", "mae"] > 0).all()
    # no tissue labels: the PET end point segments them, or is skipped and the log says why
    log = (results / "logs" / "evaluate" / "mr_to_ct_default_pet_reference.log").read_text()
    ct = metrics.set_index("method")
    if NO_LABELS in log:
        assert metrics.pet_bias_pct_brain.isna().all()
    else:
        assert "tissues segmented (no labels)" in log and metrics.pet_mae_pct_brain.notna().all()
        assert (ct.loc["reference", "pet_bias_pct_brain"] == 0).all()


@pytest.mark.slow
def test_denoise_and_superres_on_a_served_brainweb_mirror(brainweb_mirror, tmp_path):
    with serve(brainweb_mirror) as (url, _):
        results, metrics, _ = _run(tmp_path, {
            "dataset": "brainweb", "brainweb_url": f"{url}/cgi/brainweb1",
            "brainweb_shape": list(BRAINWEB_SHAPE), "max_subjects": 3,
            "tasks": {"denoise": {"noise_levels": [5], "methods": ["none", "nlm", "red_wgan"],
                                  "sbd_test": True},
                      "superres": {"thicknesses_mm": [8], "methods": ["bspline"]}},
            "brainweb_sbd_shape": list(SBD_MIRROR_SHAPE)})
    assert set(metrics.task) == {"denoise", "superres"}
    assert metrics.loc[metrics.method != "reference", "dice_mean"].notna().all()
    # BrainWeb's own noisy T1w, predicted by the models trained on our 5 % noise
    sbd = metrics[metrics.condition == "sbd-noise-5"].set_index("method")
    assert set(sbd.index) == {"none", "nlm", "red_wgan"} and set(sbd.subject) == {"sbd"}
    assert sbd.loc["nlm", "psnr"] > sbd.loc["none", "psnr"]
    table = (results / "report" / "tables" / "psnr_ssim_by_noise.md").read_text(encoding="utf-8")
    assert "5 (BrainWeb SBD)" in table


def test_workflow_refuses_a_task_the_dataset_cannot_serve_before_downloading(tmp_path):
    config = {"dataset": "ixi", "preset": "smoke", "downloads": str(tmp_path / "downloads"),
              "tasks": {"mr_to_ct": {"methods": ["bulk_density"]}}}
    result = snakemake(tmp_path, "-n", config=config)
    assert result.returncode != 0
    assert "tasks.mr_to_ct: dataset 'ixi' cannot run task 'mr_to_ct': it has no CT" in (
        result.stdout + result.stderr)
    assert not (tmp_path / "downloads").exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize("name", ["ixi", "synthrad2023", "brainweb", "bids"])
def test_example_configs_are_valid_for_their_dataset(name):
    import yaml
    from workflow_run import ROOT

    from medsynth.config import validate

    config = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    validate(config)
    assert config["dataset"] == name
    catalog.check_tasks(config, catalog.dataset(config))
