"""The ``unet`` baseline: a supervised 2D U-Net on axial slices, after Han
(Med Phys 44(4):1408-1419, 2017, "MR-based synthetic CT generation using a
deep convolutional neural network method").

Network (:class:`VGGUNet`). Han's DCNN has 27 convolutional layers
interleaved with pooling and unpooling layers and 35 million parameters (the
paper's abstract); its encoder is VGG16's convolutional part (Simonyan &
Zisserman, ICLR 2015: five blocks of 2, 2, 3, 3, 3 3x3 convolutions with 64,
128, 256, 512, 512 channels), and a mirrored decoder with U-Net shortcuts
(Ronneberger et al., MICCAI 2015) maps back to full resolution. We build
exactly that count: 13 encoder convolutions with a 2x2 max pooling between
blocks (four poolings), 13 decoder convolutions (the mirror of each block,
the deepest at the bottom resolution, the others after a 2x nearest-
neighbour unpooling and concatenation with the encoder block of that scale),
and a final 1x1 convolution: 27 layers, 34.9 million parameters at the
paper's widths. Each 3x3 convolution is followed by batch normalisation and
ReLU; the output is linear (a regression). A parameter-free unpooling is our
reading of "unpooling"; max-unpooling with pooling indices cannot feed a
decoder whose widths differ from the encoder's at the same scale.

Training. Whole axial slices (skipping those with less than
``min_head_fraction`` of head voxels), source and target scaled to [-1, 1]
(``medsynth.methods.intensity``), and Han's squared-error (L2) loss between
predicted and true target, computed on the slice's own area (the mirror
padding to a multiple of 2^poolings is cropped off first). Deviations from the
paper, all forced or documented: Han initialised the network from a
pretrained model (transfer learning); no pretrained weights can be fetched
offline, so we start from PyTorch's default (Kaiming-uniform)
initialisation. The optimiser and schedule are ours, not the paper's: Adam
(Kingma & Ba, ICLR 2015) with its default betas, constant learning rate.
``loss: l1`` trains with the absolute error instead, ``flip_lr`` adds random
left-right flips.

Validation: after training (and every ``val_every`` iterations) the mean
absolute error inside the head mask over the validation subjects, on the
target's own scale (HU for CT), is logged as ``val_mae``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from medsynth import train
from medsynth.case import Case, TrainingData
from medsynth.infer import crop_slices, pad_slices, predict_slices
from medsynth.methods.intensity import from_network
from medsynth.methods.slices import (
    Validation,
    load_network,
    model_record,
    network_source,
    run_slice_training,
    trained_record,
    training_slices,
)

DEFAULTS = {
    "widths": [64, 128, 256, 512, 512],  # VGG16's five blocks (see module docstring)
    "convs_per_block": [2, 2, 3, 3, 3],
    "loss": "l2",  # Han 2017
    "lr": 1e-4,  # ours (see module docstring)
    "batch_size": 8,  # ours
    "iterations": 50000,  # ours: 4 x 10^5 slices, ~200 passes over 12 subjects at 1 mm
    "min_head_fraction": 0.05,  # slices with less head than this are not sampled
    "flip_lr": False,  # no augmentation: the plain method
    "cpu_bf16": False,  # bfloat16 autocast of the training steps on a CPU (train.Runtime)
    "log_every": 50,
    "checkpoint_every": 1000,
    "val_every": 2500,
    "infer_batch_size": 16,
}
LOSSES = {"l1": nn.functional.l1_loss, "l2": nn.functional.mse_loss}


class VGGUNet(nn.Module):
    """A U-Net whose encoder is VGG16's convolutional part (see module docstring)."""

    def __init__(self, in_channels: int, out_channels: int, widths, convs_per_block):
        super().__init__()
        if len(widths) != len(convs_per_block) or len(widths) < 1 or min(convs_per_block) < 1:
            raise ValueError(f"widths {widths} and convs_per_block {convs_per_block} must be "
                             "equally long, non-empty, with at least one conv per block")
        self.encoder = nn.ModuleList()
        channels = in_channels
        for width, n in zip(widths, convs_per_block, strict=True):
            self.encoder.append(_block(channels, width, n))
            channels = width
        self.bottom = _block(channels, channels, convs_per_block[-1])
        self.decoder = nn.ModuleList()
        for level in reversed(range(len(widths) - 1)):
            self.decoder.append(_block(channels + widths[level], widths[level],
                                       convs_per_block[level]))
            channels = widths[level]
        self.head = nn.Conv2d(channels, out_channels, kernel_size=1)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (2 ** poolings)."""
        return 2 ** (len(self.encoder) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.encoder):
            if i:
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
            x = block(x)
        x = self.bottom(x)
        for block in self.decoder:
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            x = block(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)


def _block(in_channels: int, out_channels: int, n: int) -> nn.Sequential:
    layers = []
    for i in range(n):
        layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1),
                   nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class SliceUNet(train.TrainableModel):
    """Han's U-Net trained on random whole axial slices."""

    def __init__(self, runtime: train.Runtime, params: dict, data: TrainingData):
        super().__init__(runtime)
        self.params = params
        slices = training_slices(data, params["min_head_fraction"])
        self.source, self.target = slices.source, slices.target
        self.net = runtime.module(VGGUNet(data.in_channels, 1, params["widths"],
                                          params["convs_per_block"]))
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=params["lr"])
        self.loss = LOSSES[params["loss"]]
        self.validation = Validation.of(data)

    def modules(self) -> dict[str, nn.Module]:
        return {"unet": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer}

    def sample_batch(self, rng: np.random.Generator):
        index = rng.integers(len(self.source), size=self.params["batch_size"])
        source, target = self.source[index], self.target[index]
        if self.params["flip_lr"]:  # x is the left-right axis (RAS)
            flip = rng.random(len(index)) < 0.5
            source[flip] = source[flip, :, ::-1]
            target[flip] = target[flip, :, ::-1]
        return pad_slices(source, self.net.multiple), target

    def train_step(self, batch) -> dict[str, float]:
        source, target = (self.runtime.tensor(a) for a in batch)
        with self.runtime.autocast():
            pred = crop_slices(self.net(source), target.shape[-2:], self.net.multiple)
        loss = self.loss(pred.float(), target)
        self.runtime.optimize(self.optimizer, loss)
        return {self.params["loss"]: float(loss.detach())}

    def validate(self) -> dict[str, float]:
        return self.validation.score(lambda source: predict_slices(
            self.net, source, self.params["infer_batch_size"], self.runtime.device,
            self.net.multiple))


def fit(data: TrainingData, params: dict, model_dir: Path, seed: int, threads: int,
        state_dir: Path | None = None) -> None:
    """Train the U-Net on the training subjects' axial slices."""
    params = train.merge_params(DEFAULTS, params, "unet")
    if params["loss"] not in LOSSES:
        raise ValueError(f"unet: loss must be one of {', '.join(LOSSES)}, got {params['loss']!r}")
    run_slice_training(lambda runtime: SliceUNet(runtime, params, data), "unet", data, params,
                       model_record(params, data), model_dir, seed, threads, state_dir)


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Synthesise the target slice by slice with the trained U-Net."""
    trained = trained_record(case, model_dir, "unet")
    params = train.merge_params(DEFAULTS, params, "unet")
    contrasts = list(case.condition.source_channels)
    runtime = train.Runtime.create()
    net = load_network(VGGUNet(trained["in_channels"], 1, trained["widths"],
                               trained["convs_per_block"]), model_dir, "unet", runtime)
    pred = predict_slices(net, network_source(case.source, contrasts),
                          params["infer_batch_size"], runtime.device, net.multiple)
    return from_network(pred, case.condition.target)
