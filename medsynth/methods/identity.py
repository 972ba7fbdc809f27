"""The ``none`` baseline: the primary source channel, unchanged.

It is the floor every method must beat: the noisy image for ``denoise``, the
site-A image for ``harmonize``, the T1w image scored as a T2w for ``t1_to_t2``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medsynth.case import Case

DEFAULTS: dict = {}


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Return channel 0 of the source; it must already lie on the target grid."""
    if not case.same_grid:
        raise ValueError(
            f"subject {case.subject}: source grid (shape {case.source.shape[1:]}) differs from "
            f"the target grid (shape {tuple(case.target_shape)}); this method does not resample"
        )
    return np.array(case.source[0], dtype=np.float32, copy=True)
