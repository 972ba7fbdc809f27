"""Rule train: fit one trained method on a task/condition's training arrays."""

from medsynth import steps
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    log.info("training %s on %s with %s", snakemake.wildcards.method, p.condition, p.method_params)
    steps.train(snakemake.wildcards.method, p.condition, snakemake.input[0], snakemake.output[0],
                p.method_params, seed=p.seed, threads=snakemake.threads, state_dir=p.state_dir)
