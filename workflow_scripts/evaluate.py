"""Rule evaluate: metrics and Dice of one method's predictions, a row per subject;
for mr_to_ct also the PET end point (input `pet`, output `pet_map`)."""

from medsynth import steps
from medsynth.results_table import write_rows
from medsynth.workflow import logged

with logged(snakemake) as log:
    w, p = snakemake.wildcards, snakemake.params
    preds = dict(zip(p.subjects, snakemake.input.preds, strict=True))
    ids = {"dataset": p.dataset, "task": w.task, "condition": w.condition, "method": p.method,
           "seed": p.seed}
    pet = {"pet": p.pet, "pet_dir": snakemake.input.pet,
           "pet_map": snakemake.output.pet_map} if hasattr(snakemake.input, "pet") else {}
    rows = steps.evaluate(p.condition, snakemake.input.inputs, preds, ids, p.protocol,
                          tuple(p.extra_metrics), **pet)
    write_rows(rows, snakemake.output[0])
    log.info("evaluated %d subjects under protocol %s%s", len(rows), p.protocol,
             " with the PET end point" if pet else "")
