"""How much a training schedule processes: iterations × batch × voxels per sample.

The report compares a run's schedule with the ``paper`` preset's through this
number, and the cost model turns it into GPU-hours. Plain arithmetic on a
method's merged settings (its ``DEFAULTS`` with the preset's and the config's
overrides): no torch, so it can be used anywhere.

Per method, one training iteration processes:
- ``unet``, ``pix2pix``, ``cyclegan``: `batch_size` axial slices, padded as the
  method pads them (to a multiple of 2^poolings, 2^n_downs, 4);
- ``context_gan``: `batch_size` source patches (the target patch plus the margin
  the unpadded large kernels eat), once per auto-context stage;
- ``red_wgan``: `batch_size` patches of `patch_size`;
- ``smore``: `batch_size` square patches of side `patch_size`;
- ``deepharmony``: `batch_size` square patches per orientation network;
- ``cond_diffusion``, ``cond_flow``: `batch_size` axial slices padded to a multiple
  of 2^(levels - 1), one network pass each (the noisy target beside the source).
"""

from __future__ import annotations

import math

# the phantom's in-plane field of view (the ICBM 2009a template's, mm); real datasets
# are put on a 200 x 240 mm box (README, Preprocessing)
PHANTOM_SLICE_MM = (197.0, 233.0)
DATASET_SLICE_MM = (200.0, 240.0)


def _padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def slice_shape(slice_mm, voxel_mm: float) -> tuple[int, int]:
    """Voxels of an axial slice of `slice_mm` at `voxel_mm`."""
    return tuple(math.ceil(side / voxel_mm) for side in slice_mm)


def _slice_voxels(shape, multiple: int) -> int:
    return math.prod(_padded(n, multiple) for n in shape)


def voxels_per_iteration(method: str, params: dict, shape: tuple[int, int]) -> int:
    """Voxels one training iteration of `method` feeds its network(s); `shape` is the
    axial slice of the run's grid (used by the slice methods only)."""
    batch = int(params.get("batch_size", 1))
    if method == "unet":
        return batch * _slice_voxels(shape, 2 ** (len(params["widths"]) - 1))
    if method == "pix2pix":
        return batch * _slice_voxels(shape, 2 ** int(params["n_downs"]))
    if method == "cyclegan":
        return batch * _slice_voxels(shape, 4)
    if method in ("cond_diffusion", "cond_flow"):
        return batch * _slice_voxels(shape, 2 ** (len(params["channels"]) - 1))
    if method == "context_gan":
        margin = sum(k - 1 for k in params["kernels"] if k > 3)
        side = [p + margin for p in params["patch_size"]]
        return batch * math.prod(side) * int(params["n_stages"])
    if method == "red_wgan":
        return batch * math.prod(params["patch_size"])
    if method == "smore":
        return batch * int(params["patch_size"]) ** 2
    if method == "deepharmony":
        return batch * int(params["patch_size"]) ** 2 * len(params["orientations"])
    raise ValueError(f"no training schedule is known for method {method!r}")


def training_voxels(method: str, params: dict, shape: tuple[int, int],
                    iterations: float | None = None) -> float:
    """iterations × voxels per iteration; `iterations` defaults to the params' own."""
    its = float(params["iterations"] if iterations is None else iterations)
    return its * voxels_per_iteration(method, params, shape)
