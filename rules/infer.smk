# Infer: one job per method and test subject. Trained methods read their model;
# per-volume methods (baselines, self-supervised ones) work on the subject alone.

localrules:
    reference_prediction,


rule infer:
    input:
        unpack(infer_inputs),
    output:
        pred_path(),
    params:
        condition=condition_of,
        method_params=lambda w: msconfig.method_params(config, w.method),
    wildcard_constraints:
        method="|".join(registry.REGISTRY),
    log:
        log("infer/{task}_{condition}_{method}_sub-{subject}"),
    benchmark:
        bench("infer/{task}_{condition}_{method}_sub-{subject}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/infer.py"


rule reference_prediction:
    """The target itself as a prediction: the ceiling row of the super-resolution tables."""
    input:
        inputs_dir,
    output:
        pred_path(method="reference"),
    wildcard_constraints:
        task="superres",
    log:
        log("infer/{task}_{condition}_reference_sub-{subject}"),
    benchmark:
        bench("infer/{task}_{condition}_reference_sub-{subject}")
    conda:
        "../envs/medsynth.yaml"
    shell:
        "cp {input}/sub-{wildcards.subject}_target.nii.gz {output} 2> {log}"
