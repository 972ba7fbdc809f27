"""Rule preprocess_subject: head masks, N4 and normalisation of one subject
(a real dataset's contrasts first onto one reference grid)."""

from medsynth.preprocess.pipeline import preprocess_onto_grid, preprocess_subject
from medsynth.workflow import dataset_root, logged

with logged(snakemake) as log:
    p, subject = snakemake.params, snakemake.wildcards.subject
    raw_root, preproc_root = dataset_root(snakemake.input[0]), dataset_root(snakemake.output[0])
    if p.dataset.is_phantom:
        written = preprocess_subject(raw_root, subject, preproc_root)
    else:
        written = preprocess_onto_grid(raw_root, subject, preproc_root, p.dataset, p.voxel_mm)
    log.info("wrote %s", ", ".join(str(path) for path in written))
