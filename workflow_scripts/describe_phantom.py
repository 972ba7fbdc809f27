"""Rule phantom_description: the cohort's dataset-level BIDS files."""

from medsynth.data.phantom import write_dataset_files
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    write_dataset_files(p.raw, p.subjects, p.seed, p.voxel_mm)
    log.info("described %d subjects", len(p.subjects))
