"""Rule collect_metrics: every per-subject row in one table."""

from medsynth.results_table import collect_rows
from medsynth.workflow import logged

with logged(snakemake) as log:
    table = collect_rows(snakemake.input, snakemake.output[0])
    log.info("collected %d rows", len(table))
