# Report: all per-subject rows in one table, paper-style tables, figures,
# example slices and provenance, registered for `snakemake --report`.

localrules:
    collect_metrics,
    collect_models,
    tables,
    figures,
    provenance,


rule collect_metrics:
    input:
        all_eval_paths(),
    output:
        report(f"{REPORT}/metrics.tsv", caption="../report/metrics.rst", category="Metrics"),
    log:
        log("report/collect_metrics"),
    benchmark:
        bench("report/collect_metrics")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/collect_metrics.py"


rule collect_models:
    """What each trained model's params.json says of its training (collapsed or not)."""
    input:
        lambda w: sorted({entry[3] for entry in trained_model_entries()}),
    output:
        f"{REPORT}/models.tsv",
    params:
        entries=trained_model_entries(),
    log:
        log("report/collect_models"),
    benchmark:
        bench("report/collect_models")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/collect_models.py"


rule tables:
    input:
        metrics=f"{REPORT}/metrics.tsv",
        models=f"{REPORT}/models.tsv",
    output:
        [
            report(f"{REPORT}/tables/{stem}.{ext}", caption="../report/tables.rst", category="Tables")
            for stem in table_stems()
            for ext in ("md", "csv", "tex")
        ],
    log:
        log("report/tables"),
    benchmark:
        bench("report/tables")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/make_tables.py"


rule figures:
    input:
        f"{REPORT}/metrics.tsv",
    output:
        [
            report(f"{REPORT}/figures/{name}.png", caption="../report/figures.rst", category="Figures")
            for name in figure_names()
        ],
    log:
        log("report/figures"),
    benchmark:
        bench("report/figures")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/make_figures.py"


rule example_slices:
    input:
        inputs=inputs_dir,
        preds=lambda w: [
            pred_path(w.task, w.condition, m, condition_subjects(w.task, w.condition)[0])
            for m in evaluated_methods(w.task)
        ],
    output:
        report(
            f"{REPORT}/examples/{{task}}_{{condition}}.png",
            caption="../report/examples.rst",
            category="Example slices",
            subcategory="{task}",
        ),
    params:
        condition=condition_of,
        methods=lambda w: evaluated_methods(w.task),
        subject=lambda w: condition_subjects(w.task, w.condition)[0],
    log:
        log("report/examples_{task}_{condition}"),
    benchmark:
        bench("report/examples_{task}_{condition}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/example_slices.py"


rule provenance:
    output:
        f"{R}/provenance.json",
    params:
        config=config,
        workflow_dir=workflow.basedir,
    log:
        log("report/provenance"),
    benchmark:
        bench("report/provenance")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/provenance.py"
