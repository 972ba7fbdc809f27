# Path helpers and run-wide values. Parse-time work stays cheap: every Slurm
# job parses the Snakefile again.

import medsynth.config as msconfig
from medsynth import methods as registry
from medsynth.data import phantom_subject_ids
from medsynth.split import split_subjects
from medsynth.tasks import TASKS, parse_condition

PRESET = msconfig.preset(config)
R = f"{config['results']}/{config['dataset']}"
SUBJECTS = phantom_subject_ids(PRESET["phantom"]["n_subjects"])
# The split rule writes this same split to split.tsv; computing it here lets
# the DAG name the test subjects without waiting for that file.
SPLIT = split_subjects(SUBJECTS, config["seed"], PRESET["split"]["val"], PRESET["split"]["test"])
CONDITIONS = msconfig.task_conditions(config)
OUTSIDE_METHODS = {}
# Pseudo-methods written by rules of this workflow rather than by a method.
WORKFLOW_METHODS = {"reference": ("superres",)}


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    task="|".join(TASKS),
    condition="[A-Za-z0-9.-]+",
    method="[a-z][a-z0-9_]*",
    site="A|B",


def register_outside_method(name, tasks):
    """Called by each rules/methods/*.smk: the method joins evaluation and report."""
    OUTSIDE_METHODS[name] = tuple(tasks)


def check_config():
    """Schema validation has run; now check methods against registry and rule files."""
    msconfig.validate(config, {**OUTSIDE_METHODS, **WORKFLOW_METHODS})


def condition_of(wildcards):
    return parse_condition(wildcards.task, wildcards.condition, config["tasks"][wildcards.task])


def evaluated_methods(task):
    """Configured methods, plus the high-resolution reference row of superres."""
    extra = [m for m, tasks in WORKFLOW_METHODS.items() if task in tasks]
    return msconfig.task_methods(config, task) + extra


def is_trained(method):
    return method in registry.REGISTRY and registry.get(method).kind == "trained"


def log(name):
    return f"{R}/logs/{name}.log"


def bench(name):
    return f"{R}/benchmarks/{name}.tsv"


def task_dir(task="{task}", condition="{condition}"):
    return f"{R}/{task}/{condition}"


def inputs_dir(wildcards):
    return task_dir(wildcards.task, wildcards.condition) + "/inputs"


def pred_path(task="{task}", condition="{condition}", method="{method}", subject="{subject}"):
    """The method contract: every rule writing this file joins the benchmark."""
    return f"{task_dir(task, condition)}/{method}/pred/sub-{subject}.nii.gz"


def eval_path(task, condition, method):
    return f"{task_dir(task, condition)}/{method}/eval/metrics.tsv"


def all_eval_paths():
    return [
        eval_path(task, condition, method)
        for task, conditions in CONDITIONS.items()
        for condition in conditions
        for method in evaluated_methods(task)
    ]


def model_dirs():
    """Trained models; their loss curves are registered in the report."""
    return [
        f"{task_dir(task, condition)}/{method}/model"
        for task, conditions in CONDITIONS.items()
        for condition in conditions
        for method in msconfig.task_methods(config, task)
        if is_trained(method)
    ]
