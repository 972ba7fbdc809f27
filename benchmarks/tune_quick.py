"""The tuning procedure of the `quick` preset's learned methods, on validation data.

Usage: python benchmarks/tune_quick.py RUN_DIR [--methods unet ...] [--lr-factors 0.5 1 2]
                                       [--precision fp32 bf16] [--cpu-seconds S] [--jobs 2]

RUN_DIR is a finished quick run's dataset folder (``results/phantom``): its
training arrays (training and validation subjects, never the test subjects)
are what every candidate trains and is scored on. One procedure for every
learned method alike:

1. precision: each method trains at its preset settings in float32 and under
   bfloat16 autocast for the same iterations; prints CPU-seconds and the final
   validation MAE of each; bfloat16 is kept where :func:`precision_choice` says;
2. learning rate: each method trains for the same CPU-seconds (``--cpu-seconds``,
   converted into iterations with the measured cost per iteration) at its
   preset learning rate times each ``--lr-factor``; prints the validation MAE
   of each. ``--choose`` then gives per method the factor with the lowest
   validation MAE relative to the best of each training, averaged over the
   method's trainings (:func:`choose`); a choice at an end of the grid is
   checked one factor further. That choice is what ``medsynth/presets.yaml``
   records.

Validation MAE is the training loop's own score (``val_mae``: inside the head,
on the target's scale, HU for CT), read from the model's loss.csv. Each
candidate runs in its own one-thread process, ``--jobs`` at a time, as the
workflow's training jobs do.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

# the model each learned method's sweep trains on: (task, condition) pairs
TRAININGS = {
    "unet": [("mr_to_ct", "default"), ("t1_to_t2", "default")],
    "pix2pix": [("mr_to_ct", "default"), ("t1_to_t2", "default")],
    "cyclegan": [("mr_to_ct", "default"), ("t1_to_t2", "default")],
    "context_gan": [("mr_to_ct", "default"), ("t1_to_t2", "default")],
    "red_wgan": [("denoise", "noise-1"), ("denoise", "noise-9")],
    "deepharmony": [("harmonize", "AtoB")],  # one model for every contrast
    "cond_diffusion": [("mr_to_ct", "default"), ("t1_to_t2", "default")],
    "cond_flow": [("mr_to_ct", "default"), ("t1_to_t2", "default")],
}
CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def train_once(run_dir: str, method: str, task: str, condition: str, params: dict,
               seed: int) -> dict:
    """Train one candidate in this (fresh) process; its CPU-seconds and validation MAE."""
    import torch

    from medsynth import steps

    torch.set_num_threads(1)
    cond, arrays = model_data(Path(run_dir), task, condition)
    with tempfile.TemporaryDirectory(prefix="medsynth-tune-") as tmp:
        start_cpu, start = time.process_time(), time.perf_counter()
        steps.train(method, cond, arrays, Path(tmp) / "model", params, seed=seed, threads=1)
        cpu_s, wall_s = time.process_time() - start_cpu, time.perf_counter() - start
        with open(Path(tmp) / "model" / "loss.csv") as handle:
            rows = list(csv.DictReader(handle))
    # a several-output model logs its mean as val_mae; a cascade logs each stage's
    val = [float(v) for r in rows for k, v in r.items()
           if v and (k == "val_mae" or k.startswith("val_mae_stage"))]
    return {"cpu_s": cpu_s, "wall_s": wall_s, "val_mae": val[-1] if val else float("nan"),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def model_data(run_dir: Path, task: str, condition: str):
    """A model condition and its training arrays folder(s), as the workflow's train rules
    give them: a condition's own, every noise level's (all-levels) or every contrast's
    (harmonize's all-contrasts model)."""
    from medsynth import tasks

    task_config = yaml.safe_load(CONFIG.read_text())["tasks"][task]
    names = tasks.condition_names(task, task_config)
    if condition == tasks.ALL_LEVELS:
        return (tasks.all_levels_condition(),
                [str(run_dir / task / c / "arrays") for c in names if not tasks.is_external(c)])
    if task == "harmonize" and condition == tasks.all_contrasts_name(task_config):
        cond = tasks.all_contrasts_condition(task_config)
        return cond, [str(run_dir / task / f"{condition}-{c}" / "arrays") for c in cond.targets]
    return tasks.parse_condition(task, condition, task_config), str(run_dir / task / condition
                                                                   / "arrays")


def precision_choice(fp32: dict, bf16: dict) -> dict:
    """bfloat16 where it is at least 1.2x faster per iteration and its validation MAE
    after the same iterations is within 10 % of float32's: the budget is CPU-seconds,
    so a fifth more iterations outweighs a tenth worse at equal iterations."""
    speedup = fp32["cpu_s"] / bf16["cpu_s"]
    wins = speedup >= 1.2 and bf16["val_mae"] <= 1.1 * fp32["val_mae"]
    chosen = bf16 if wins else fp32
    return {"cpu_s_per_iteration": chosen["cpu_s"] / chosen["params"]["iterations"],
            "bf16": wins, "speedup": speedup, "mae_ratio": bf16["val_mae"] / fp32["val_mae"]}


def candidates(methods, precisions, lr_factors, cpu_seconds, costs, crops=(None,),
               crop_share=1.0) -> list[dict]:
    """Stage 1 (costs is None): each precision at the preset's iterations; stage 2:
    each learning-rate factor for `cpu_seconds` at the measured cost per iteration,
    and for a method that can train on random crops (``crop_size``) each of `crops`
    (None: whole slices), at `crop_share` of a whole slice's cost per iteration."""
    from medsynth import config
    from medsynth import methods as registry

    quick = config.presets()["quick"]["methods"]
    runs = []
    for method in methods:
        base = dict(quick.get(method, {}))
        if costs is None:  # on the method's first training: the cost is the network's
            task, condition = TRAININGS[method][0]
            runs += [{"method": method, "task": task, "condition": condition, "label": precision,
                      "params": {**base, "cpu_bf16": precision == "bf16"}}
                     for precision in precisions]
            continue
        per_iteration = costs[method]
        for task, condition in TRAININGS[method]:
            for crop in crops if "crop_size" in registry.load(method).DEFAULTS else [None]:
                # a crop of a quarter of the slice costs about a quarter per iteration
                cost = per_iteration["cpu_s_per_iteration"] * (1 if crop is None else crop_share)
                iterations = max(int(cpu_seconds / cost), 10)
                for factor in lr_factors:
                    params = {**base, "cpu_bf16": per_iteration["bf16"],
                              **schedule(method, base, iterations),
                              "lr": base.get("lr", 1e-3) * factor}
                    label = f"lr x{factor:g}"
                    if crop is not None:
                        params["crop_size"], label = crop, f"{label} crop {crop}"
                    runs.append({"method": method, "task": task, "condition": condition,
                                 "label": label, "params": params})
    return runs


def schedule(method: str, base: dict, iterations: int) -> dict:
    """The schedule keys for `iterations`: validation and checkpoint at the end,
    pix2pix's and CycleGAN's linear decay over the second half, as the preset has."""
    keys = {"iterations": iterations, "val_every": iterations, "checkpoint_every": iterations,
            "log_every": max(iterations // 10, 1)}
    if "decay_iterations" in base:
        keys["decay_iterations"] = iterations // 2
    return keys


def choose(runs: list[dict]) -> dict[str, dict]:
    """Per method, each learning-rate candidate's validation MAE relative to the best of
    its training, averaged over the method's trainings, and the candidate with the
    lowest (whether it lies at an end of the grid: then extend the grid beyond it)."""
    import pandas as pd

    table = pd.DataFrame([{"method": r["method"], "training": f"{r['task']}/{r['condition']}",
                           "candidate": r["label"], "val_mae": r["val_mae"]} for r in runs])
    table["relative"] = table["val_mae"] / table.groupby(["method", "training"])["val_mae"] \
        .transform("min")
    chosen = {}
    for method, rows in table.groupby("method", sort=False):
        score = rows.groupby("candidate")["relative"].mean().sort_values()
        factors = sorted(float(c.split()[1][1:]) for c in score.index if len(c.split()) == 2)
        best = score.index[0]
        edge = len(best.split()) == 2 and float(best.split()[1][1:]) in (factors[0], factors[-1])
        chosen[method] = {"candidate": best, "at_grid_end": edge,
                          "relative_mae": score.round(3).to_dict()}
    return chosen


def run_all(run_dir: str, runs: list[dict], jobs: int, seed: int) -> list[dict]:
    ctx = __import__("multiprocessing").get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=ctx,
                                                max_tasks_per_child=1) as pool:
        futures = [pool.submit(train_once, run_dir, r["method"], r["task"], r["condition"],
                               r["params"], seed) for r in runs]
        for run, future in zip(runs, futures, strict=True):
            run.update(future.result())
            print(f"{run['method']:<12} {run['task']}/{run['condition']:<10} {run['label']:<8} "
                  f"iterations {run['params'].get('iterations', '-'):>5}  cpu {run['cpu_s']:7.1f} s"
                  f"  val_mae {run['val_mae']:.4g}", flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--methods", nargs="+", default=list(TRAININGS), choices=list(TRAININGS))
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"],
                        choices=["fp32", "bf16"])
    parser.add_argument("--lr-factors", nargs="+", type=float, default=[0.4, 1.0, 2.5])
    parser.add_argument("--cpu-seconds", type=float, default=0,
                        help="stage 2's budget per candidate (0: stage 1 only)")
    parser.add_argument("--costs", help="stage 1's JSON output, for stage 2")
    parser.add_argument("--crops", nargs="+", default=["none"],
                        help="crop sizes for methods with crop_size ('none': whole slices)")
    parser.add_argument("--crop-share", type=float, default=1.0,
                        help="cost of a crop iteration over a whole-slice one (measured)")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--choose", nargs="+", metavar="JSON",
                        help="only print the choice from earlier results (stage 2 files)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.choose:
        runs = [r for path in args.choose for r in json.loads(Path(path).read_text())]
        for method, choice in choose(runs).items():
            print(f"{method:<12} {choice}")
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    costs = None
    if args.cpu_seconds:
        stage1 = json.loads(Path(args.costs).read_text())
        costs = {}
        for method in {row["method"] for row in stage1}:
            fp32, bf16 = (next(r for r in stage1 if r["method"] == method and r["label"] == p)
                          for p in ("fp32", "bf16"))
            costs[method] = precision_choice(fp32, bf16)
    crops = [None if c == "none" else int(c) for c in args.crops]
    runs = run_all(args.run_dir, candidates(args.methods, args.precision, args.lr_factors,
                                            args.cpu_seconds, costs, crops, args.crop_share),
                   args.jobs, args.seed)
    if args.out:
        Path(args.out).write_text(json.dumps(runs, indent=1))
    print(f"\n{len(runs)} trainings; the procedure is in {Path(__file__).name}'s docstring",
          file=sys.stderr)


if __name__ == "__main__":
    main()
