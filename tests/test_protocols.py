"""Evaluation protocols against their official implementations and direct NumPy
transcriptions of their published definitions.

The OFFICIAL values below are the outputs of the challenges' own code on the
arrays of ``protocol_cases.py``, produced with (SimpleITK and evalutils stubbed:
the scoring functions never call them; torchmetrics 1.9.0 and
lightning-utilities 0.15.3 installed with ``pip install --target``)::

    # SynthRAD2023/metrics functions/image_metrics.py @ fe7e3853133dfb13da42f13c461c3d25c0123582
    m = ImageMetrics(); m.mae(target, pred, mask)
    m.psnr(target, pred, mask, use_population_range=True); m.ssim(target, pred, mask)
    # SynthRAD2025/evaluation image_metrics.py @ 17cac47b6288fcb66c5818c9d50eb9534d613fa2
    ImageMetrics().score_patient(target, pred, mask)
    # torchmetrics 1.9.0, on BraSyn-normalised MR images (ssim.py's __percentile_clip) times the mask
    structural_similarity_index_measure(pred[None, None], target[None, None])  # float64 tensors

with ``pred, target, mask = ct_case()`` (CT) or ``mr_case()`` (BraSyn), numpy
2.3.5, scikit-image 0.26.0, scipy 1.15.3.
"""

import json
import math

import numpy as np
import pytest
from protocol_cases import ct_case, mr_case
from skimage.metrics import structural_similarity

from medsynth import metrics, protocols
from medsynth.config import SCHEMA_PATH

OFFICIAL_SYNTHRAD2023_CT = {"mae": 115.69482871609085, "psnr": 21.620737017956216,
                            "ssim": 0.8363396441434314}
OFFICIAL_SYNTHRAD2025_CT = {"mae": 115.69482871609085, "psnr": 21.619710604690255,
                            "ms_ssim": 0.983682268716216}
OFFICIAL_TORCHMETRICS_BRASYN_SSIM = 0.9695420581871161


def test_synthrad2023_ct_equals_the_official_code_to_the_last_digit():
    pred, target, mask = ct_case()
    result = protocols.get("synthrad2023").image_metrics(pred, target, mask, is_ct=True)
    assert result == OFFICIAL_SYNTHRAD2023_CT


def test_synthrad2025_ct_equals_the_official_code():
    pred, target, mask = ct_case()
    result = protocols.get("synthrad2025").image_metrics(pred, target, mask, is_ct=True)
    assert list(result) == ["mae", "psnr", "ms_ssim"]
    assert result["mae"] == OFFICIAL_SYNTHRAD2025_CT["mae"]
    assert result["psnr"] == OFFICIAL_SYNTHRAD2025_CT["psnr"]
    # the official code halves with an FFT convolution: equal up to its rounding
    assert result["ms_ssim"] == pytest.approx(OFFICIAL_SYNTHRAD2025_CT["ms_ssim"], rel=1e-12)


def _brasyn_normalise(x):
    """BraSyn's percentile clip, transcribed: own 0.5/99.5th percentiles, floor 0, to [0, 1]."""
    lo, hi = np.percentile(x, [0.5, 99.5])
    lo = max(lo, 0.0)
    return (np.clip(x, lo, hi) - lo) / (hi - lo)


def test_brasyn_equals_torchmetrics_ssim_and_scores_normalised_images_in_the_mask():
    pred, target, mask = mr_case()
    result = protocols.get("brasyn").image_metrics(pred, target, mask, is_ct=False)
    assert result["ssim"] == pytest.approx(OFFICIAL_TORCHMETRICS_BRASYN_SSIM, rel=1e-12)
    p, t = _brasyn_normalise(pred)[mask], _brasyn_normalise(target)[mask]
    assert result["mae"] == pytest.approx(np.mean(np.abs(p - t)), rel=1e-12)
    assert result["psnr"] == pytest.approx(10 * np.log10(1.0 / np.mean((p - t) ** 2)), rel=1e-12)


def test_brasyn_ssim_sees_the_whole_volume_not_only_the_mask():
    """Background voxels (set to 0 in both images) count in BraSyn's mean: a smaller
    region of the same images scores higher, unlike a masked mean."""
    pred, target, mask = mr_case()
    small = mask.copy()
    small[:, :, :16] = False
    brasyn = protocols.get("brasyn")
    assert (brasyn.image_metrics(pred, target, small, False)["ssim"]
            > brasyn.image_metrics(pred, target, mask, False)["ssim"])


def test_mr_under_synthrad_protocols_uses_the_target_range_in_the_mask():
    """Transcription of medsynth's MR rule: PSNR and SSIM with the target's masked
    max - min, outside-mask voxels at 0, SSIM map averaged over inner mask voxels."""
    pred, target, mask = mr_case()
    rng = float(target[mask].max() - target[mask].min())
    mse = np.mean((pred[mask] - target[mask]) ** 2)
    _, full = structural_similarity(np.where(mask, target, 0.0), np.where(mask, pred, 0.0),
                                    win_size=7, data_range=rng, full=True)
    inner = (slice(3, -3),) * 3
    r23 = protocols.get("synthrad2023").image_metrics(pred, target, mask, False, ("ms_ssim",))
    r25 = protocols.get("synthrad2025").image_metrics(pred, target, mask, False)
    for result in (r23, r25):
        assert result["mae"] == pytest.approx(np.mean(np.abs(pred[mask] - target[mask])))
        assert result["psnr"] == pytest.approx(10 * np.log10(rng**2 / mse), rel=1e-12)
    assert r23["ssim"] == pytest.approx(full[inner][mask[inner]].mean(), rel=1e-12)
    assert r23["ms_ssim"] == r25["ms_ssim"]  # the extra metric is the same definition


@pytest.mark.parametrize("name", ["synthrad2023", "synthrad2025"])
@pytest.mark.parametrize("is_ct", [True, False])
def test_voxels_outside_the_mask_change_no_synthrad_metric(name, is_ct):
    pred, target, mask = ct_case() if is_ct else mr_case()
    protocol = protocols.get(name)
    before = protocol.image_metrics(pred, target, mask, is_ct, ("ms_ssim",))
    rng = np.random.default_rng(1)
    pred2, target2 = pred.copy(), target.copy()
    pred2[~mask] = rng.uniform(-5000, 5000, int((~mask).sum()))
    target2[~mask] = 0.0
    assert protocol.image_metrics(pred2, target2, mask, is_ct, ("ms_ssim",)) == pytest.approx(
        before, rel=1e-12)


def test_each_synthrad_year_clips_to_its_own_range():
    """A voxel at 3050 HU against 3000 HU: equal once clipped to 3000 (2023), apart under
    3071 (2025); MAE never clips."""
    pred, target, mask = ct_case()
    target = np.clip(target, -1024, 3000)
    pred = target.copy()
    spot = np.argwhere(mask & (target == 3000))[0]
    pred[tuple(spot)] = 3050.0
    r23 = protocols.get("synthrad2023").image_metrics(pred, target, mask, True)
    r25 = protocols.get("synthrad2025").image_metrics(pred, target, mask, True)
    assert r23["mae"] == r25["mae"] == pytest.approx(50.0 / mask.sum())
    assert r23["psnr"] == math.inf and r23["ssim"] == pytest.approx(1.0, abs=1e-12)
    assert r25["psnr"] == pytest.approx(10 * np.log10(4095.0**2 * mask.sum() / 50.0**2))
    assert r25["ms_ssim"] < 1.0


def test_extra_ms_ssim_is_for_mr_targets_only():
    pred, target, mask = ct_case()
    assert "ms_ssim" not in protocols.get("synthrad2023").image_metrics(
        pred, target, mask, True, ("ms_ssim",))
    pred, target, mask = mr_case()
    result = protocols.get("brasyn").image_metrics(pred, target, mask, False, ("ms_ssim",))
    expected = metrics.ms_ssim(_brasyn_normalise(pred), _brasyn_normalise(target), mask, 1.0)
    assert result["ms_ssim"] == expected


def test_brasyn_defines_nothing_for_ct_and_unknown_names_are_refused():
    pred, target, mask = ct_case()
    with pytest.raises(ValueError, match="'brasyn' defines no metrics for CT"):
        protocols.get("brasyn").image_metrics(pred, target, mask, True)
    with pytest.raises(ValueError, match="unknown evaluation protocol 'synthrad2024'"):
        protocols.get("synthrad2024")


def test_the_config_schema_offers_exactly_the_protocols_and_their_default():
    spec = json.loads(SCHEMA_PATH.read_text())["properties"]["evaluation"]["properties"]
    assert spec["protocol"]["enum"] == list(protocols.PROTOCOLS)
    assert spec["protocol"]["default"] == protocols.DEFAULT_PROTOCOL
    assert spec["extra_metrics"]["items"]["enum"] == list(protocols.EXTRA_METRICS)


def test_caption_names_the_protocol_and_its_ranges():
    assert "protocol synthrad2025" in protocols.caption("synthrad2025")
    assert "[-1024, 3071] HU" in protocols.caption("synthrad2025")
    assert "MS-SSIM" in protocols.caption("synthrad2025")
    assert "[-1024, 3000] HU" in protocols.caption("synthrad2023")
