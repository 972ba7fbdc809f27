"""Rule preprocess_subject: head masks, N4 and normalisation of one subject
(a real dataset's contrasts first onto one reference grid)."""

from medsynth.preprocess.pipeline import preprocess_onto_grid, preprocess_subject
from medsynth.workflow import logged

with logged(snakemake) as log:
    p, subject = snakemake.params, snakemake.wildcards.subject
    if p.dataset.is_phantom:
        written = preprocess_subject(p.raw_root, subject, p.preproc_root)
    else:
        written = preprocess_onto_grid(p.raw_root, subject, p.preproc_root, p.dataset, p.voxel_mm)
    log.info("wrote %s", ", ".join(str(path) for path in written))
