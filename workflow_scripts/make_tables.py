"""Rule tables: per-task summaries and the paper-style pivot tables."""

import pandas as pd

from medsynth.report.tables import write_all_tables
from medsynth.workflow import logged

with logged(snakemake) as log:
    df = pd.read_csv(snakemake.input[0], sep="\t")
    written = write_all_tables(df, snakemake.params.out_dir)
    log.info("wrote %s", ", ".join(map(str, written)))
