"""Training throughput and inference time of the 2D image-to-image networks.

Usage: python benchmarks/gan_throughput.py [--preset quick] [--iterations 30] [--threads 2]

For pix2pix, CycleGAN and the unet baseline, at a preset's settings: trains
``--iterations`` steps on random slices of the preset's size (after a few
warm-up steps) and reports training images per second (source slices per
second: one per batch element and step), then times the prediction of one
volume of the preset's phantom shape. Runs on CUDA when present (mixed
precision, channels-last, as in training), else on the CPU with the given
threads. Random data: speed does not depend on content.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from medsynth import config, train
from medsynth.case import TrainingData
from medsynth.infer import predict_slices
from medsynth.methods import cyclegan, pix2pix, unet
from medsynth.methods.slices import network_source
from medsynth.tasks import parse_condition

# head shape of the phantom cohort (ICBM 2009a bounding box) per voxel size
VOLUME_SHAPES = {1.0: (197, 233, 189), 2.0: (99, 117, 95), 4.0: (50, 59, 48)}
WARMUP = 3


def training_data(shape, n_subjects=2) -> TrainingData:
    rng = np.random.default_rng(0)
    source = rng.random((n_subjects, 1, *shape), dtype=np.float32)
    mask = np.ones_like(source, dtype=np.uint8)
    empty = np.zeros((0, 1, *shape), np.float32)
    condition = parse_condition("mr_to_ct", "default", {})
    return TrainingData(condition, source, 3000 * source - 1000, mask, empty, empty,
                        empty.astype(np.uint8))


def build(method: str, runtime, params, data):
    if method == "pix2pix":
        return pix2pix.Pix2Pix(runtime, params, data)
    if method == "cyclegan":
        return cyclegan.CycleGAN(runtime, params, data, seed=0)
    return unet.SliceUNet(runtime, params, data)


def time_training(model, iterations: int) -> float:
    rng = np.random.default_rng(0)
    for step in range(WARMUP + iterations):
        if step == WARMUP:
            if model.runtime.cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
        model.train_step(model.sample_batch(rng))
        model.runtime.scaler.update()
    if model.runtime.cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def time_inference(method: str, model, params, volume: np.ndarray) -> float:
    """Seconds to predict one volume, slice by slice, as the infer rule does."""
    source = network_source(volume[None], ["T1w"])
    device = model.runtime.device
    start = time.perf_counter()
    if method == "pix2pix":
        pix2pix.generate(model.generator, source, params, device)
    elif method == "cyclegan":
        predict_slices(model.g, source, params["infer_batch_size"], device, cyclegan.PAD_MULTIPLE)
    else:
        predict_slices(model.net, source, params["infer_batch_size"], device, model.net.multiple)
    if model.runtime.cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=sorted(config.presets()))
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    preset = config.presets()[args.preset]
    shape = VOLUME_SHAPES[preset["phantom"]["voxel_mm"]]
    data = training_data(shape)
    runtime = train.Runtime.create()
    print(f"device: {runtime.device}; torch {torch.__version__}; threads {args.threads}; "
          f"preset {args.preset}; volume {shape}")
    print(f"{'method':<10} {'train img/s':>12} {'s/iteration':>12} {'infer s/volume':>15}  settings")
    for method, module in (("pix2pix", pix2pix), ("cyclegan", cyclegan), ("unet", unet)):
        params = {**module.DEFAULTS, **preset["methods"].get(method, {})}
        torch.manual_seed(0)
        model = build(method, runtime, params, data)
        seconds = time_training(model, args.iterations)
        images = args.iterations * params["batch_size"]
        infer_s = time_inference(method, model, params, data.source[0, 0])
        settings = {k: params[k] for k in ("batch_size", "generator_width", "n_downs",
                                           "residual_blocks", "widths") if k in params}
        print(f"{method:<10} {images / seconds:>12.1f} {seconds / args.iterations:>12.3f} "
              f"{infer_s:>15.2f}  {settings}")


if __name__ == "__main__":
    main()
