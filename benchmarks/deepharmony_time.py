"""DeepHarmony's training throughput and inference time per volume, next to
histogram matching's on the same volume.

Usage: python benchmarks/deepharmony_time.py [--results results/phantom]
       [--config config.yaml]
       [--preset quick] [--steps 20] [--threads 2]

Reads the harmonize task's training arrays of a finished run (site-A
contrasts and a site-B target on one grid: ``<results>/harmonize/AtoB-<contrast>/arrays``
for every contrast, which the default run or ``snakemake --cores all --until
extract_training_arrays`` writes) and stacks them as the workflow's one
DeepHarmony for every contrast sees them (``train_all_contrasts``). Times
``--steps`` training iterations with the preset's settings
(after two warm-up steps; one iteration steps every orientation's network on
its own batch, so patches/s counts all of them), the 2.5D inference over the
first validation (else training) volume, and histogram matching's landmark
fit and mapping of the same volume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import yaml
from timing import seconds_per_step, timed

from medsynth import config, train
from medsynth.case import TrainingData
from medsynth.methods import deepharmony, histogram_matching
from medsynth.tasks import all_contrasts_condition, contrast_conditions


def histogram_matching_fit_and_map(data: TrainingData, volume: np.ndarray) -> np.ndarray:
    """Histogram matching's work for one volume: the mean target landmarks of
    the training subjects, then the source's landmarks and the mapping."""
    marks = histogram_matching.DEFAULTS["percentiles"]
    reference = np.mean([histogram_matching.landmarks(np.asarray(t[0]), np.asarray(m[0]) > 0,
                                                      marks)
                         for t, m in zip(data.target, data.mask, strict=True)], axis=0)
    head = np.asarray(data.mask[0, 0]) > 0
    source_marks = histogram_matching.landmarks(volume[0], head, marks)
    return histogram_matching.piecewise_linear(volume[0], source_marks, reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/phantom", type=Path)
    parser.add_argument("--config", default="config.yaml", type=Path, help="sites of the run")
    parser.add_argument("--preset", default="quick", choices=("smoke", "quick", "paper"))
    parser.add_argument("--steps", type=int, default=20, help="timed training iterations")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    task_config = yaml.safe_load(args.config.read_text())["tasks"]["harmonize"]
    cond = all_contrasts_condition(task_config)
    condition = cond.name
    arrays = [args.results / "harmonize" / c.name / "arrays" for c in contrast_conditions(cond)]
    for folder in arrays:
        if not folder.is_dir():
            raise SystemExit(f"{folder}: no training arrays; run the workflow up to "
                             "extract_training_arrays first")
    data = TrainingData.all_contrasts(arrays, cond)
    params = train.merge_params(deepharmony.DEFAULTS,
                                config.method_params({"preset": args.preset}, "deepharmony"),
                                "deepharmony")
    volume = np.asarray(data.val_source[0] if data.val_source.ndim == 5 else data.source[0],
                        np.float32)
    print(f"{condition}: {data.source.shape[0]} training subjects, volume {volume.shape[1:]}, "
          f"inputs {list(cond.source_channels)}, outputs {list(cond.targets)}; preset {args.preset}: widths {params['widths']}"
          f" + {params['bottleneck']}, {params['patch_size']}^2 patches, batch "
          f"{params['batch_size']} x {len(params['orientations'])} orientations; device "
          f"{train.device()}, {args.threads} threads")

    rng = train.seed_everything(0)
    runtime = train.Runtime.create()
    model = deepharmony.DeepHarmonyModel(runtime, params, data)
    step_s = seconds_per_step(model, rng, args.steps)
    patches = params["batch_size"] * len(params["orientations"])

    _, infer_s = timed(deepharmony.harmonise, model.nets, volume, params["infer_batch_size"],
                       runtime.device)
    _, hm_s = timed(histogram_matching_fit_and_map, data, volume)

    print(f"deepharmony training: {step_s:.3f} s per iteration, {patches / step_s:.1f} "
          f"patches/s; {params['iterations']} iterations = {params['iterations'] * step_s:.0f} s "
          "per model")
    print(f"{'per volume':<34} {'s':>7} {'x histogram_matching':>21}")
    for name, seconds in [(f"deepharmony, {len(params['orientations'])} orientations + median",
                           infer_s), ("histogram_matching (fit + map)", hm_s)]:
        print(f"{name:<34} {seconds:>7.2f} {seconds / hm_s:>21.1f}")


if __name__ == "__main__":
    main()
