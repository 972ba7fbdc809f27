"""The context-aware GAN's training throughput and inference time per volume,
next to pix2pix's on the same machine and volume.

Usage: python benchmarks/context_gan_time.py [--preset quick] [--task mr_to_ct] [--steps 30]
       [--threads 2]

Writes one phantom subject at the preset's voxel size (T1w scaled so its
head's 99th percentile is 1, as preprocessing does; CT in HU). Times
``--steps`` training iterations of one stage with the preset's settings
(after two warm-up steps) and reports patches/s (generator patches, each with
one discriminator step), the cost of the preset's cascade, and the tiled
inference of the whole cascade over the volume, against pix2pix's training
step and slice-wise inference with its preset.
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
from medsynth.methods import context_gan, pix2pix
from medsynth.methods.slices import network_source
from medsynth.tasks import TASKS, parse_condition


def phantom_pair(voxel_mm: float, target: str, work: Path):
    """A phantom T1w (head 99th percentile = 1), its `target` image and head mask."""
    make_cohort(1, 42, voxel_mm, work)
    t1, _ = io.load_array(next(work.rglob("*_acq-A_T1w.nii.gz")))
    head = t1 > 0.05 * t1.max()
    name = "*_CT.nii.gz" if target == "CT" else f"*_acq-A_{target}.nii.gz"
    tgt, _ = io.load_array(next(work.rglob(name)))
    if target != "CT":
        tgt = tgt / np.percentile(tgt[head], 99)
    return ((t1 / np.percentile(t1[head], 99)).astype(np.float32), tgt.astype(np.float32), head)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=("smoke", "quick", "paper"))
    parser.add_argument("--task", default="mr_to_ct", choices=("mr_to_ct", "t1_to_t2"))
    parser.add_argument("--steps", type=int, default=30, help="timed training iterations")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    run = {"preset": args.preset}
    params = train.merge_params(context_gan.DEFAULTS, config.method_params(run, "context_gan"),
                                "context_gan")
    p2p = train.merge_params(pix2pix.DEFAULTS, config.method_params(run, "pix2pix"), "pix2pix")
    voxel_mm = config.presets()[args.preset]["phantom"]["voxel_mm"]
    with tempfile.TemporaryDirectory() as tmp:
        t1, target, head = phantom_pair(voxel_mm, TASKS[args.task].target, Path(tmp))
    cond = parse_condition(args.task, "default", {})
    empty = np.zeros((0, 1, *t1.shape), np.float32)
    data = TrainingData(cond, t1[None, None], target[None, None],
                        head[None, None].astype(np.uint8), empty, empty, empty)
    margin = context_gan.source_margin(params["kernels"])
    print(f"preset {args.preset}, {args.task}: volume {t1.shape} at {voxel_mm:g} mm; "
          f"context_gan widths {params['widths']}, kernels {params['kernels']}, "
          f"{params['patch_size']} target patches (+{margin} each side), batch "
          f"{params['batch_size']}, {params['n_stages']} stages; device {train.device()}, "
          f"{args.threads} threads")

    rng = train.seed_everything(0)
    runtime = train.Runtime.create()
    source, tgt, mask = context_gan._network_arrays(data)
    stage = context_gan.ContextGanStage(runtime, params, source, tgt, mask, lambda g: {})
    step_s = seconds_per_step(stage, rng, args.steps)
    p2p_model = pix2pix.Pix2Pix(runtime, p2p, data)
    p2p_step_s = seconds_per_step(p2p_model, rng, args.steps)

    generators = [context_gan.ContextFCN(1 + (k > 0), params["widths"], params["kernels"])
                  for k in range(params["n_stages"])]
    network_t1 = network_source(t1[None], ("T1w",))
    _, infer_s = timed(context_gan.synthesise, generators, network_t1, params, runtime.device)
    _, p2p_infer_s = timed(pix2pix.generate, p2p_model.generator, network_t1, p2p, runtime.device)

    cascade_s = params["n_stages"] * params["iterations"] * step_s
    print(f"context_gan training: {step_s:.3f} s per iteration, "
          f"{params['batch_size'] / step_s:.1f} patches/s; {params['n_stages']} x "
          f"{params['iterations']} iterations = {cascade_s:.0f} s per cascade "
          f"(+ one tiled pass over each training subject between stages)")
    print(f"pix2pix training: {p2p_step_s:.3f} s per iteration, "
          f"{p2p['batch_size'] / p2p_step_s:.1f} slices/s; {p2p['iterations']} iterations = "
          f"{p2p['iterations'] * p2p_step_s:.0f} s")
    print(f"{'per volume':<34} {'s':>7} {'x pix2pix':>10}")
    for name, seconds in [(f"context_gan, {params['n_stages']} stages, tile "
                           f"{params['infer_tile']} step {params['infer_step']}", infer_s),
                          ("pix2pix, slice by slice", p2p_infer_s)]:
        print(f"{name:<34} {seconds:>7.2f} {seconds / p2p_infer_s:>10.1f}")


if __name__ == "__main__":
    main()
