"""Rule split_subjects: the seeded subject-level split, written to a file."""

from medsynth.split import write_split
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    split = p.split
    write_split(split, snakemake.output[0])
    log.info("split: %s", {name: len(s) for name, s in split.items()})
