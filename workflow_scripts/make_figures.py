"""Rule figures: box plots per task and the paper-style curves."""

from pathlib import Path

import pandas as pd

from medsynth.report.figures import write_all_figures
from medsynth.workflow import logged

with logged(snakemake) as log:
    df = pd.read_csv(snakemake.input[0], sep="\t")
    written = write_all_figures(df, Path(snakemake.output[0]).parent)
    log.info("wrote %s", ", ".join(map(str, written)))
