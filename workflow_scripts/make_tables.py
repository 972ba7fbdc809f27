"""Rule tables: per-task summaries and the paper-style pivot tables."""

from pathlib import Path

import pandas as pd

from medsynth.report.tables import write_all_tables
from medsynth.workflow import logged

with logged(snakemake) as log:
    df = pd.read_csv(snakemake.input[0], sep="\t")
    written = write_all_tables(df, Path(snakemake.output[0]).parent)
    log.info("wrote %s", ", ".join(map(str, written)))
