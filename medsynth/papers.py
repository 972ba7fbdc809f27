"""The papers' published numbers and claims (``papers.yaml``), read into plain objects.

Kept apart from the report so that a test can check every entry against the
suite (its task, methods and metrics exist) without building a table.
Cheap to import: yaml only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

STAND_IN = " (stand-in)"


@dataclass(frozen=True)
class Claim:
    """`better` beats `worse` on `metric` at each of `conditions` (our method names)."""

    better: str
    worse: str
    metric: str
    conditions: tuple[str, ...]
    text: str
    stand_in: bool = False


@dataclass(frozen=True)
class Result:
    """The paper's values of one metric at one condition, keyed by the paper's labels."""

    metric: str
    condition: str
    paper_condition: str
    values: dict[str, tuple[float, float | None]]  # label -> (mean, sd or None)


@dataclass(frozen=True)
class Paper:
    id: str
    short: str
    citation: str
    url: str
    where: str
    task: str
    dataset: str
    resolution: str
    trained_method: str
    methods: dict[str, str | None]  # paper label -> our method (None: no counterpart)
    results: tuple[Result, ...]
    claims: tuple[Claim, ...]
    notes: str
    unverified: tuple[str, ...]

    def label_of(self, method: str) -> str:
        """The paper's label of our `method`, or the method's own name if it has none."""
        return next((label for label, ours in self.methods.items() if ours == method), method)


def _value(raw) -> tuple[float, float | None]:
    if isinstance(raw, list | tuple):
        mean, sd = raw
        return float(mean), float(sd)
    return float(raw), None


def _paper(entry: dict) -> Paper:
    results = tuple(Result(r["metric"], r["condition"], str(r["paper_condition"]),
                           {label: _value(v) for label, v in r["values"].items()})
                    for r in entry["results"])
    claims = tuple(Claim(c["better"], c["worse"], c["metric"], tuple(c["conditions"]),
                         c["text"], bool(c.get("stand_in", False))) for c in entry["claims"])
    return Paper(id=entry["id"], short=entry["short"], citation=entry["citation"],
                 url=entry["source"]["url"], where=entry["source"]["where"], task=entry["task"],
                 dataset=entry["dataset"], resolution=entry["resolution"],
                 trained_method=entry["trained_method"], methods=dict(entry["methods"]),
                 results=results, claims=claims, notes=entry.get("notes", ""),
                 unverified=tuple(entry.get("unverified", [])))


@cache
def _raw() -> dict:
    return yaml.safe_load(resources.files("medsynth").joinpath("papers.yaml").read_text())


def papers() -> tuple[Paper, ...]:
    """Every paper entry, in file order."""
    return tuple(_paper(entry) for entry in _raw()["papers"])


def excluded() -> dict[str, str]:
    """Papers left out, with the reason."""
    return dict(_raw().get("excluded", {}))
