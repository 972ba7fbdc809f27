"""Rule pet_reference: the PET end point's reference of every test subject, once."""

from pathlib import Path

from medsynth import steps
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    note = steps.pet_references(snakemake.input.inputs, p.subjects, p.pet, Path(snakemake.output[0]),
                                p.seed)
    log.info(note)
