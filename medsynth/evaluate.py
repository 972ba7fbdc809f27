"""Score one prediction against its target: image metrics and segmentation
Dice, one row of results per (dataset, task, condition, method, subject).

Evaluation never knows how a prediction was made: it reads the prediction
file and the task-input files and nothing else, so any method that writes a
prediction on the target grid is scored the same way.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from medsynth import io, protocols
from medsynth.metrics import dice, dice_per_label, volume_difference_pct
from medsynth.results_table import SEGMENTATION_FAILED
from medsynth.segment import (
    SEGMENTABLE_CONTRASTS,
    TISSUE_LABELS,
    SegmentationError,
    atropos_tissues,
    bone_mask_from_ct,
)
from medsynth.tasks import MR_CONTRASTS

log = logging.getLogger(__name__)

BONE_LABELS = (6, 7)  # cortical and cancellous bone in the dseg convention
CONSISTENCY_KEYS = (*(f"consistency_dice_{n}" for n in TISSUE_LABELS.values()),
                    "consistency_dice_mean",
                    *(f"volume_diff_pct_{n}" for n in TISSUE_LABELS.values()), "volume_diff_pct_mean")


def segmentation_consistency(seg: np.ndarray, target_seg: np.ndarray) -> dict[str, float]:
    """Per tissue, Dice and volume difference (%) of a segmentation against the
    target scan's own, and the means over tissues (keys ``CONSISTENCY_KEYS``)."""
    tissues = dice_per_label(seg, target_seg, TISSUE_LABELS)
    row = {f"consistency_dice_{name}": value for name, value in tissues.items()}
    row["consistency_dice_mean"] = float(np.mean(list(tissues.values())))
    volumes = {name: volume_difference_pct(seg, target_seg, label)
               for label, name in TISSUE_LABELS.items()}
    row.update({f"volume_diff_pct_{name}": value for name, value in volumes.items()})
    row["volume_diff_pct_mean"] = float(np.mean(list(volumes.values())))
    return row


def _load_on_grid(path, reference_path, reference_grid, loader=io.load_array):
    """Load a volume and require it to share the reference grid (error names `path`)."""
    data, affine = loader(path)
    io.require_same_grid(path, (data.shape, affine), reference_path, reference_grid)
    return data


def evaluate_prediction(pred_path: str | os.PathLike, target_path: str | os.PathLike,
                        mask_path: str | os.PathLike, brainmask_path: str | os.PathLike,
                        dseg_path: str | os.PathLike | None,
                        target_contrast: str, consistency: bool = False,
                        protocol: str = protocols.DEFAULT_PROTOCOL,
                        extra_metrics: tuple[str, ...] = ()) -> dict[str, float]:
    """Image metrics inside the head mask and tissue Dice for one prediction.

    The image metrics are those `protocol` defines (``medsynth.protocols``),
    plus `extra_metrics` (``ms_ssim``) where the protocol adds them.

    MR targets: Atropos tissues of the prediction against the ground-truth
    labels inside the brain mask when ``dseg_path`` is given, else against
    Atropos tissues of the target (keys ``dice_CSF``, ``dice_GM``, ``dice_WM``).
    CT targets: bone by HU threshold against dseg bone labels {6, 7} inside the
    head mask, else against the thresholded target (``dice_bone``).
    ``dice_mean`` averages the Dice values present. PDw targets get NaN Dice:
    their tissues do not separate by intensity (see ``medsynth.segment``).

    `consistency` (harmonization) adds how consistently a tissue measurement
    carries over to the target scanner, as DeepHarmony evaluates it: the
    prediction's Atropos tissues against the Atropos tissues of the real
    target scan (``consistency_dice_<tissue>`` and their mean) and the
    difference of each tissue's volume between the two
    (``volume_diff_pct_<tissue>``, % of the target scan's volume, and their
    mean). NaN for PDw.

    A prediction that the segmenter cannot segment (Atropos fails or leaves a
    tissue empty; for CT, no voxel above the bone threshold where the
    reference has bone) is still scored: its image metrics as usual, its Dice
    and consistency as a segmentation with no tissue (Dice 0), and
    ``segmentation_failed`` 1 (else 0) with a warning naming the file. A
    method's poor output costs that method its Dice, never the run. All
    values are floats.
    """
    if target_contrast not in (*MR_CONTRASTS, "CT"):
        raise ValueError(f"unknown target contrast {target_contrast!r}; "
                         f"expected one of {(*MR_CONTRASTS, 'CT')}")
    target, affine = io.load_array(target_path)
    grid = (target.shape, affine)
    pred = _load_on_grid(pred_path, target_path, grid)
    head = _load_on_grid(mask_path, target_path, grid, io.load_mask)
    brain = _load_on_grid(brainmask_path, target_path, grid, io.load_mask)
    dseg = None
    if dseg_path is not None:
        dseg = np.rint(_load_on_grid(dseg_path, target_path, grid)).astype(np.int16)

    is_ct = target_contrast == "CT"
    row = protocols.get(protocol).image_metrics(pred, target, head, is_ct, extra_metrics)
    failed = False
    if is_ct:
        pred_bone = bone_mask_from_ct(pred, head)
        if dseg is not None:
            ref_bone = np.isin(dseg, BONE_LABELS) & head
        else:
            ref_bone = bone_mask_from_ct(target, head)
        failed = not pred_bone.any() and ref_bone.any()
        if failed:
            log.warning("%s: no voxel above the bone threshold; bone Dice 0, "
                        "recorded as a segmentation failure", pred_path)
        row["dice_bone"] = dice(pred_bone, ref_bone)
        row["dice_mean"] = row["dice_bone"]
    elif target_contrast not in SEGMENTABLE_CONTRASTS:
        row.update({f"dice_{name}": np.nan for name in TISSUE_LABELS.values()})
        row["dice_mean"] = np.nan
        if consistency:
            row.update(dict.fromkeys(CONSISTENCY_KEYS, np.nan))
    else:
        pred_seg, failed = _prediction_tissues(pred, affine, brain, target_contrast, pred_path)
        target_seg = None
        if consistency or dseg is None:
            target_seg = _reference_tissues(target, affine, brain, target_contrast, target_path)
        ref_seg = np.where(brain, dseg, 0) if dseg is not None else target_seg
        tissues = dice_per_label(pred_seg, ref_seg, TISSUE_LABELS)
        row.update({f"dice_{name}": value for name, value in tissues.items()})
        row["dice_mean"] = float(np.mean(list(tissues.values())))
        if consistency:
            row.update(segmentation_consistency(pred_seg, target_seg))
    row[SEGMENTATION_FAILED] = int(failed)
    return {key: float(value) for key, value in row.items()}


def _prediction_tissues(pred, affine, brain, contrast, pred_path) -> tuple[np.ndarray, bool]:
    """The prediction's tissues and whether their segmentation failed. A failed
    segmentation counts as one that found no tissue: Dice 0 against any
    reference, volume difference 100 %."""
    try:
        return atropos_tissues(pred, affine, brain, contrast), False
    except SegmentationError as err:
        log.warning("%s: %s; its Dice values are 0, recorded as a segmentation failure",
                    pred_path, err)
        return np.zeros(pred.shape, dtype=np.uint8), True


def _reference_tissues(target, affine, brain, contrast, target_path) -> np.ndarray:
    """The target scan's tissues; a target that cannot be segmented is bad input."""
    try:
        return atropos_tissues(target, affine, brain, contrast)
    except SegmentationError as err:
        raise io.InputError(target_path, f"reference image cannot be segmented: {err}") from err
