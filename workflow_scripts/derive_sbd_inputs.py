"""Rule derive_sbd_inputs: the denoise inputs of BrainWeb's SBD at one noise level."""

from medsynth.data import brainweb_sbd
from medsynth.workflow import logged

with logged(snakemake) as log:
    p = snakemake.params
    noise = brainweb_sbd.derive_inputs(snakemake.input[0], round(p.condition.noise_percent),
                                       p.rf_percent, p.voxel_mm, snakemake.output[0])
    log.info("%s: BrainWeb's %d %% noise is %.2f %% of the head's maximum (the suite's scale)",
             p.condition.name, noise["brainweb_noise_percent"], noise["percent_of_head_maximum"])
