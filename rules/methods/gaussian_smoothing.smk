# An outside method, as a user would add one: a rule that writes
#   results/<dataset>/<task>/<condition>/<method>/pred/sub-<id>.nii.gz
# for every test subject joins evaluation and report. Its script knows nothing
# of medsynth; it reads the task's inputs folder and writes a NIfTI on the
# target's grid. List the method under the task in config.yaml to run it.

register_outside_method("gaussian_smoothing", tasks=["denoise"])


rule gaussian_smoothing:
    input:
        inputs_dir,
    output:
        pred_path(method="gaussian_smoothing"),
    wildcard_constraints:
        task="denoise",
    params:
        sigma_mm=1.0,
        script=f"{workflow.basedir}/rules/methods/scripts/gaussian_smoothing.py",
    log:
        log("infer/{task}_{condition}_gaussian_smoothing_sub-{subject}"),
    benchmark:
        bench("infer/{task}_{condition}_gaussian_smoothing_sub-{subject}")
    conda:
        "../../envs/medsynth.yaml"
    shell:
        "python {params.script} {input}/sub-{wildcards.subject}_source-T1w.nii.gz {output}"
        " --sigma-mm {params.sigma_mm} > {log} 2>&1"
