"""Rule compare: uncertainty, paired tests and rankings from the per-subject metrics table."""

from pathlib import Path

import pandas as pd

from medsynth.compare import stage
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    df = pd.read_csv(snakemake.input[0], sep="\t", dtype={"subject": str, "condition": str})
    tables = stage.compare(df, p.baselines, alpha=p.alpha, n_resamples=p.n_resamples,
                           n_boot=p.n_boot, seed=p.seed)
    written = stage.write_tables(tables, Path(snakemake.output[0]).parent)
    log.info("wrote %s", ", ".join(map(str, written)))
