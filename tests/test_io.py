"""Bad input files fail early with a message naming the file; writes are atomic."""

import gzip

import nibabel as nib
import numpy as np
import pytest

from medsynth import io


def write(path, data, affine=None):
    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), path)
    return path


def test_round_trip_keeps_data_and_affine(tmp_path):
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    affine[:3, 3] = [-10, 4, 7]
    data = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    io.save_volume(tmp_path / "a.nii.gz", data, affine)
    back, back_affine = io.load_array(tmp_path / "a.nii.gz")
    np.testing.assert_array_equal(back, data)
    np.testing.assert_allclose(back_affine, affine)


def test_truncated_file_is_named(tmp_path):
    good = write(tmp_path / "good.nii.gz", np.ones((20, 20, 20), np.float32))
    bad = tmp_path / "truncated.nii.gz"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(io.InputError, match="cannot be read as NIfTI") as err:
        io.load_volume(bad)
    assert str(bad) in str(err.value)


def test_not_nifti_is_named(tmp_path):
    bad = tmp_path / "notes.nii.gz"
    bad.write_bytes(gzip.compress(b"this is not an image"))
    with pytest.raises(io.InputError) as err:
        io.load_volume(bad)
    assert str(bad) in str(err.value)


def test_nan_is_named(tmp_path):
    data = np.ones((4, 4, 4), np.float32)
    data[1, 2, 3] = np.nan
    bad = write(tmp_path / "nan.nii.gz", data)
    with pytest.raises(io.InputError, match="1 NaN or infinite") as err:
        io.load_volume(bad)
    assert str(bad) in str(err.value)


def test_4d_is_rejected_but_trailing_singleton_squeezed(tmp_path):
    bad = write(tmp_path / "4d.nii.gz", np.ones((4, 4, 4, 3), np.float32))
    with pytest.raises(io.InputError, match="expected a 3D volume") as err:
        io.load_volume(bad)
    assert str(bad) in str(err.value)
    ok = write(tmp_path / "4d1.nii.gz", np.ones((4, 4, 4, 1), np.float32))
    assert io.load_volume(ok).shape == (4, 4, 4)


def test_mismatched_grids_name_both_files(tmp_path):
    a = write(tmp_path / "a.nii.gz", np.ones((4, 4, 4), np.float32))
    b = write(tmp_path / "b.nii.gz", np.ones((4, 4, 4), np.float32), np.diag([2.0, 1, 1, 1]))
    with pytest.raises(io.InputError, match="does not match") as err:
        io.require_same_grid(a, io.load_volume(a), b, io.load_volume(b))
    assert str(a) in str(err.value) and str(b) in str(err.value)


def test_empty_mask_is_named(tmp_path):
    bad = write(tmp_path / "mask.nii.gz", np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(io.InputError, match="mask is empty"):
        io.load_mask(bad)


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.nii.gz"
    with pytest.raises(ValueError, match="non-finite"):
        io.save_volume(target, np.full((3, 3, 3), np.inf), np.eye(4))
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [0.0, -2.0, np.nan, np.inf])
def test_header_without_positive_voxel_sizes_is_named(tmp_path, size):
    # the sform still gives 2 mm voxels: only the header's pixdim is broken, which
    # nibabel's loader would silently "repair" to 1 or |size|
    path = tmp_path / "sub-01_pred_pixdim.nii.gz"
    img = nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    img.header["pixdim"][1:4] = [2.0, size, 2.0]
    nib.save(img, path)
    with pytest.raises(io.InputError, match="voxel sizes") as info:
        io.load_volume(path)
    assert str(path) in str(info.value)
