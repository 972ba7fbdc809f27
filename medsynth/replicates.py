"""Training seeds and the method folders they write.

The first training seed writes the plain ``<method>/`` folder, so a single-seed
run and an outside method's ``<method>/pred/`` contract look as they always
did; every further seed writes ``<method>.seed-<s>/`` beside it. Evaluation
splits the folder name back into the method and its seed.
"""

from __future__ import annotations

import re

SUFFIX = ".seed-"
# a method folder: the method's name, then an optional seed suffix
FOLDER_PATTERN = r"[a-z][a-z0-9_]*(\.seed-[0-9]+)?"
_FOLDER = re.compile(r"(?P<method>[a-z][a-z0-9_]*)(\.seed-(?P<seed>[0-9]+))?")


def training_seeds(config: dict) -> list[int]:
    """The run's training seeds: ``seeds``, or the run's one ``seed``."""
    return list(config.get("seeds") or [config["seed"]])


def method_folders(method: str, seeds: list[int]) -> list[str]:
    """The folders of a seeded method's replicates, the first seed's first."""
    return [method] + [f"{method}{SUFFIX}{seed}" for seed in seeds[1:]]


def parse_folder(folder: str, seeds: list[int]) -> tuple[str, int]:
    """(method, training seed) of a method folder; the plain folder holds the first seed."""
    match = _FOLDER.fullmatch(folder)
    if match is None:
        raise ValueError(f"{folder!r} is not a method folder name (<method>[.seed-<s>])")
    seed = match["seed"]
    return match["method"], seeds[0] if seed is None else int(seed)
