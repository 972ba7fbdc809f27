"""The ``bulk_density`` baseline for ``mr_to_ct``: a segmentation-based
pseudo-CT with one Hounsfield value per tissue class, the classic MR-based
attenuation correction for brain PET/MR (e.g. Catana et al., JNM 51(9), 2010;
Keereman et al., JNM 51(5), 2010 - both with air / soft tissue / bone classes;
Hofmann et al., JNM 52(9), 2011, compare such segmentation methods with atlas
ones).

Segmentation from the T1w image alone: outside the head mask is air; inside,
the brain mask is soft tissue; among the other head voxels, bone gives almost
no MR signal, so the dark ones are bone (Otsu's threshold on the non-brain
head voxels, Otsu, IEEE SMC 9(1), 1979). A T1w image cannot tell bone from air
cavities (sinuses, mastoid air cells), which both end up as bone: the known
weakness of T1-based segmentation that UTE sequences were introduced to fix
(Keereman 2010, Catana 2010). Two clean-ups: voxels within `skin_margin_mm` of
the head surface stay soft tissue (the scalp lies over the skull, and the
partial-volume rim of the head is dark without being bone), and bone
components smaller than `min_bone_mm3` are dropped as noise.

Class values (DEFAULTS): air -1000 HU, by definition of the Hounsfield scale;
soft tissue 40 HU, the CT number of brain parenchyma and muscle (about
20-50 HU in radiology references; Samarin et al., EJNMMI 39(7), 2012, use
36 HU for soft tissue in a simulated MR attenuation map); bone 1000 HU, one
value for cortical bone and diploe together. Brain PET/MR attenuation maps
give the skull mostly 0.143-0.151 /cm at 511 keV (range 0.116-0.172) against
0.095-0.099 /cm for brain (table 2 of the review by Wagenknecht et al., MAGMA
26(1), 2013): a relative electron density of about 1.5, since 511 keV
attenuation is almost all Compton scattering; on a CT calibration that is
roughly +1000 HU.
MR-only radiotherapy uses the same density for bulk bone (1.5 g/cm3,
Karotki et al., JACMP 12(4), 2011).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from medsynth import io
from medsynth.case import Case
from medsynth.methods.identity import predict as source_on_target_grid

DEFAULTS = {
    "air_hu": -1000.0,
    "soft_tissue_hu": 40.0,
    "bone_hu": 1000.0,
    "skin_margin_mm": 2.0,  # about the thickness of the skin (1-3 mm on the scalp)
    "min_bone_mm3": 500.0,  # 0.5 ml: smaller dark blobs are noise, not skull
}


def bone_mask(t1: np.ndarray, head: np.ndarray, brain: np.ndarray, affine: np.ndarray,
              skin_margin_mm: float, min_bone_mm3: float) -> np.ndarray:
    """Dark non-brain head voxels of a T1w image, cleaned up (see module docstring)."""
    voxel = io.voxel_sizes(affine)
    candidates = head & ~brain
    if candidates.sum() < 2:
        return np.zeros_like(head)
    values = t1[candidates]
    if values.min() == values.max():
        return np.zeros_like(head)
    dark = candidates & (t1 <= threshold_otsu(values))
    depth_mm = ndimage.distance_transform_edt(head, sampling=voxel)
    dark &= depth_mm > skin_margin_mm
    labels, n = ndimage.label(dark, structure=ndimage.generate_binary_structure(3, 3))
    if n == 0:
        return dark
    sizes_mm3 = np.bincount(labels.ravel())[1:] * float(np.prod(voxel))
    keep = np.concatenate([[False], sizes_mm3 >= min_bone_mm3])
    return keep[labels]


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Pseudo-CT in HU on the target grid: air, soft tissue or bone per voxel."""
    params = {**DEFAULTS, **params}
    t1 = source_on_target_grid(case, params, model_dir)
    head = np.asarray(case.head_mask, dtype=bool)
    brain = np.asarray(case.brain_mask, dtype=bool) & head
    bone = bone_mask(t1, head, brain, case.target_affine,
                     float(params["skin_margin_mm"]), float(params["min_bone_mm3"]))
    ct = np.full(case.target_shape, params["air_hu"], dtype=np.float32)
    ct[head] = params["soft_tissue_hu"]
    ct[bone] = params["bone_hu"]
    return ct
