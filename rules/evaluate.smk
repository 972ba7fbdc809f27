# Evaluate: image metrics and segmentation-based Dice, one row per test subject;
# mr_to_ct adds the PET end point (medsynth.pet) in the same job.


rule evaluate:
    input:
        inputs=inputs_dir,
        preds=lambda w: [pred_path(w.task, w.condition, w.method, s)
               for s in condition_subjects(w.task, w.condition)],
    output:
        f"{task_dir()}/{{method}}/eval/metrics.tsv",
    params:
        condition=condition_of,
        dataset=config["dataset"],
        method=method_of,
        seed=lambda w: seed_of(w) if is_seeded(method_of(w)) else None,
        subjects=lambda w: condition_subjects(w.task, w.condition),
        protocol=PROTOCOL,
        extra_metrics=list(EXTRA_METRICS),
    wildcard_constraints:
        task="|".join(t for t in TASKS if t != "mr_to_ct"),
    log:
        log("evaluate/{task}_{condition}_{method}"),
    benchmark:
        bench("evaluate/{task}_{condition}_{method}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/evaluate.py"


use rule evaluate as evaluate_ct with:
    input:
        inputs=inputs_dir,
        preds=lambda w: [pred_path(w.task, w.condition, w.method, s)
               for s in condition_subjects(w.task, w.condition)],
        pet=pet_reference_dir(),
    output:
        f"{task_dir()}/{{method}}/eval/metrics.tsv",
        pet_map=pet_map_path(),
    params:
        pet=PET,
    wildcard_constraints:
        task="mr_to_ct",


rule pet_reference:
    """The PET end point's reference, once per subject: emission data simulated
    through the real CT's attenuation and reconstructed with it."""
    input:
        inputs=inputs_dir,
        dataset=lambda w: [] if DATASET.is_phantom else raw_input(),  # names the test subjects
    output:
        directory(pet_reference_dir()),
    params:
        subjects=lambda w: condition_subjects(w.task, w.condition),
        pet=PET,
        seed=config["seed"],
    wildcard_constraints:
        task="mr_to_ct",
    log:
        log("evaluate/{task}_{condition}_pet_reference"),
    benchmark:
        bench("evaluate/{task}_{condition}_pet_reference")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/pet_reference.py"
