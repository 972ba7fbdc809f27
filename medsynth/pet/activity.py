"""An FDG-like activity map from tissue labels.

Relative uptake GM 4 : WM 1, CSF 0, bone 0, skin and other soft tissue 1/2
(the FDG model of the ``brainweb`` PyPI package, which follows Aubert-Broche et
al.'s BrainWeb phantoms: GM = 4 × WM, skin WM/2, CSF and bone 0). Fat is
counted with the soft tissue; air, the air cavities, mastoid cells and the
vitreous take none (the eye's uptake is low; a design choice).
"""

from __future__ import annotations

import numpy as np

from medsynth.data.tissues import LABELS

UPTAKE = {"CSF": 0.0, "GM": 4.0, "WM": 1.0, "soft_tissue": 0.5, "fat": 0.5}


def activity_from_labels(dseg: np.ndarray) -> np.ndarray:
    """Relative activity (float32) of each voxel from its dseg label."""
    lookup = np.zeros(max(LABELS) + 1, dtype=np.float32)
    for label, name in LABELS.items():
        lookup[label] = UPTAKE.get(name, 0.0)
    labels = np.asarray(dseg).astype(np.int64)
    if labels.min() < 0 or labels.max() >= lookup.size:
        raise ValueError(f"labels outside 0..{lookup.size - 1} in the tissue map")
    return lookup[labels]
