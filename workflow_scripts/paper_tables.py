"""Rule paper_tables: each paper's numbers beside this run's, verdicts, compute ratios,
and the SMORE Dice-by-thickness overlay."""

from pathlib import Path

import pandas as pd

from medsynth import methods, schedule
from medsynth.model_records import read_model_table
from medsynth.papers import papers
from medsynth.protocols import caption as protocol_caption
from medsynth.report.papers import Work, smore_overlay, write_paper_tables
from medsynth.workflow import logged


def work_of(method: str, overrides: dict, voxel_mm: float, slice_mm) -> Work:
    defaults = methods.load(method).DEFAULTS
    run = {**defaults, **overrides}
    return Work(schedule.voxels_per_iteration(method, run, schedule.slice_shape(slice_mm, voxel_mm)),
                schedule.training_voxels(method, defaults, schedule.slice_shape(slice_mm, 1.0)))


with logged(snakemake) as log:
    p = snakemake.params
    chosen = [paper for paper in papers() if paper.id in p.papers]
    summary = pd.read_csv(snakemake.input.summary, sep="\t", dtype={"condition": str})
    tests = pd.read_csv(snakemake.input.tests, sep="\t", dtype={"condition": str})
    compute = read_model_table(snakemake.input.compute)
    work = {m: work_of(m, params, p.voxel_mm, p.slice_mm) for m, params in p.method_params.items()}
    written = write_paper_tables(chosen, summary, tests, compute, work,
                                 Path(snakemake.output.tables[0]).parent,
                                 f" {protocol_caption(p.protocol)}")
    for png in snakemake.output.overlay:
        written.append(smore_overlay(next(x for x in chosen if x.id == "zhao2019"), summary, png))
    log.info("wrote %s", ", ".join(map(str, written)))
