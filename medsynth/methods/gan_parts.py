"""What pix2pix (Isola et al., CVPR 2017) and CycleGAN (Zhu et al., ICCV 2017)
share: the 70x70 PatchGAN discriminator, their weight initialisation, the GAN
losses, the history pool of generated images, and the learning-rate schedule
(constant, then linear decay to zero); and the Wasserstein critic's gradient
penalty that RED-WGAN trains with.

Details follow the authors' reference implementation (pytorch-CycleGAN-and-
pix2pix), where the papers leave them open: N(0, 0.02) initialisation, a
discriminator objective halved "to slow down the rate at which D learns"
(Isola et al., section 3.3), and a decay of ``1 - t / (decay + 1)``.
"""

from __future__ import annotations

import torch
from torch import nn

NORMS = {"batch": "BATCH", "instance": "INSTANCE"}


class PatchGAN(nn.Module):
    """The PatchGAN discriminator: a map of real/fake logits, one per patch.

    MONAI's ``PatchDiscriminator`` is exactly the papers' network: a 4x4
    stride-2 convolution without normalisation, ``n_layers`` 4x4 convolutions
    with normalisation and LeakyReLU(0.2), doubling the width (stride 2 except
    the last, stride 1), and a 4x4 convolution to one channel. With 3 layers
    each output sees a 70x70 patch of the input (:func:`receptive_field`).
    """

    def __init__(self, in_channels: int, width: int = 64, n_layers: int = 3,
                 norm: str = "batch"):
        super().__init__()
        from monai.networks.nets import PatchDiscriminator  # ~3.5 s: only where D is built

        if norm not in NORMS:
            raise ValueError(f"norm must be one of {sorted(NORMS)}, got {norm!r}")
        self.net = PatchDiscriminator(spatial_dims=2, channels=width, in_channels=in_channels,
                                      out_channels=1, num_layers_d=n_layers, norm=NORMS[norm])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[-1]  # MONAI returns every layer's features; the last are the logits


def receptive_field(n_layers: int, kernel: int = 4) -> int:
    """Side of the input patch one PatchGAN output sees: 70 for three layers."""
    strides = [2] * n_layers + [1, 1]  # initial conv, n_layers - 1 strided, last two stride 1
    field = 1
    for stride in reversed(strides):
        field = field * stride + (kernel - stride)
    return field


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference code's "normal" initialisation: convolutions N(0, gain),
    normalisation scales N(1, gain), biases zero."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    return net


def gan_loss(logits: torch.Tensor, real: bool, mode: str) -> torch.Tensor:
    """The adversarial loss of a PatchGAN output against an all-real or all-fake label.

    ``vanilla``: binary cross-entropy on logits (pix2pix); ``lsgan``: squared
    error (Mao et al., ICCV 2017), which CycleGAN uses for stabler training.
    """
    label = torch.full_like(logits, 1.0 if real else 0.0)
    if mode == "vanilla":
        return nn.functional.binary_cross_entropy_with_logits(logits, label)
    if mode == "lsgan":
        return nn.functional.mse_loss(logits, label)
    raise ValueError(f"gan_mode must be 'vanilla' or 'lsgan', got {mode!r}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       mode: str) -> torch.Tensor:
    """Half the sum of the real and the fake term."""
    return 0.5 * (gan_loss(real_logits, True, mode) + gan_loss(fake_logits, False, mode))


def set_requires_grad(nets, flag: bool) -> None:
    """Freeze the discriminators while the generators step (saves their gradients)."""
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def linear_decay(optimizer: torch.optim.Optimizer, iterations: int,
                 decay_iterations: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Constant learning rate, then linear decay towards zero over the last
    `decay_iterations` (the papers' 100 + 100 epochs, counted in iterations)."""
    if not 0 <= decay_iterations <= iterations:
        raise ValueError(f"decay_iterations must lie in [0, iterations={iterations}], "
                         f"got {decay_iterations}")
    constant = iterations - decay_iterations
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: 1.0 - max(0, t - constant) / (decay_iterations + 1))


class ImagePool:
    """A history of generated images for the discriminator (Shrivastava et al.,
    CVPR 2017; CycleGAN section 4): until full, each new image is stored and
    passed on; then, with probability 1/2, a stored image is passed on and the
    new one takes its place, else the new one is passed on.

    Draws come from torch's global generator, which the training checkpoint
    saves, so a resumed run draws the same.
    """

    def __init__(self, size: int):
        if size < 0:
            raise ValueError(f"pool size must be non-negative, got {size}")
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(1).item() < 0.5:
                index = int(torch.randint(self.size, (1,)).item())
                out.append(self.images[index])
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state(self) -> list[torch.Tensor]:
        return [image.cpu() for image in self.images]

    def load(self, images: list[torch.Tensor], device: torch.device) -> None:
        self.images = [image.to(device) for image in images]


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     alpha: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al., NeurIPS 2017, eq. 3):
    E[(||grad_x D(x)||_2 - 1)^2] at x = alpha * real + (1 - alpha) * fake.

    `alpha` holds one weight per sample (shape (B,)); the norm is over all of
    a sample's voxels and channels. The graph is kept (``create_graph``) so
    that the penalty's own gradient reaches the critic's weights.
    """
    weight = alpha.view(-1, *([1] * (real.ndim - 1)))
    mixed = (weight * real.detach() + (1 - weight) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
