"""Rule extract_training_arrays: decode the training and validation volumes once."""

from medsynth.case import extract_arrays
from medsynth.split import read_split
from medsynth.workflow import logged

with logged(snakemake) as log:
    split = read_split(snakemake.input.split)
    extract_arrays(snakemake.input.inputs, {"train": split["train"], "val": split["val"]},
                   snakemake.params.condition, snakemake.output[0],
                   misregistration=snakemake.params.misregistration, seed=snakemake.params.seed)
    log.info("extracted %d training and %d validation subjects",
             len(split["train"]), len(split["val"]))
