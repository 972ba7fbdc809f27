# Compare: statistics on the per-subject metrics table only (never an image):
# bootstrap CIs, paired tests with Holm correction, rankings and their stability.

localrules:
    compare,
    compare_figures,


COMPARE = f"{REPORT}/compare"


rule compare:
    input:
        f"{REPORT}/metrics.tsv",
    output:
        [f"{COMPARE}/{name}.tsv" for name in compare_plan.TABLES],
    params:
        baselines=compare_plan.baselines(config["tasks"]),
        alpha=0.05,
        n_resamples=10_000,
        n_boot=1000,
        seed=config["seed"],
    log:
        log("compare/compare"),
    benchmark:
        bench("compare/compare")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/compare.py"


rule compare_figures:
    input:
        [f"{COMPARE}/{name}.tsv" for name in compare_plan.TABLES],
    output:
        significance=report(f"{COMPARE}/significance_{{task}}.png",
                            caption="../report/compare.rst", category="Comparison",
                            subcategory="{task}"),
        blobs=report(f"{COMPARE}/ranking_stability_{{task}}.png",
                     caption="../report/compare.rst", category="Comparison",
                     subcategory="{task}"),
    log:
        log("compare/figures_{task}"),
    benchmark:
        bench("compare/figures_{task}")
    conda:
        "../envs/medsynth.yaml"
    script:
        "../workflow_scripts/compare_figures.py"
