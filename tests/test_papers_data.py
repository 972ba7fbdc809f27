"""The papers' data file: every entry names things the suite has, cites a source,
and its claims agree with its own numbers."""

from pathlib import Path

import pytest
import yaml

from medsynth import methods
from medsynth.compare.orientation import METRICS, higher_is_better
from medsynth.papers import excluded, papers
from medsynth.report.common import REFERENCE
from medsynth.tasks import TASKS, condition_names

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TASKS = yaml.safe_load((ROOT / "config.yaml").read_text())["tasks"]
PAPERS = papers()


def _solves(method: str, task: str) -> bool:
    return method == REFERENCE and task == "superres" or task in methods.get(method).tasks


def test_the_six_papers_and_the_generative_benchmark_are_there():
    assert {p.id for p in PAPERS} == {"zhao2019", "wolterink2017", "han2017", "nie2017",
                                      "ran2019", "dewey2019", "moschetto2025"}
    assert "isola2017" in excluded()


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.id)
def test_entry_names_a_task_methods_and_metrics_of_the_suite(paper):
    assert paper.task in TASKS
    ours = [m for m in paper.methods.values() if m is not None]
    ours += [m for c in paper.claims for m in (c.better, c.worse)] + [paper.trained_method]
    for method in ours:
        assert _solves(method, paper.task), f"{paper.id}: {method} does not solve {paper.task}"
    assert methods.get(paper.trained_method).kind in ("trained", "self_supervised")
    default_conditions = set(condition_names(paper.task, DEFAULT_TASKS[paper.task]))
    for item in (*paper.results, *paper.claims):
        assert item.metric in METRICS
    for result in paper.results:
        assert result.condition in default_conditions
        assert set(result.values) <= set(paper.methods), f"{paper.id}: unmapped label"
    for claim in paper.claims:
        assert set(claim.conditions) <= default_conditions


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.id)
def test_entry_cites_a_source(paper):
    assert paper.url.startswith("https://") and paper.where.strip() and paper.citation.strip()
    assert paper.results or paper.unverified, f"{paper.id}: no numbers and no reason why"


@pytest.mark.parametrize("paper", PAPERS, ids=lambda p: p.id)
def test_claims_agree_with_the_papers_own_numbers(paper):
    """Where the paper's numbers of both methods are stored, the claim's ordering is theirs."""
    for claim in paper.claims:
        for condition in claim.conditions:
            rows = [r for r in paper.results
                    if r.metric == claim.metric and r.condition == condition]
            for row in rows:
                better, worse = paper.label_of(claim.better), paper.label_of(claim.worse)
                if better in row.values and worse in row.values:
                    diff = row.values[better][0] - row.values[worse][0]
                    assert diff != 0 and (diff > 0) == higher_is_better(claim.metric), (
                        paper.id, condition, claim.metric)


def test_the_smore_table_is_the_slides():
    """Spot check against shared/reference/seed-slides.txt: 4.82 mm row."""
    zhao = next(p for p in PAPERS if p.id == "zhao2019")
    row = next(r for r in zhao.results if r.condition == "thick-4.8mm")
    assert row.values["Interpolation"] == (0.9408, None) and row.values["SMORE"] == (0.9607, None)
