"""Running the repository's workflow from tests: the README's short run, a
reduced smoke configuration for dry runs and the Slurm test, and the snakemake
command line they share."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# The README's short run, typed in a folder holding the repository's own config.yaml:
# every task, condition and method of the default run, at smoke size.
README_SHORT_RUN = ("--cores", "2", "--config", "preset=smoke")

SMOKE_CONFIG = {
    "dataset": "phantom",
    "preset": "smoke",
    "seed": 3,
    "tasks": {
        "t1_to_t2": {"methods": ["none", "histogram_matching", "unet", "pix2pix", "cyclegan", "context_gan"]},
        "mr_to_ct": {"methods": ["bulk_density", "unet", "pix2pix", "cyclegan", "context_gan"]},
        "denoise": {"noise_levels": [3, 9],
                    "methods": ["none", "nlm", "bm4d", "red_wgan", "gaussian_smoothing"]},
        "superres": {"thicknesses_mm": [6, 12], "methods": ["bspline", "smore"]},
        "harmonize": {"contrasts": ["T1w", "T2w"],
                      "methods": ["none", "histogram_matching", "deepharmony"]},
    },
}


def snakemake_command(workdir: Path, *args: str, config: dict | None = None) -> tuple[list, dict]:
    """The command line and environment that run the Snakefile in `workdir` with a
    config written there. The workflow profile profiles/default/ applies, as for users."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config or SMOKE_CONFIG))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
               "--configfile", str(workdir / "config.yaml"), "--cores", "2", "--show-failed-logs",
               *args]
    return command, env


def snakemake(workdir: Path, *args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    """Run the workflow to the end (see snakemake_command)."""
    command, env = snakemake_command(workdir, *args, config=config)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)


def readme_short_run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """``snakemake`` + README_SHORT_RUN (+ `args`) with the repository's config.yaml,
    copied unchanged into `workdir`, as a user's run folder holds it."""
    shutil.copy(ROOT / "config.yaml", workdir / "config.yaml")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
               *README_SHORT_RUN, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=2400)
