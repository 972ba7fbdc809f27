# Derive each task/condition's inputs for every subject, and split subjects.

localrules:
    split_subjects,



rule derive_task_inputs:
    input:
        preproc=lambda w: [f for s in subjects() for f in preproc_files(s)],
        raw=lambda w: [f for s in subjects() for f in raw_input(s)] if DATASET.is_phantom else [raw_input()],
    output:
        directory(f"{task_dir()}/inputs"),
    wildcard_constraints:
        condition=f"(?!{SBD_PREFIX})[A-Za-z0-9.-]+",
    params:
        subjects=lambda w: subjects(),
        condition=condition_of,
        seed=config["seed"],
    priority: 1
    log:
        log("derive/{task}_{condition}"),
    benchmark:
        bench("derive/{task}_{condition}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/derive_task_inputs.py"


rule derive_sbd_inputs:
    """The SBD test at one noise level: BrainWeb's own noisy T1w, no noise added."""
    input:
        SBD_ROOT,
    output:
        directory(f"{task_dir('denoise')}/inputs"),
    wildcard_constraints:
        condition=f"{SBD_PREFIX}noise-[0-9]+",
    params:
        condition=lambda w: parse_condition("denoise", w.condition, config["tasks"]["denoise"]),
        rf_percent=lambda w: sbd_rf_percent(config["tasks"]["denoise"]),
        voxel_mm=VOXEL_MM,
    log:
        log("derive/denoise_{condition}"),
    benchmark:
        bench("derive/denoise_{condition}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/derive_sbd_inputs.py"


rule split_subjects:
    input:
        lambda w: [] if DATASET.is_phantom else raw_input(),
    output:
        f"{R}/split.tsv",
    params:
        # the split the DAG was planned with (common.smk), written as it is
        split=lambda w: split(),
    log:
        log("split"),
    benchmark:
        bench("split")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/split_subjects.py"
