"""``deepharmony``: contrast harmonization across scanners with DeepHarmony
(Dewey, Zhao, Reinhold, Carass, Fitzgerald, Sotirchos, Saidha, Oh, Pham,
Calabresi, van Zijl & Prince, "DeepHarmony: a deep learning approach to
contrast harmonization across scanner changes", Magn Reson Imaging 64:160-170,
2019).

Training data are travelling subjects: the same heads scanned on protocol A
(the source channels, every contrast the task has) and protocol B (the
targets), co-registered on one grid. As in the paper, one network maps every
protocol-A contrast to every protocol-B contrast at once, one output channel
per contrast: the workflow trains one DeepHarmony for the harmonize task (its
model condition ``AtoB``, :func:`medsynth.tasks.all_contrasts_condition`, rule
``train_all_contrasts``), and each condition (``AtoB-T1w``, ...) predicts with
it, keeping its own contrast's output channel.

Network (:class:`DeepHarmonyUNet`), the paper's modified U-Net: four levels
of 16, 32, 64 and 128 feature maps and 256 at the bottleneck; each level a
3x3 convolution, downsampling by a 4x4 convolution of stride 2 (no pooling)
and upsampling by a 4x4 transposed convolution of stride 2, skip connections
concatenated; every convolution followed by ReLU then batch normalisation.
The input contrasts are concatenated to the last feature maps, so that the
final 1x1 convolution (ReLU, no normalisation) works from the images
themselves as well as from the features.

Training: 2D patches (128 x 128 in the paper) centred on voxels drawn
uniformly from the head, zero outside the volume, the mean absolute error
(L1, averaged over the output contrasts) and Adam at 1e-3. 2.5D: one network per orientation (axial, coronal,
sagittal), trained side by side, each step on a batch of its own plane; at
inference each network runs over every slice of its orientation and the three
volumes are combined by their voxel-wise median. Intensities stay on the
normalised scale of preprocessing (the final ReLU keeps them non-negative).

Validation scores every output contrast: ``mae_<contrast>`` inside the head
for each, ``mae`` their mean, and the smallest spread over contrasts and
subjects (a collapse of any one output counts).

A model trained on one contrast condition alone (``medsynth train`` with
``--condition AtoB-T2w``) has one output channel, as a single-contrast
network; the workflow never trains one.

Deviations, stated: the batch size and the iteration count are ours
(the paper trained 200 epochs and kept epoch 120); batch normalisation keeps
Keras's momentum (0.99, i.e. 0.01 here; Keras was the original framework) in
the `paper` preset, and ``bn_momentum`` 0.1 in `quick`, where a few hundred
iterations would leave running statistics that lag the weights. The
paper's secondary networks that pass protocol-B scans through the same
synthesis are not built.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from medsynth import train
from medsynth.case import Case, TrainingData
from medsynth.infer import predict_slices
from medsynth.methods.slices import load_network, model_params, model_record, validation_scores

DEFAULTS = {
    "widths": [16, 32, 64, 128],  # the paper's Fig. 2
    "bottleneck": 256,
    "orientations": ["axial", "coronal", "sagittal"],  # 2.5D; one network each
    "patch_size": 128,
    "batch_size": 8,  # ours
    "lr": 1e-3,
    "bn_momentum": 0.01,  # Keras's 0.99
    "iterations": 30000,  # ours, per orientation
    "cpu_bf16": False,  # bfloat16 autocast of the training steps on a CPU (train.Runtime)
    "log_every": 100,
    "checkpoint_every": 1000,
    "val_every": 5000,
    "infer_batch_size": 16,
}
AXES = {"sagittal": 0, "coronal": 1, "axial": 2}  # spatial axis sliced for each orientation


def _conv(c_in: int, c_out: int, kernel: int, stride: int, momentum: float) -> nn.Sequential:
    """Convolution, ReLU, batch normalisation (the paper's order)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, padding=1), nn.ReLU(inplace=True),
                         nn.BatchNorm2d(c_out, momentum=momentum))


class DeepHarmonyUNet(nn.Module):
    """The modified U-Net (see module docstring); sides must be multiples of 2**levels."""

    def __init__(self, in_channels: int, out_channels: int = 1, widths=(16, 32, 64, 128),
                 bottleneck: int = 256, bn_momentum: float = 0.01):
        super().__init__()
        widths = list(widths)
        m = bn_momentum
        self.levels = nn.ModuleList(_conv(c_in, c, 3, 1, m)
                                    for c_in, c in zip([in_channels, *widths[:-1]], widths,
                                                       strict=True))
        self.downs = nn.ModuleList(_conv(c, c, 4, 2, m) for c in widths)
        self.bottom = _conv(widths[-1], bottleneck, 3, 1, m)
        self.ups = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(c_in, c, 4, 2, padding=1), nn.ReLU(inplace=True),
                          nn.BatchNorm2d(c, momentum=m))
            for c_in, c in zip([bottleneck, *widths[:0:-1]], widths[::-1], strict=True))
        self.merges = nn.ModuleList(_conv(2 * c, c, 3, 1, m) for c in widths[::-1])
        self.out = nn.Conv2d(widths[0] + in_channels, out_channels, 1)
        self.multiple = 2 ** len(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, h = [], x
        for level, down in zip(self.levels, self.downs, strict=True):
            h = level(h)
            skips.append(h)
            h = down(h)
        h = self.bottom(h)
        for up, merge in zip(self.ups, self.merges, strict=True):
            h = merge(torch.cat([skips.pop(), up(h)], 1))
        return torch.relu(self.out(torch.cat([h, x], 1)))


def plane_patch(volume: np.ndarray, centre, axis: int, size: int) -> np.ndarray:
    """The (C, size, size) patch of a (C, x, y, z) volume in the plane through
    `centre` orthogonal to `axis`, centred on it, zero outside the volume."""
    out = np.zeros((volume.shape[0], size, size), np.float32)
    source: list = [slice(None)]
    target: list = [slice(None)]
    for dim in range(3):
        if dim == axis:
            source.append(int(centre[dim]))
            continue
        start = int(centre[dim]) - size // 2
        lo, hi = max(start, 0), min(start + size, volume.shape[dim + 1])
        source.append(slice(lo, hi))
        target.append(slice(lo - start, hi - start))
    out[tuple(target)] = volume[tuple(source)]
    return out


class HeadPatches:
    """Patch centres drawn uniformly over every training subject's head voxels."""

    def __init__(self, source: np.ndarray, target: np.ndarray, mask: np.ndarray, size: int):
        self.source, self.target, self.size = source, target, size
        self.voxels = [np.flatnonzero(np.asarray(m[0]) > 0).astype(np.int64) for m in mask]
        counts = np.array([len(v) for v in self.voxels], float)
        if counts.sum() == 0:
            raise ValueError("deepharmony: the training head masks are empty")
        self.weights = counts / counts.sum()
        self.shape = source.shape[2:]

    def sample(self, rng: np.random.Generator, batch_size: int, axis: int):
        """(B, C, size, size) source and (B, K, size, size) target patches (K output
        contrasts) of one orientation."""
        subjects = rng.choice(len(self.voxels), size=batch_size, p=self.weights)
        sources, targets = [], []
        for s in subjects:
            centre = np.unravel_index(self.voxels[s][rng.integers(len(self.voxels[s]))],
                                      self.shape)
            sources.append(plane_patch(self.source[s], centre, axis, self.size))
            targets.append(plane_patch(self.target[s], centre, axis, self.size))
        return np.stack(sources), np.stack(targets)


def harmonise(nets: dict[str, DeepHarmonyUNet], source: np.ndarray, batch_size: int,
              device: torch.device, channels: list[int] | None = None) -> np.ndarray:
    """The 2.5D prediction for a (C, x, y, z) source: each orientation's network
    over all its slices, combined by the voxel-wise median; the first output
    channel, (x, y, z) float32, or with `channels` those, (len, x, y, z)."""
    keep = [0] if channels is None else list(channels)
    volumes = []
    for orientation, net in nets.items():
        axis = AXES[orientation]
        planes = np.moveaxis(source, 1 + axis, -1)  # the sliced axis last, as predict_slices wants
        out = predict_slices(net, planes, batch_size, device, net.multiple, channels=keep)
        volumes.append(np.moveaxis(out, -1, 1 + axis))
    median = np.median(np.stack(volumes), axis=0).astype(np.float32)
    return median[0] if channels is None else median


class DeepHarmonyModel(train.TrainableModel):
    """One network per orientation, each stepped on its own batch every iteration."""

    def __init__(self, runtime: train.Runtime, params: dict, data: TrainingData):
        super().__init__(runtime)
        self.params = params
        self.patches = HeadPatches(np.asarray(data.source, np.float32),
                                   np.asarray(data.target, np.float32), data.mask,
                                   params["patch_size"])
        self.contrasts = list(data.condition.output_contrasts)
        if data.out_channels != len(self.contrasts):
            raise ValueError(f"deepharmony: {data.out_channels} target channels for the "
                             f"contrasts {self.contrasts}")
        self.nets = {o: runtime.module(_network(data.in_channels, len(self.contrasts), params))
                     for o in params["orientations"]}
        self.opts = {o: torch.optim.Adam(net.parameters(), lr=params["lr"])
                     for o, net in self.nets.items()}
        n_val = data.val_source.shape[0] if data.val_source.ndim == 5 else 0
        self.validation = [(np.asarray(data.val_source[s], np.float32),
                            np.asarray(data.val_target[s]), np.asarray(data.val_mask[s, 0], bool))
                           for s in range(n_val)]

    def modules(self) -> dict[str, nn.Module]:
        return {f"unet_{o}": net for o, net in self.nets.items()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self.opts)

    def sample_batch(self, rng: np.random.Generator):
        return {o: self.patches.sample(rng, self.params["batch_size"], AXES[o]) for o in self.nets}

    def train_step(self, batch) -> dict[str, float]:
        losses = {}
        for orientation, net in self.nets.items():
            source, target = (self.runtime.tensor(a) for a in batch[orientation])
            with self.runtime.autocast():
                pred = net(source)
            loss = nn.functional.l1_loss(pred.float(), target)  # the mean over every output
            self.runtime.optimize(self.opts[orientation], loss)
            losses[f"l1_{orientation}"] = float(loss.detach())
        return losses

    def validate(self) -> dict[str, float]:
        """MAE inside the head of the 2.5D prediction over the validation subjects,
        per output contrast (``mae_<contrast>``) and their mean (``mae``), and the
        smallest spread of any contrast and subject."""
        if not self.validation:
            return {}
        channels = list(range(len(self.contrasts)))
        preds = [harmonise(self.nets, source, self.params["infer_batch_size"],
                           self.runtime.device, channels) for source, _, _ in self.validation]
        per_contrast = {c: validation_scores([(pred[k], target[k], mask) for pred, (_, target, mask)
                                              in zip(preds, self.validation, strict=True)])
                        for k, c in enumerate(self.contrasts)}
        scores = {"mae": float(np.mean([v["mae"] for v in per_contrast.values()])),
                  train.SPREAD: min(v[train.SPREAD] for v in per_contrast.values())}
        if len(self.contrasts) > 1:
            scores.update({f"mae_{c}": v["mae"] for c, v in per_contrast.items()})
        return scores


def _network(in_channels: int, out_channels: int, params: dict) -> DeepHarmonyUNet:
    return DeepHarmonyUNet(in_channels, out_channels, params["widths"], params["bottleneck"],
                           params["bn_momentum"])


def _record(params: dict, data: TrainingData) -> dict:
    """params.json: the settings, and the mapping learnt (every output contrast, in order)."""
    return {**model_record(params, data),
            "target_contrasts": list(data.condition.output_contrasts)}


def _output_contrasts(record: dict) -> list[str]:
    """A model's output contrasts (one channel each) from its params.json."""
    return record.get("target_contrasts", [record["target_contrast"]])


def _mapping(case: Case, record: dict, model_dir: Path) -> tuple[list[int], int]:
    """Which of the case's source channels feed the model, in its order, and
    which output channel is the case's target contrast; refused when the model
    takes other contrasts or does not output the target."""
    targets = _output_contrasts(record)
    given = list(case.condition.source_channels)
    if sorted(given) != sorted(record["source_contrasts"]) or case.condition.target not in targets:
        raise ValueError(f"{model_dir}: model maps {record['source_contrasts']} to "
                         f"{targets}, not {given} to {case.condition.target}")
    return [given.index(c) for c in record["source_contrasts"]], targets.index(case.condition.target)


def _check(params: dict) -> None:
    unknown = sorted(set(params["orientations"]) - set(AXES))
    if unknown or not params["orientations"]:
        raise ValueError(f"deepharmony: orientations must be among {sorted(AXES)}, "
                         f"got {params['orientations']}")
    if params["patch_size"] % 2 ** len(params["widths"]):
        raise ValueError(f"deepharmony: patch_size {params['patch_size']} must be a multiple "
                         f"of {2 ** len(params['widths'])}")


def fit(data: TrainingData, params: dict, model_dir: Path, seed: int, threads: int,
        state_dir: Path | None = None) -> None:
    """Train the orientation networks on the travelling subjects' A -> B patches
    (every target contrast of `data` as an output channel)."""
    params = train.merge_params(DEFAULTS, params, "deepharmony")
    _check(params)
    if data.source.ndim != 5 or data.source.shape[0] == 0:
        raise ValueError("deepharmony needs at least one training subject")
    train.run_training(lambda runtime: DeepHarmonyModel(runtime, params, data),
                       name=f"deepharmony {data.condition.task}/{data.condition.name}",
                       iterations=params["iterations"], model_dir=model_dir,
                       params=_record(params, data), seed=seed, threads=threads,
                       state_dir=state_dir, checkpoint_every=params["checkpoint_every"],
                       log_every=params["log_every"], val_every=params["val_every"])


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Harmonise the subject's site-A contrasts to the target contrast of site B:
    the model's output channel of that contrast (its inputs in the model's order,
    whatever order the case lists them in)."""
    record = model_params(case, model_dir, "deepharmony")
    inputs, output = _mapping(case, record, model_dir)
    params = train.merge_params(DEFAULTS, params, "deepharmony")
    runtime = train.Runtime.create()
    n_out = len(_output_contrasts(record))
    nets = {o: load_network(_network(record["in_channels"], n_out, record), model_dir,
                            f"unet_{o}", runtime)
            for o in record["orientations"]}
    source = np.asarray(case.source, np.float32)[inputs]
    return harmonise(nets, source, params["infer_batch_size"], runtime.device, [output])[0]
