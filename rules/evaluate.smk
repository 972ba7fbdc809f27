# Evaluate: image metrics and segmentation-based Dice, one row per test subject.


rule evaluate:
    input:
        inputs=inputs_dir,
        preds=lambda w: [pred_path(w.task, w.condition, w.method, s) for s in test_subjects()],
    output:
        f"{task_dir()}/{{method}}/eval/metrics.tsv",
    params:
        condition=condition_of,
        dataset=config["dataset"],
        subjects=lambda w: test_subjects(),
    log:
        log("evaluate/{task}_{condition}_{method}"),
    benchmark:
        bench("evaluate/{task}_{condition}_{method}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/evaluate.py"
