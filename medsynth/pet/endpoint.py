"""The PET end point of one ``mr_to_ct`` subject: its reference once, then the
error of each synthetic CT against it.

:func:`make_reference` simulates the emission data through the real CT's
attenuation and reconstructs them with it (the reference PET); it is written
once per subject, so that each method's evaluation adds one reconstruction.
:func:`pet_metrics` reconstructs the same data with a synthetic CT's
attenuation and scores the difference (:mod:`error`) per region:

- ``brain``: CSF, GM and WM labels where the reference PET exceeds
  `threshold` × its 99th percentile in the brain (low-uptake voxels, mostly
  CSF, would make relative errors meaningless);
- ``gm``, ``wm``: the same, per tissue;
- ``skullbase``: the brain voxels above threshold within `near_air_mm` of air
  inside the head (CT < -500 HU in the head mask: sinuses, mastoid cells, ear
  canals), where MR-based attenuation maps err most.

With ``noise_counts`` > 0, ``replicates`` Poisson replicates of the data are
drawn once per subject (seeded) and reconstructed with the real CT; each
synthetic CT reconstructs the same replicates, and the ``pet_noisy_*`` columns
average the paired errors over them.

The activity model needs tissue labels; a dataset without them (SynthRAD2023)
gets segmented ones (:func:`medsynth.pet.activity.labels_from_images`), and
where those cannot be made either the end point is skipped with a message
saying why (:data:`NO_LABELS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medsynth import io
from medsynth.pet.activity import activity_from_labels
from medsynth.pet.attenuation import coefficients, mu_511
from medsynth.pet.error import STATISTICS, region_statistics, relative_error_pct
from medsynth.pet.projector import make_projector
from medsynth.pet.recon import attenuation_factors, emission_data, osem, poisson_data

REGIONS = ("brain", "gm", "wm", "skullbase")
COLUMNS = tuple(f"pet_{stat}_{region}" for region in REGIONS for stat in STATISTICS)
NOISY_COLUMNS = tuple(c.replace("pet_", "pet_noisy_", 1) for c in COLUMNS)
INTERNAL_AIR_HU = -500.0
NO_LABELS = ("PET end point skipped: no tissue labels (dseg) for the activity model, and none "
             "could be segmented")


@dataclass(frozen=True)
class PetSettings:
    """The end point's settings (config ``evaluation.pet``; see the schema)."""

    kvp: float = 120
    fwhm_mm: float = 4.5
    angles: int = 60
    iterations: int = 3
    subsets: int = 6
    threshold: float = 0.2
    near_air_mm: float = 20.0
    noise_counts: float = 0.0
    replicates: int = 2

    def __post_init__(self):
        coefficients(self.kvp)  # refuses an unknown tube voltage early


def _in_plane_pixel(affine: np.ndarray, path) -> float:
    voxel = io.voxel_sizes(affine)
    if not np.isclose(voxel[0], voxel[1]):
        raise io.InputError(path, f"slice-wise PET needs square in-plane voxels, got {voxel}")
    return float(voxel[0])


def make_reference(ct: np.ndarray, dseg: np.ndarray, head: np.ndarray, affine: np.ndarray,
                   settings: PetSettings, path="CT", seed=0) -> dict[str, np.ndarray]:
    """Emission data, reference PET and region masks of one subject (and, with noise,
    the replicates drawn with `seed` and their reference PETs)."""
    projector = make_projector(ct.shape[:2], _in_plane_pixel(affine, path), settings.angles)
    factors = attenuation_factors(projector, mu_511(ct, settings.kvp))
    data = emission_data(projector, activity_from_labels(dseg), factors, settings.fwhm_mm,
                         io.voxel_sizes(affine))
    reference = osem(projector, data, factors, settings.iterations, settings.subsets)
    brain = np.isin(dseg, (1, 2, 3))
    level = settings.threshold * float(np.percentile(reference[brain], 99)) if brain.any() else np.inf
    above = brain & (reference > level)
    air = (ct < INTERNAL_AIR_HU) & head
    near_air = ndimage.distance_transform_edt(~air, sampling=io.voxel_sizes(affine)) \
        <= settings.near_air_mm if air.any() else np.zeros_like(air)
    out = {"data": data, "reference": reference, "brain": above, "gm": above & (dseg == 2),
           "wm": above & (dseg == 3), "skullbase": above & near_air}
    if settings.noise_counts > 0:
        rng = np.random.default_rng(seed)
        out["noisy_data"] = np.stack([poisson_data(data, settings.noise_counts, rng)
                                      for _ in range(settings.replicates)])
        out["noisy_reference"] = np.stack([osem(projector, y, factors, settings.iterations,
                                                settings.subsets) for y in out["noisy_data"]])
    return out


def save_reference(reference: dict[str, np.ndarray], path) -> None:
    with io.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **reference)


def load_reference(path) -> dict[str, np.ndarray]:
    with np.load(path) as npz:
        return {key: npz[key] for key in npz.files}


def pet_metrics(pred_ct: np.ndarray, affine: np.ndarray, reference: dict[str, np.ndarray],
                settings: PetSettings, path="prediction") -> tuple[dict[str, float], np.ndarray]:
    """The PET columns of one synthetic CT, and its noise-free relative-error map (%, NaN
    outside the brain)."""
    projector = make_projector(pred_ct.shape[:2], _in_plane_pixel(affine, path), settings.angles)
    factors = attenuation_factors(projector, mu_511(pred_ct, settings.kvp))

    def errors(data, reference_pet):
        test = osem(projector, data, factors, settings.iterations, settings.subsets)
        return relative_error_pct(test, reference_pet, reference["brain"])

    error = errors(reference["data"], reference["reference"])
    row = _region_columns(error, reference, "pet_")
    if "noisy_data" in reference:
        replicates = [_region_columns(errors(y, ref), reference, "pet_noisy_")
                      for y, ref in zip(reference["noisy_data"], reference["noisy_reference"],
                                        strict=True)]
        row.update({key: float(np.mean([r[key] for r in replicates])) for key in NOISY_COLUMNS})
    return row, error


def _region_columns(error: np.ndarray, reference: dict, prefix: str) -> dict[str, float]:
    row = {}
    for region in REGIONS:
        row.update({f"{prefix}{stat}_{region}": value
                    for stat, value in region_statistics(error, reference[region]).items()})
    return row
