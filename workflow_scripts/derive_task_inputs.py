"""Rule derive_task_inputs: one task/condition's inputs for every subject."""

from medsynth.derive import derive_task_inputs
from medsynth.workflow import dataset_root, logged

with logged(snakemake) as log:
    p = snakemake.params
    raw_root, preproc_root = dataset_root(snakemake.input.raw[0]), dataset_root(snakemake.input.preproc[0])
    derive_task_inputs(p.condition, p.subjects, raw_root, preproc_root, snakemake.output[0], p.seed)
    log.info("derived %s for %d subjects", p.condition, len(p.subjects))
