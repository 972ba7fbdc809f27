"""Rule compare_figures: a task's significance maps and ranking blob plots."""

from pathlib import Path

from medsynth.compare import figures, stage
from medsynth.workflow import logged

with logged(snakemake) as log:
    tables = stage.read_tables(Path(snakemake.input[0]).parent)
    task = snakemake.wildcards.task
    figures.significance_maps(tables["paired_tests"], task, snakemake.output.significance)
    figures.blob_plots(tables["rank_distribution"], task, snakemake.output.blobs)
    log.info("drew the comparison figures of %s", task)
