"""Classical baselines: identity, histogram matching, bulk-density pseudo-CT,
noise estimation, NLM and BM4D denoising, B-spline super-resolution."""

import json

import numpy as np
import pytest

from medsynth.case import Case, TrainingData
from medsynth.methods import (
    bm4d_baseline,
    bulk_density,
    histogram_matching,
    identity,
    interpolation,
)
from medsynth.methods import nlm as nlm_method
from medsynth.methods.noise_estimate import estimate_rician_sigma, rician_bias_correct
from medsynth.preprocess.degrade import add_rician_noise
from medsynth.tasks import parse_condition

N = 32


def affine(voxel=(2.0, 2.0, 2.0), origin=(-30.0, -40.0, -20.0)):
    a = np.diag([*voxel, 1.0])
    a[:3, 3] = origin
    return a


def ball(shape, radius, centre=None):
    centre = np.array(shape) / 2 - 0.5 if centre is None else np.asarray(centre)
    grid = np.indices(shape).astype(float)
    return np.sqrt(((grid - centre[:, None, None, None]) ** 2).sum(0)) <= radius


def make_case(source, task="t1_to_t2", condition="default", task_config=None,
              source_affine=None, target_shape=None, target_affine=None,
              head=None, brain=None):
    source = np.asarray(source, dtype=np.float32)
    source = source[None] if source.ndim == 3 else source
    source_affine = affine() if source_affine is None else source_affine
    target_shape = source.shape[1:] if target_shape is None else tuple(target_shape)
    target_affine = source_affine if target_affine is None else target_affine
    head = np.ones(target_shape, bool) if head is None else head
    brain = np.zeros(target_shape, bool) if brain is None else brain
    return Case("01", parse_condition(task, condition, task_config or {}), source,
                source_affine, target_shape, target_affine, head, brain)


def masked_mae(a, b, mask):
    return float(np.mean(np.abs(a[mask] - b[mask])))


# identity ---------------------------------------------------------------------------------

def test_identity_returns_primary_channel_as_float32_copy():
    rng = np.random.default_rng(0)
    source = rng.random((2, 8, 9, 10)).astype(np.float32)
    case = make_case(source)
    out = identity.predict(case, {}, None)
    assert out.dtype == np.float32 and out.shape == (8, 9, 10)
    np.testing.assert_array_equal(out, source[0])
    out[0, 0, 0] = -5
    assert case.source[0, 0, 0, 0] != -5


def test_identity_refuses_another_grid():
    case = make_case(np.zeros((8, 8, 4)), target_shape=(8, 8, 8))
    with pytest.raises(ValueError, match="grid"):
        identity.predict(case, {}, None)


# histogram matching -----------------------------------------------------------------------

def smooth_volume(rng, shape=(24, 24, 24)):
    """A random smooth positive image with a broad histogram."""
    from scipy import ndimage
    return ndimage.gaussian_filter(rng.random(shape), 3).astype(np.float32) * 4


def training_data(sources, targets, masks):
    cond = parse_condition("t1_to_t2", "default", {})
    src, tgt = np.stack(sources)[:, None], np.stack(targets)[:, None]
    msk = np.stack(masks)[:, None].astype(np.uint8)
    return TrainingData(cond, src, tgt, msk, src[:0], tgt[:0], msk[:0])


def background_level(targets, masks):
    """Mean over subjects of the median target intensity outside the head, by hand."""
    return np.mean([np.median(t[~m]) for t, m in zip(targets, masks, strict=True)])


def test_histogram_matching_recovers_a_monotone_transform(tmp_path):
    rng = np.random.default_rng(1)
    transform = lambda x: 0.2 + 1.5 * x ** 2  # noqa: E731  monotone on x >= 0
    sources = [smooth_volume(rng) for _ in range(4)]
    targets = [transform(s) for s in sources]
    masks = [ball(s.shape, 10) for s in sources]
    histogram_matching.fit(training_data(sources, targets, masks), {}, tmp_path, seed=0, threads=1)

    test_source = smooth_volume(rng)
    head = ball(test_source.shape, 10)
    out = histogram_matching.predict(make_case(test_source, head=head), {}, tmp_path)
    assert out.shape == test_source.shape and out.dtype == np.float32
    truth = transform(test_source)
    error = masked_mae(out, truth, head)
    spread = float(truth[head].std())
    assert error < 0.1 * spread
    assert error < 0.3 * masked_mae(test_source, truth, head)  # far better than no mapping
    # outside the head: the targets' background level, not the extrapolated map
    np.testing.assert_allclose(out[~head], background_level(targets, masks), rtol=1e-6)


def test_histogram_matching_model_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    sources = [smooth_volume(rng, (12, 12, 12)) for _ in range(3)]
    targets = [2.0 * s + 0.1 * k for k, s in enumerate(sources)]
    masks = [ball(s.shape, 5) for s in sources]
    params = {"percentiles": [2, 50, 98]}
    histogram_matching.fit(training_data(sources, targets, masks), params, tmp_path,
                           seed=0, threads=1)

    written = json.loads((tmp_path / "landmarks.json").read_text())
    assert written["n_subjects"] == 3 and written["percentiles"] == [2, 50, 98]
    expected = np.mean([np.percentile(t[m], [2, 50, 98])
                        for t, m in zip(targets, masks, strict=True)], axis=0)
    model = histogram_matching.load_model(tmp_path)
    np.testing.assert_allclose(model["standard_landmarks"], expected, rtol=1e-12)
    assert model["percentiles"] == [2.0, 50.0, 98.0]
    assert model["background"] == pytest.approx(background_level(targets, masks))


def test_histogram_matching_maps_landmarks_exactly_and_extends_end_slopes():
    source_marks, target_marks = np.array([0.0, 1.0, 3.0]), np.array([10.0, 20.0, 24.0])
    out = histogram_matching.piecewise_linear(np.array([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 5.0]),
                                              source_marks, target_marks)
    np.testing.assert_allclose(out, [0.0, 10.0, 15.0, 20.0, 22.0, 24.0, 28.0])


def test_histogram_matching_needs_a_model(tmp_path):
    case = make_case(np.ones((4, 4, 4)))
    with pytest.raises(ValueError, match="landmarks.json"):
        histogram_matching.predict(case, {}, tmp_path)
    (tmp_path / "landmarks.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a histogram-matching model"):
        histogram_matching.predict(case, {}, tmp_path)


# bulk density -----------------------------------------------------------------------------

def synthetic_head(shape=(N, N, N)):
    """Air, bright scalp (rim), dark skull shell, brain, as in a T1w image."""
    head, inner_skull, brain = ball(shape, 14), ball(shape, 12), ball(shape, 9)
    t1 = np.zeros(shape, np.float32)
    t1[head] = 0.9  # scalp: fat and muscle
    t1[inner_skull] = 0.08  # skull: almost no signal
    t1[brain] = 0.6
    skull = inner_skull & ~brain
    return t1, head, brain, skull


def test_bulk_density_labels_air_bone_and_soft_tissue():
    t1, head, brain, skull = synthetic_head()
    rng = np.random.default_rng(2)
    t1 = add_rician_noise(t1, 2, 1.0, rng)
    case = make_case(t1, task="mr_to_ct", head=head, brain=brain)
    ct = bulk_density.predict(case, {}, None)
    d = bulk_density.DEFAULTS
    assert ct.shape == t1.shape and ct.dtype == np.float32
    assert np.all(ct[~head] == d["air_hu"])
    assert np.all(ct[brain] == d["soft_tissue_hu"])
    assert np.mean(ct[skull] == d["bone_hu"]) > 0.95
    scalp = head & ~ball(t1.shape, 12)
    assert np.mean(ct[scalp] == d["soft_tissue_hu"]) > 0.95


def test_bulk_density_drops_small_dark_blobs():
    t1, head, brain, _ = synthetic_head()
    blob = np.zeros_like(head)
    blob[16, 16, 29] = True  # one dark voxel in the scalp: 8 mm3 < 500 mm3
    t1[blob] = 0.05
    ct = bulk_density.predict(make_case(t1, task="mr_to_ct", head=head, brain=brain), {}, None)
    assert ct[blob][0] == bulk_density.DEFAULTS["soft_tissue_hu"]


# noise estimation and denoising ----------------------------------------------------------

def piecewise_constant(shape=(N, N, N)):
    """Background 0, head 0.3, two inner blocks 0.6 and 1.0 (max 1)."""
    image = np.zeros(shape, np.float32)
    head = ball(shape, 14)
    image[head] = 0.3
    image[8:16, 8:24, 8:24] = 0.6
    image[16:24, 8:24, 8:24] = 1.0
    return image, head


@pytest.mark.parametrize("percent", [3.0, 7.0])
def test_noise_estimate_within_15_percent_inside_the_head(percent):
    clean, head = piecewise_constant((48, 48, 48))
    head = ball(head.shape, 21)
    clean[head & (clean == 0)] = 0.3
    noisy = add_rician_noise(clean, percent, 1.0, np.random.default_rng(3))
    sigma = percent / 100
    assert estimate_rician_sigma(noisy, head) == pytest.approx(sigma, rel=0.15)
    # over the whole volume the Rayleigh background pulls the estimate down
    assert estimate_rician_sigma(noisy) < estimate_rician_sigma(noisy, head)


def test_rician_bias_correction_by_hand():
    out = rician_bias_correct(np.array([0.05, 0.1, 1.0]), 0.05)
    np.testing.assert_allclose(out, [0.0, np.sqrt(0.01 - 0.005), np.sqrt(1 - 0.005)], rtol=1e-6)


@pytest.mark.parametrize("module, params", [(nlm_method, {}),
                                            (bm4d_baseline, {"stage": "hard"}),
                                            (bm4d_baseline, {"stage": "hard", "step_ht": 4}),
                                            (bm4d_baseline, {"stage": "hard", "step_ht": 4,
                                                             "psd_size": 4}),
                                            (bm4d_baseline, {"stage": "all"})])
def test_denoisers_reduce_masked_error(module, params):
    clean, head = piecewise_constant()
    noisy = add_rician_noise(clean, 8, 1.0, np.random.default_rng(4))
    case = make_case(noisy, task="denoise", condition="noise-8",
                     task_config={"noise_levels": [8]}, head=head)
    out = module.predict(case, params, None)
    assert out.shape == clean.shape and out.dtype == np.float32
    assert masked_mae(out, clean, head) < 0.7 * masked_mae(noisy, clean, head)
    # Rician bias correction: the background (Rayleigh, mean 1.25 sigma) goes back towards 0
    assert out[~head].mean() < 0.3 * noisy[~head].mean()


def test_bm4d_rejects_unknown_stage():
    with pytest.raises(ValueError, match="stage"):
        bm4d_baseline.denoise(np.ones((8, 8, 8)), 0.1, {"stage": "wiener"})


@pytest.mark.parametrize("size", [2, 6, 12])
def test_bm4d_rejects_a_psd_size_its_library_would_abort_on(size):
    with pytest.raises(ValueError, match="psd_size"):
        bm4d_baseline.denoise(np.ones((8, 8, 8)), 0.1, {"psd_size": size})


# B-spline super-resolution ---------------------------------------------------------------

def thick_case(function, thick=3, fine_shape=(12, 14, 30)):
    """Source with slices every `thick` fine voxels, centred as thick slices are."""
    fine = affine((1.0, 1.0, 1.0))
    n_slices = fine_shape[2] // thick
    source_affine = fine.copy()
    source_affine[2, 2] = thick
    source_affine[2, 3] = fine[2, 3] + (thick - 1) / 2  # slice k centre = mean of its voxels
    x, y, k = np.indices((*fine_shape[:2], n_slices)).astype(float)
    z = (thick - 1) / 2 + thick * k  # fine-voxel z index of each slice centre
    source = function(x, y, z)
    case = make_case(source, task="superres", condition=f"thick-{thick}mm",
                     task_config={"thicknesses_mm": [thick]}, source_affine=source_affine,
                     target_shape=fine_shape, target_affine=fine)
    truth = function(*np.indices(fine_shape).astype(float))
    return case, truth, (thick - 1) / 2, (thick - 1) / 2 + thick * (n_slices - 1)


def test_bspline_output_is_on_the_target_grid_without_a_zero_band_at_the_ends():
    thick = 3
    case, _, first, last = thick_case(lambda x, y, z: 1.0 + z, thick=thick)
    out = interpolation.predict(case, {}, None)
    assert out.shape == case.target_shape and out.dtype == np.float32
    # before the first and after the last slice centre: about the edge slice's value, not 0
    assert np.all(np.abs(out[:, :, 0] - (1.0 + first)) < 0.5 * thick)
    assert np.all(np.abs(out[:, :, -1] - (1.0 + last)) < 0.5 * thick)


def test_bspline_reconstructs_a_linear_ramp_between_slices():
    # the edge condition ("nearest") perturbs the spline near the ends by a factor
    # (2 - sqrt(3)) ~ 0.27 per slice inwards; 5 slices in, the error is < 0.2 % of a step
    case, truth, first, last = thick_case(lambda x, y, z: 5.0 + 0.5 * z + 0.1 * x,
                                          fine_shape=(6, 6, 60))
    out = interpolation.predict(case, {}, None)
    inner = slice(int(first) + 15, int(last) - 15)
    np.testing.assert_allclose(out[:, :, inner], truth[:, :, inner], atol=2e-3)


def test_bspline_beats_nearest_neighbour_on_a_smooth_function():
    case, truth, first, last = thick_case(lambda x, y, z: np.sin(z / 3.0) + 0.05 * y, thick=4,
                                          fine_shape=(6, 6, 48))
    inner = slice(int(np.ceil(first)), int(last) + 1)
    cubic = interpolation.predict(case, {}, None)
    nearest = interpolation.predict(case, {"order": 0}, None)
    err_cubic = np.abs(cubic - truth)[:, :, inner].mean()
    err_nearest = np.abs(nearest - truth)[:, :, inner].mean()
    assert err_cubic < 0.25 * err_nearest
