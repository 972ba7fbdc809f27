"""Checkpoint acquire_dataset: a real dataset converted into rawdata/."""

from pathlib import Path

from medsynth.data import bids_folder, brainweb, ixi, synthrad2023
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    out, name = Path(snakemake.output[0]), p.dataset.name
    downloads = Path(snakemake.input[0]).parent if snakemake.input else None
    if name == "ixi":
        subjects = ixi.convert(downloads, out, p.max_subjects)
    elif name == "synthrad2023":
        subjects = synthrad2023.convert(snakemake.input[0], out, p.max_subjects)
    elif name == "brainweb":
        subjects = brainweb.convert(downloads, out, p.max_subjects, shape=p.brainweb_shape)
    else:
        suffixes = p.dataset.contrasts + (("CT",) if p.dataset.has_ct else ())
        subjects = bids_folder.convert(p.bids_root, out, suffixes, p.max_subjects)
    log.info("%s: %d subjects: %s", name, len(subjects), ", ".join(subjects))
