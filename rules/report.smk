# Report: all per-subject rows in one table, paper-style tables, figures,
# example slices and provenance, registered for `snakemake --report`.

REPORT = f"{R}/report"


def table_stems():
    stems = [f"summary_{task}" for task in CONDITIONS]
    if "superres" in CONDITIONS:
        stems.append("dice_by_thickness")
    if "denoise" in CONDITIONS:
        stems.append("psnr_ssim_by_noise")
    return stems


def figure_names():
    names = [f"box_{task}" for task in CONDITIONS]
    if "superres" in CONDITIONS:
        names.append("dice_by_thickness")
    if "denoise" in CONDITIONS:
        names.append("psnr_ssim_by_noise")
    return names


def example_paths():
    if not config["example_slices"]:
        return []
    return [
        f"{REPORT}/examples/{task}_{condition}.png"
        for task, conditions in CONDITIONS.items()
        for condition in conditions
    ]


def final_outputs():
    return (
        [f"{REPORT}/metrics.tsv", f"{R}/provenance.json", f"{RAW}/dataset_description.json"]
        + expand(f"{REPORT}/tables/{{stem}}.{{ext}}", stem=table_stems(), ext=["md", "csv", "tex"])
        + expand(f"{REPORT}/figures/{{name}}.png", name=figure_names())
        + example_paths()
        + model_dirs()
    )


rule collect_metrics:
    input:
        all_eval_paths(),
    output:
        report(f"{REPORT}/metrics.tsv", caption="../report/metrics.rst", category="Metrics"),
    log:
        log("report/collect_metrics"),
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/collect_metrics.py"


rule tables:
    input:
        f"{REPORT}/metrics.tsv",
    output:
        [
            report(f"{REPORT}/tables/{stem}.{ext}", caption="../report/tables.rst", category="Tables")
            for stem in table_stems()
            for ext in ("md", "csv", "tex")
        ],
    params:
        out_dir=f"{REPORT}/tables",
    log:
        log("report/tables"),
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
    params:
        out_dir=f"{REPORT}/figures",
    log:
        log("report/figures"),
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/make_figures.py"


rule example_slices:
    input:
        inputs=inputs_dir,
        preds=lambda w: [
            pred_path(w.task, w.condition, m, SPLIT["test"][0]) for m in evaluated_methods(w.task)
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
        subject=SPLIT["test"][0],
    log:
        log("report/examples_{task}_{condition}"),
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
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/provenance.py"
