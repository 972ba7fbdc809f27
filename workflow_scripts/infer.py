"""Rule infer: one method's prediction for one test subject."""

from medsynth import steps
from medsynth.workflow import logged

with logged(snakemake) as log:
    w, p = snakemake.wildcards, snakemake.params
    model = snakemake.input.get("model")
    steps.infer(p.method, p.condition, snakemake.input.inputs, w.subject, model,
                p.method_params, snakemake.output[0], threads=snakemake.threads)
    log.info("predicted sub-%s with %s", w.subject, w.method)
