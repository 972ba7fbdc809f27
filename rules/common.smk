# Path helpers and run-wide values. Parse-time work stays cheap: every Slurm
# job parses the Snakefile again.

import dataclasses
import functools
import os

import medsynth.config as msconfig
from medsynth import methods as registry
from medsynth import papers as paper_data
from medsynth import replicates
from medsynth.compare import plan as compare_plan
from medsynth.data import catalog, phantom_subject_ids
from medsynth.schedule import DATASET_SLICE_MM, PHANTOM_SLICE_MM
from medsynth.split import split_subjects
from medsynth.tasks import (
    ALL_LEVELS,
    SBD_PREFIX,
    SBD_SUBJECT,
    TASKS,
    all_contrasts_condition,
    all_levels_condition,
    is_external,
    model_condition,
    parse_condition,
    sbd_levels,
    sbd_rf_percent,
)

PRESET = msconfig.preset(config)
R = f"{config['results']}/{config['dataset']}"
DATASET = catalog.dataset(config)
# Real datasets are resampled onto grids of this voxel size (the phantom is
# generated at it).
VOXEL_MM = config.get("voxel_mm", PRESET["phantom"]["voxel_mm"])
DOWNLOADS_ROOT = config.get("downloads", "downloads")
DOWNLOADS = f"{DOWNLOADS_ROOT}/{DATASET.name}"
# BrainWeb's simulated-MRI database, the denoise task's optional external test set
SBD_REMOTES = catalog.sbd_remotes(config)
SBD_DOWNLOADS = f"{DOWNLOADS_ROOT}/{catalog.SBD_FOLDER}"
SBD_ROOT = f"{R}/external/{catalog.SBD_FOLDER}"
CONDITIONS = msconfig.task_conditions(config)
OUTSIDE_METHODS = {}
SEEDED_OUTSIDE_METHODS = set()
SEEDS = replicates.training_seeds(config)
# the named metric definitions every evaluation uses (medsynth.protocols)
PROTOCOL, EXTRA_METRICS = msconfig.evaluation(config)
# mr_to_ct's PET end point settings (medsynth.pet.endpoint.PetSettings)
PET = msconfig.pet_settings(config)
# Pseudo-methods written by rules of this workflow rather than by a method: the
# target itself (superres's high-resolution ceiling; mr_to_ct's perfect CT, whose PET
# error is 0 by construction) and mr_to_ct's no-bone PET control.
WORKFLOW_METHODS = {"reference": ("superres", "mr_to_ct"), "ct_no_bone": ("mr_to_ct",)}


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    task="|".join(TASKS),
    condition="[A-Za-z0-9.-]+",
    method=replicates.FOLDER_PATTERN,  # <method>, or <method>.seed-<s> of a further seed
    site="A|B",


def register_outside_method(name, tasks, seeded=False):
    """Called by each rules/methods/*.smk: the method joins evaluation and report.
    A `seeded` method is run once per training seed: its rule writes every
    folder of method_folders(name) and reads the seed of one with seed_of."""
    OUTSIDE_METHODS[name] = tuple(tasks)
    if seeded:
        SEEDED_OUTSIDE_METHODS.add(name)


def check_config():
    """Schema validation has run; now check methods against registry and rule
    files, and tasks against what the dataset holds."""
    msconfig.validate(config, {**OUTSIDE_METHODS, **WORKFLOW_METHODS})
    catalog.check_tasks(config, DATASET)


def subjects():
    """The dataset's subjects: the phantom's are known now, a real dataset's
    once its acquisition checkpoint has run (until then Snakemake re-plans)."""
    if DATASET.is_phantom:
        return phantom_subject_ids(PRESET["phantom"]["n_subjects"])
    return catalog.read_participants(checkpoints.acquire_dataset.get().output[0])


def split_strata():
    """Each subject's acquisition site where the dataset has several (IXI's
    scanners, SynthRAD's centres), so that the split can balance them."""
    if DATASET.stratify_by is None:
        return None
    raw_root = checkpoints.acquire_dataset.get().output[0]
    return catalog.read_participant_column(raw_root, DATASET.stratify_by)


@functools.cache
def _split(subject_ids, strata):
    return split_subjects(list(subject_ids), config["seed"], PRESET["split"]["val"],
                          PRESET["split"]["test"], dict(strata) if strata else None)


def split():
    """The split rule writes this same split to split.tsv; computing it here lets
    the DAG name the test subjects without waiting for that file."""
    strata = split_strata()
    return _split(tuple(subjects()), tuple(sorted(strata.items())) if strata else None)


def test_subjects():
    return split()["test"]


def condition_subjects(task, condition):
    """Who a condition is evaluated on: the split's test subjects, or an
    external test set's own subject."""
    return [SBD_SUBJECT] if is_external(condition) else test_subjects()


def condition_of(wildcards):
    cond = parse_condition(wildcards.task, wildcards.condition, config["tasks"][wildcards.task])
    if DATASET.sites == (None,):  # one acquisition per subject: no acq entity in file names
        return dataclasses.replace(cond, source_site=None, target_site=None)
    return cond


def evaluated_methods(task):
    """Configured methods, plus the high-resolution reference row of superres."""
    extra = [m for m, tasks in WORKFLOW_METHODS.items() if task in tasks]
    return msconfig.task_methods(config, task) + extra


def is_trained(method):
    return method in registry.REGISTRY and registry.get(method).kind == "trained"


def is_self_supervised(method):
    return method in registry.REGISTRY and registry.get(method).kind == "self_supervised"


def is_seeded(method):
    """Whether a method's result depends on a training seed (it runs once per seed)."""
    return is_trained(method) or is_self_supervised(method) or method in SEEDED_OUTSIDE_METHODS


def method_folders(method):
    """A method's folders: one per training seed for a seeded method, else one."""
    return replicates.method_folders(method, SEEDS) if is_seeded(method) else [method]


def method_of(wildcards):
    """The method whose folder the `method` wildcard names."""
    return replicates.parse_folder(wildcards.method, SEEDS)[0]


def seed_of(wildcards):
    """The training seed of the folder the `method` wildcard names."""
    return replicates.parse_folder(wildcards.method, SEEDS)[1]


def folder_pattern(*methods):
    """A `method` wildcard constraint: these methods' folders, each seeded one's with its seeds."""
    return "|".join(f"{m}(\\.seed-[0-9]+)?" if is_seeded(m) else m for m in methods)


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


def pet_reference_dir(task="{task}", condition="{condition}"):
    """The PET end point's per-subject references (mr_to_ct)."""
    return f"{task_dir(task, condition)}/pet_reference"


def pet_map_path(task="{task}", condition="{condition}", method="{method}"):
    """A method's PET relative-error map of the first test subject (mr_to_ct)."""
    return f"{task_dir(task, condition)}/{method}/eval/pet_error.npz"


def eval_path(task, condition, method):
    return f"{task_dir(task, condition)}/{method}/eval/metrics.tsv"


def all_eval_paths():
    return [
        eval_path(task, condition, folder)
        for task, conditions in CONDITIONS.items()
        for condition in conditions
        for method in evaluated_methods(task)
        for folder in method_folders(method)
    ]


def self_supervised_model_dir(task="{task}", condition="{condition}", method="{method}",
                              subject="{subject}"):
    """A self-supervised method's models of one subject (one training per volume)."""
    return f"{task_dir(task, condition)}/{method}/model/sub-{subject}"


def model_condition_of(task, condition, folder):
    """The condition whose model a trained method's folder predicts `condition` with
    (see medsynth.tasks.model_condition)."""
    method = replicates.parse_folder(folder, SEEDS)[0]
    return model_condition(task, condition, config["tasks"][task], method)


def trained_model_dir(task, condition, folder):
    """Where the model a trained method (of one seed's folder) predicts a condition
    with lives."""
    return f"{task_dir(task, model_condition_of(task, condition, folder))}/{folder}/model"


def harmonize_model_condition():
    """The harmonize model condition of a network that outputs every contrast (AtoB)."""
    return all_contrasts_condition(config["tasks"]["harmonize"])


def _configured():
    """(task, condition, method, folder) of every configured method and seed."""
    return [
        (task, condition, method, folder)
        for task, conditions in CONDITIONS.items()
        for condition in conditions
        for method in msconfig.task_methods(config, task)
        for folder in method_folders(method)
    ]


def trained_models():
    """(task, condition, folder, model folder) of every evaluated trained method and seed."""
    return [(t, c, f, trained_model_dir(t, c, f)) for t, c, m, f in _configured() if is_trained(m)]


def trained_model_dirs():
    return sorted({d for _, _, _, d in trained_models()})


def _train_benchmark(task, condition, folder):
    return bench(f"train/{task}_{model_condition_of(task, condition, folder)}_{folder}")


def compute_entries():
    """Per evaluated (task, condition, method, seed): its model folder (or None) and
    the benchmark files of the jobs that trained it and predicted with it."""
    entries = []
    for t, c, m, f in _configured():
        subjects = condition_subjects(t, c)
        if is_trained(m):
            model, trains = trained_model_dir(t, c, f), [_train_benchmark(t, c, f)]
        elif is_self_supervised(m):
            model = f"{task_dir(t, c)}/{f}/model"
            trains = [bench(f"self_supervised/{t}_{c}_{f}_sub-{s}") for s in subjects]
        else:
            model, trains = None, []
        infers = [] if is_self_supervised(m) else [
            bench(f"infer/{t}_{c}_{f}_sub-{s}") for s in subjects]
        seed = replicates.parse_folder(f, SEEDS)[1] if is_seeded(m) else None
        entries.append((t, c, m, seed, model, trains, infers))
    return entries


def model_dirs():
    """Trained models; their loss curves are registered in the report."""
    return trained_model_dirs() + [
        self_supervised_model_dir(t, c, f, s)
        for t, c, m, f in _configured()
        if is_self_supervised(m)
        for s in condition_subjects(t, c)
    ]


# Acquire and preprocess

RAW = f"{R}/rawdata"


def _acq(site):
    return "" if site is None else f"_acq-{site}"


def raw_files(subject="{subject}"):
    """The phantom's generated files of one subject."""
    anat = f"{RAW}/sub-{subject}/anat/sub-{subject}"
    mr = [f"{anat}{_acq(site)}_{c}.nii.gz" for site in DATASET.sites for c in DATASET.contrasts]
    return mr + [f"{anat}_CT.nii.gz", f"{anat}_dseg.nii.gz"]


def raw_input(subject="{subject}"):
    """A subject's raw files: the phantom's own files, or a real dataset's
    converted folder (one checkpoint output holding every subject)."""
    if DATASET.is_phantom:
        return raw_files(subject)
    return checkpoints.acquire_dataset.get().output[0]


PREPROC = f"{R}/preproc"


def preproc_files(subject="{subject}"):
    anat = f"{PREPROC}/sub-{subject}/anat/sub-{subject}"
    images = [f"{anat}{_acq(s)}_desc-preproc_{c}.nii.gz" for s in DATASET.sites
              for c in DATASET.contrasts]
    masks = [f"{anat}{_acq(s)}_desc-head_mask.nii.gz" for s in DATASET.sites]
    transforms = [f"{anat}_from-{c}_to-{DATASET.contrasts[0]}_mode-image_xfm.mat"
                  for c in DATASET.contrasts[1:] if DATASET.registered]
    return images + masks + [f"{anat}_desc-brain_mask.nii.gz"] + transforms


# Infer


def infer_inputs(wildcards):
    needed = {"inputs": inputs_dir(wildcards)}
    if is_trained(method_of(wildcards)):
        needed["model"] = trained_model_dir(wildcards.task, wildcards.condition, wildcards.method)
    return needed


# Report

REPORT = f"{R}/report"


def table_stems():
    stems = [f"summary_{task}" for task in CONDITIONS]
    if "superres" in CONDITIONS:
        stems += ["dice_by_thickness", "superres_by_thickness"]
    if "harmonize" in CONDITIONS:
        stems.append("harmonization_consistency")
    if "denoise" in CONDITIONS:
        stems.append("psnr_ssim_by_noise")
    if "mr_to_ct" in CONDITIONS:
        stems.append("pet_error")
    return stems


def paper_ids():
    """The papers whose task this run has."""
    return [p.id for p in paper_data.papers() if p.task in CONDITIONS]


def paper_method_params():
    """This run's settings of each paper's trained method (the compute ratio's numerator)."""
    return {p.trained_method: msconfig.method_params(config, p.trained_method)
            for p in paper_data.papers() if p.id in paper_ids()}


def paper_slice_mm():
    return PHANTOM_SLICE_MM if DATASET.is_phantom else DATASET_SLICE_MM


def figure_names():
    names = [f"box_{task}" for task in CONDITIONS]
    if "superres" in CONDITIONS:
        names.append("dice_by_thickness")
    if "harmonize" in CONDITIONS:
        names.append("harmonization_consistency")
    if "denoise" in CONDITIONS:
        names.append("psnr_ssim_by_noise")
    return names


def leaderboard_figures():
    """What the leaderboard page embeds: comparison figures, convergence, example slices."""
    return ([f"{REPORT}/compare/{kind}_{task}.png" for task in CONDITIONS
             for kind in ("significance", "ranking_stability")]
            + [f"{REPORT}/figures/convergence_{task}.png" for task in CONDITIONS]
            + example_paths())


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
        [f"{REPORT}/metrics.tsv", f"{REPORT}/leaderboard.html", f"{R}/provenance.json",
         f"{RAW}/dataset_description.json" if DATASET.is_phantom else RAW]
        + expand(f"{REPORT}/tables/{{stem}}.{{ext}}", stem=table_stems(), ext=["md", "csv", "tex"])
        + expand(f"{REPORT}/figures/{{name}}.png", name=figure_names())
        + expand(f"{REPORT}/papers/paper_{{pid}}.{{ext}}", pid=paper_ids(), ext=["md", "csv", "tex"])
        + example_paths()
        + pet_figures()
        + model_dirs()
    )


def pet_figures():
    return [f"{REPORT}/figures/pet_error_{c}.png" for c in CONDITIONS.get("mr_to_ct", [])]
