"""Rule split_subjects: the seeded subject-level split, written to a file."""

from medsynth.split import split_subjects, write_split
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    split = split_subjects(p.subjects, p.seed, p.n_val, p.n_test, p.strata)
    write_split(split, snakemake.output[0])
    log.info("split: %s", {name: len(s) for name, s in split.items()})
