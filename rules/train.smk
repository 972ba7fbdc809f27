# Train: decode the training set once into arrays, then fit each trained method.
# Training state (checkpoint.pt) lives beside the model folder, not in it, so
# that a failed or preempted job resumes instead of losing it with its outputs.


rule extract_training_arrays:
    input:
        inputs=f"{task_dir()}/inputs",
        split=f"{R}/split.tsv",
    output:
        directory(f"{task_dir()}/arrays"),
    params:
        condition=condition_of,
        misregistration=lambda w: config["tasks"][w.task].get("misregistration"),
        seed=config["seed"],
    priority: 1
    log:
        log("extract/{task}_{condition}"),
    benchmark:
        bench("extract/{task}_{condition}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/extract_training_arrays.py"


ruleorder: train_all_levels > train


rule train:
    input:
        f"{task_dir()}/arrays",
    output:
        report(
            directory(f"{task_dir()}/{{method}}/model"),
            patterns=["loss.png"],
            caption="../report/training.rst",
            category="Training",
            subcategory="{task} {condition} {method}",
        ),
    params:
        condition=condition_of,
        method=method_of,
        method_params=lambda w: msconfig.method_params(config, method_of(w)),
        seed=seed_of,
        state_dir=f"{task_dir()}/{{method}}/train_state",
        dataset=DATASET,
    threads: PRESET["threads"]["train"]
    # the trainings are the run's longest jobs: start them first, fill in around them
    priority: 1
    log:
        log("train/{task}_{condition}_{method}"),
    benchmark:
        bench("train/{task}_{condition}_{method}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/train.py"


rule train_all_levels:
    """One denoiser for every noise level (denoise.one_model_per_level: false)."""
    input:
        lambda w: [f"{task_dir('denoise', c)}/arrays" for c in CONDITIONS["denoise"]
                   if not is_external(c)],
    output:
        report(
            directory(f"{task_dir('denoise', ALL_LEVELS)}/{{method}}/model"),
            patterns=["loss.png"],
            caption="../report/training.rst",
            category="Training",
            subcategory="denoise all levels {method}",
        ),
    params:
        condition=all_levels_condition(),
        method=method_of,
        method_params=lambda w: msconfig.method_params(config, method_of(w)),
        seed=seed_of,
        state_dir=f"{task_dir('denoise', ALL_LEVELS)}/{{method}}/train_state",
        dataset=DATASET,
    threads: PRESET["threads"]["train"]
    priority: 1
    log:
        log("train/denoise_all-levels_{method}"),
    benchmark:
        bench("train/denoise_all-levels_{method}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/train.py"


if "harmonize" in CONDITIONS:
    HARMONIZE_MODEL = harmonize_model_condition()

    ruleorder: train_all_contrasts > train

    rule train_all_contrasts:
        """One harmonizer for every contrast (DeepHarmony's design: one output
        channel per contrast), trained on the contrast conditions' arrays together
        and shared by those conditions (methods marked all_contrasts in the registry)."""
        input:
            lambda w: [f"{task_dir('harmonize', c)}/arrays" for c in CONDITIONS["harmonize"]],
        output:
            report(
                directory(f"{task_dir('harmonize', HARMONIZE_MODEL.name)}/{{method}}/model"),
                patterns=["loss.png"],
                caption="../report/training.rst",
                category="Training",
                subcategory="harmonize all contrasts {method}",
            ),
        params:
            condition=HARMONIZE_MODEL,
            method=method_of,
            method_params=lambda w: msconfig.method_params(config, method_of(w)),
            seed=seed_of,
            state_dir=f"{task_dir('harmonize', HARMONIZE_MODEL.name)}/{{method}}/train_state",
            dataset=DATASET,
        wildcard_constraints:
            method=folder_pattern(*[m for m in registry.of_kind("trained")
                                    if registry.get(m).all_contrasts]),
        threads: PRESET["threads"]["train"]
        priority: 1
        log:
            log(f"train/harmonize_{HARMONIZE_MODEL.name}_{{method}}"),
        benchmark:
            bench(f"train/harmonize_{HARMONIZE_MODEL.name}_{{method}}")
        conda:
            "../envs/medsynth.yaml"
        script:
            "../workflow_scripts/train.py"
