"""Rule leaderboard: the one HTML page of rankings, CIs, tests, compute and figures."""

from pathlib import Path

from medsynth.compare import stage
from medsynth.model_records import read_model_table
from medsynth.report.leaderboard import leaderboard, write_leaderboard
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    tables = stage.read_tables(Path(snakemake.input.tables[0]).parent)
    page = leaderboard(tables, read_model_table(snakemake.input.compute),
                       Path(snakemake.output[0]).parent, p.title, protocol=p.protocol,
                       paper_tables=snakemake.input.papers)
    write_leaderboard(page, snakemake.output[0])
    log.info("wrote %s (%d kB)", snakemake.output[0], len(page) // 1024)
