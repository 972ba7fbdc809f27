"""Rule derive_task_inputs: one task/condition's inputs for every subject."""

from medsynth.derive import derive_task_inputs
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    derive_task_inputs(p.condition, p.subjects, p.raw_root, p.preproc_root, snakemake.output[0], p.seed)
    log.info("derived %s for %d subjects", p.condition, len(p.subjects))
