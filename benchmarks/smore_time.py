"""SMORE's cost per volume (train + infer), next to the bspline baseline's.

Usage: python benchmarks/smore_time.py [--preset quick] [--thickness 4.8 1.2] [--threads 2]
                                       [--cpu-bf16]

Writes one phantom subject at the preset's voxel size, acquires its T1w with
thick slices as the ``superres`` task does, and runs SMORE on it end to end
for each thickness: training pairs, training, then both through-plane
orientations and the fusion. Prints the wall time per volume, the training
throughput (training patches per second) and what is left for pairs and
inference, with the bspline interpolation of the same volume timed in the
same run, and the PSNR of both against the high-resolution image (inside the
head) so that a speed-up that loses quality shows.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from medsynth import config, io, train
from medsynth.data.phantom import make_cohort
from medsynth.methods import smore
from medsynth.methods.smore_pairs import SliceModel
from medsynth.preprocess.degrade import THICK_SLICE_AXIS, simulate_thick_slices
from medsynth.preprocess.resample import resample_to_grid


def phantom_t1(voxel_mm: float, work: Path) -> tuple[np.ndarray, np.ndarray]:
    make_cohort(1, 42, voxel_mm, work / "phantom")
    return io.load_array(next((work / "phantom").rglob("*_acq-A_T1w.nii.gz")))


def psnr(x: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float:
    error = np.mean((x[mask] - reference[mask]) ** 2)
    return float(10 * np.log10(reference[mask].max() ** 2 / error))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=("smoke", "quick", "paper"))
    parser.add_argument("--thickness", type=float, nargs="+", default=[4.8, 1.2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cpu-bf16", action="store_true",
                        help="train under bfloat16 autocast (the cpu_bf16 parameter)")
    args = parser.parse_args()

    preset = config.presets()[args.preset]
    params = train.merge_params(smore.DEFAULTS, config.method_params({"preset": args.preset},
                                                                     "smore"), "smore")
    if args.cpu_bf16:
        params["cpu_bf16"] = True
    print(f"preset {args.preset}: EDSR {params['residual_blocks']} blocks x {params['features']} "
          f"features, {params['iterations']} iterations of {params['batch_size']} "
          f"{params['patch_size']}-pixel patches; device {train.device()}, {args.threads} threads"
          f"{', bfloat16 training' if params['cpu_bf16'] else ''}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fine, affine = phantom_t1(preset["phantom"]["voxel_mm"], work)
        head = fine > 0.05 * fine.max()
        print(f"volume {fine.shape} at {preset['phantom']['voxel_mm']:g} mm")
        print(f"{'thickness':>9} {'bspline s':>9} {'smore s':>8} {'ratio':>6} {'train s':>8} "
              f"{'patches/s':>9} {'pairs+infer s':>13} {'PSNR bspline':>12} {'PSNR smore':>10}")
        for mm in args.thickness:
            thick, thick_affine = simulate_thick_slices(fine, affine, mm, axis=THICK_SLICE_AXIS)
            start = time.perf_counter()
            bspline = resample_to_grid(thick, thick_affine, fine.shape, affine, order=3)
            bspline_s = time.perf_counter() - start
            stage_dir = work / f"smore-{mm:g}"
            start = time.perf_counter()
            pred, stages = smore.super_resolve(thick, thick_affine, SliceModel(mm, mm),
                                               THICK_SLICE_AXIS, fine.shape, affine, params,
                                               stage_dir, seed=0, threads=args.threads)
            total_s = time.perf_counter() - start
            train_s = sum(float(list(csv.DictReader(open(stage_dir / s / train.LOSS_CSV)))[-1]
                                ["elapsed_s"]) for s in stages)
            patches = params["iterations"] * params["batch_size"] * len(stages)
            print(f"{mm:>9g} {bspline_s:>9.2f} {total_s:>8.1f} {total_s / bspline_s:>6.0f} "
                  f"{train_s:>8.1f} {patches / train_s:>9.0f} {total_s - train_s:>13.1f} "
                  f"{psnr(bspline, fine, head):>12.2f} {psnr(pred, fine, head):>10.2f}")


if __name__ == "__main__":
    main()
