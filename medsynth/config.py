"""Configuration: validation against the JSON schema, presets, and the
effective settings of a run.

Cheap to import (yaml and jsonschema only): the Snakefile calls it at parse
time, and under Slurm every job parses the Snakefile again.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from medsynth import methods as method_registry
from medsynth.tasks import SBD_NOISE_LEVELS, TASKS, condition_names, sbd_levels

SCHEMA_PATH = Path(__file__).with_name("schemas") / "config.schema.json"


class ConfigError(ValueError):
    """A configuration mistake; the message names the offending key."""


@cache
def presets() -> dict:
    return yaml.safe_load(resources.files("medsynth").joinpath("presets.yaml").read_text())


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate(config: dict, outside_methods: dict[str, tuple[str, ...]] | None = None) -> None:
    """Check a config against the schema and the method registry.

    `outside_methods` maps methods contributed by rule files in
    ``rules/methods/`` to the tasks they support.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(f"config key {where}: {err.message}")
    known = {name: info.tasks for name, info in method_registry.REGISTRY.items()}
    known.update(outside_methods or {})
    for task, task_config in config.get("tasks", {}).items():
        for method in task_config["methods"]:
            if method not in known:
                raise ConfigError(
                    f"config key tasks.{task}.methods: unknown method {method!r} "
                    f"(known: {', '.join(sorted(known))})")
            if task not in known[method]:
                raise ConfigError(
                    f"config key tasks.{task}.methods: method {method!r} does not solve "
                    f"task {task!r} (it solves: {', '.join(known[method])})")
        baseline = task_config.get("baseline")
        if baseline is not None and baseline not in task_config["methods"]:
            raise ConfigError(f"config key tasks.{task}.baseline: {baseline!r} is not one of "
                              f"the task's methods ({', '.join(task_config['methods'])})")
    denoise = config.get("tasks", {}).get("denoise")
    if denoise and denoise.get("sbd_test") and not sbd_levels(denoise):
        raise ConfigError(
            f"config key tasks.denoise.sbd_test: BrainWeb's SBD has noise levels "
            f"{', '.join(map(str, SBD_NOISE_LEVELS))} %; none of noise_levels "
            f"{denoise['noise_levels']} is one of them")
    for method in config.get("method_params", {}):
        if method not in known:
            raise ConfigError(f"config key method_params.{method}: unknown method {method!r}")
    _check_protocol(config)


def evaluation(config: dict) -> tuple[str, tuple[str, ...]]:
    """The run's evaluation protocol and extra metrics, the schema's defaults where unset."""
    defaults = schema()["properties"]["evaluation"]["properties"]
    block = config.get("evaluation") or {}
    return (block.get("protocol", defaults["protocol"]["default"]),
            tuple(block.get("extra_metrics", defaults["extra_metrics"]["default"])))


def pet_settings(config: dict) -> dict:
    """The PET end point's settings as given (``evaluation.pet``); unset ones take the
    defaults of medsynth.pet.endpoint.PetSettings."""
    return dict((config.get("evaluation") or {}).get("pet") or {})


def _check_protocol(config: dict) -> None:
    """Every task's target must be one the protocol defines metrics for."""
    from medsynth import protocols

    name, _ = evaluation(config)
    defined = protocols.get(name).targets
    for task in config.get("tasks", {}):
        kind = "CT" if TASKS[task].is_ct() else "MR"
        if kind not in defined:
            raise ConfigError(
                f"config key evaluation.protocol: protocol {name!r} defines no metrics for the "
                f"{kind} target of task {task!r} (it defines {', '.join(defined)} only)")


def preset(config: dict) -> dict:
    """The preset block with the config's own phantom/split overrides applied.

    ``test_subjects`` sets the test split's size in one value; the phantom
    grows by as many subjects as the test set does, so training keeps its own.
    """
    block = copy.deepcopy(presets()[config["preset"]])
    block["phantom"].update(config.get("phantom", {}))
    block["split"].update(config.get("split", {}))
    if "test_subjects" in config:
        block["phantom"]["n_subjects"] += max(config["test_subjects"] - block["split"]["test"], 0)
        block["split"]["test"] = config["test_subjects"]
    return block


def method_params(config: dict, method: str) -> dict:
    """A method's settings: preset overrides, then the config's own."""
    params = dict(presets()[config["preset"]].get("methods", {}).get(method, {}))
    params.update(config.get("method_params", {}).get(method, {}))
    return params


def task_conditions(config: dict) -> dict[str, list[str]]:
    """Condition wildcards of every configured task."""
    return {task: condition_names(task, tc) for task, tc in config["tasks"].items()}


def task_methods(config: dict, task: str) -> list[str]:
    return list(config["tasks"][task]["methods"])


def known_tasks() -> list[str]:
    return list(TASKS)
