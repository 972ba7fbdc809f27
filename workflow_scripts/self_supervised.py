"""Rule self_supervised: train a method on one test subject's input and predict it."""

from medsynth import steps
from medsynth.workflow import logged

with logged(snakemake) as log:
    w, p = snakemake.wildcards, snakemake.params
    steps.self_supervised(p.method, p.condition, snakemake.input[0], w.subject, p.method_params,
                          snakemake.output.pred, snakemake.output.model, p.state_dir,
                          seed=p.seed, threads=snakemake.threads,
                          dataset=p.dataset)
    log.info("trained %s on sub-%s and predicted it", w.method, w.subject)
