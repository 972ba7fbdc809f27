"""medsynth: benchmark of deep-learning medical image synthesis.

acquire -> preprocess -> derive task inputs -> split -> train -> infer -> evaluate -> report
"""

import re
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "medsynth/schemas/config.schema.json")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/preprocess.smk"
include: "rules/derive.smk"
include: "rules/train.smk"
include: "rules/infer.smk"
include: "rules/evaluate.smk"
include: "rules/compare.smk"
include: "rules/report.smk"


# Outside methods: one rule file each; each registers its name and tasks.
for method_rules in sorted(Path(workflow.basedir, "rules", "methods").glob("*.smk")):

    include: method_rules


check_config()


rule all:
    input:
        lambda w: final_outputs(),
    default_target: True
