# Derive each task/condition's inputs for every subject, and split subjects.

localrules:
    split_subjects,



rule derive_task_inputs:
    input:
        preproc=[preproc_files(s) for s in SUBJECTS],
        raw=[raw_files(s) for s in SUBJECTS],
    output:
        directory(f"{task_dir()}/inputs"),
    params:
        subjects=SUBJECTS,
        condition=condition_of,
        seed=config["seed"],
    log:
        log("derive/{task}_{condition}"),
    benchmark:
        bench("derive/{task}_{condition}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/derive_task_inputs.py"


rule split_subjects:
    output:
        f"{R}/split.tsv",
    params:
        subjects=SUBJECTS,
        seed=config["seed"],
        n_val=PRESET["split"]["val"],
        n_test=PRESET["split"]["test"],
    log:
        log("split"),
    benchmark:
        bench("split")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/split_subjects.py"
