"""Rule phantom_subject: one subject of the built-in phantom cohort."""

from pathlib import Path

from medsynth.data.phantom import make_subject
from medsynth.workflow import logged

with logged(snakemake) as log:
    subject = snakemake.wildcards.subject
    paths = make_subject(subject, int(subject) - 1, snakemake.params.seed,
                         snakemake.params.voxel_mm,
                         Path(snakemake.output[0]).parents[2])
    log.info("wrote %d files for sub-%s", len(paths), subject)
