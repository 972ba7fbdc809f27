"""Provenance written beside the results: what ran, with which versions."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from medsynth import io

PACKAGES = ["medsynth", "snakemake", "torch", "monai", "nibabel", "numpy", "scipy",
            "scikit-image", "pandas", "seaborn", "antspyx", "nilearn", "bm4d"]


def git_commit(directory) -> str | None:
    """The workflow's git commit, with '-dirty' when it has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(directory), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")


def versions() -> dict[str, str | None]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def write_provenance(config: dict, workflow_dir, out_path) -> Path:
    record = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(workflow_dir),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions(),
        "config": config,
    }
    with io.atomic_path(out_path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2, default=str) + "\n")
    return Path(out_path)
