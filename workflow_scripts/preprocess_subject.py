"""Rule preprocess_subject: head masks, N4 and normalisation of one subject."""

from pathlib import Path

from medsynth.preprocess.pipeline import preprocess_subject
from medsynth.workflow import logged

with logged(snakemake) as log:
    # Dataset roots from the BIDS-like paths: <root>/sub-<id>/anat/<file>.
    raw_root, preproc_root = Path(snakemake.input[0]).parents[2], Path(snakemake.output[0]).parents[2]
    written = preprocess_subject(raw_root, snakemake.wildcards.subject, preproc_root)
    log.info("wrote %s", ", ".join(str(p) for p in written))
