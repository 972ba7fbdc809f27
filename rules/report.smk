# Report: all per-subject rows in one table, paper-style tables, figures,
# example slices and provenance, registered for `snakemake --report`.

localrules:
    pet_error_figure,
    collect_metrics,
    collect_compute,
    tables,
    paper_tables,
    figures,
    convergence,
    leaderboard,
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


rule collect_compute:
    """What each result cost (benchmark files, model records) and whether its model collapsed."""
    input:
        metrics=f"{REPORT}/metrics.tsv",  # every job whose cost is read has finished
        models=lambda w: trained_model_dirs(),
        dataset=lambda w: [] if DATASET.is_phantom else raw_input(),  # entries name test subjects
    output:
        f"{REPORT}/compute.tsv",
    params:
        entries=lambda w: compute_entries(),
    log:
        log("report/collect_compute"),
    benchmark:
        bench("report/collect_compute")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/collect_compute.py"


rule tables:
    input:
        metrics=f"{REPORT}/metrics.tsv",
        compute=f"{REPORT}/compute.tsv",
        summary=f"{REPORT}/compare/summary.tsv",
    output:
        [
            report(f"{REPORT}/tables/{stem}.{ext}", caption="../report/tables.rst", category="Tables")
            for stem in table_stems()
            for ext in ("md", "csv", "tex")
        ],
    params:
        preset=config["preset"],
    log:
        log("report/tables"),
    benchmark:
        bench("report/tables")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/make_tables.py"


rule paper_tables:
    """Each paper's numbers beside this run's, whether its claims hold, and the compute ratio."""
    input:
        summary=f"{REPORT}/compare/summary.tsv",
        tests=f"{REPORT}/compare/paired_tests.tsv",
        compute=f"{REPORT}/compute.tsv",
    output:
        tables=[
            report(f"{REPORT}/papers/paper_{pid}.{ext}", caption="../report/papers.rst",
                   category="Papers")
            for pid in paper_ids()
            for ext in ("md", "csv", "tex")
        ],
        overlay=[
            report(f"{REPORT}/papers/smore_dice_overlay.png", caption="../report/papers.rst",
                   category="Papers")
        ] if "zhao2019" in paper_ids() else [],
    params:
        papers=paper_ids(),
        method_params=lambda w: paper_method_params(),
        voxel_mm=VOXEL_MM,
        slice_mm=paper_slice_mm(),
        protocol=PROTOCOL,
    log:
        log("report/paper_tables"),
    benchmark:
        bench("report/paper_tables")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/paper_tables.py"


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


rule pet_error_figure:
    """Relative-error maps of the PET end point, one column per mr_to_ct method, one subject."""
    input:
        lambda w: [pet_map_path("mr_to_ct", w.condition, method_folders(m)[0])
                   for m in evaluated_methods("mr_to_ct")],
    output:
        report(f"{REPORT}/figures/pet_error_{{condition}}.png", caption="../report/pet.rst",
               category="Figures", subcategory="PET end point"),
    params:
        methods=lambda w: evaluated_methods("mr_to_ct"),
    log:
        log("report/pet_error_{condition}"),
    benchmark:
        bench("report/pet_error_{condition}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/pet_figure.py"


rule convergence:
    input:
        lambda w: sorted({d for t, _, _, d in trained_models() if t == w.task}),
    output:
        report(f"{REPORT}/figures/convergence_{{task}}.png", caption="../report/convergence.rst",
               category="Figures"),
    params:
        models=lambda w: [(c, m, d) for t, c, m, d in trained_models() if t == w.task],
    log:
        log("report/convergence_{task}"),
    benchmark:
        bench("report/convergence_{task}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/convergence.py"


rule leaderboard:
    input:
        compute=f"{REPORT}/compute.tsv",
        tables=[f"{COMPARE}/{name}.tsv" for name in compare_plan.TABLES],
        figures=lambda w: leaderboard_figures(),
        papers=rules.paper_tables.output,
    output:
        report(f"{REPORT}/leaderboard.html", caption="../report/leaderboard.rst",
               category="Leaderboard"),
    params:
        title=f"medsynth leaderboard: {config['dataset']}, preset {config['preset']}, "
        f"protocol {PROTOCOL}",
        protocol=PROTOCOL,
    log:
        log("report/leaderboard"),
    benchmark:
        bench("report/leaderboard")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/leaderboard.py"


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
