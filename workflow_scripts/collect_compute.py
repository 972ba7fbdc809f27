"""Rule collect_compute: per evaluated method the cost of its results and its model's outcome."""

from medsynth.model_records import write_model_table
from medsynth.workflow import logged

with logged(snakemake) as log:
    table = write_model_table(snakemake.params.entries, snakemake.output[0])
    for row in table[table["collapsed"].fillna(False).astype(bool)].itertuples():
        log.warning("%s %s %s: the model collapsed (%s)", row.task, row.condition, row.method,
                    row.model)
    log.info("recorded the compute of %d results", len(table))
