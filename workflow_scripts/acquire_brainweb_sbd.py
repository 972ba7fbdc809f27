"""Rule acquire_brainweb_sbd: BrainWeb's SBD downloads converted to NIfTI."""

from pathlib import Path

from medsynth.data import brainweb_sbd
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    out = brainweb_sbd.convert(Path(snakemake.input[0]).parent, snakemake.output[0], p.levels,
                               p.rf_percent, shape=p.shape)
    log.info("BrainWeb SBD, RF %d %%, noise levels %s -> %s", p.rf_percent, p.levels, out)
