"""What a sampler's inference costs: seconds per volume against the number of
sampling steps, for ``cond_diffusion`` and ``cond_flow`` at a preset's network.

Usage: python benchmarks/sampling_cost.py [RUN_DIR] [--preset quick] [--task t1_to_t2]
                                          [--steps 1 2 4 8 16] [--threads 1]

Each method samples one whole volume per step count on `--threads` threads (one,
as the workflow's infer jobs run): the validation subject of RUN_DIR's task (a
finished run's dataset folder, ``results/phantom``), or without RUN_DIR a random
volume of the phantom's 2 mm grid. Where RUN_DIR holds the method's trained model
(``<task>/default/<method>/model``) the network is that model and the validation
MAE inside the head (the target's scale, HU for CT) is printed beside the time:
what more steps buy. Without one, an untrained network of the preset's size times
the same passes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from medsynth import config, metrics, train
from medsynth.case import TrainingData
from medsynth.methods import cond_diffusion, cond_flow, generative_slices
from medsynth.methods.intensity import from_network
from medsynth.methods.slices import load_network, network_source
from medsynth.tasks import parse_condition

MODULES = {"cond_diffusion": cond_diffusion, "cond_flow": cond_flow}
PHANTOM_2MM = (99, 117, 95)


def network_and_params(method: str, preset: str, model_dir: Path, source_channels: int):
    """The trained network and its params where `model_dir` has one, else an untrained
    network at the preset's settings (params, trained?)."""
    module = MODULES[method]
    if (model_dir / train.PARAMS).exists():
        params = {**module.DEFAULTS, **train.load_params(model_dir)}
        net = load_network(generative_slices.network(params, params["in_channels"]), model_dir,
                           "unet", train.Runtime.create())
        return net, params, True
    params = {**module.DEFAULTS, **config.presets()[preset]["methods"].get(method, {})}
    return generative_slices.network(params, source_channels), params, False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--task", default="t1_to_t2", choices=["t1_to_t2", "mr_to_ct"])
    parser.add_argument("--steps", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cond = parse_condition(args.task, "default", {})
    if args.run_dir:
        data = TrainingData.load(args.run_dir / args.task / "default" / "arrays", cond)
        source = network_source(np.asarray(data.val_source[0]), cond.source_channels)
        target = np.asarray(data.val_target[0, 0])
        mask = np.asarray(data.val_mask[0, 0], bool)
    else:
        source = np.random.default_rng(0).uniform(-1, 1, (1, *PHANTOM_2MM)).astype(np.float32)
        target = mask = None
    print(f"{args.task}, volume {source.shape[1:]}, {args.threads} thread(s), CPU")
    print(f"{'method':<15} {'network':<10} {'steps':>5} {'s/volume':>9} {'s/step':>7} "
          f"{'val MAE':>9}")
    for method, module in MODULES.items():
        model_dir = (args.run_dir / args.task / "default" / method / "model"
                     if args.run_dir else Path("/nonexistent"))
        net, params, trained = network_and_params(method, args.preset, model_dir,
                                                  source.shape[0])
        process = module.PROCESS(params, cond.target)
        for steps in args.steps:
            start = time.perf_counter()
            sample = generative_slices.sample_volume(
                net, process, source, np.random.default_rng(0),
                {**params, "sampling_steps": steps}, torch.device("cpu"))
            seconds = time.perf_counter() - start
            mae = (metrics.mae(from_network(sample, cond.target), target, mask)
                   if trained and target is not None else float("nan"))
            print(f"{method:<15} {'trained' if trained else 'untrained':<10} {steps:>5} "
                  f"{seconds:>9.1f} {seconds / steps:>7.2f} {mae:>9.4g}", flush=True)


if __name__ == "__main__":
    main()
