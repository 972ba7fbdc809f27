"""The workflow on a real one-node Slurm cluster (tests/slurm/setup_cluster.sh), through
`snakemake --profile` with the shipped site profile: jobs go through Slurm, GPU rules ask
Slurm for a GPU, a training job requeued mid-run resumes from its checkpoint, and the
results equal a local run's. Needs root (apt, daemons): CI runs it; elsewhere it skips."""

import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from workflow_run import ROOT, SMOKE_CONFIG, snakemake, snakemake_command

pytestmark = pytest.mark.slow

# Smoke preset, one task: a baseline and a U-Net trained long enough to be requeued
# after its first checkpoint.
CONFIG = {
    **{k: v for k, v in SMOKE_CONFIG.items() if k != "tasks"},
    "tasks": {"t1_to_t2": {"methods": ["histogram_matching", "unet"]}},
    "method_params": {"unet": {"iterations": 150, "checkpoint_every": 25, "val_every": 150}},
}
TRAIN = "t1_to_t2/default/unet"
TRAIN_COMMENT = "rule_train_wildcards_t1_to_t2_default_unet"


def site_profile(folder: Path) -> Path:
    """profiles/slurm/config.yaml with this cluster's answers to its SITE lines."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    profile["default-resources"].update(slurm_partition="debug", mem_mb=2000)
    del profile["default-resources"]["slurm_account"]
    profile.update({
        "slurm-no-account": True,
        "slurm-status-command": "squeue",  # no accounting here; MinJobAge=600
        "slurm-init-seconds-before-status-checks": 2,
        "slurm-keep-successful-logs": True,
        "max-threads": 2,  # the node's CPUs
        "jobs": 4,
        "latency-wait": 5,
        "retries": 0,  # a requeue must succeed by itself, not by a resubmission
    })
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        message = "the Slurm test cluster needs root (apt-get, daemons)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    setup = subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "setup_cluster.sh")],
                           capture_output=True, text=True, timeout=900)
    assert setup.returncode == 0, setup.stdout + setup.stderr


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("local")
    result = snakemake(workdir, config=CONFIG)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return workdir


def running_train_job() -> str | None:
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %k"],
                         capture_output=True, text=True, check=True).stdout
    return next((line.split()[0] for line in out.splitlines() if line.endswith(TRAIN_COMMENT)), None)


def release_when_pending(job: str) -> None:
    """Slurm holds a requeued job for two minutes once it is back in the queue: start it now."""
    for _ in range(240):
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True,
                               text=True, check=True).stdout.strip()
        if state == "PENDING":
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
            return
        time.sleep(0.25)
    raise AssertionError(f"requeued job {job} did not return to the queue (state {state})")


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """Run through Slurm; once the U-Net has checkpointed, requeue its running job."""
    workdir = tmp_path_factory.mktemp("slurm")
    profile = site_profile(workdir / "profile")
    command, env = snakemake_command(workdir, "--profile", str(profile), config=CONFIG)
    checkpoint = workdir / "results" / "phantom" / TRAIN / "train_state" / "checkpoint.pt"
    requeued = None
    with open(workdir / "snakemake.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 1200
        while process.poll() is None and time.monotonic() < deadline:
            if requeued is None and checkpoint.exists() and (job := running_train_job()):
                subprocess.run(["scontrol", "requeue", job], check=True)
                release_when_pending(job)
                requeued = job
            time.sleep(0.5)
        if process.poll() is None:
            process.kill()
    output = (workdir / "snakemake.log").read_text()
    assert process.wait() == 0, output[-6000:]
    assert requeued, "the training job was never seen running with a checkpoint"
    return workdir, output, requeued


def show_job(job: str) -> str:
    return subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True,
                          check=True).stdout


def test_jobs_ran_as_slurm_jobs(slurm_run):
    _, output, _ = slurm_run
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", output)
    comments = {re.search(r"Comment=(\S+)", show_job(job)).group(1) for job in submitted}
    rules = {re.sub(r"^rule_|_wildcards_.*$", "", c) for c in comments}
    assert rules == {"phantom_subject", "preprocess_subject", "derive_task_inputs",
                     "extract_training_arrays", "train", "infer", "evaluate", "example_slices"}
    assert len(submitted) == len(comments) == 4 + 4 + 1 + 1 + 2 + 2 + 2 + 1
    for job in submitted:
        assert "JobState=COMPLETED" in show_job(job), show_job(job)


def test_trained_methods_ask_slurm_for_a_gpu(slurm_run):
    _, output, requeued = slurm_run
    assert "TresPerJob=gres:gpu:1" in show_job(requeued)
    infer = re.search(r"submitted with SLURM jobid (\d+) \(log: \S+/rule_infer/t1_to_t2_default_unet_",
                      output)
    assert "TresPerJob=gres:gpu:1" in show_job(infer.group(1))


def test_requeued_training_resumed_from_its_checkpoint(slurm_run, local_run):
    workdir, _, requeued = slurm_run
    job = show_job(requeued)
    assert "Restarts=1" in job and "JobState=COMPLETED" in job, job
    train_log = (workdir / "results" / "phantom" / "logs" / "train" / "t1_to_t2_default_unet.log")
    resumed = re.search(r"resuming from \S+ at iteration (\d+)", train_log.read_text())
    assert resumed and int(resumed.group(1)) > 0
    model, reference = (torch.load(w / "results" / "phantom" / TRAIN / "model" / "model.pt",
                                   weights_only=True) for w in (workdir, local_run))
    for net, state in reference.items():
        for name, tensor in state.items():
            assert torch.equal(model[net][name], tensor), f"{net}.{name}"


def test_results_equal_a_local_run(slurm_run, local_run):
    workdir, _, _ = slurm_run
    tables = [pd.read_csv(w / "results" / "phantom" / "report" / "metrics.tsv", sep="\t")
              .sort_values(["method", "subject"], ignore_index=True) for w in (workdir, local_run)]
    slurm, local = tables
    assert len(local) == 2
    numeric = local.select_dtypes("number").columns
    pd.testing.assert_frame_equal(slurm.drop(columns=numeric), local.drop(columns=numeric))
    np.testing.assert_allclose(slurm[numeric].to_numpy(), local[numeric].to_numpy(),
                               rtol=1e-6, equal_nan=True)
