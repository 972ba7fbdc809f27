# Acquire: the built-in phantom cohort, one job per subject.

RAW = f"{R}/rawdata"
MR_CONTRASTS = ["T1w", "T2w", "PDw"]


def raw_files(subject="{subject}"):
    anat = f"{RAW}/sub-{subject}/anat/sub-{subject}"
    mr = [f"{anat}_acq-{site}_{c}.nii.gz" for site in ("A", "B") for c in MR_CONTRASTS]
    return mr + [f"{anat}_CT.nii.gz", f"{anat}_dseg.nii.gz"]


rule phantom_subject:
    output:
        raw_files(),
    params:
        raw=RAW,
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
        raw=RAW,
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
