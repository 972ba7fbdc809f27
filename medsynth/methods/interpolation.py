"""The ``bspline`` baseline for ``superres``: cubic B-spline interpolation of
the thick-slice volume onto the fine target grid.

This is the reference SMORE (Zhao et al., IEEE TMI 40(3), 2021) and most
super-resolution papers compare with. It uses the project's one resampler,
:func:`medsynth.preprocess.resample.resample_to_grid`: each target voxel is
mapped through world coordinates to a (fractional) source voxel index, so any
pair of affines works, and scipy's spline prefilter makes the cubic spline
interpolate (not smooth) the slices (Unser, IEEE Signal Processing Magazine
16(6), 1999). scipy rather than ANTs: ``ants.resample_image_to_target``
would do the same with interpolator ``bSpline``, but ANTs resampling defaults
to nearest neighbour (NOTES.md), an easy slip, and needs a round trip through
ANTs images for nothing.

Ends of the field of view: the thick slices' centres lie inside the fine field
of view, so the first and last few fine voxels lie up to half a slice beyond
them. The resampler's ``nearest`` boundary repeats the edge slice outwards, so
those voxels get about the edge slice's value: no zero band.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medsynth.case import Case
from medsynth.preprocess.resample import resample_to_grid

DEFAULTS: dict = {"order": 3}  # cubic B-spline; 1 (trilinear) and 0 (nearest) also accepted


def predict(case: Case, params: dict, model_dir: Path | None) -> np.ndarray:
    """Interpolate source channel 0 onto (`case.target_shape`, `case.target_affine`)."""
    params = {**DEFAULTS, **params}
    return resample_to_grid(case.source[0], case.source_affine, case.target_shape,
                            case.target_affine, order=int(params["order"]))
