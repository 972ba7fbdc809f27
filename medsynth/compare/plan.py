"""What the workflow plans for the compare stage before anything has run: its
tables' names and each task's baseline. Cheap to import (the Snakefile reads
it at parse time)."""

from __future__ import annotations

TABLES = ("summary", "paired_tests", "rankings", "rank_distribution", "combined_rankings",
          "seed_spread")

# the comparator each paper measures its method against
DEFAULT_BASELINES: dict[str, str] = {
    "mr_to_ct": "bulk_density",
    "t1_to_t2": "histogram_matching",
    "harmonize": "histogram_matching",
    "denoise": "bm4d",
    "superres": "bspline",
}


def baselines(task_configs: dict) -> dict[str, str]:
    """Each task's baseline for the paired tests: ``tasks.<task>.baseline`` or the default."""
    return {task: block.get("baseline", DEFAULT_BASELINES.get(task, ""))
            for task, block in task_configs.items()}
