"""Rule provenance: versions, configuration and git commit beside the results."""

from medsynth.provenance import write_provenance
from medsynth.workflow import logged

with logged(snakemake):
    write_provenance(snakemake.params.config, snakemake.params.workflow_dir, snakemake.output[0])
