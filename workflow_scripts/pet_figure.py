"""Rule pet_error_figure: the PET relative-error maps of every mr_to_ct method."""

from medsynth.report.pet import pet_error_figure
from medsynth.workflow import logged

with logged(snakemake) as log:
    maps = dict(zip(snakemake.params.methods, snakemake.input, strict=True))
    log.info("wrote %s", pet_error_figure(maps, snakemake.output[0]))
