"""RED-WGAN's training throughput and inference time per volume, next to the
BM4D and non-local-means baselines' time per volume on the same machine.

Usage: python benchmarks/red_wgan_time.py [--preset quick] [--level 5] [--steps 40] [--threads 2]

Writes one phantom subject at the preset's voxel size, normalises its T1w as
preprocessing does (99th percentile of the head = 1) and adds Rician noise at
the level as the ``denoise`` task does. Times ``--steps`` training iterations
of the preset's RED-WGAN (after two warm-up steps; patches per second counts
generator patches, each with the preset's critic steps), the generator over
the whole noisy volume, and the preset's BM4D and NLM on the same volume
(noise level estimated, as in the benchmark).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from timing import seconds_per_step, timed

from medsynth import config, io, train
from medsynth.case import TrainingData
from medsynth.data.phantom import make_cohort
from medsynth.methods import bm4d_baseline, nlm, red_wgan
from medsynth.methods.noise_estimate import estimate_rician_sigma
from medsynth.preprocess.degrade import add_rician_noise, noise_reference
from medsynth.tasks import parse_condition


def phantom_t1(voxel_mm: float, work: Path) -> tuple[np.ndarray, np.ndarray]:
    """A phantom T1w scaled so the head's 99th percentile is 1, and its head mask."""
    make_cohort(1, 42, voxel_mm, work)
    t1, _ = io.load_array(next(work.rglob("*_acq-A_T1w.nii.gz")))
    head = t1 > 0.05 * t1.max()
    return (t1 / np.percentile(t1[head], 99)).astype(np.float32), head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=("smoke", "quick", "paper"))
    parser.add_argument("--level", type=float, default=5.0, help="Rician noise, percent")
    parser.add_argument("--steps", type=int, default=40, help="timed training iterations")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    run = {"preset": args.preset}
    params = train.merge_params(red_wgan.DEFAULTS, config.method_params(run, "red_wgan"),
                                "red_wgan")
    voxel_mm = config.presets()[args.preset]["phantom"]["voxel_mm"]
    with tempfile.TemporaryDirectory() as tmp:
        clean, head = phantom_t1(voxel_mm, Path(tmp))
    noisy = add_rician_noise(clean, args.level, noise_reference(clean, head),
                             np.random.default_rng(0))
    print(f"preset {args.preset}: volume {clean.shape} at {voxel_mm:g} mm, Rician {args.level:g} %; "
          f"RED-WGAN widths {params['widths']}, critic {params['critic_widths']}, "
          f"{params['critic_iterations']} critic step(s), batch {params['batch_size']} of "
          f"{params['patch_size']}; device {train.device()}, {args.threads} threads")

    empty = np.zeros((0, 1, *clean.shape), np.float32)
    cond = parse_condition("denoise", f"noise-{args.level:g}", {"noise_levels": [args.level]})
    # one training subject with one channel; no validation subjects
    data = TrainingData(cond, noisy[None, None], clean[None, None],
                        head[None, None].astype(np.uint8), empty, empty, empty)
    rng = train.seed_everything(0)
    runtime = train.Runtime.create()
    model = red_wgan.RedWgan(runtime, params, data)
    step_s = seconds_per_step(model, rng, args.steps)
    _, infer_s = timed(red_wgan.denoise, model.generator, noisy[None], params, runtime.device)

    sigma, estimate_s = timed(estimate_rician_sigma, noisy, head)
    bm4d_params = {**bm4d_baseline.DEFAULTS, **config.method_params(run, "bm4d")}
    nlm_params = {**nlm.DEFAULTS, **config.method_params(run, "nlm")}
    _, bm4d_s = timed(bm4d_baseline.denoise, noisy, sigma, bm4d_params)
    _, nlm_s = timed(nlm.denoise, noisy, sigma, nlm_params)

    print(f"training: {step_s:.3f} s per iteration, "
          f"{params['batch_size'] / step_s:.1f} patches/s; "
          f"{params['iterations']} iterations = {params['iterations'] * step_s:.0f} s per model")
    print(f"{'per volume':<28} {'s':>7} {'x red_wgan':>10}")
    for name, seconds in [("red_wgan inference", infer_s),
                          (f"bm4d ({bm4d_params['stage']}, step {bm4d_params['step_ht']})",
                           bm4d_s + estimate_s),
                          (f"nlm (radius {nlm_params['patch_distance']})", nlm_s + estimate_s)]:
        print(f"{name:<28} {seconds:>7.2f} {seconds / infer_s:>10.1f}")


if __name__ == "__main__":
    main()
