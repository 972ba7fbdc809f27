"""The medsynth command: config errors exit with the key named; a cohort is written."""

from pathlib import Path

import yaml

from medsynth.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_validate_config_names_the_bad_key(tmp_path, capsys):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert main(["validate-config", str(ROOT / "config.yaml")]) == 0
    config["tasks"]["denoise"]["noise_level"] = [3]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    assert main(["validate-config", str(bad)]) == 2
    assert "noise_level" in capsys.readouterr().err


def test_make_phantom_writes_a_bids_like_cohort(tmp_path):
    assert main(["make-phantom", "--out", str(tmp_path), "--n-subjects", "3", "--voxel-mm", "6"]) == 0
    for subject in ("001", "002", "003"):
        anat = tmp_path / f"sub-{subject}" / "anat"
        assert (anat / f"sub-{subject}_acq-A_T1w.nii.gz").exists()
        assert (anat / f"sub-{subject}_CT.nii.gz").exists()
    assert (tmp_path / "dataset_description.json").exists()


def test_validate_config_names_a_task_the_dataset_cannot_serve(tmp_path, capsys):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["dataset"] = "ixi"
    path = tmp_path / "ixi.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["validate-config", str(path)]) == 2
    assert "tasks.mr_to_ct: dataset 'ixi' cannot run task 'mr_to_ct'" in capsys.readouterr().err
