# Preprocess: head masks, N4 and normalisation of every MR image of a subject.

rule preprocess_subject:
    input:
        raw_files(),
    output:
        preproc_files(),
    log:
        log("preprocess/sub-{subject}"),
    benchmark:
        bench("preprocess/sub-{subject}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/preprocess_subject.py"
