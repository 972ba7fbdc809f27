"""CT numbers to linear attenuation coefficients at 511 keV.

Bilinear conversion of Carney et al., Med Phys 2006;33(4):976-983, with
x = HU + 1000: μ = 9.6e-5·x cm⁻¹ up to the break point (water-like mixtures of
air and soft tissue), then a·x + b (mixtures of soft tissue and bone, whose
X-ray attenuation grows faster than its 511 keV attenuation). a, b and the
break point depend on the CT tube voltage; only 120 kVp's values are recorded
here (verified, /work/shared/NOTES.md), other voltages are refused rather
than guessed. The same conversion is applied to the real and the synthetic CT,
so its own error cancels out of the comparison.
"""

from __future__ import annotations

import numpy as np

WATER_MU_PER_CM = 9.6e-5  # per (HU + 1000), so water (0 HU) is 0.096 /cm
# kVp -> (a [/cm per HU], b [/cm], break point [HU])
CARNEY_2006 = {120: (5.10e-5, 4.71e-2, 47.0)}


def coefficients(kvp: float) -> tuple[float, float, float]:
    """(a, b, break point in HU) of the bone segment for a tube voltage."""
    try:
        return CARNEY_2006[int(kvp)]
    except (KeyError, ValueError):
        raise ValueError(f"no verified Carney 2006 coefficients for {kvp} kVp; "
                         f"known: {sorted(CARNEY_2006)}") from None


def mu_511(hu: np.ndarray, kvp: float = 120) -> np.ndarray:
    """Linear attenuation at 511 keV in /cm (float32); HU below -1000 give 0."""
    a, b, break_hu = coefficients(kvp)
    x = np.asarray(hu, dtype=np.float32) + np.float32(1000.0)
    mu = np.where(x <= break_hu + 1000.0, WATER_MU_PER_CM * x, a * x + b)
    return np.clip(mu, 0.0, None).astype(np.float32)


def without_bone(hu: np.ndarray, head: np.ndarray, bone_threshold_hu: float,
                 soft_tissue_hu: float) -> np.ndarray:
    """The CT with its bone (head voxels above `bone_threshold_hu`) made soft tissue:
    the attenuation map of Dixon-based MR attenuation correction, which has no bone
    class (the PET end point's "no bone" control)."""
    hu = np.asarray(hu, dtype=np.float32)
    return np.where((hu > bone_threshold_hu) & np.asarray(head, dtype=bool),
                    np.float32(soft_tissue_hu), hu)
