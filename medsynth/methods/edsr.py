"""EDSR (Lim et al., "Enhanced Deep Residual Networks for Single Image
Super-Resolution", CVPR Workshops 2017), the super-resolution network SMORE
uses, for images already interpolated onto the fine grid.

EDSR as published: a 3x3 head convolution to ``features`` channels, residual
blocks of conv-ReLU-conv without batch normalisation whose output is scaled
by ``res_scale`` (0.1 in the large model, for stable training at 256
features), a 3x3 convolution closing the body with a long skip from the head,
then the upsampler and a 3x3 tail convolution. SMORE's input is already on
the fine grid (the slice spacing is rarely an integer multiple of the
in-plane pixel), so the upsampler is left out and the output is added to the
input: the network predicts what interpolation missed (global residual
learning, as in VDSR, Kim et al., CVPR 2016).
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, features: int, res_scale: float):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(features, features, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(features, features, 3, padding=1))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class EDSR(nn.Module):
    """(B, 1, x, y) -> (B, 1, x, y): the interpolated image plus a learnt correction."""

    def __init__(self, residual_blocks: int, features: int, res_scale: float):
        super().__init__()
        self.head = nn.Conv2d(1, features, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlock(features, res_scale)
                                    for _ in range(residual_blocks)),
                                  nn.Conv2d(features, features, 3, padding=1))
        self.tail = nn.Conv2d(features, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        return x + self.tail(features + self.body(features))
