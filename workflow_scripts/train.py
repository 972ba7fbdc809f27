"""Rules train, train_all_levels and train_all_contrasts: fit one trained method
on a task/condition's training arrays (or on several conditions' together)."""

from medsynth import steps
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    log.info("training %s (seed %d) on %s with %s", p.method, p.seed, p.condition,
             p.method_params)
    arrays = list(snakemake.input) if len(snakemake.input) > 1 else snakemake.input[0]
    steps.train(p.method, p.condition, arrays, snakemake.output[0],
                p.method_params, seed=p.seed, threads=snakemake.threads, state_dir=p.state_dir,
                dataset=p.dataset)
