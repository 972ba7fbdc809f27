# Infer: one job per method and test subject. Trained methods read their model;
# per-volume methods (baselines) work on the subject alone; self-supervised
# methods (SMORE) train on the subject's own input and predict in one job.

localrules:
    reference_prediction,
    ct_no_bone,


rule infer:
    input:
        unpack(infer_inputs),
    output:
        pred_path(),
    params:
        condition=condition_of,
        method=method_of,
        method_params=lambda w: msconfig.method_params(config, method_of(w)),
    wildcard_constraints:
        method=folder_pattern(*registry.of_kind("trained", "per_volume")),
    log:
        log("infer/{task}_{condition}_{method}_sub-{subject}"),
    benchmark:
        bench("infer/{task}_{condition}_{method}_sub-{subject}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/infer.py"


rule self_supervised:
    input:
        inputs_dir,
    output:
        pred=pred_path(),
        model=report(
            directory(self_supervised_model_dir()),
            patterns=["{stage}/loss.png"],
            caption="../report/training.rst",
            category="Training",
            subcategory="{task} {condition} {method} sub-{subject}",
        ),
    params:
        condition=condition_of,
        method=method_of,
        method_params=lambda w: msconfig.method_params(config, method_of(w)),
        seed=seed_of,
        state_dir=f"{task_dir()}/{{method}}/train_state/sub-{{subject}}",
        dataset=DATASET,
    wildcard_constraints:
        method=folder_pattern(*registry.of_kind("self_supervised")),
    threads: PRESET["threads"]["self_supervised"]
    log:
        log("self_supervised/{task}_{condition}_{method}_sub-{subject}"),
    benchmark:
        bench("self_supervised/{task}_{condition}_{method}_sub-{subject}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/self_supervised.py"


rule reference_prediction:
    """The target itself as a prediction: the ceiling row of the super-resolution tables,
    and the perfect CT of mr_to_ct (PET error 0 by construction)."""
    input:
        inputs_dir,
    output:
        pred_path(method="reference"),
    wildcard_constraints:
        task="superres|mr_to_ct",
    log:
        log("infer/{task}_{condition}_reference_sub-{subject}"),
    benchmark:
        bench("infer/{task}_{condition}_reference_sub-{subject}")
    conda:
        "../envs/medsynth.yaml"
    shell:
        "cp {input}/sub-{wildcards.subject}_target.nii.gz {output} 2> {log}"


rule ct_no_bone:
    """The PET control: the real CT with its bone made soft tissue (Dixon-like)."""
    input:
        inputs_dir,
    output:
        pred_path(method="ct_no_bone"),
    wildcard_constraints:
        task="mr_to_ct",
    log:
        log("infer/{task}_{condition}_ct_no_bone_sub-{subject}"),
    benchmark:
        bench("infer/{task}_{condition}_ct_no_bone_sub-{subject}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/ct_no_bone.py"
