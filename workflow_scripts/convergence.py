"""Rule convergence: the validation curves of a task's trained models."""

from medsynth.report.convergence import convergence_figure
from medsynth.workflow import logged

with logged(snakemake) as log:
    convergence_figure(snakemake.wildcards.task, snakemake.params.models, snakemake.output[0])
    log.info("drew %d models", len(snakemake.params.models))
