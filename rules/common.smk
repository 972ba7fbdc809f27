# Path helpers and run-wide values. Parse-time work stays cheap: every Slurm
# job parses the Snakefile again.

import os

import medsynth.config as msconfig
from medsynth import methods as registry
from medsynth.data import phantom_subject_ids
from medsynth.split import split_subjects
from medsynth.tasks import (
    ALL_LEVELS,
    TASKS,
    all_levels_condition,
    one_model_per_level,
    parse_condition,
)

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


def is_self_supervised(method):
    return method in registry.REGISTRY and registry.get(method).kind == "self_supervised"


def log(name):
    return f"{R}/logs/{name}.log"


def bench(name):
    return f"{R}/benchmarks/{name}.tsv"


def task_dir(task="{task}", condition="{condition}"):
    return f"{R}/{task}/{condition}"


def inputs_dir(wildcards):
    return os.path.join(task_dir(wildcards.task, wildcards.condition), "inputs")


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


def self_supervised_model_dir(task="{task}", condition="{condition}", method="{method}",
                              subject="{subject}"):
    """A self-supervised method's models of one subject (one training per volume)."""
    return f"{task_dir(task, condition)}/{method}/model/sub-{subject}"


def trained_model_dir(task, condition, method):
    """Where the model a trained method predicts a condition with lives: its
    condition's folder, or all-levels/ for a denoiser trained on every level."""
    if task == "denoise" and not one_model_per_level(config["tasks"]["denoise"]):
        condition = ALL_LEVELS
    return f"{task_dir(task, condition)}/{method}/model"


def model_dirs():
    """Trained models; their loss curves are registered in the report."""
    configured = [
        (task, condition, method)
        for task, conditions in CONDITIONS.items()
        for condition in conditions
        for method in msconfig.task_methods(config, task)
    ]
    trained = {trained_model_dir(t, c, m) for t, c, m in configured if is_trained(m)}
    return sorted(trained) + [
        self_supervised_model_dir(t, c, m, s)
        for t, c, m in configured
        if is_self_supervised(m)
        for s in SPLIT["test"]
    ]


# Acquire and preprocess

RAW = f"{R}/rawdata"
MR_CONTRASTS = ["T1w", "T2w", "PDw"]


def raw_files(subject="{subject}"):
    anat = f"{RAW}/sub-{subject}/anat/sub-{subject}"
    mr = [f"{anat}_acq-{site}_{c}.nii.gz" for site in ("A", "B") for c in MR_CONTRASTS]
    return mr + [f"{anat}_CT.nii.gz", f"{anat}_dseg.nii.gz"]


PREPROC = f"{R}/preproc"


def preproc_files(subject="{subject}"):
    anat = f"{PREPROC}/sub-{subject}/anat/sub-{subject}"
    images = [f"{anat}_acq-{s}_desc-preproc_{c}.nii.gz" for s in ("A", "B") for c in MR_CONTRASTS]
    masks = [f"{anat}_acq-{s}_desc-head_mask.nii.gz" for s in ("A", "B")]
    return images + masks + [f"{anat}_desc-brain_mask.nii.gz"]


# Infer


def infer_inputs(wildcards):
    needed = {"inputs": inputs_dir(wildcards)}
    if is_trained(wildcards.method):
        needed["model"] = trained_model_dir(wildcards.task, wildcards.condition, wildcards.method)
    return needed


# Report

REPORT = f"{R}/report"


def table_stems():
    stems = [f"summary_{task}" for task in CONDITIONS]
    if "superres" in CONDITIONS:
        stems += ["dice_by_thickness", "superres_by_thickness"]
    if "denoise" in CONDITIONS:
        stems.append("psnr_ssim_by_noise")
    return stems


def figure_names():
    names = [f"box_{task}" for task in CONDITIONS]
    if "superres" in CONDITIONS:
        names.append("dice_by_thickness")
    if "denoise" in CONDITIONS:
        names.append("psnr_ssim_by_noise")
    return names


def example_paths():
    if not config["example_slices"]:
        return []
    return [
        f"{REPORT}/examples/{task}_{condition}.png"
        for task, conditions in CONDITIONS.items()
        for condition in conditions
    ]


def final_outputs():
    return (
        [f"{REPORT}/metrics.tsv", f"{R}/provenance.json", f"{RAW}/dataset_description.json"]
        + expand(f"{REPORT}/tables/{{stem}}.{{ext}}", stem=table_stems(), ext=["md", "csv", "tex"])
        + expand(f"{REPORT}/figures/{{name}}.png", name=figure_names())
        + example_paths()
        + model_dirs()
    )
