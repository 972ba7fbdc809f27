"""Rule tables: per-task summaries (with CIs and compute) and the paper-style pivot tables."""

from pathlib import Path

import pandas as pd

from medsynth.model_records import read_model_table
from medsynth.report.tables import write_all_tables
from medsynth.workflow import logged

with logged(snakemake) as log:
    df = pd.read_csv(snakemake.input.metrics, sep="\t")
    summary = pd.read_csv(snakemake.input.summary, sep="\t", dtype={"condition": str})
    written = write_all_tables(df, Path(snakemake.output[0]).parent,
                               compute=read_model_table(snakemake.input.compute),
                               summary=summary, preset=snakemake.params.preset)
    log.info("wrote %s", ", ".join(map(str, written)))
