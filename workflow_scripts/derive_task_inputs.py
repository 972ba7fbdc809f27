"""Rule derive_task_inputs: one task/condition's inputs for every subject."""

from pathlib import Path

from medsynth.derive import derive_task_inputs
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    # Dataset roots from the BIDS-like paths: <root>/sub-<id>/anat/<file>.
    raw_root = Path(snakemake.input.raw[0]).parents[2]
    preproc_root = Path(snakemake.input.preproc[0]).parents[2]
    derive_task_inputs(p.condition, p.subjects, raw_root, preproc_root, snakemake.output[0], p.seed)
    log.info("derived %s for %d subjects", p.condition, len(p.subjects))
