"""Rule phantom_description: the cohort's dataset-level BIDS files."""

from pathlib import Path

from medsynth.data.phantom import write_dataset_files
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    write_dataset_files(Path(snakemake.output[0]).parent, p.subjects, p.seed, p.voxel_mm)
    log.info("described %d subjects", len(p.subjects))
