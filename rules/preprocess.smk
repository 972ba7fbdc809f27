# Preprocess: head masks, N4 and normalisation of every MR image of a subject.

PREPROC = f"{R}/preproc"


def preproc_files(subject="{subject}"):
    anat = f"{PREPROC}/sub-{subject}/anat/sub-{subject}"
    images = [f"{anat}_acq-{s}_desc-preproc_{c}.nii.gz" for s in ("A", "B") for c in MR_CONTRASTS]
    masks = [f"{anat}_acq-{s}_desc-head_mask.nii.gz" for s in ("A", "B")]
    return images + masks + [f"{anat}_desc-brain_mask.nii.gz"]


rule preprocess_subject:
    input:
        raw_files(),
    output:
        preproc_files(),
    params:
        raw=RAW,
        preproc=PREPROC,
    log:
        log("preprocess/sub-{subject}"),
    benchmark:
        bench("preprocess/sub-{subject}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/preprocess_subject.py"
