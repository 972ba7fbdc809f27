"""`medsynth apply`: a trained model on scans of one's own, the result on the
first scan's own grid.

The workflow's models only ever saw prepared data: head-masked, N4-corrected,
normalised images on the training grid. A scan from elsewhere must go
through the same preparation, so the model folder's ``preparation.json``
(:mod:`medsynth.preparation`) is replayed with the functions the preprocess
rule itself calls: head mask of the T1w, resampling onto a grid of the
training shape, voxel size and axes centred on the head (a scan already on
such a grid, a phantom subject's, stays on it), rigid registration of the
other contrasts onto the T1w (as for IXI), N4 and normalisation. The model
predicts on that grid; the prediction goes back onto the first input's grid
and affine, and outside its head (or the training grid's field of view) the
training targets' background is written, since the model was never taught
anything there. CT comes out in HU, MR on the normalised scale of the
training targets (the head's 99th percentile is 1).

SMORE trains on each scan itself: its model folder holds the settings, and
apply runs :func:`medsynth.methods.smore.super_resolve_file` with them (the
isotropic grid of the scan's in-plane voxels, as ``super-resolve``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage
from tqdm import tqdm

from medsynth import io, preparation
from medsynth import methods as registry
from medsynth.case import Case
from medsynth.methods.intensity import CT_WINDOW_HU
from medsynth.preprocess.bias import n4_correct
from medsynth.preprocess.masks import head_mask
from medsynth.preprocess.normalise import normalise_mr
from medsynth.preprocess.pipeline import antialias
from medsynth.preprocess.register import apply_rigid, mask_centre, rigid_register
from medsynth.preprocess.resample import resample_to_grid

CONTRASTS = ("T1w", "T2w", "PDw", "CT")  # BIDS suffixes a file name may carry
# A scan must span at least this fraction of the training field of view along
# each of the model grid's axes: the networks learnt whole heads, and a slab
# resampled onto the training grid would be its edge slices repeated.
MIN_FOV_FRACTION = 0.5


def apply_model(model_dir, inputs, output, *, task: str | None = None,
                contrast: str | None = None, overwrite: bool = False, threads: int = 1,
                progress: bool = True) -> Path:
    """Prepare `inputs` as the model's training data were, predict, and write
    the result onto the first input's grid at `output`.

    `inputs` are the contrasts the model was trained on, in its order (its
    ``preparation.json`` lists them); a file whose name carries a BIDS suffix
    (``_T2w.nii.gz``) is checked against it. `task`, when given, must be the
    model's. `contrast` picks the output of a model that predicts several
    contrasts (the harmonize task's DeepHarmony: site B's T1w, T2w, ...) and is
    required there; for any other model it must be its target, if given.
    `output` is never overwritten unless `overwrite`.
    """
    model_dir, output = Path(model_dir), Path(output)
    inputs = [Path(p) for p in inputs]
    _check_output(output, inputs, overwrite)
    rec = preparation.load(model_dir)
    record_path = model_dir / preparation.FILE
    if task is not None and rec["task"] != task:
        raise io.InputError(record_path, f"this model was trained for task {rec['task']!r} "
                                         f"({rec['method']}), not {task!r}")
    _check_contrasts(inputs, rec["contrasts"], record_path)
    condition = _output_condition(rec, contrast, record_path)
    images = [io.load_volume(p) for p in inputs]
    if registry.get(rec["method"]).kind == "self_supervised":
        return _self_supervised(rec, inputs[0], images[0], output, threads)
    for path, img in zip(inputs, images, strict=True):
        _check_field_of_view(path, img, rec["grid"])

    module = registry.load(rec["method"])
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    with tqdm(total=3, desc="apply", file=sys.stderr, disable=not progress, leave=False) as bar, \
            tempfile.TemporaryDirectory(prefix="medsynth-apply-") as tmp:
        bar.set_postfix_str("preparing")
        prep = _prepare(inputs, images, rec, Path(tmp))
        bar.update()
        bar.set_postfix_str("predicting")
        case = Case(subject=_stem(inputs[0]), condition=condition,
                    source=prep.source, source_affine=prep.affine, target_shape=prep.shape,
                    target_affine=prep.affine, head_mask=prep.mask, brain_mask=prep.mask)
        with _prediction_progress(progress):
            pred = np.asarray(module.predict(case, rec["method_params"], model_dir), np.float32)
        bar.update()
        bar.set_postfix_str("back to the scan's grid")
        native = _to_native(pred, prep, images[0], _background(rec))
        bar.update()
    return io.save_volume(output, native, images[0].affine)


@dataclass
class _Prepared:
    source: np.ndarray  # (C, x, y, z) on the grid, the model's contrast order
    shape: tuple[int, int, int]
    affine: np.ndarray
    mask: np.ndarray  # head, on the grid
    reference_mask: np.ndarray  # head, on the reference input's own grid
    reference: int  # index of the input the others are registered onto
    transforms: dict[int, Path]  # input index -> rigid transform from the grid's space


def _prepare(paths: list[Path], images: list[nib.Nifti1Image], rec: dict, tmp: Path) -> _Prepared:
    """The preprocess rule's steps, in its order, on the inputs."""
    contrasts = rec["contrasts"]
    reference_contrast = rec["settings"]["head_mask"]["from_contrast"]
    ref = contrasts.index(reference_contrast) if reference_contrast in contrasts else 0
    ref_data = np.asarray(images[ref].dataobj, np.float32)
    ref_affine = images[ref].affine
    with _naming(paths[ref]):
        raw_mask = head_mask(ref_data, ref_affine)
    shape, grid = _grid(ref_data.shape, ref_affine, raw_mask, rec["grid"])
    voxel = float(max(rec["grid"]["voxel_mm"]))
    mask = resample_to_grid(raw_mask.astype(np.float32), ref_affine, shape, grid, order=0) > 0.5
    on_grid = {ref: resample_to_grid(antialias(ref_data, ref_affine, voxel), ref_affine, shape,
                                     grid, order=1)}
    transforms = {}
    for i, (path, img) in enumerate(zip(paths, images, strict=True)):
        if i == ref:
            continue
        data = np.asarray(img.dataobj, np.float32)
        smooth = antialias(data, img.affine, voxel)
        if io.same_grid(img, images[ref]):
            on_grid[i] = resample_to_grid(smooth, img.affine, shape, grid, order=1)
        else:
            with _naming(path):
                transforms[i] = rigid_register(on_grid[ref], grid, data, img.affine,
                                               tmp / f"input{i}.mat", fixed_mask=mask)
            on_grid[i] = apply_rigid(smooth, img.affine, transforms[i], shape, grid)
    shrink = rec["settings"]["n4"]["shrink_factor"]
    source = []
    for i, path in enumerate(paths):
        with _naming(path):
            corrected = n4_correct(np.clip(on_grid[i], 0, None), grid, mask=mask,
                                   shrink_factor=shrink)
            source.append(normalise_mr(corrected, mask))
    return _Prepared(np.stack(source), shape, grid, mask, raw_mask, ref, transforms)


def _grid(shape, affine: np.ndarray, mask: np.ndarray, rec: dict) -> tuple[tuple, np.ndarray]:
    """The training grid's shape, voxel size and axes, centred on the head; the
    scan's own grid when it already is one (a phantom subject's, a preprocessed
    image), so that such a scan is not resampled at all."""
    grid_shape = tuple(int(n) for n in rec["shape"])
    axes = np.asarray(rec["direction"], np.float64) * np.asarray(rec["voxel_mm"], np.float64)
    if tuple(shape) == grid_shape and np.allclose(affine[:3, :3], axes,
                                                  atol=io.AFFINE_TOLERANCE_MM):
        return tuple(shape), np.asarray(affine, np.float64)
    grid = np.eye(4)
    grid[:3, :3] = axes
    grid[:3, 3] = mask_centre(mask, affine) - axes @ ((np.array(grid_shape) - 1) / 2)
    return grid_shape, grid


def _to_native(pred: np.ndarray, prep: _Prepared, primary: nib.Nifti1Image,
               background: float) -> np.ndarray:
    """The prediction on the first input's grid, background outside its head
    and outside the grid the model saw."""
    shape, affine = primary.shape, primary.affine
    smooth = antialias(pred, prep.affine, float(max(io.voxel_sizes(affine))))
    inside_grid = np.ones(prep.shape, np.float32)
    if 0 in prep.transforms:  # registered onto the reference: back through the inverse
        xfm = prep.transforms[0]
        values = apply_rigid(smooth, prep.affine, xfm, shape, affine, invert=True)
        head = apply_rigid(prep.mask.astype(np.float32), prep.affine, xfm, shape, affine,
                           interpolation="genericLabel", invert=True) > 0.5
        inside = apply_rigid(inside_grid, prep.affine, xfm, shape, affine, invert=True) > 0.5
    else:  # on the reference input's grid
        values = resample_to_grid(smooth, prep.affine, shape, affine, order=1)
        head = prep.reference_mask
        index_map = np.linalg.solve(prep.affine, affine)
        inside = ndimage.affine_transform(inside_grid, index_map[:3, :3], offset=index_map[:3, 3],
                                          output_shape=shape, order=0, mode="constant") > 0.5
    return np.where(head & inside, values, np.float32(background)).astype(np.float32)


def _background(rec: dict) -> float:
    """The training targets' value outside the head (air: the CT window's floor, MR 0
    for a record without it)."""
    value = rec["target"].get("background")
    if value is not None:
        return float(value)
    return float(CT_WINDOW_HU[0]) if rec["target"]["contrast"] == "CT" else 0.0


def _self_supervised(rec: dict, path: Path, image: nib.Nifti1Image, output: Path,
                     threads: int) -> Path:
    """SMORE with the model folder's settings, trained on the scan itself."""
    from medsynth import train
    from medsynth.methods import smore

    params = train.merge_params(smore.DEFAULTS, rec["method_params"], "smore")
    with _naming(path):
        axis = smore.through_plane_axis(image.affine)
    in_plane = [n for a, n in enumerate(image.shape) if a != axis]
    if min(in_plane) < params["patch_size"]:
        raise io.InputError(path, f"grid too small for the network: {in_plane[0]} x "
                                  f"{in_plane[1]} voxels in-plane, SMORE trains on "
                                  f"{params['patch_size']}-pixel patches")
    work_dir = output.with_name(output.name + ".smore-work")
    with io.atomic_path(output) as staging:
        smore.super_resolve_file(path, staging, rec["method_params"], seed=rec["seed"],
                                 threads=threads, work_dir=work_dir)
    return output


def _output_condition(rec: dict, contrast: str | None, record_path: Path):
    """The model's condition, narrowed to the output `contrast` for a model of
    several output contrasts."""
    cond = preparation.condition(rec)
    outputs = list(cond.output_contrasts)
    if len(outputs) > 1:
        if contrast not in outputs:
            given = "none given" if contrast is None else f"not {contrast}"
            raise io.InputError(record_path, f"this model outputs {', '.join(outputs)}: pick one "
                                             f"with --contrast ({given})")
        return dataclasses.replace(cond, target=contrast, targets=())
    if contrast is not None and contrast != cond.target:
        raise io.InputError(record_path, f"this model outputs {cond.target}, not {contrast}")
    return cond


def _check_output(output: Path, inputs: list[Path], overwrite: bool) -> None:
    if not output.name.endswith((".nii", ".nii.gz")):
        raise io.InputError(output, "output must be a NIfTI file (.nii or .nii.gz)")
    if any(output.resolve() == p.resolve() for p in inputs):
        raise io.InputError(output, "output is one of the inputs")
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; apply overwrites only with --overwrite")


def _check_contrasts(inputs: list[Path], expected: list[str], record_path: Path) -> None:
    """The number of inputs, and each one's BIDS suffix where its name has one."""
    if len(inputs) != len(expected):
        given = ", ".join(str(p) for p in inputs) or "none"
        raise io.InputError(record_path, f"the model takes {len(expected)} input(s), "
                                         f"{', '.join(expected)} in this order; got "
                                         f"{len(inputs)}: {given}")
    for path, contrast in zip(inputs, expected, strict=True):
        suffix = _stem(path).rsplit("_", 1)[-1]
        if suffix not in CONTRASTS or suffix == contrast:
            continue
        if suffix in expected:
            raise io.InputError(path, f"is a {suffix} image, but the model takes "
                                      f"{', '.join(expected)} in this order: {contrast} here")
        raise io.InputError(path, f"is a {suffix} image; the model was trained on "
                                  f"{', '.join(expected)}, not {suffix}")


def _check_field_of_view(path: Path, img: nib.Nifti1Image, rec: dict) -> None:
    """A scan must span at least MIN_FOV_FRACTION of the training field of view
    along each of the model grid's axes."""
    direction = np.asarray(rec["direction"], np.float64)
    trained = np.asarray(rec["shape"]) * np.asarray(rec["voxel_mm"])
    edges = img.affine[:3, :3] * np.asarray(img.shape)  # the scan's box, one column per axis
    spans = np.abs(direction.T @ edges).sum(axis=1)
    short = np.flatnonzero(spans < MIN_FOV_FRACTION * trained)
    if short.size:
        k = int(short[0])
        raise io.InputError(path, f"grid too small for the network: the scan spans "
                                  f"{spans[k]:.0f} mm along the model grid's axis {k} "
                                  f"({rec['axcodes'][k]}), the model was trained on "
                                  f"{trained[k]:.0f} mm (at least {MIN_FOV_FRACTION:.0%} "
                                  "needed)")


def _stem(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".nii")


def _prediction_progress(show: bool):
    """A progress bar over the network's batches (torch is imported by then)."""
    if not show:
        return contextlib.nullcontext()
    from medsynth.infer import progress

    return progress("predicting")


@contextlib.contextmanager
def _naming(path: Path):
    """Turn a preparation step's ValueError into one that names the input."""
    try:
        yield
    except io.InputError:
        raise
    except ValueError as err:
        raise io.InputError(path, str(err)) from err
