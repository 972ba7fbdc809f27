# Evaluate: image metrics and segmentation-based Dice, one row per test subject.


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
    log:
        log("evaluate/{task}_{condition}_{method}"),
    benchmark:
        bench("evaluate/{task}_{condition}_{method}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/evaluate.py"
