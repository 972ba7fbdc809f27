"""Rule download: one published file of a dataset, verified."""

from pathlib import Path

from medsynth.data.download import fetch
from medsynth.workflow import logged

with logged(snakemake) as log:
    remote = snakemake.params.remote
    log.info("fetching %s", remote.url)
    path = fetch(remote, Path(snakemake.output[0]).parent)
    log.info("have %s (%d bytes)", path, path.stat().st_size)
