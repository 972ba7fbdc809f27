"""BM4D's seconds per volume and PSNR under candidate profile settings, side by side,
to choose the ``quick`` preset's cheapest setting that keeps the denoising.

Usage: python benchmarks/bm4d_time.py [results/phantom] [--subject 004] [--levels 1 5 9]
       [--repeats 1]

Reads the ``denoise`` task inputs of a finished run (the noisy source and the clean
target of one test subject at each noise level), runs the baseline exactly as infer
does (sigma estimated inside the head mask, hard thresholding, one thread, Rician bias
removed) under each setting of ``SETTINGS``, and prints the CPU time (the minimum of
`--repeats` runs; CPU rather than wall time, which a shared machine inflates) and the
PSNR inside the head mask under the default protocol, with the differences from the
first setting (today's ``quick`` preset). The block step cannot exceed the block size
(4): a larger step leaves voxels in no block and the package returns NaN there.

Measured before the noise-spectrum grid (``psd_size``) was found to dominate (phantom
sub-004, 1 %): a search radius of 5, 4 or 3 instead of 7 took 0.89, 0.89 and 0.85 of
the CPU time for -0.05, -0.08 and -0.11 dB; groups of 8 blocks instead of 16 took as
long for -0.63 dB. Neither is worth a setting.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from medsynth import protocols
from medsynth.case import input_path, load_case
from medsynth.io import load_array
from medsynth.methods import bm4d_baseline
from medsynth.methods.identity import predict as source_on_target_grid
from medsynth.methods.noise_estimate import estimate_rician_sigma
from medsynth.tasks import Condition

QUICK = {"stage": "hard", "step_ht": 4}
SETTINGS = {
    "quick (step 4)": QUICK,
    "PSD grid 8": {**QUICK, "psd_size": 8},
    "PSD grid 4": {**QUICK, "psd_size": 4},
    "step 3, PSD grid 8": {**QUICK, "step_ht": 3, "psd_size": 8},
    "step 3, PSD grid 4": {**QUICK, "step_ht": 3, "psd_size": 4},
}


def noisy_case(root: Path, subject: str, level: int):
    """The noisy source on the target grid, its sigma estimate, the target and head mask."""
    cond = Condition("denoise", f"noise-{level}", ("T1w",), "A", "T1w", "A",
                     noise_percent=float(level))
    inputs = root / "denoise" / f"noise-{level}" / "inputs"
    case = load_case(inputs, subject, cond)
    noisy = source_on_target_grid(case, {}, None)
    target, _ = load_array(input_path(inputs, subject, "target"))
    return noisy, estimate_rician_sigma(noisy, case.head_mask), target, case.head_mask


def measure(noisy, sigma, target, head, params: dict, repeats: int) -> tuple[float, float]:
    """Least CPU time of `repeats` denoisings and the result's PSNR (dB)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        pred = bm4d_baseline.denoise(noisy, sigma, params)
        best = min(best, time.process_time() - start)
    metrics = protocols.get(protocols.DEFAULT_PROTOCOL).image_metrics(pred, target, head, False)
    return best, metrics["psnr"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="results/phantom", type=Path)
    parser.add_argument("--subject", default="004")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 5, 9])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    args = parser.parse_args()
    print(f"sub-{args.subject}, one thread; PSNR ({protocols.DEFAULT_PROTOCOL}) inside the head")
    print(f"{'setting':<20}{'noise %':>8}{'CPU s':>9}{'ratio':>7}{'PSNR dB':>9}{'dPSNR':>8}")
    for level in args.levels:
        case = noisy_case(args.root, args.subject, level)
        first = None
        for name in args.settings:
            seconds, psnr = measure(*case, SETTINGS[name], args.repeats)
            first = first or (seconds, psnr)
            print(f"{name:<20}{level:>8}{seconds:>9.2f}{seconds / first[0]:>7.2f}{psnr:>9.3f}"
                  f"{psnr - first[1]:>+8.3f}", flush=True)


if __name__ == "__main__":
    main()
