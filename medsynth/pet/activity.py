"""An FDG-like activity map from tissue labels, or from the tissues the suite can
segment where a dataset has no labels.

Relative uptake GM 4 : WM 1, CSF 0, bone 0, skin and other soft tissue 1/2
(the FDG model of the ``brainweb`` PyPI package, which follows Aubert-Broche et
al.'s BrainWeb phantoms: GM = 4 × WM, skin WM/2, CSF and bone 0). Fat is
counted with the soft tissue; air, the air cavities, mastoid cells and the
vitreous take none (the eye's uptake is low; a design choice).

Without labels (SynthRAD2023, a BIDS folder), :func:`labels_from_images` makes
dseg-like labels: CSF, GM and WM from Atropos on the T1w inside the brain mask
(the segmentation evaluation uses for Dice), and in the rest of the head bone
above the CT bone threshold, air below -500 HU, soft tissue otherwise.
"""

from __future__ import annotations

import numpy as np

from medsynth.data.tissues import LABELS
from medsynth.segment import BONE_THRESHOLD_HU, atropos_tissues

AIR_BELOW_HU = -500.0

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


def labels_from_images(ct: np.ndarray, t1: np.ndarray, head: np.ndarray, brain: np.ndarray,
                       affine: np.ndarray) -> np.ndarray:
    """dseg-like labels (0 air, 1-3 CSF/GM/WM, 4 soft tissue, 6 bone) from a CT and a
    T1w on one grid; raises :class:`medsynth.segment.SegmentationError` when Atropos
    finds no three tissues."""
    head = np.asarray(head, dtype=bool)
    brain = np.asarray(brain, dtype=bool) & head
    labels = np.where(head, 4, 0).astype(np.int16)
    labels[head & (ct > BONE_THRESHOLD_HU)] = 6
    labels[head & (ct < AIR_BELOW_HU)] = 0
    tissues = atropos_tissues(t1, affine, brain, "T1w")
    labels[brain] = tissues[brain]
    return labels
