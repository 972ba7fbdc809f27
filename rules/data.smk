# Acquire: the built-in phantom cohort, one job per subject.

# Light rules run in the submitting Snakemake on a cluster rather than queueing.
localrules:
    phantom_description,


rule phantom_subject:
    output:
        raw_files(),
    params:
        seed=config["seed"],
        voxel_mm=PRESET["phantom"]["voxel_mm"],
    log:
        log("phantom/sub-{subject}"),
    benchmark:
        bench("phantom/sub-{subject}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/make_phantom_subject.py"


rule phantom_description:
    output:
        f"{RAW}/dataset_description.json",
        f"{RAW}/participants.tsv",
        f"{RAW}/dseg.tsv",
    params:
        subjects=SUBJECTS,
        seed=config["seed"],
        voxel_mm=PRESET["phantom"]["voxel_mm"],
    log:
        log("phantom/description"),
    benchmark:
        bench("phantom/description")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/describe_phantom.py"
