"""The built-in phantom cohort: heads built around the ICBM 2009a template brain.

Anatomy. The template (1 mm, brain-extracted) gives grey- and white-matter
probabilities; everything else inside a smoothed hull of the brain is CSF
(ventricles, sulci). Outside the hull, shells at a distance from it make a
subarachnoid CSF layer and the skull (inner cortical table, diploë, outer
table). The scalp (galea, with the temporalis muscle at the sides;
subcutaneous fat; skin) follows the skull's outer surface closed over the
concavities of the skull base, and soft tissue fills what the closing
bridges (the template ends in the brainstem, so the head ends in a neck).
Distances come from Euclidean distance transforms. Each subject draws its
own layer thicknesses, which also vary smoothly over the head; the skull
thins towards the temporal squama as real skulls do (:mod:`tissues` cites
the numbers the draws are centred on).

Per subject, deterministic from ``seed`` and the subject index
(``numpy.random.SeedSequence``): a smooth random displacement field (a few
mm) and a small per-axis scaling deform the template; tissue relaxation
times and proton densities vary by a few %; every MR image gets its own
receiver gain and smooth multiplicative bias field; the CT's bone density
varies slightly.

Images. Tissue *fractions* are computed on a fine grid (1 mm for outputs
finer than 4 mm; 2 mm, or coarser, for coarser outputs, so that the smoke
preset stays fast), area-averaged onto each site's grid, and the images are
then the fraction-weighted sums of each tissue's signal from the MR signal
equations (or its CT number). The signal is linear in the fractions, so
this equals computing the images finely and area-averaging them, apart from
the smooth bias field, which is evaluated on the output grid. Crisp labels are
the argmax of the fractions. The images carry **no thermal noise**: noise is
a task degradation, added later by the workflow.

Sites A (1.5 T) and B (3 T) image the same head over the same field of view
(the template's, 197×233×189 mm, from the same corner), each on its own
grid; CT and labels are on site A's grid.
"""

from __future__ import annotations

import csv
import functools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage, sparse

import medsynth
from medsynth import io
from medsynth.data import cavities, phantom_subject_ids
from medsynth.data.bids import anat_path
from medsynth.data.tissues import (
    DIPLOE_BONE_FRACTION,
    HOUNSFIELD,
    LABELS,
    MR_CONTRASTS,
    SITES,
    Site,
    compartments,
)

TEMPLATE_PATTERN = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"
SIGNAL_SCALE = 1000.0  # equilibrium magnetisation of water, arbitrary scanner units

# Anatomy model (design choices; the literature they follow is in :mod:`tissues`).
HULL_SIGMA_MM = 3.0  # smoothing that closes sulci and fissures into the brain's outer envelope
HULL_LEVEL = 0.3  # threshold of the blurred mask: the hull hugs the gyral crowns
ENVELOPE_LEVEL_MM = 9.0  # typical distance of the skull's outer surface from the hull
ENVELOPE_CLOSING_MM = 22.0  # closing radius: bridges skull-base concavities up to ~45 mm
FIELD_ORDER = 4  # cosine terms per axis of the displacement field (wavelengths >= ~130 mm)
SMOOTH_ORDER = 3  # cosine terms per axis of thickness and bias fields
MODULATION = (0.2, 0.12, 0.15)  # RMS of the smooth thickness variation: CSF, skull, scalp
TEMPORAL_THINNING = 0.35  # skull ~7 mm elsewhere, ~4.7 mm at the temporal squama
SKULL_SPLIT = (0.25, 0.45, 0.30)  # inner table, diploë, outer table (tables ~1.5-2 mm)

# The tissue order of the fraction stack: index = label.
N_LABELS = len(LABELS)


def subject_ids(n_subjects: int) -> list[str]:
    """Subject ids of the cohort: "001", "002", …"""
    if n_subjects < 1:
        raise ValueError(f"n_subjects must be at least 1, got {n_subjects}")
    return phantom_subject_ids(n_subjects)


# ---------------------------------------------------------------- template


def template_dir() -> Path:
    import nilearn

    return Path(nilearn.__file__).parent / "datasets" / "data"


@functools.lru_cache(maxsize=1)
def _template_1mm() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Brain mask, GM and WM probabilities (float32, 0..1) and the template affine."""
    arrays = {}
    for kind in ("t1", "gm", "wm"):
        path = template_dir() / TEMPLATE_PATTERN.format(kind)
        if not path.exists():
            raise io.InputError(path, "ICBM 2009a template missing from the nilearn install")
        img = io.load_volume(path)
        arrays[kind] = np.asarray(img.dataobj, dtype=np.float32)
        affine = img.affine
    if not np.allclose(affine[:3, :3], np.eye(3)):
        raise io.InputError(path, "expected a 1 mm RAS template affine")
    brain = (arrays["t1"] > 0).astype(np.float32)
    scale = np.float32(1.0 / max(arrays["gm"].max(), 1.0))  # stored as 0..255 or 0..1
    return brain, arrays["gm"] * scale, arrays["wm"] * scale, affine


@dataclass(frozen=True, eq=False)
class Anatomy:
    """The template on the working grid (``step_mm`` voxels from the FOV corner),
    and the signed distance to the brain's hull on a grid twice as coarse."""

    gm: np.ndarray
    wm: np.ndarray
    step_mm: int
    hull_mm: np.ndarray  # signed distance to the hull surface, mm (< 0 inside)
    envelope_mm: np.ndarray  # distance to the closing of {hull_mm < ENVELOPE_LEVEL_MM}, mm
    hull_step_mm: int
    fov_mm: np.ndarray  # field of view, mm
    centre_mm: np.ndarray  # brain centroid, mm from the FOV corner


def _block_mean(vol: np.ndarray, step: int) -> np.ndarray:
    """Area-average by an integer factor, padding the far edges with zeros."""
    if step == 1:
        return vol
    pad = [(0, -n % step) for n in vol.shape]
    vol = np.pad(vol, pad)
    x, y, z = (n // step for n in vol.shape)
    return vol.reshape(x, step, y, step, z, step).mean(axis=(1, 3, 5), dtype=np.float32)


def _hull_distance(brain: np.ndarray, step: int) -> np.ndarray:
    """Signed distance (mm) to the brain's hull, on a grid of ``step`` mm.

    The hull is the brain mask blurred and thresholded, which closes sulci and
    fissures into the brain's outer envelope.
    """
    coarse = _block_mean(brain, step)
    hull = (ndimage.gaussian_filter(coarse, HULL_SIGMA_MM / step) > HULL_LEVEL) | (coarse > 0.5)
    return _signed_distance(hull, step)


def _signed_distance(region: np.ndarray, step: int) -> np.ndarray:
    """Signed distance (mm) to a binary region's surface, negative inside, staircase smoothed.

    Distances between voxel centres are shifted by half a voxel so that zero
    lies on the surface, and a one-voxel Gaussian removes the voxel staircase: a
    signed distance is nearly linear across the surface, which smoothing leaves
    in place. Shell boundaries are iso-surfaces of such fields, so they come
    out smooth on any finer grid the field is sampled on.
    """
    outside = ndimage.distance_transform_edt(~region, sampling=step)
    inside = ndimage.distance_transform_edt(region, sampling=step)
    signed = np.where(region, 0.5 * step - inside, outside - 0.5 * step).astype(np.float32)
    return ndimage.gaussian_filter(signed, 1.0)


def _closed_distance(hull_mm: np.ndarray, level: float, radius: float, step: int) -> np.ndarray:
    """Signed distance to the morphological closing of {hull distance < level}.

    Dilating a region given by its distance field is a threshold, and the
    closing erodes that again by the same radius: concavities narrower than
    twice the radius are filled, while convex and flat parts stay where they
    were (there the result equals hull_mm - level). The erosion must see air
    beyond the field of view, except below it, where the anatomy continues
    (the template ends in the brainstem).
    """
    pad = int(math.ceil(radius / step)) + 1
    dilated = np.pad(hull_mm < level + radius, pad)
    dilated[:, :, :pad] = dilated[:, :, pad:pad + 1]
    signed = _signed_distance(dilated, step)[pad:-pad, pad:-pad, pad:-pad]
    return signed + np.float32(radius)


@functools.lru_cache(maxsize=2)
def _anatomy(step: int) -> Anatomy:
    brain, gm, wm, _ = _template_1mm()
    hull = _hull_distance(brain, 2 * step)
    envelope = _closed_distance(hull, ENVELOPE_LEVEL_MM, ENVELOPE_CLOSING_MM, 2 * step)
    return Anatomy(
        gm=_block_mean(gm, step), wm=_block_mean(wm, step), step_mm=step,
        hull_mm=hull, envelope_mm=envelope, hull_step_mm=2 * step,
        fov_mm=np.array(brain.shape, dtype=np.float64),
        centre_mm=np.array(ndimage.center_of_mass(brain)) + 0.5,
    )


def _work_step(voxel_mm: float) -> int:
    """Working grid step: 1 mm up to 4 mm outputs, then about half the output voxel."""
    return max(1, int(voxel_mm // 2))


# ------------------------------------------------------------- smooth fields


def _unit_field_coefficients(rng: np.random.Generator, order: int) -> np.ndarray:
    """Coefficients of a smooth random cosine series with zero mean and unit RMS.

    Amplitudes fall as 1/(1 + k²), k the 3D frequency index, so the field is
    dominated by the lowest frequencies. The RMS of a cosine series is known in
    closed form (mean square 1/2 per non-constant axis), so no evaluation is needed.
    """
    k = np.arange(order)
    k2 = k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2
    coef = rng.standard_normal((order,) * 3) / (1.0 + k2)
    coef[0, 0, 0] = 0.0
    w = np.where(k == 0, 1.0, 0.5)
    mean_square = (coef**2 * w[:, None, None] * w[None, :, None] * w[None, None, :]).sum()
    return coef / math.sqrt(mean_square)


def _cosine_field(coef: np.ndarray, t_axes: tuple[np.ndarray, ...]) -> np.ndarray:
    """Evaluate sum c_klm cos(pi k t_x) cos(pi l t_y) cos(pi m t_z) on a grid (t in [0, 1])."""
    order = coef.shape[0]
    bx, by, bz = (np.cos(np.pi * np.outer(t, np.arange(order))).astype(np.float32)
                  for t in t_axes)
    tmp = np.tensordot(coef.astype(np.float32), bz, axes=([2], [1]))  # (k, l, z)
    tmp = np.tensordot(by, tmp, axes=([1], [1]))  # (y, k, z)
    return np.tensordot(bx, tmp, axes=([1], [1]))  # (x, y, z)


# ------------------------------------------------------------ subject draws


@dataclass(frozen=True, eq=False)
class SubjectDraw:
    """Everything random about one subject (scalars are reported in participants.tsv)."""

    scale: tuple[float, float, float]
    displacement_rms_mm: float
    displacement: np.ndarray  # (3, n, n, n) unit-RMS coefficients
    csf_mm: float
    skull_mm: float
    galea_mm: float
    temporalis_mm: float
    fat_mm: float
    skin_mm: float
    thickness: np.ndarray  # (3, n, n, n): CSF layer, skull and scalp modulation
    relaxation: dict[int, tuple[float, float, float]]  # label -> (T1, T2, PD) factors
    ct_bone_factor: float
    gain: dict[str, float]  # "<site>_<contrast>" -> receiver gain
    bias_peak_to_peak: dict[str, float]
    bias: dict[str, np.ndarray]

    def summary(self) -> dict[str, float]:
        row = {"scale_x": self.scale[0], "scale_y": self.scale[1], "scale_z": self.scale[2],
               "displacement_rms_mm": self.displacement_rms_mm, "csf_mm": self.csf_mm,
               "skull_mm": self.skull_mm, "galea_mm": self.galea_mm,
               "temporalis_mm": self.temporalis_mm, "fat_mm": self.fat_mm,
               "skin_mm": self.skin_mm, "ct_bone_factor": self.ct_bone_factor}
        row.update({f"gain_{k}": v for k, v in self.gain.items()})
        row.update({f"bias_{k}": v for k, v in self.bias_peak_to_peak.items()})
        return row


def draw_subject(seed: int, index: int) -> SubjectDraw:
    """The random draws of subject ``index`` (0-based) of the cohort ``seed``.

    Independent streams for anatomy, MR and CT, so that changing one model
    does not reshuffle the others. Ranges are design choices centred on the
    literature values in :mod:`tissues`: thicknesses (mm) of the subarachnoid
    layer 1.5-3, skull N(7, 0.7) clipped to 5.5-8.5, galea 1-2, temporalis 4-7,
    fat 2-5, skin 1.2-2; scaling N(1, 0.03) per axis (head size varies by a few
    %); displacement RMS 1-2 mm. Relaxation factors are log-normal with SD 4 %
    (T1), 3 % (T2) and 2 % (PD), below the between-subject SDs reported by
    Wright 2008 (T1, ~5 %) and Oros-Peusquens 2019 (water content, ~2.5 %).
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and subject index must be non-negative, got {seed}, {index}")
    anat, mr, ct = (np.random.default_rng(s)
                    for s in np.random.SeedSequence(seed, spawn_key=(index,)).spawn(3))
    scale = tuple(float(np.clip(anat.normal(1.0, 0.03), 0.94, 1.06)) for _ in range(3))
    draws = dict(
        scale=scale,
        displacement_rms_mm=float(anat.uniform(1.0, 2.0)),
        displacement=np.stack([_unit_field_coefficients(anat, FIELD_ORDER) for _ in range(3)]),
        csf_mm=float(anat.uniform(1.5, 3.0)),
        skull_mm=float(np.clip(anat.normal(7.0, 0.7), 5.5, 8.5)),
        galea_mm=float(anat.uniform(1.0, 2.0)),
        temporalis_mm=float(anat.uniform(4.0, 7.0)),
        fat_mm=float(anat.uniform(2.0, 5.0)),
        skin_mm=float(anat.uniform(1.2, 2.0)),
        thickness=np.stack([_unit_field_coefficients(anat, SMOOTH_ORDER) for _ in range(3)]),
    )
    def relaxation_factors() -> tuple[float, ...]:
        return tuple(float(np.exp(mr.normal(0.0, sd))) for sd in (0.04, 0.03, 0.02))

    relaxation = {label: relaxation_factors() for label in range(1, 8)}
    keys = [f"{site}_{contrast}" for site in SITES for contrast in MR_CONTRASTS]
    gain = {k: float(mr.uniform(0.85, 1.15)) for k in keys}
    pp = {k: float(mr.uniform(*SITES[k[0]].bias_range)) for k in keys}
    bias = {k: _unit_field_coefficients(mr, SMOOTH_ORDER) for k in keys}
    # drawn last, so that the labels 1-7 and the images keep the draws they had before
    relaxation.update({label: relaxation_factors() for label in range(8, N_LABELS)})
    return SubjectDraw(**draws, relaxation=relaxation,
                       ct_bone_factor=float(np.clip(ct.normal(1.0, 0.04), 0.9, 1.1)),
                       gain=gain, bias_peak_to_peak=pp, bias=bias)


# ---------------------------------------------------------------- fractions


def _ramp(offset_mm: np.ndarray, step: int) -> np.ndarray:
    """Fraction of a voxel of width ``step`` lying inside a boundary ``offset_mm`` away."""
    return np.clip(offset_mm / step + 0.5, 0.0, 1.0)


def _warp(anat: Anatomy, draw: SubjectDraw) -> tuple[np.ndarray, ...]:
    """GM, WM, hull distance and envelope of the deformed subject on the working grid,
    and the template position (mm from the FOV corner) each voxel samples.

    Output position p (mm from the corner) samples the template at
    c + (p - c)/s + u(p): per-axis scaling s about the brain centroid c, plus
    the smooth displacement u. Trilinear interpolation (order 1).
    """
    step = anat.step_mm
    shape = anat.gm.shape
    pos = [(np.arange(n, dtype=np.float64) + 0.5) * step for n in shape]
    t_axes = tuple(p / f for p, f in zip(pos, anat.fov_mm, strict=True))
    amplitude = draw.displacement_rms_mm / math.sqrt(3.0)
    source_mm = np.empty((3, *shape), dtype=np.float32)
    for a in range(3):
        source_mm[a] = _cosine_field(draw.displacement[a], t_axes) * np.float32(amplitude)
        source = anat.centre_mm[a] + (pos[a] - anat.centre_mm[a]) / draw.scale[a]
        source_mm[a] += source.astype(np.float32).reshape([-1 if i == a else 1 for i in range(3)])

    def sample(volumes: tuple[np.ndarray, ...], grid_step: int) -> list[np.ndarray]:
        coords = source_mm / np.float32(grid_step) - np.float32(0.5)  # once per grid: 3 x 35 MB
        return [ndimage.map_coordinates(vol, coords, order=1, mode="nearest", output=np.float32)
                for vol in volumes]

    return (*sample((anat.gm, anat.wm), step),
            *sample((anat.hull_mm, anat.envelope_mm), anat.hull_step_mm), source_mm)


def _fractions(anat: Anatomy, draw: SubjectDraw) -> dict[int, np.ndarray]:
    """Tissue fractions of labels 1..15 on the working grid (air is the remainder).

    GM and WM come from the warped template; the rest of each voxel is CSF
    inside the hull and, outside it, is shared among shells. The subarachnoid
    CSF and the skull follow the hull (distance s); the scalp (galea with the
    temporalis at the sides, fat, skin) follows the outer skull surface closed
    over the skull base's concavities (distance e, equal to s where nothing is
    bridged), starting where a point is beyond the skull by both measures;
    soft tissue fills the bridged concavities. Each boundary's "inside"
    fraction of a voxel is a ramp over the voxel width, made monotone
    outwards, and a shell's fraction is the difference between its outer and
    inner boundary's.
    """
    gm, wm, dist, envelope, source_mm = _warp(anat, draw)
    step = anat.step_mm
    other = np.clip(1.0 - gm - wm, 0.0, 1.0)
    inside_hull = dist <= -0.5 * step
    fractions = {1: np.where(inside_hull, other, np.float32(0.0)), 2: gm, 3: wm}
    # np.zeros maps zero pages lazily: these are written only in the band below
    fractions.update({label: np.zeros(gm.shape, dtype=np.float32) for label in (4, 5, 6, 7)})

    top = [1.0 + 2.0 * amp for amp in MODULATION]  # modulations are clipped to ±2 RMS
    scalp = (draw.galea_mm + draw.temporalis_mm + (draw.fat_mm + draw.skin_mm) * top[2])
    widest = draw.csf_mm * top[0] + draw.skull_mm * top[1] + scalp + step
    envelope += np.float32(ENVELOPE_LEVEL_MM)  # equals the hull distance where nothing is bridged
    band = np.flatnonzero(~inside_hull & ((dist < widest) | (envelope < widest)))
    s = dist.ravel()[band]
    n = other.ravel()[band]
    env = envelope.ravel()[band]

    # Smooth thickness modulations, and the weight of the head's sides (temporal region).
    t_axes = tuple((np.arange(k) + 0.5) * step / f
                   for k, f in zip(dist.shape, anat.fov_mm, strict=True))
    mod = [np.clip(1.0 + amp * _cosine_field(c, t_axes).ravel()[band], 1.0 - 2.0 * amp, top_)
           for c, amp, top_ in zip(draw.thickness, MODULATION, top, strict=True)]
    rel = [((i + 0.5) * step - c).astype(np.float32)
           for i, c in zip(np.unravel_index(band, dist.shape), anat.centre_mm, strict=True)]
    lateral = (rel[0] ** 2 / np.maximum(rel[0] ** 2 + rel[1] ** 2 + rel[2] ** 2, 1.0)) ** 2

    skull = draw.skull_mm * mod[1] * (1.0 - TEMPORAL_THINNING * lateral)
    hull_layers = [  # (label, thickness): outward from the hull
        (1, draw.csf_mm * mod[0]),
        (6, SKULL_SPLIT[0] * skull),
        (7, SKULL_SPLIT[1] * skull),
        (6, SKULL_SPLIT[2] * skull),
    ]
    scalp_layers = [
        (4, draw.galea_mm + draw.temporalis_mm * lateral),
        (5, draw.fat_mm * mod[2]),
        (4, draw.skin_mm * mod[2]),
    ]
    shell = {label: np.zeros_like(s) for label in (1, 4, 5, 6, 7)}
    boundary = np.zeros_like(s)
    inside_before = np.zeros_like(s)

    def add(label: int, inside: np.ndarray) -> np.ndarray:
        inside = np.maximum(inside, inside_before)
        shell[label] += n * (inside - inside_before)
        return inside

    for label, thickness in hull_layers:
        boundary += thickness
        inside_before = add(label, _ramp(boundary - s, step))
    q = np.minimum(s, env) - boundary  # distance beyond the skull or the closed envelope
    inside_before = add(4, _ramp(boundary - env, step))  # soft tissue filling the concavities
    boundary = np.zeros_like(s)
    for label, thickness in scalp_layers:
        boundary += thickness
        inside_before = add(label, _ramp(boundary - q, step))
    for label, values in shell.items():
        fractions[label].ravel()[band] = values
    _add_cavities(fractions, source_mm, step)
    return fractions


def _add_cavities(fractions: dict[int, np.ndarray], source_mm: np.ndarray, step: int) -> None:
    """Midface, sinuses, mastoids, ear canals and eyes (labels 8-15), placed in the
    template's MNI space (:mod:`cavities`) at the position each voxel samples, so
    they deform with the subject; computed only below the highest of them."""
    corner = _template_1mm()[3][:3, 3] - 0.5  # MNI mm of the template FOV's corner
    low = np.flatnonzero(source_mm[2].ravel() + corner[2] < cavities.TOP_MM + step)
    mni = np.stack([source_mm[a].ravel()[low] + np.float32(corner[a]) for a in range(3)])
    flat = {label: f.ravel()[low] for label, f in fractions.items()}
    cavities.add_structures(flat, mni, float(step))
    for label, values in flat.items():
        if label not in fractions:  # np.zeros maps zero pages lazily: cheap where untouched
            fractions[label] = np.zeros(fractions[1].shape, dtype=np.float32)
        fractions[label].ravel()[low] = values


# ---------------------------------------------------------------- site grids


def site_grid(site: Site, voxel_mm: float) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and RAS affine of a site's grid: the template's FOV from the same corner."""
    brain, _, _, affine = _template_1mm()
    fov = np.array(brain.shape, dtype=np.float64)
    voxel = np.array(site.voxel_mm(voxel_mm))
    shape = tuple(int(math.ceil(f / v - 1e-6)) for f, v in zip(fov, voxel, strict=True))
    grid_affine = np.diag([*voxel, 1.0])
    grid_affine[:3, 3] = affine[:3, 3] - 0.5 + voxel / 2
    return shape, grid_affine


def _area_matrix(n_in: int, step_in: float, n_out: int, step_out: float) -> sparse.csr_matrix:
    """Weights of 1D area averaging: overlap of input and output voxels over the output width.

    Both grids start at 0; output voxels beyond the input contribute nothing
    (their remainder is air, which is filled in as 1 - sum of tissues).
    """
    e_in = np.arange(n_in + 1) * step_in
    e_out = np.arange(n_out + 1) * step_out
    lo = np.maximum(e_out[:-1, None], e_in[None, :-1])
    hi = np.minimum(e_out[1:, None], e_in[None, 1:])
    weights = np.clip(hi - lo, 0.0, None) / step_out
    return sparse.csr_matrix(weights.astype(np.float32))


def _area_average(vol: np.ndarray, mats: list[sparse.csr_matrix]) -> np.ndarray:
    out = vol
    for axis, mat in enumerate(mats):
        moved = np.moveaxis(out, axis, 0)
        rest = moved.shape[1:]
        flat = mat @ np.ascontiguousarray(moved).reshape(moved.shape[0], -1)
        out = np.moveaxis(flat.reshape((mat.shape[0], *rest)), 0, axis)
    return np.ascontiguousarray(out, dtype=np.float32)


def _site_fractions(fractions: dict[int, np.ndarray], step: int, shape, affine) -> np.ndarray:
    """Stack (N_LABELS, x, y, z) of tissue fractions area-averaged onto a site grid; index = label."""
    voxel = io.voxel_sizes(affine)
    mats = [_area_matrix(n_in, step, n_out, v)
            for n_in, n_out, v in zip(fractions[1].shape, shape, voxel, strict=True)]
    stack = np.empty((N_LABELS, *shape), dtype=np.float32)
    for label in range(1, N_LABELS):
        stack[label] = _area_average(fractions[label], mats)
    np.clip(stack[1:], 0.0, 1.0, out=stack[1:])
    stack[0] = np.clip(1.0 - stack[1:].sum(axis=0), 0.0, 1.0)
    return stack


# ------------------------------------------------------------------- images


def _bias_field(coef: np.ndarray, peak_to_peak: float, shape, affine) -> np.ndarray:
    """Smooth multiplicative field exp(g) with g spanning ``peak_to_peak`` over the FOV."""
    voxel = io.voxel_sizes(affine)
    fov = np.array(shape) * voxel
    t_axes = tuple((np.arange(n) + 0.5) * v / f for n, v, f in zip(shape, voxel, fov, strict=True))
    g = _cosine_field(coef, t_axes)
    g = (g - g.min()) / max(float(g.max() - g.min()), 1e-12) - 0.5
    return np.exp(np.float32(peak_to_peak) * g)


def _subject_tissues(site: Site, draw: SubjectDraw) -> dict[int, tuple]:
    return {label: tuple((rel.scaled(*draw.relaxation[label]), frac) for rel, frac in comps)
            for label, comps in compartments(site.field_t).items()}


def mr_image(stack: np.ndarray, site: Site, contrast: str, draw: SubjectDraw,
             affine: np.ndarray) -> np.ndarray:
    """One MR image from a site's fraction stack: signal equations, gain and bias."""
    key = f"{site.name}_{contrast}"
    signals = site.tissue_signals(contrast, _subject_tissues(site, draw))
    weights = np.array([signals[label] for label in range(N_LABELS)], dtype=np.float32)
    image = np.tensordot(weights, stack, axes=1)
    if site.sequences[contrast].magnitude:
        image = np.abs(image)
    bias = _bias_field(draw.bias[key], draw.bias_peak_to_peak[key], stack.shape[1:], affine)
    return (image * bias * np.float32(SIGNAL_SCALE * draw.gain[key])).astype(np.float32)


def ct_image(stack: np.ndarray, draw: SubjectDraw) -> np.ndarray:
    """CT in HU: attenuation mixes linearly, so HU is the fraction-weighted sum."""
    hu = dict(HOUNSFIELD)
    hu[6] = HOUNSFIELD[6] * draw.ct_bone_factor
    hu[7] = DIPLOE_BONE_FRACTION * hu[6] + (1.0 - DIPLOE_BONE_FRACTION) * HOUNSFIELD[5]
    air = cavities.MASTOID_AIR_FRACTION
    hu[cavities.MASTOID] = air * HOUNSFIELD[0] + (1.0 - air) * hu[6]
    weights = np.array([hu[label] for label in range(N_LABELS)], dtype=np.float32)
    return np.tensordot(weights, stack, axes=1).astype(np.float32)


# ------------------------------------------------------------------ writing


def make_subject(subject: str, index: int, seed: int, voxel_mm: float,
                 out_root) -> dict[str, Path]:
    """Write one subject's images and labels; return role -> path.

    Roles: ``A_T1w``, ``A_T2w``, ``A_PDw``, ``B_T1w``, ``B_T2w``, ``B_PDw``,
    ``CT`` and ``dseg``. Everything is computed before the first file is
    written, and each file is written atomically.
    """
    if not voxel_mm > 0:
        raise ValueError(f"voxel_mm must be positive, got {voxel_mm}")
    draw = draw_subject(seed, index)
    anat = _anatomy(_work_step(voxel_mm))
    fractions = _fractions(anat, draw)

    volumes: dict[str, tuple[np.ndarray, np.ndarray, str, str | None, type]] = {}
    for site in SITES.values():
        shape, affine = site_grid(site, voxel_mm)
        stack = _site_fractions(fractions, anat.step_mm, shape, affine)
        for contrast in MR_CONTRASTS:
            volumes[f"{site.name}_{contrast}"] = (
                mr_image(stack, site, contrast, draw, affine), affine, contrast, site.name,
                np.float32)
        if site.name == "A":
            volumes["CT"] = (ct_image(stack, draw), affine, "CT", None, np.float32)
            volumes["dseg"] = (np.argmax(stack, axis=0).astype(np.uint8), affine, "dseg",
                               None, np.uint8)
    return {role: io.save_volume(anat_path(out_root, subject, suffix, acq), data, affine,
                                 dtype=dtype)
            for role, (data, affine, suffix, acq, dtype) in volumes.items()}


def _site_description(site: Site, voxel_mm: float) -> dict:
    sequences = {}
    for contrast, seq in site.sequences.items():
        sequences[contrast] = {"sequence": type(seq).__name__, **asdict(seq)}
    return {"MagneticFieldStrength": site.field_t, "VoxelSizeMM": list(site.voxel_mm(voxel_mm)),
            "Sequences": sequences, "BiasPeakToPeakRange": list(site.bias_range)}


def write_dataset_files(root, subjects: list[str], seed: int, voxel_mm: float) -> None:
    """dataset_description.json, participants.tsv (the per-subject draws) and dseg.tsv.

    ``subjects[i]`` is taken to have been generated with index ``i``, as
    :func:`make_cohort` does.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    description = {
        "Name": "medsynth phantom cohort",
        "BIDSVersion": "1.9.0",
        "DatasetType": "raw",
        "GeneratedBy": [{
            "Name": "medsynth",
            "Version": medsynth.__version__,
            "Description": (
                "Heads modelled around the ICBM 2009a template brain; MR images from signal "
                "equations at two sites, CT in HU, tissue labels. No thermal noise. BIDS has "
                "no CT suffix: CT is stored as anat/sub-<id>_CT.nii.gz."),
        }],
        "SourceDatasets": [{"URL": "https://www.bic.mni.mcgill.ca/ServicesAtlases/ICBM152NLin2009"}],
        "PhantomSeed": seed,
        "PhantomVoxelMM": voxel_mm,
        "AcquisitionSites": {name: _site_description(site, voxel_mm)
                             for name, site in SITES.items()},
    }
    with io.atomic_path(root / "dataset_description.json") as tmp:
        tmp.write_text(json.dumps(description, indent=2) + "\n")

    rows = [{"participant_id": f"sub-{s}", **draw_subject(seed, i).summary()}
            for i, s in enumerate(subjects)]
    with io.atomic_path(root / "participants.tsv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t",
                                lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v)
                             for k, v in row.items()})

    with io.atomic_path(root / "dseg.tsv") as tmp:
        lines = ["index\tname"] + [f"{i}\t{name}" for i, name in LABELS.items()]
        tmp.write_text("\n".join(lines) + "\n")


def make_cohort(n_subjects: int, seed: int, voxel_mm: float, out_root) -> list[str]:
    """Write ``n_subjects`` subjects and the dataset-level files; return the ids."""
    ids = subject_ids(n_subjects)
    for index, subject in enumerate(ids):
        make_subject(subject, index, seed, voxel_mm, out_root)
    write_dataset_files(out_root, ids, seed, voxel_mm)
    return ids

