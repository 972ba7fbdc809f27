"""Task degradations and resampling: noise level, slice profile, geometry."""

import numpy as np
import pytest

from medsynth import io
from medsynth.preprocess.degrade import (
    add_rician_noise,
    noise_reference,
    simulate_thick_slices,
)
from medsynth.preprocess.resample import resample_to_grid


def oblique_affine(voxel=(1.0, 1.2, 0.5), origin=(-40.0, 15.0, -30.0), angle=0.3):
    """A RAS affine rotated about x, so that no axis is aligned with the world."""
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(voxel)
    affine[:3, 3] = origin
    return affine


def world(affine, index):
    """World coordinates of (possibly fractional) voxel indices, shape (..., 3)."""
    index = np.asarray(index, dtype=float)
    return index @ affine[:3, :3].T + affine[:3, 3]


def fwhm(profile, step):
    """Full width at half maximum of a single-peaked profile, by linear interpolation."""
    half = profile.max() / 2
    above = np.flatnonzero(profile >= half)
    lo, hi = above[0], above[-1]
    left = lo - (profile[lo] - half) / (profile[lo] - profile[lo - 1])
    right = hi + (profile[hi] - half) / (profile[hi] - profile[hi + 1])
    return (right - left) * step


# --- Rician noise -------------------------------------------------------------------------

def test_noise_std_on_bright_region_is_sigma():
    signal, percent, reference = 100.0, 2.0, 100.0
    sigma = percent / 100 * reference
    data = np.full((64, 64, 64), signal, np.float32)
    noisy = add_rician_noise(data, percent, reference, np.random.default_rng(1))
    # for A >> sigma the Rician is nearly Gaussian: std ~ sigma, mean ~ A + sigma^2 / (2A)
    assert noisy.std() == pytest.approx(sigma, rel=0.02)
    assert abs(noisy.mean() - (signal + sigma**2 / (2 * signal))) < 5 * sigma / np.sqrt(data.size)
    assert noisy.dtype == np.float32


def test_noise_on_zero_signal_is_rayleigh():
    sigma = 3.0
    noisy = add_rician_noise(np.zeros((64, 64, 64), np.float32), 3.0, 100.0,
                             np.random.default_rng(2))
    assert noisy.min() >= 0
    assert noisy.mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.01)
    assert noisy.std() == pytest.approx(sigma * np.sqrt(2 - np.pi / 2), rel=0.01)


def test_noise_is_reproducible_with_a_seed():
    data = np.random.default_rng(0).random((8, 9, 10)).astype(np.float32)
    a = add_rician_noise(data, 5, 1.0, np.random.default_rng(42))
    b = add_rician_noise(data, 5, 1.0, np.random.default_rng(42))
    c = add_rician_noise(data, 5, 1.0, np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_zero_percent_leaves_the_image():
    data = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    np.testing.assert_array_equal(add_rician_noise(data, 0, 1.0, np.random.default_rng(0)), data)


def test_noise_reference_is_the_maximum_inside_the_mask():
    data = np.ones((6, 6, 6), np.float32)
    data[2, 3, 3] = 3.0
    data[0, 0, 0] = 50.0  # an artefact in the air must not set the noise level
    mask = np.zeros(data.shape, bool)
    mask[1:5, 1:5, 1:5] = True
    assert noise_reference(data, mask) == 3.0
    with pytest.raises(ValueError, match="non-empty mask"):
        noise_reference(data, np.zeros(data.shape, bool))


def test_noise_level_follows_percent_of_reference():
    data = np.zeros((48, 48, 48), np.float32)
    mask = np.ones(data.shape, bool)
    data[0, 0, 0] = 2.0  # reference = 2, so 5 % gives sigma = 0.1
    noisy = add_rician_noise(data, 5, noise_reference(data, mask), np.random.default_rng(3))
    assert noisy.mean() == pytest.approx(0.1 * np.sqrt(np.pi / 2), rel=0.01)


@pytest.mark.parametrize("percent", [1, 3, 5, 7, 9])
def test_noise_measured_on_a_uniform_region_is_the_requested_level(percent):
    """The denoise task's levels, measured as a reader would: the spread over a
    uniform tissue region and the Rayleigh mean of the air, relative to the maximum."""
    from medsynth.derive import noise_rng

    data = np.zeros((40, 40, 40), np.float32)
    data[5:35, 5:35, 5:35] = 0.8  # uniform tissue
    data[18:22, 18:22, 18:22] = 1.0  # the brightest voxels set the reference
    head = data > 0
    noisy = add_rician_noise(data, percent, noise_reference(data, head),
                             noise_rng(42, "001", percent))
    tissue = noisy[6:17, 6:34, 6:34]
    # Rician std at SNR 0.8 / sigma >= 9 is sigma within 1 % (Gudbjartsson & Patz 1995)
    assert tissue.std() == pytest.approx(percent / 100, rel=0.03)
    air = noisy[~np.pad(np.ones((34, 34, 34), bool), 3)]
    assert air.mean() / np.sqrt(np.pi / 2) == pytest.approx(percent / 100, rel=0.03)


def test_invalid_noise_arguments():
    data = np.ones((3, 3, 3), np.float32)
    with pytest.raises(ValueError):
        add_rician_noise(data, -1, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError):
        add_rician_noise(data, 3, 0.0, np.random.default_rng(0))


# --- thick slices -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("n", "voxel", "thickness", "spacing", "expected"),
    [
        (60, 1.0, 4.0, None, 15),
        (60, 1.0, 5.0, None, 12),
        (60, 1.0, 3.0, 7.0, 8),  # gaps: floor(60 / 7)
        (95, 2.0, 1.2, None, 158),  # voxels coarser than the slices: floor(190 / 1.2)
    ],
)
def test_thick_slice_grid(n, voxel, thickness, spacing, expected):
    affine = oblique_affine(voxel=(1.0, 1.2, voxel))
    data = np.ones((7, 8, n), np.float32)
    low, low_affine = simulate_thick_slices(data, affine, thickness, spacing_mm=spacing)
    assert low.shape == (7, 8, expected)
    assert low.dtype == np.float32
    np.testing.assert_allclose(io.voxel_sizes(low_affine),
                               [1.0, 1.2, thickness if spacing is None else spacing])
    # direction of the axes is kept
    np.testing.assert_allclose(low_affine[:3, :2], affine[:3, :2])
    # the slab of slices is centred in the original field of view
    centre_in = world(affine, [0, 0, (n - 1) / 2])
    centre_out = world(low_affine, [0, 0, (expected - 1) / 2])
    np.testing.assert_allclose(centre_out, centre_in, atol=1e-9)
    # a uniform image stays uniform
    np.testing.assert_allclose(low, 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("voxel", "thickness", "spacing", "axis"),
    [(0.5, 3.0, None, 2), (1.0, 4.0, 7.0, 2), (2.0, 1.2, None, 2), (1.0, 2.5, None, 0)],
)
def test_thick_slices_keep_world_positions(voxel, thickness, spacing, axis):
    """A linear ramp along the axis, valued in world mm, comes out equal to the
    world position of each slice centre given by the new affine: the slice
    profile is symmetric and the grid bookkeeping is right."""
    sizes = [1.0, 1.2, 1.0]
    sizes[axis] = voxel
    affine = oblique_affine(voxel=sizes)
    shape = [6, 7, 8]
    shape[axis] = int(round(60 / voxel))
    direction = affine[:3, axis] / voxel
    index = np.stack(np.meshgrid(*map(np.arange, shape), indexing="ij"), axis=-1)
    ramp = (world(affine, index) @ direction).astype(np.float32)
    low, low_affine = simulate_thick_slices(ramp, affine, thickness, axis=axis,
                                            spacing_mm=spacing)
    low_index = np.stack(np.meshgrid(*map(np.arange, low.shape), indexing="ij"), axis=-1)
    expected = world(low_affine, low_index) @ direction
    # leave out the slices whose profile reaches past the end of the data
    step = spacing or thickness
    margin = int(np.ceil((3 * thickness / 2.355 + voxel) / step)) + 1
    inner = [slice(None)] * 3
    inner[axis] = slice(margin, low.shape[axis] - margin)
    assert low.shape[axis] > 2 * margin
    np.testing.assert_allclose(low[tuple(inner)], expected[tuple(inner)], atol=2e-3)


def test_bright_plane_stays_in_place():
    affine = oblique_affine(voxel=(1.0, 1.0, 0.5))
    data = np.zeros((4, 4, 120), np.float32)
    data[:, :, 57] = 1.0
    low, low_affine = simulate_thick_slices(data, affine, 3.0)
    profile = low[1, 1].astype(float)
    peak = int(np.argmax(profile))
    # a Gaussian sampled at three points is a parabola in log: its vertex is the centre
    la, lb, lc = np.log(profile[peak - 1:peak + 2])
    offset = 0.5 * (la - lc) / (la - 2 * lb + lc)
    np.testing.assert_allclose(world(low_affine, [1, 1, peak + offset]),
                               world(affine, [1, 1, 57]), atol=0.05)


def test_slice_profile_fwhm_is_the_thickness():
    affine = np.diag([1.0, 1.0, 0.2, 1.0])
    data = np.zeros((2, 2, 400), np.float32)
    data[:, :, 200] = 1.0  # a thin bright slice: the response is the slice profile
    widths = []
    for thickness in (3.0, 6.0):
        low, _ = simulate_thick_slices(data, affine, thickness, spacing_mm=0.2)
        width = fwhm(low[0, 0].astype(float), 0.2)
        assert width == pytest.approx(thickness, rel=0.02)
        widths.append(width)
    assert widths[1] > 1.9 * widths[0]


def test_thicker_slices_blur_an_edge_more():
    affine = np.diag([1.0, 1.0, 0.25, 1.0])
    data = np.zeros((2, 2, 400), np.float32)
    data[:, :, 200:] = 1.0

    def rise_10_90(thickness):
        low, _ = simulate_thick_slices(data, affine, thickness, spacing_mm=0.25)
        p = low[0, 0]
        return (np.argmax(p >= 0.9) - np.argmax(p >= 0.1)) * 0.25

    # Gaussian edge: 10-90 % rise = 2 * 1.2816 sigma = 1.0887 FWHM
    assert rise_10_90(2.0) == pytest.approx(1.0887 * 2.0, abs=0.3)
    assert rise_10_90(6.0) == pytest.approx(1.0887 * 6.0, abs=0.3)


def test_thick_slices_reject_bad_arguments():
    data = np.ones((4, 4, 10), np.float32)
    with pytest.raises(ValueError, match="positive"):
        simulate_thick_slices(data, np.eye(4), 0.0)
    with pytest.raises(ValueError, match="field of view"):
        simulate_thick_slices(data, np.eye(4), 2.0, spacing_mm=11.0)
    with pytest.raises(ValueError, match="axis"):
        simulate_thick_slices(data, np.eye(4), 2.0, axis=3)


# --- resampling ---------------------------------------------------------------------------

@pytest.mark.parametrize("order", [0, 1, 3])
def test_resample_identity_is_exact(order):
    affine = oblique_affine()
    data = np.random.default_rng(0).random((9, 10, 11)).astype(np.float32)
    out = resample_to_grid(data, affine, data.shape, affine.copy(), order=order)
    np.testing.assert_array_equal(out, data)
    out[0, 0, 0] = -1
    assert data[0, 0, 0] != -1  # a copy, not a view


@pytest.mark.parametrize("order", [0, 1, 3])
def test_resample_known_shift(order):
    affine = oblique_affine()
    data = np.random.default_rng(1).random((12, 10, 8)).astype(np.float32)
    target = affine.copy()
    target[:3, 3] = world(affine, [2, 0, 0])  # target voxel i is source voxel i + 2
    out = resample_to_grid(data, affine, data.shape, target, order=order)
    np.testing.assert_allclose(out[:-2], data[2:], atol=1e-5)
    if order < 3:  # outside the field of view the edge is repeated
        np.testing.assert_allclose(out[-2:], np.broadcast_to(data[-1], (2, 10, 8)), atol=1e-6)


def test_resample_flipped_axis_follows_world_coordinates():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    data = np.random.default_rng(2).random((6, 5, 4)).astype(np.float32)
    flipped = affine.copy()
    flipped[0, 0] = -2.0
    flipped[0, 3] = 2.0 * 5  # same voxels, x running the other way
    out = resample_to_grid(data, affine, data.shape, flipped, order=1)
    np.testing.assert_allclose(out, data[::-1], atol=1e-6)


def test_resample_linear_is_exact_on_a_ramp_between_voxels():
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    x = np.arange(20, dtype=np.float32)
    data = np.broadcast_to(x[:, None, None], (20, 4, 4)).copy()
    coarse = np.diag([2.0, 1.0, 1.0, 1.0])
    coarse[0, 3] = 0.5  # coarse voxel centres at x = 0.5, 2.5, ...
    out = resample_to_grid(data, affine, (9, 4, 4), coarse, order=1)
    np.testing.assert_allclose(out[:, 0, 0], 0.5 + 2.0 * np.arange(9), atol=1e-5)


def test_resample_labels_stay_labels():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 8, (10, 10, 10)).astype(np.float32)
    target = oblique_affine(voxel=(0.7, 0.9, 1.1), origin=(1.3, -0.4, 0.2), angle=0.2)
    out = resample_to_grid(labels, np.eye(4), (12, 12, 12), target, order=0)
    assert set(np.unique(out)) <= set(range(8))
