"""The `paper` preset, proven: every learned method at its paper settings on the
phantom's 1 mm grid, built, stepped and run on this machine, with a cost model.

Usage: python benchmarks/paper_preset.py [--methods unet ...] [--steps 1] [--threads 2]
       [--infer-planes 2] [--infer-cube 32] [--sustained-tflops 40]
       [--out benchmarks/paper_cost.json] [--measured rows.jsonl] [--one METHOD]

Per method (each in its own process, so that its peak memory is its own): the
networks at the method's DEFAULTS (the `paper` preset) on random arrays of the
phantom's 1 mm grid (197 x 233 x 189); `--steps` training steps, the first counted by
torch's FlopCounterMode (a multiply-add is 2 FLOPs), the time of the last one
reported (with one step, the first: it includes first-call allocations); one inference over a crop of the volume (`--infer-planes`
whole axial planes for the slice methods, all 189 for a full pass; a cube of
side `--infer-cube` for the 3D and patch methods), its FLOPs scaled to the full
volume by voxel count (approximate for tiled 3D methods, whose tile overlap
differs at the crop's borders). The diffusion and flow samplers run one sampling
step over the crop, scaled by their `sampling_steps` (each step is one pass over
every slice). Peak memory is the process's maximum resident set.

Cost model: GPU-hours = FLOPs per step × the preset's iterations (× stages for
the context-aware GAN) / the assumed sustained throughput, per training job,
plus FLOPs per volume for each test volume; summed over the jobs of the
default config.yaml's tasks at the `paper` preset's split. The throughput is an
assumption, not a measurement: 40 TFLOP/s sustained by default, about 13 % of
an A100's dense FP16 tensor-core peak of 312 TFLOP/s (NVIDIA A100 datasheet,
as tabulated at https://glennklockwood.com/garden/processors/A100); small-batch
2D/3D convolutions with GAN updates reach a fraction of peak. No GPU was used.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from medsynth import config, paper_size
from medsynth.tasks import condition_names, one_model_for_all_contrasts

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (197, 233, 189)  # the phantom's 1 mm grid (the ICBM 2009a template's)
# predict axial slice by slice
SLICE_METHODS = ("unet", "pix2pix", "cyclegan", "cond_diffusion", "cond_flow")


class _NoModules:
    """Stands in for FlopCounterMode's module tracker, whose backward hooks fail under
    the gradient penalty's autograd.grad (RED-WGAN); only the total is needed here."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def flops_of(fn, *args) -> tuple[float, float]:
    """(FLOPs, seconds) of one call."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _NoModules()
    with counter:
        start = time.perf_counter()
        fn(*args)
        seconds = time.perf_counter() - start
    return float(counter.get_total_flops()), seconds


def measure(method: str, steps: int, planes: int, cube: int) -> dict:
    """One method's numbers at paper size (run in a process of its own)."""
    params = paper_size.paper_params(method)
    rng = np.random.default_rng(0)
    probe = paper_size.build(method, params, SHAPE, rng)
    step_flops, step_s = flops_of(probe.model.train_step, probe.model.sample_batch(rng))
    for _ in range(steps - 1):  # further steps, timed without the counter
        start = time.perf_counter()
        probe.model.train_step(probe.model.sample_batch(rng))
        step_s = time.perf_counter() - start
    grid = (*SHAPE[:2], planes) if method in SLICE_METHODS else (cube,) * 3
    crop = rng.random((probe.in_channels, *grid), dtype=np.float32)
    crop_flops, infer_s = flops_of(probe.infer, crop)
    # a sampler's probe takes one of its sampling steps: scale by the steps it takes
    scale = np.prod(SHAPE) / np.prod(grid) * probe.passes
    iterations = params["iterations"] * params.get("n_stages", 1)
    return dict(method=method, parameters=probe.n_parameters(), step_s=step_s,
                infer_s_crop=infer_s * probe.passes, infer_crop=list(grid),
                step_gflop=step_flops / 1e9,
                volume_gflop=crop_flops * scale / 1e9, iterations=iterations,
                batch_size=params.get("batch_size", 1),
                peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def jobs_per_method(test_subjects: int) -> dict[str, tuple[int, int]]:
    """(training jobs, test volumes inferred) of each method in the default config.yaml
    at the paper preset: one training per task and condition it is configured for
    (SMORE: one per test volume and condition, training and inference together;
    DeepHarmony: one for the harmonize task, every contrast out)."""
    tasks = yaml.safe_load((ROOT / "config.yaml").read_text())["tasks"]
    counts: dict[str, list[int]] = {m: [0, 0] for m in paper_size.METHODS}
    for task, block in tasks.items():
        n_conditions = len([c for c in condition_names(task, block) if not c.startswith("sbd-")])
        for method in block["methods"]:
            if method in counts:
                per_condition = test_subjects if method == "smore" else 1
                # DeepHarmony: one model for every harmonize contrast
                shared = one_model_for_all_contrasts(task, method)
                counts[method][0] += 1 if shared else n_conditions * per_condition
                counts[method][1] += n_conditions * test_subjects
    return {m: (t, v) for m, (t, v) in counts.items()}


def cost_model(rows: list[dict], tflops: float) -> dict:
    test = config.presets()["paper"]["split"]["test"]
    jobs = jobs_per_method(test)
    per_method, total = {}, 0.0
    for row in rows:
        train_h = row["step_gflop"] * 1e9 * row["iterations"] / (tflops * 1e12) / 3600
        infer_h = row["volume_gflop"] * 1e9 / (tflops * 1e12) / 3600
        n_train, n_volumes = jobs[row["method"]]
        method_h = n_train * train_h + n_volumes * infer_h
        per_method[row["method"]] = dict(gpu_hours_per_training_job=train_h,
                                         gpu_seconds_per_volume=infer_h * 3600,
                                         training_jobs=n_train, test_volumes=n_volumes,
                                         gpu_hours=method_h)
        total += method_h
    return dict(sustained_tflops=tflops, test_subjects=test, methods=per_method,
                total_gpu_hours=total)


SAFETY = 2.0  # the profile asks for twice the modelled time and 1.5 x the measured memory


def profile_resources(rows: list[dict], cost: dict) -> dict:
    """The workflow profile's runtime (minutes) and mem_mb of the training rules: the
    longest modelled job × SAFETY, and the largest measured peak memory × 1.5."""
    def job_minutes(methods):
        hours = [cost["methods"][m]["gpu_hours_per_training_job"] for m in methods
                 if m in cost["methods"]]
        return int(math.ceil(max(hours) * 60 * SAFETY / 10) * 10) if hours else None

    def mem(methods):
        peaks = [r["peak_mb"] for r in rows if r["method"] in methods]
        return int(math.ceil(max(peaks) * 1.5 / 1000) * 1000) if peaks else None

    trained = [m for m in paper_size.METHODS if m != "smore"]
    return {"train": {"runtime": job_minutes(trained), "mem_mb": mem(trained)},
            "self_supervised": {"runtime": job_minutes(["smore"]), "mem_mb": mem(["smore"])}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(paper_size.METHODS),
                        choices=paper_size.METHODS)
    parser.add_argument("--steps", type=int, default=1, help="training steps (>= 1)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--infer-planes", type=int, default=2,
                        help="axial planes predicted (189: the full volume)")
    parser.add_argument("--infer-cube", type=int, default=32,
                        help="side of the cube the 3D and patch methods predict")
    parser.add_argument("--sustained-tflops", type=float, default=40.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "paper_cost.json")
    parser.add_argument("--measured", type=Path,
                        help="JSON lines of earlier --one runs: print and cost those instead")
    parser.add_argument("--one", help="measure this method only; print its JSON line")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.one:
        print(json.dumps(measure(args.one, args.steps, args.infer_planes, args.infer_cube)))
        return
    rows = ([json.loads(line) for line in args.measured.read_text().splitlines() if line.strip()]
            if args.measured else [])
    for method in [] if args.measured else args.methods:
        out = subprocess.run([sys.executable, __file__, "--one", method, "--steps",
                              str(args.steps), "--threads", str(args.threads), "--infer-planes",
                              str(args.infer_planes), "--infer-cube", str(args.infer_cube)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"measured {method}", file=sys.stderr, flush=True)
    print(f"paper preset, phantom 1 mm grid {SHAPE}, CPU ({args.threads} threads); inference on "
          "a crop (slice methods: whole axial planes; others: a cube), FLOPs scaled to the "
          "volume by voxel count")
    head = (f"{'method':<12} {'params':>11} {'batch':>5} {'step (s)':>9} {'peak (MB)':>10} "
            f"{'GFLOP/step':>11} {'GFLOP/volume':>13} {'iterations':>10}")
    print(head)
    for r in rows:
        print(f"{r['method']:<12} {r['parameters']:>11,} {r['batch_size']:>5} {r['step_s']:>9.2f} "
              f"{r['peak_mb']:>10,.0f} {r['step_gflop']:>11,.1f} {r['volume_gflop']:>13,.0f} "
              f"{r['iterations']:>10,}")
    cost = cost_model(rows, args.sustained_tflops)
    print(f"\ncost model at {args.sustained_tflops:g} TFLOP/s sustained (assumed), "
          f"{cost['test_subjects']} test subjects:")
    print(f"{'method':<12} {'GPU-h/job':>10} {'GPU-s/volume':>13} {'jobs':>5} {'volumes':>8} "
          f"{'GPU-h':>8}")
    for method, c in cost["methods"].items():
        print(f"{method:<12} {c['gpu_hours_per_training_job']:>10.2f} "
              f"{c['gpu_seconds_per_volume']:>13.2f} {c['training_jobs']:>5} "
              f"{c['test_volumes']:>8} {c['gpu_hours']:>8.1f}")
    print(f"whole paper run (trained and self-supervised methods): "
          f"{cost['total_gpu_hours']:.0f} GPU-hours")
    profile = profile_resources(rows, cost)
    print(f"workflow profile (profiles/default/config.yaml): {json.dumps(profile)}")
    args.out.write_text(json.dumps({"measured": rows, "cost": cost, "profile": profile},
                                   indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
