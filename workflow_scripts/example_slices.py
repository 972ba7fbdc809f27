"""Rule example_slices: input, predictions, reference and errors of one test subject."""

from pathlib import Path

from medsynth.case import input_path
from medsynth.report.figures import example_slices
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    inputs = snakemake.input.inputs
    source = input_path(inputs, p.subject, f"source-{p.condition.source_channels[0]}")
    example_slices(
        [(m, Path(path)) for m, path in zip(p.methods, snakemake.input.preds, strict=True)],
        source, input_path(inputs, p.subject, "target"), input_path(inputs, p.subject, "mask"),
        snakemake.output[0], is_ct=p.condition.is_ct,
        # Degraded inputs of the target's own contrast share its grey window.
        source_in_target_window=p.condition.source_channels[0] == p.condition.target,
        title=f"{snakemake.wildcards.task} / {snakemake.wildcards.condition} / sub-{p.subject}",
    )
    log.info("drew %s", snakemake.output[0])
