"""Rule ct_no_bone: the real CT with its bone made soft tissue, as a prediction."""

from medsynth import io
from medsynth.case import input_path
from medsynth.methods.bulk_density import DEFAULTS
from medsynth.pet.attenuation import without_bone
from medsynth.segment import BONE_THRESHOLD_HU
from medsynth.workflow import logged

with logged(snakemake) as log:
    inputs, subject = snakemake.input[0], snakemake.wildcards.subject
    ct, affine = io.load_array(input_path(inputs, subject, "target"))
    head, _ = io.load_mask(input_path(inputs, subject, "mask"))
    io.save_volume(snakemake.output[0], without_bone(ct, head, BONE_THRESHOLD_HU,
                                                     DEFAULTS["soft_tissue_hu"]), affine)
    log.info("bone above %g HU set to %g HU", BONE_THRESHOLD_HU, DEFAULTS["soft_tissue_hu"])
