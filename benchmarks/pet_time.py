"""The PET end point's cost per prediction at a preset's voxel size.

Usage: python benchmarks/pet_time.py [--preset quick] [--repeats 3]

Writes one phantom subject at the preset's voxel size and times, on its CT and
labels, what the workflow runs: the reference (once per subject: projector,
emission data, reference OSEM, regions) and the metrics of one synthetic CT
(projector, attenuation factors, one OSEM, relative errors), for the perfect
CT, the no-bone control and a water-only head (a crude MR attenuation map).
Prints the best of `--repeats` wall times and each case's brain bias, so a
speed-up that changes the numbers shows.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from medsynth import config, io
from medsynth.data.phantom import make_subject
from medsynth.methods.bulk_density import DEFAULTS
from medsynth.pet.attenuation import without_bone
from medsynth.pet.endpoint import PetSettings, make_reference, pet_metrics
from medsynth.segment import BONE_THRESHOLD_HU


def best_of(repeats: int, run):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    voxel_mm = config.preset({"preset": args.preset})["phantom"]["voxel_mm"]
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_subject("001", 0, 42, voxel_mm, tmp)
        ct, affine = io.load_array(paths["CT"])
        dseg = io.load_array(paths["dseg"])[0].astype(np.int16)
    head = dseg > 0
    settings = PetSettings()
    print(f"preset {args.preset}: {voxel_mm} mm, grid {ct.shape}, {settings}")
    seconds, reference = best_of(args.repeats,
                                 lambda: make_reference(ct, dseg, head, affine, settings))
    print(f"reference (once per subject): {seconds:.2f} s")
    cases = {"perfect CT": ct,
             "no bone": without_bone(ct, head, BONE_THRESHOLD_HU, DEFAULTS["soft_tissue_hu"]),
             "water only": np.where(head, 0.0, -1000.0).astype(np.float32)}
    for name, pred in cases.items():
        seconds, (row, _) = best_of(args.repeats,
                                    lambda p=pred: pet_metrics(p, affine, reference, settings))
        print(f"{name:>12}: {seconds:.2f} s per prediction, brain bias "
              f"{row['pet_bias_pct_brain']:+.2f} %, near air {row['pet_bias_pct_skullbase']:+.2f} %")


if __name__ == "__main__":
    main()
