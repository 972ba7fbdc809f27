"""The perceptual loss of RED-WGAN: squared distance between VGG-19 features
of the denoised and the clean image (Johnson et al., ECCV 2016; Ran et al.,
Med Image Anal 55, 2019, section 2.3).

The features are those of VGG-19's whole convolutional part (Simonyan &
Zisserman, ICLR 2015: sixteen 3x3 convolutions with ReLU in five blocks, each
block ending in 2x2 max pooling), as in the authors' released code, which
takes torchvision's ``vgg19(pretrained=True).features``. A 3D patch goes
through it one axial plane at a time, the grey plane repeated into the three
colour channels and normalised with ImageNet's channel means and standard
deviations (the weights were trained on such input, intensities in [0, 1];
our MR intensities are about [0, 1.2] after normalisation).

ImageNet weights cannot be downloaded here, and a VGG with random weights
would not measure perceptual similarity, so the weights come from a local
file named in the config (``perceptual_weights``): torchvision's
``vgg19-dcbb9e9d.pth`` as distributed, or any state dict of the same
``features`` layers. Without such a file the perceptual term is left out and
the generator trains on MSE + adversarial loss (the documented fallback);
:func:`describe` records which of the two ran in the model's params.json.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from medsynth import io

# channels of each 3x3 convolution, "M" for 2x2 max pooling: VGG-19 ("E" in the paper)
VGG19_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FALLBACK = "none: no perceptual_weights given, generator loss is MSE + adversarial"


def vgg19_features() -> nn.Sequential:
    """VGG-19's convolutional part, layer for layer as torchvision numbers it,
    so that torchvision's ``features.<i>.weight`` keys load into it."""
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    return nn.Sequential(*layers)


def load_vgg19_features(path: str | Path) -> nn.Sequential:
    """VGG-19 features with the weights of `path` (weights only, never code)."""
    path = Path(path)
    if not path.is_file():
        raise io.InputError(path, "perceptual_weights: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated or not a torch file: name it
        raise io.InputError(path, f"not a readable torch weights file ({err})") from err
    if not isinstance(state, dict):
        raise io.InputError(path, "expected a state dict of VGG-19 weights")
    if any(key.startswith("features.") for key in state):  # a whole torchvision VGG-19
        state = {k.removeprefix("features."): v for k, v in state.items()
                 if k.startswith("features.")}
    features = vgg19_features()
    try:
        features.load_state_dict(state)
    except RuntimeError as err:
        raise io.InputError(path, f"not VGG-19 feature weights ({str(err).splitlines()[0]})") from err
    return features


class PerceptualLoss(nn.Module):
    """Mean squared difference of frozen VGG-19 features, plane by axial plane."""

    def __init__(self, features: nn.Sequential):
        super().__init__()
        self.features = features.eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.features.eval()  # a fixed feature extractor: never in training mode
        return self

    def planes(self, volume: torch.Tensor) -> torch.Tensor:
        """(B, 1, x, y, z) -> (B*z, 3, x, y), ImageNet-normalised."""
        b, c, x, y, z = volume.shape
        if c != 1:
            raise ValueError(f"perceptual loss takes one-channel volumes, got {c} channels")
        planes = volume.permute(0, 4, 1, 2, 3).reshape(b * z, 1, x, y)
        return (planes.expand(-1, 3, -1, -1) - self.mean) / self.std

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.features(self.planes(real))
        return nn.functional.mse_loss(self.features(self.planes(fake)), target)


def describe(path: str | Path | None) -> dict:
    """What params.json records of the perceptual term that ran."""
    if path is None:
        return {"perceptual_loss": FALLBACK}
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"perceptual_loss": "vgg19", "perceptual_weights_sha256": digest}
