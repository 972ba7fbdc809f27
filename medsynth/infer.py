"""Inference on whole volumes: a 2D network over the axial slices of a volume
(:func:`predict_slices`), a fully convolutional 3D network over the volume
in slabs (:func:`predict_volume`), or a 3D network that maps a patch to its
smaller centre over overlapping tiles (:func:`predict_tiles`), the result
reassembled on the volume's own grid.

MONAI's sliding-window inferer assumes an output window as large as its
input window (or a fixed zoom of it); a network that returns only the centre
of its input does not fit it, hence :func:`predict_tiles`.

A network with ``d`` poolings needs sides divisible by ``2**d``; volumes are
not (a 2 mm head is 99 x 117 voxels in-plane). Each slice is therefore padded
to the next multiple, half before and half after, and the output is cropped
back, so the prediction lies voxel for voxel on the input grid.

Padding mirrors the image at its border (``reflect``, NumPy's mode, which
also handles pads wider than the image by reflecting again). Zero padding
would put a value mid-way between air and tissue (0 in the network's [-1, 1]
range, see ``medsynth.methods.intensity``) next to the air at the border, an
edge the network never saw in training; a mirror continues the image as it
is. Training pads its slices the same way (:func:`pad_slices`).

Inside :func:`progress` every one of these loops shows a progress bar: a
one-scan command on a long volume says how far it is; the workflow's jobs
and the validations inside training stay quiet.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from medsynth.train import autocast

_PROGRESS: contextvars.ContextVar[str | None] = contextvars.ContextVar("progress", default=None)


@contextlib.contextmanager
def progress(description: str):
    """Show a progress bar (stderr) over the batches of every prediction inside."""
    token = _PROGRESS.set(description)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def _batches(starts: range):
    description = _PROGRESS.get()
    if description is None:
        return starts
    return tqdm(starts, desc=description, unit="batch", file=sys.stderr, leave=False)


def padding(size: int, multiple: int) -> tuple[int, int]:
    """(before, after) padding that brings `size` to the next multiple of `multiple`."""
    total = -size % multiple
    return total // 2, total - total // 2


def pad_slices(batch: np.ndarray, multiple: int) -> np.ndarray:
    """Mirror-pad the last two axes of `batch` (..., x, y) to multiples of `multiple`."""
    pads = [(0, 0)] * (batch.ndim - 2) + [padding(n, multiple) for n in batch.shape[-2:]]
    return np.pad(batch, pads, mode="reflect")


def crop_slices(batch, shape: tuple[int, int], multiple: int):
    """Undo :func:`pad_slices` on the last two axes (array or tensor)."""
    (x0, _), (y0, _) = padding(shape[0], multiple), padding(shape[1], multiple)
    return batch[..., x0:x0 + shape[0], y0:y0 + shape[1]]


def predict_slices(net: nn.Module, source: np.ndarray, batch_size: int, device: torch.device,
                   pad_multiple: int, train_mode: bool = False,
                   channels: list[int] | None = None) -> np.ndarray:
    """Apply a 2D network, (B, C, x, y) -> (B, K, x, y), to every axial slice of
    `source` (C, x, y, z); returns its first output channel, (x, y, z) float32 on
    the same grid, or with `channels` those output channels, (len, x, y, z).

    Runs under ``torch.inference_mode`` (float16 autocast on CUDA) in eval
    mode, or in training mode with `train_mode` (pix2pix's test-time dropout
    and batch statistics), restoring the network's previous mode afterwards.
    """
    source = np.asarray(source, dtype=np.float32)
    if source.ndim != 4:
        raise ValueError(f"source must be (channels, x, y, z), got shape {source.shape}")
    _, nx, ny, nz = source.shape
    keep = [0] if channels is None else list(channels)
    out = np.empty((len(keep), nx, ny, nz), dtype=np.float32)
    was_training = net.training
    net.train(train_mode)
    try:
        with torch.inference_mode(), autocast(device):
            for k0 in _batches(range(0, nz, batch_size)):
                k1 = min(k0 + batch_size, nz)
                slices = np.moveaxis(source[..., k0:k1], -1, 0)  # (B, C, x, y)
                batch = torch.from_numpy(pad_slices(slices, pad_multiple)).to(device)
                if device.type == "cuda":
                    batch = batch.contiguous(memory_format=torch.channels_last)
                pred = crop_slices(net(batch)[:, keep], (nx, ny), pad_multiple)
                out[..., k0:k1] = np.moveaxis(pred.float().cpu().numpy(), 0, -1)
    finally:
        net.train(was_training)
    return out[0] if channels is None else out


def predict_volume(net: nn.Module, source: np.ndarray, device: torch.device, halo: int,
                   slab: int = 32) -> np.ndarray:
    """Apply a fully convolutional 3D network, (1, C, x, y, z) -> (1, 1, x, y, z),
    to a whole (C, x, y, z) volume; returns the (x, y, z) float32 output.

    The volume goes through in slabs of `slab` axial planes, each with `halo`
    planes of context on either side that are cut off again, so memory stays
    bounded at any volume size. With `halo` at least the network's receptive
    radius (one voxel per 3x3x3 convolution) and eval-mode normalisation, the
    result equals one pass over the whole volume.
    """
    source = np.asarray(source, dtype=np.float32)
    if source.ndim != 4:
        raise ValueError(f"source must be (channels, x, y, z), got shape {source.shape}")
    if slab < 1 or halo < 0:
        raise ValueError(f"slab must be positive and halo non-negative, got {slab}, {halo}")
    nz = source.shape[-1]
    out = np.empty(source.shape[1:], dtype=np.float32)
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode(), autocast(device):
            for k0 in _batches(range(0, nz, slab)):
                k1 = min(k0 + slab, nz)
                lo, hi = max(k0 - halo, 0), min(k1 + halo, nz)
                batch = torch.from_numpy(np.ascontiguousarray(source[None, ..., lo:hi])).to(device)
                pred = net(batch)[0, 0].float().cpu().numpy()
                out[..., k0:k1] = pred[..., k0 - lo:k1 - lo]
    finally:
        net.train(was_training)
    return out


def tile_starts(size: int, tile: int, step: int) -> list[int]:
    """Start indices of `tile`-long windows every `step` along an axis of
    `size` (at least `tile`), the last one flush with the end."""
    if tile < 1 or step < 1 or size < tile:
        raise ValueError(f"cannot tile an axis of {size} with windows of {tile} every {step}")
    starts = list(range(0, size - tile + 1, step))
    if starts[-1] != size - tile:
        starts.append(size - tile)
    return starts


def predict_tiles(net: nn.Module, source: np.ndarray, device: torch.device, tile, margin: int,
                  step, batch_size: int = 8) -> np.ndarray:
    """Apply a 3D network without padding at its borders, which maps a
    (B, C, t + 2m, ...) input to the (B, 1, t, ...) centre, to a whole
    (C, x, y, z) volume; returns the (x, y, z) float32 output on its grid.

    Output tiles of `tile` voxels every `step` cover the volume, overlapping
    where `step` is below `tile`, and overlapping predictions are averaged
    (the context-aware GAN's test procedure). The source is mirror-padded by
    the `margin` m (and up to one tile where the volume is smaller), so
    border tiles see a mirrored context, as training patches there do.
    """
    source = np.asarray(source, dtype=np.float32)
    if source.ndim != 4:
        raise ValueError(f"source must be (channels, x, y, z), got shape {source.shape}")
    tile, step = (np.broadcast_to(np.asarray(v, int), (3,)) for v in (tile, step))
    shape = source.shape[1:]
    grown = [max(n, int(t)) for n, t in zip(shape, tile, strict=True)]
    pads = [(0, 0)] + [(margin, margin + g - n) for n, g in zip(shape, grown, strict=True)]
    padded = np.pad(source, pads, mode="reflect")
    total = np.zeros(grown, np.float64)
    count = np.zeros(grown, np.float64)
    corners = [(x, y, z) for x in tile_starts(grown[0], tile[0], step[0])
               for y in tile_starts(grown[1], tile[1], step[1])
               for z in tile_starts(grown[2], tile[2], step[2])]
    tx, ty, tz = (int(t) for t in tile)
    wx, wy, wz = tx + 2 * margin, ty + 2 * margin, tz + 2 * margin
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode(), autocast(device):
            for i in _batches(range(0, len(corners), batch_size)):
                chunk = corners[i:i + batch_size]
                batch = np.stack([padded[:, x:x + wx, y:y + wy, z:z + wz] for x, y, z in chunk])
                pred = net(torch.from_numpy(batch).to(device))[:, 0].float().cpu().numpy()
                if pred.shape[1:] != (tx, ty, tz):
                    raise ValueError(f"network maps a {(wx, wy, wz)} input to {pred.shape[1:]}, "
                                     f"not the {(tx, ty, tz)} centre")
                for (x, y, z), out in zip(chunk, pred, strict=True):
                    total[x:x + tx, y:y + ty, z:z + tz] += out
                    count[x:x + tx, y:y + ty, z:z + tz] += 1
    finally:
        net.train(was_training)
    nx, ny, nz = shape
    return (total / count)[:nx, :ny, :nz].astype(np.float32)
