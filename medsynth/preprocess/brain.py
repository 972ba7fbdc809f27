"""Brain masks for datasets without tissue labels: the ICBM 2009a template's
brain, registered affinely onto the subject's T1w.

Evaluation segments GM/WM/CSF inside the brain mask; a labelled dataset takes
it from its labels (:func:`medsynth.preprocess.masks.brain_mask_from_labels`).
Without labels we use the brain-extracted template that ships with nilearn:
an affine (12-parameter) registration of the template brain onto the subject
is enough to drop scalp, skull and neck, which is all the Dice fallback needs
(both prediction and reference are segmented inside the same mask).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from medsynth import io
from medsynth.antsio import ants_module, from_ants, to_ants
from medsynth.data.phantom import template_dir

TEMPLATE_T1 = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


def brain_mask_from_template(t1: np.ndarray, affine: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Boolean brain mask on the grid of `t1`, inside the head mask `head`."""
    ants = ants_module()
    template, template_affine = io.load_array(template_dir() / TEMPLATE_T1)
    fixed = to_ants(np.where(head, t1, 0).astype(np.float32), affine)
    moving = to_ants(template, template_affine)
    with tempfile.TemporaryDirectory(prefix="medsynth-brain-") as tmp:
        result = ants.registration(fixed=fixed, moving=moving, type_of_transform="Affine",
                                   aff_metric="mattes", aff_shrink_factors=(4, 2, 1),
                                   aff_smoothing_sigmas=(2, 1, 0), aff_iterations=(200, 100, 50),
                                   outprefix=str(Path(tmp) / "brain_"))
        warped = ants.apply_transforms(fixed=fixed, moving=to_ants((template > 0).astype(np.float32),
                                                                   template_affine),
                                       transformlist=result["fwdtransforms"],
                                       interpolator="genericLabel")
    mask = (from_ants(warped)[0] > 0.5) & head
    if not mask.any():
        raise ValueError("brain mask from the template is empty: the registration failed")
    return mask
