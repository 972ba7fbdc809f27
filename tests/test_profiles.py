"""The two profiles: the workflow profile (profiles/default/, loaded by itself) sizes the
rules, the Slurm site template sets everything else, and parsing the Snakefile, which
every cluster job repeats, stays cheap."""

import re
import subprocess

import yaml
from workflow_run import ROOT, SMOKE_CONFIG, snakemake_command

WORKFLOW_PROFILE = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
SITE_PROFILE = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())


def test_profiles_share_no_key():
    # Snakemake takes a key from the workflow profile whole: a shared key's site
    # value (every rule of a set-resources, say) would be silently dropped.
    assert not set(WORKFLOW_PROFILE) & set(SITE_PROFILE)
    assert set(WORKFLOW_PROFILE) == {"set-threads", "set-resources"}
    assert SITE_PROFILE["executor"] == "slurm"


def test_dry_run_uses_the_workflow_profile_and_imports_nothing_heavy(tmp_path):
    command, env = snakemake_command(tmp_path, "-n")
    command.insert(1, "-X")
    command.insert(2, "importtime")  # every imported module, on stderr
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "workflow specific profile profiles/default" in result.stderr
    jobs = re.findall(r"rule (\w+):\n(?:    .*\n)*?    resources: (.*)", result.stdout + result.stderr)
    gpus = {(rule, "gpu=1" in resources) for rule, resources in jobs
            if rule in ("train", "infer", "self_supervised")}
    assert gpus == {("train", True), ("infer", True), ("infer", False), ("self_supervised", True)}
    imported = set(re.findall(r"^import time:.*\|\s*(\w+)$", result.stderr, re.MULTILINE))
    assert "snakemake" in imported
    assert not imported & {"torch", "ants", "monai", "nilearn"}


def test_training_threads_follow_the_preset(tmp_path):
    # one-thread trainings side by side on a small machine (quick, smoke), four on a GPU node
    # (paper); the workflow profile must not override either
    for preset, expected in (("smoke", "1"), ("paper", "4")):
        config = {**SMOKE_CONFIG, "preset": preset}
        (tmp_path / preset).mkdir()
        command, env = snakemake_command(tmp_path / preset, "-n", "--cores", "8", config=config)
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        # a job block lists "threads: N" only when N > 1
        blocks = re.findall(r"rule (train|self_supervised):\n((?:    .*\n)*)", result.stdout + result.stderr)
        threads = {(rule, (re.findall(r"    threads: (\d+)", block) or ["1"])[0])
                   for rule, block in blocks}
        assert threads == {("train", expected), ("self_supervised", expected)}, preset
