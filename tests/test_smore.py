"""SMORE: training pairs made by the acquisition model, fusion, geometry, the
stages, resuming, beating interpolation, and the single-file command line."""

import gzip

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from medsynth import io
from medsynth.cli import main
from medsynth.methods import smore
from medsynth.methods.fourier_fusion import fourier_burst_accumulation
from medsynth.methods.smore_pairs import (
    PatchPairs,
    SliceModel,
    blur_only,
    degrade,
    rotate,
    training_pairs,
)
from medsynth.preprocess.degrade import simulate_thick_slices
from medsynth.preprocess.resample import resample_to_grid

TINY = {"residual_blocks": 2, "features": 8, "res_scale": 1.0, "patch_size": 16,
        "batch_size": 8, "lr": 1e-3, "iterations": 20, "rotations_deg": [0, 90],
        "log_every": 10, "checkpoint_every": 10}


def spheres(shape=(40, 40, 40), seed=0) -> np.ndarray:
    """An isotropic test object: spheres of random size and brightness in a
    dim ellipsoid, slightly smoothed; its in-plane and through-plane slices
    look alike, which is what SMORE relies on."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).astype(np.float32)
    centre = (np.array(shape) - 1) / 2
    radii = np.array(shape) * 0.45
    inside = (((grid - centre[:, None, None, None]) / radii[:, None, None, None]) ** 2).sum(0) <= 1
    volume = 0.3 * inside.astype(np.float32)
    for _ in range(50):
        c = centre + (rng.random(3) - 0.5) * radii
        r = rng.uniform(1.5, 5.0)
        ball = ((grid - c[:, None, None, None]) ** 2).sum(0) <= r * r
        volume[ball & inside] = rng.uniform(0.4, 1.0)
    return ndimage.gaussian_filter(volume, 0.6).astype(np.float32)


def psnr(x, reference, mask):
    return 10 * np.log10(reference[mask].max() ** 2 / np.mean((x[mask] - reference[mask]) ** 2))


@pytest.mark.parametrize("thickness, spacing", [(3.0, 3.0), (2.0, 3.5)])
def test_training_input_is_the_acquisition_along_an_in_plane_axis(thickness, spacing):
    fine = spheres((24, 20, 36))
    affine = np.eye(4)
    thick, thick_affine = simulate_thick_slices(fine, affine, thickness, axis=2, spacing_mm=spacing)
    acquired = resample_to_grid(thick, thick_affine, fine.shape, affine, order=3)
    # the (z, x) planes of the fine volume, z first: degrading their first axis
    # must reproduce the acquisition plus interpolation exactly
    planes = np.moveaxis(fine, (2, 0), (1, 2))
    made = degrade(planes, 1.0, SliceModel(thickness, spacing))
    np.testing.assert_allclose(made, np.moveaxis(acquired, (2, 0), (1, 2)), atol=1e-5)


def test_rotating_by_90_degrees_degrades_the_other_axis():
    images = spheres((6, 30, 30))
    model = SliceModel(4.0, 4.0)
    along_second = np.swapaxes(degrade(np.swapaxes(images, 1, 2), 1.0, model), 1, 2)
    via_rotation = rotate(degrade(rotate(images, 90), 1.0, model), -90)
    np.testing.assert_allclose(via_rotation, along_second, atol=1e-6)
    assert rotate(images, 45).shape[1] > images.shape[1]  # the frame grows, nothing is cut


def test_blur_only_applies_the_profile_without_sampling():
    images = np.zeros((1, 201, 3), np.float32)
    images[0, 100] = 1.0  # a thin line across the image: the response is the profile
    blurred = blur_only(images, 0.1, SliceModel(3.0, 6.0))[0, :, 1]
    half = blurred.max() / 2
    above = np.flatnonzero(blurred >= half)
    assert (above[-1] - above[0] + 1) * 0.1 == pytest.approx(3.0, abs=0.15)
    flat = np.full((2, 40, 30), 0.7, np.float32)
    for op in (degrade, blur_only):
        np.testing.assert_allclose(op(flat, 1.0, SliceModel(4.0, 5.0)), 0.7, atol=1e-5)


def test_pairs_by_role():
    slices = spheres((4, 32, 32))
    model = SliceModel(4.0, 4.0)
    sr_in, sr_out = training_pairs(slices, 1.0, model, [0, 45], "sr")
    assert len(sr_in) == 2 and sr_in[1].shape == sr_out[1].shape
    np.testing.assert_array_equal(sr_out[0], slices)
    np.testing.assert_allclose(sr_in[0], degrade(slices, 1.0, model))
    aa_in, aa_out = training_pairs(slices, 1.0, model, [0], "aa")
    np.testing.assert_allclose(aa_in[0], sr_in[0])
    np.testing.assert_allclose(aa_out[0], blur_only(slices, 1.0, model))
    after_in, after_out = training_pairs(slices, 1.0, model, [0], "sr_after_aa")
    np.testing.assert_allclose(after_in[0], aa_out[0])
    np.testing.assert_array_equal(after_out[0], slices)
    with pytest.raises(ValueError, match="role"):
        training_pairs(slices, 1.0, model, [0], "deblur")


def test_patches_hold_enough_head():
    target = np.zeros((3, 40, 40), np.float32)
    target[:, :, :20] = 1.0  # the left half is head
    pairs = PatchPairs.build([target * 0.5], [target], 16, 0.5)
    inputs, targets = pairs.sample(np.random.default_rng(0), 64)
    assert inputs.shape == targets.shape == (64, 1, 16, 16)
    assert ((targets > 0.1).mean(axis=(1, 2, 3)) >= 0.5).all()
    np.testing.assert_allclose(inputs, targets * 0.5)
    with pytest.raises(ValueError, match="smaller than"):
        PatchPairs.build([target], [target], 48, 0.5)


def test_fusion_keeps_what_each_input_resolves():
    sharp = spheres((32, 32, 32))
    np.testing.assert_allclose(fourier_burst_accumulation([sharp, sharp]), sharp, atol=1e-5)
    blurred_x = ndimage.gaussian_filter1d(sharp, 2.0, axis=0)
    blurred_y = ndimage.gaussian_filter1d(sharp, 2.0, axis=1)
    mean = (blurred_x + blurred_y) / 2
    np.testing.assert_allclose(fourier_burst_accumulation([blurred_x, blurred_y], power=0,
                                                          smoothing=0), mean, atol=1e-5)
    fused = fourier_burst_accumulation([blurred_x, blurred_y])

    def error(x):
        return np.mean((x - sharp) ** 2)

    assert error(fused) < 0.8 * error(mean)
    assert error(fused) < min(error(blurred_x), error(blurred_y))
    with pytest.raises(ValueError, match="shape"):
        fourier_burst_accumulation([sharp, sharp[:-1]])


def test_fine_grid_covers_the_acquired_field_of_view():
    angle = 0.4
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                         [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([1.0, 1.0, 3.3])
    affine[:3, 3] = [-10, 5, 20]
    shape = (20, 24, 10)
    fine_shape, fine_affine = smore.fine_grid(shape, affine, 2)
    assert fine_shape == (20, 24, 33)
    np.testing.assert_allclose(io.voxel_sizes(fine_affine), 1.0)

    def centre(shp, aff):
        return aff[:3, :3] @ ((np.array(shp) - 1) / 2) + aff[:3, 3]

    np.testing.assert_allclose(centre(fine_shape, fine_affine), centre(shape, affine), atol=1e-9)
    assert smore.through_plane_axis(affine) == 2
    with pytest.raises(ValueError, match="longest"):
        smore.through_plane_axis(np.diag([1.0, 3.0, 3.0, 1.0]))
    with pytest.raises(ValueError, match="square"):
        smore.in_plane_pixel(np.diag([1.0, 1.5, 3.0, 1.0]), 2)


def thick_scan(thickness=4.0, spacing=None, shape=(40, 40, 40)):
    fine = spheres(shape)
    affine = np.eye(4)
    thick, thick_affine = simulate_thick_slices(fine, affine, thickness, axis=2,
                                                spacing_mm=spacing)
    return fine, affine, thick, thick_affine


def test_output_lies_on_the_requested_grid_and_gaps_add_anti_aliasing(tmp_path):
    fine, affine, thick, thick_affine = thick_scan(2.0, 4.0)
    pred, stages = smore.super_resolve(thick, thick_affine, SliceModel(2.0, 4.0), 2, fine.shape,
                                       affine, TINY, tmp_path, seed=1, threads=1)
    assert pred.shape == fine.shape and pred.dtype == np.float32 and np.isfinite(pred).all()
    assert stages == ["saa", "ssr"]
    assert {p.name for p in (tmp_path / "saa").iterdir()} >= {"model.pt", "loss.csv"}
    _, stages = smore.super_resolve(thick, thick_affine, SliceModel(2.0, 4.0), 2, fine.shape,
                                    affine, {**TINY, "anti_aliasing": "off"}, tmp_path / "off",
                                    seed=1, threads=1)
    assert stages == ["ssr"]
    with pytest.raises(ValueError, match="anti_aliasing"):
        smore.super_resolve(thick, thick_affine, SliceModel(2.0, 4.0), 2, fine.shape, affine,
                            {**TINY, "anti_aliasing": "maybe"}, tmp_path / "bad", 1, 1)
    with pytest.raises(ValueError, match="spacing"):  # header and slice model disagree
        smore.super_resolve(thick, thick_affine, SliceModel(2.0, 3.0), 2, fine.shape, affine,
                            TINY, tmp_path / "bad", 1, 1)


def test_a_restarted_job_does_not_train_a_finished_stage_again(tmp_path):
    fine, affine, thick, thick_affine = thick_scan()
    model = SliceModel(4.0, 4.0)
    first, _ = smore.super_resolve(thick, thick_affine, model, 2, fine.shape, affine, TINY,
                                   tmp_path, seed=3, threads=1)
    weights = tmp_path / "ssr" / "model.pt"
    stamp = weights.stat().st_mtime_ns
    again, _ = smore.super_resolve(thick, thick_affine, model, 2, fine.shape, affine, TINY,
                                   tmp_path, seed=3, threads=1)
    assert weights.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again, first)
    other, _ = smore.super_resolve(thick, thick_affine, model, 2, fine.shape, affine,
                                   {**TINY, "iterations": 30}, tmp_path, seed=3, threads=1)
    assert weights.stat().st_mtime_ns != stamp  # other params: trained anew


@pytest.mark.slow
def test_smore_beats_bspline_interpolation(tmp_path):
    fine, affine, thick, thick_affine = thick_scan(4.0)
    params = {**TINY, "residual_blocks": 3, "features": 16, "patch_size": 24,
              "iterations": 300, "rotations_deg": [0, 45, 90, 135]}
    pred, _ = smore.super_resolve(thick, thick_affine, SliceModel(4.0, 4.0), 2, fine.shape,
                                  affine, params, tmp_path, seed=0, threads=1)
    bspline = resample_to_grid(thick, thick_affine, fine.shape, affine, order=3)
    inside = ndimage.binary_erosion(fine > 0.1, iterations=2)
    assert psnr(pred, fine, inside) > psnr(bspline, fine, inside) + 1.0


def test_command_line_resolves_one_file(tmp_path, capsys):
    _, _, thick, thick_affine = thick_scan(4.0, shape=(32, 32, 40))
    source = tmp_path / "thick.nii.gz"
    io.save_volume(source, thick, thick_affine)
    out = tmp_path / "iso.nii.gz"
    args = ["super-resolve", str(source), str(out), "--preset", "smoke"]
    assert main(args) == 0
    result = nib.load(out)
    assert result.shape == (32, 32, 40)
    np.testing.assert_allclose(result.header.get_zooms(), 1.0)
    assert not (tmp_path / "iso.nii.gz.smore-work").exists()
    stamp = out.stat().st_mtime_ns
    assert main(args) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err and out.stat().st_mtime_ns == stamp

    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(gzip.compress(source.read_bytes()[:200], mtime=0)[:120])
    assert main(["super-resolve", str(broken), str(tmp_path / "x.nii.gz")]) == 2
    assert "broken.nii.gz" in capsys.readouterr().err
    assert not (tmp_path / "x.nii.gz").exists()
