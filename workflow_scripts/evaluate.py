"""Rule evaluate: metrics and Dice of one method's predictions, a row per subject."""

from medsynth import steps
from medsynth.results_table import write_rows
from medsynth.workflow import logged

with logged(snakemake) as log:
    w, p = snakemake.wildcards, snakemake.params
    preds = dict(zip(p.subjects, snakemake.input.preds, strict=True))
    ids = {"dataset": p.dataset, "task": w.task, "condition": w.condition, "method": p.method,
           "seed": p.seed}
    rows = steps.evaluate(p.condition, snakemake.input.inputs, preds, ids, p.protocol,
                          tuple(p.extra_metrics))
    write_rows(rows, snakemake.output[0])
    log.info("evaluated %d subjects under protocol %s", len(rows), p.protocol)
