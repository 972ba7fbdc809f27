"""Realistic residual misregistration of paired training data.

Paired MR-CT training sets are registered, and never perfectly: Wolterink et al.
(2017) trained their unpaired CycleGAN because such errors hurt paired training.
The phantom's pairs align exactly, so paired training can only win here unless
the error is put back. This module moves a training or validation subject's
source channels by a random rigid transform, seeded per subject, so that the
claim can be tested under the condition it was made in. Test subjects never
pass through here: they are evaluated on the true alignment.

Size of the error. Ulin et al., "Results of a multi-institutional benchmark test
for cranial CT/MR image registration", Int J Radiat Oncol Biol Phys 77(5):1584-9,
2010 (51 submissions from 45 institutions registering one cranial MR to its CT):
the average error in the position of the target's centre was 1.8 mm (abstract,
https://pubmed.ncbi.nlm.nih.gov/20381270/). The default `translation_mm` is that
mean displacement; we found no published rotation error we could read, so
`rotation_deg` defaults to 0.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from medsynth.seeding import subject_rng

DEFAULTS = {"translation_mm": 1.8, "rotation_deg": 0.0}
# mean length of a 3D vector of independent N(0, s^2) components: s * sqrt(8 / pi)
_MEAN_NORM = float(np.sqrt(8.0 / np.pi))


def random_rigid(rng: np.random.Generator, translation_mm: float,
                 rotation_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(rotation matrix, translation in mm): translation per axis N(0, s^2) with s chosen so
    that the mean displacement is `translation_mm`; rotation per axis N(0, rotation_deg^2)."""
    shift = rng.normal(0.0, translation_mm / _MEAN_NORM, 3)
    angles = rng.normal(0.0, rotation_deg, 3)
    return Rotation.from_euler("xyz", angles, degrees=True).as_matrix(), shift


def misalign(channels: np.ndarray, voxel_mm, rotation: np.ndarray,
             shift_mm: np.ndarray) -> np.ndarray:
    """`channels` (C, x, y, z) moved by the rigid transform about the volume's centre
    (linear interpolation, edges extended); the grid stays the same."""
    voxel = np.asarray(voxel_mm, dtype=float)
    centre = (np.asarray(channels.shape[1:]) - 1) / 2.0
    # output voxel p samples input at centre + S^-1 R^T (S (p - centre) - t)
    to_mm = np.diag(voxel)
    matrix = np.linalg.inv(to_mm) @ rotation.T @ to_mm
    offset = centre - matrix @ centre - np.linalg.inv(to_mm) @ rotation.T @ shift_mm
    return np.stack([ndimage.affine_transform(c, matrix, offset, order=1, mode="nearest")
                     for c in np.asarray(channels, dtype=np.float32)]).astype(np.float32)


def misregister(channels: np.ndarray, voxel_mm, seed: int, subject: str,
                settings: dict) -> np.ndarray:
    """One subject's source channels with its seeded random rigid error."""
    settings = {**DEFAULTS, **settings}
    rotation, shift = random_rigid(subject_rng(seed, subject), float(settings["translation_mm"]),
                                   float(settings["rotation_deg"]))
    return misalign(channels, voxel_mm, rotation, shift)
