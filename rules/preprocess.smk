# Preprocess: head masks, N4 and normalisation of every MR image of a subject;
# for a real dataset first every contrast onto one reference grid (registered).

rule preprocess_subject:
    input:
        lambda w: raw_input(w.subject),
    output:
        preproc_files(),
    params:
        dataset=DATASET,
        voxel_mm=VOXEL_MM,
    log:
        log("preprocess/sub-{subject}"),
    benchmark:
        bench("preprocess/sub-{subject}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/preprocess_subject.py"
