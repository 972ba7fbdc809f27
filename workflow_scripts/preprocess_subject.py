"""Rule preprocess_subject: head masks, N4 and normalisation of one subject."""

from medsynth.preprocess.pipeline import preprocess_subject
from medsynth.workflow import logged

with logged(snakemake) as log:
    written = preprocess_subject(snakemake.params.raw, snakemake.wildcards.subject,
                                 snakemake.params.preproc)
    log.info("wrote %s", ", ".join(str(p) for p in written))
