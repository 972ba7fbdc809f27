"""The PET end point: HU to μ, the projector, OSEM, the error metrics and the reference."""

import numpy as np
import pytest
from skimage.transform import radon

from medsynth.pet.activity import activity_from_labels
from medsynth.pet.attenuation import mu_511, without_bone
from medsynth.pet.endpoint import COLUMNS, PetSettings, make_reference, pet_metrics
from medsynth.pet.error import region_statistics, relative_error_pct
from medsynth.pet.projector import make_projector
from medsynth.pet.recon import attenuation_factors, emission_data, osem


def test_hu_to_mu_matches_carney_2006_at_120_kvp_by_hand():
    # x = HU + 1000; 9.6e-5·x up to 47 HU, then 5.10e-5·x + 4.71e-2 (/cm)
    mu = mu_511(np.array([-1000.0, 0.0, 47.0, 1000.0, -1200.0]))
    np.testing.assert_allclose(mu, [0.0, 0.096, 9.6e-5 * 1047, 5.10e-5 * 2000 + 4.71e-2, 0.0],
                               rtol=1e-6, atol=1e-9)
    just_above = mu_511(np.array([48.0]))[0]
    assert just_above == pytest.approx(5.10e-5 * 1048 + 4.71e-2, rel=1e-6)
    assert abs(just_above - mu[2]) < 1e-4  # the two segments meet at the break point
    with pytest.raises(ValueError, match="kVp"):
        mu_511(np.zeros(2), kvp=80)
    with pytest.raises(ValueError, match="kVp"):
        PetSettings(kvp=140)


def test_projector_is_its_own_adjoint_to_float_precision():
    projector = make_projector((23, 31), 2.0, 17, dtype=np.float64)
    rng = np.random.default_rng(0)
    x = rng.random((23, 31, 3))
    y = rng.random((projector.matrix.shape[0], 3))
    lhs = float(np.sum(projector.forward(x) * y))
    rhs = float(np.sum(x * projector.back(y)))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_projector_line_integrals_match_skimage_radon():
    n = 41
    i, j = np.mgrid[0:n, 0:n]
    blob = np.exp(-((i - 25) ** 2 + (j - 15) ** 2) / (2 * 3.0**2))  # off centre: orientation shows
    projector = make_projector((n, n), 1.0, 36, dtype=np.float64)
    ours = projector.forward(blob).reshape(36, projector.n_bins)
    # skimage rotates the image (rows = our j) the other way round
    theirs = radon(blob.T, theta=-np.arange(36) * 5.0, circle=False).T
    half = min(ours.shape[1] // 2, theirs.shape[1] // 2)
    ours = ours[:, ours.shape[1] // 2 - half: ours.shape[1] // 2 + half]
    theirs = theirs[:, theirs.shape[1] // 2 - half: theirs.shape[1] // 2 + half]
    assert np.abs(ours - theirs).max() < 0.015 * ours.max()
    # line integrals scale with the pixel size (mm)
    coarse = make_projector((n, n), 2.0, 36, dtype=np.float64).forward(blob)
    np.testing.assert_allclose(coarse, 2.0 * projector.forward(blob))


def _head_slices(n=33, slices=2):
    i, j = np.mgrid[0:n, 0:n]
    r2 = (i - n // 2) ** 2 + (j - n // 2) ** 2
    head = r2 < (n // 2 - 2) ** 2
    activity = np.where(head, 1.0 + 3.0 * np.exp(-((i - 12) ** 2 + (j - 18) ** 2) / 20.0), 0.0)
    return np.repeat(activity[..., None], slices, 2), np.repeat(head[..., None], slices, 2)


def test_mlem_recovers_a_known_activity_when_attenuation_is_exact():
    activity, head = _head_slices()
    projector = make_projector(activity.shape[:2], 2.0, 48)
    factors = attenuation_factors(projector, np.where(head, 0.096, 0.0).astype(np.float32))
    data = emission_data(projector, activity.astype(np.float32), factors, 0.0, (2.0, 2.0, 2.0))
    recon = osem(projector, data, factors, iterations=50, subsets=6)
    inner = head & (np.hypot(*np.mgrid[0:33, 0:33] - 16)[..., None] < 12)
    error = np.abs(recon - activity)[inner] / activity[inner]
    assert error.mean() < 0.02 and error.max() < 0.1  # MLEM converges slowly at the sharp rim
    # without attenuation correction the same data give a clearly wrong image
    uncorrected = osem(projector, data, np.ones_like(factors), iterations=40, subsets=6)
    assert (np.abs(uncorrected - activity)[inner] / activity[inner]).mean() > 0.2


def test_relative_error_metrics_on_a_hand_example():
    reference = np.array([100.0, 100.0, 100.0, 100.0, 0.0, 100.0])
    test = np.array([110.0, 95.0, 100.0, 80.0, 5.0, 300.0])
    scored = np.array([True, True, True, True, True, False])
    error = relative_error_pct(test, reference, scored)
    np.testing.assert_allclose(error[:4], [10.0, -5.0, 0.0, -20.0])
    assert np.isnan(error[4]) and np.isnan(error[5])  # zero reference; outside the mask
    stats = region_statistics(error, np.ones(6, dtype=bool))
    assert stats == pytest.approx({"bias_pct": -3.75, "mae_pct": 8.75, "within5": 0.5,
                                   "within10": 0.75})
    assert np.isnan(region_statistics(error, np.zeros(6, dtype=bool))["bias_pct"])


def test_activity_and_no_bone_control_by_hand():
    np.testing.assert_allclose(activity_from_labels(np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 15])),
                               [0, 0, 4, 1, 0.5, 0.5, 0, 0, 0, 0])
    ct = np.array([-1000.0, 40.0, 299.0, 301.0, 1880.0])
    head = np.array([False, True, True, True, True])
    np.testing.assert_allclose(without_bone(ct, head, 300.0, 40.0), [-1000, 40, 299, 40, 40])


def test_perfect_ct_has_zero_error_and_no_bone_underestimates():
    n, slices = 33, 3
    i, j = np.mgrid[0:n, 0:n]
    r = np.hypot(i - 16, j - 16)
    dseg = np.select([r < 9, r < 11, r < 12, r < 14], [2, 3, 1, 6], 0)
    dseg = np.repeat(dseg[..., None], slices, 2)
    ct = np.select([dseg == 6, dseg > 0], [1500.0, 30.0], -1000.0).astype(np.float32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    settings = PetSettings(angles=24, iterations=4, subsets=4)
    reference = make_reference(ct, dseg, dseg > 0, affine, settings)
    row, error = pet_metrics(ct, affine, reference, settings)
    assert set(row) == set(COLUMNS)
    assert row["pet_bias_pct_brain"] == 0.0 and row["pet_within5_brain"] == 1.0
    assert np.nanmax(np.abs(error)) == 0.0
    no_bone, _ = pet_metrics(without_bone(ct, dseg > 0, 300.0, 40.0), affine, reference, settings)
    assert no_bone["pet_bias_pct_brain"] < -3.0
    assert no_bone["pet_mae_pct_brain"] == pytest.approx(-no_bone["pet_bias_pct_brain"], rel=0.05)


def test_noisy_replicates_are_paired_so_the_perfect_ct_still_has_zero_error():
    n, slices = 33, 3
    r = np.hypot(*(np.mgrid[0:n, 0:n] - 16))
    dseg = np.repeat(np.select([r < 9, r < 11, r < 12, r < 14], [2, 3, 1, 6], 0)[..., None],
                     slices, 2)
    ct = np.select([dseg == 6, dseg > 0], [1500.0, 30.0], -1000.0).astype(np.float32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    settings = PetSettings(angles=24, iterations=4, subsets=4, noise_counts=1e8, replicates=2)
    reference = make_reference(ct, dseg, dseg > 0, affine, settings, seed=5)
    assert reference["noisy_data"].shape[0] == 2
    assert not np.array_equal(reference["noisy_data"][0], reference["noisy_data"][1])
    perfect, _ = pet_metrics(ct, affine, reference, settings)
    assert perfect["pet_noisy_bias_pct_brain"] == 0.0 and perfect["pet_noisy_mae_pct_brain"] == 0.0
    no_bone, _ = pet_metrics(without_bone(ct, dseg > 0, 300.0, 40.0), affine, reference, settings)
    assert no_bone["pet_noisy_bias_pct_brain"] == pytest.approx(no_bone["pet_bias_pct_brain"],
                                                                abs=1.0)


def test_without_labels_the_activity_comes_from_segmented_tissues():
    from medsynth.pet.activity import labels_from_images

    rng = np.random.default_rng(1)
    i, j, k = np.mgrid[0:24, 0:24, 0:12]
    r = np.hypot(i - 11.5, j - 11.5)
    brain = r < 8
    t1 = np.select([r < 3.5, r < 6, r < 8], [0.8, 0.5, 0.2], 0.0) + rng.normal(0, 0.02, r.shape)
    ct = np.select([r < 8, r < 9.5, r < 11], [30.0, 1500.0, 40.0], -1000.0).astype(np.float32)
    ct[(np.abs(i - 11.5) < 1.5) & (j < 2.5)] = -1000.0  # air in the head
    head = r < 11
    labels = labels_from_images(ct, t1.astype(np.float32), head, brain, np.eye(4))
    assert (labels[r < 3] == 3).all() and (labels[(r > 4.5) & (r < 5.5)] == 2).all()
    assert (labels[head & (ct == 1500)] == 6).all() and (labels[head & (ct == 40)] == 4).all()
    assert (labels[head & (ct == -1000)] == 0).all() and (labels[~head] == 0).all()
    np.testing.assert_allclose(activity_from_labels(labels)[r < 3], 1.0)


def test_a_dataset_without_labels_skips_the_pet_end_point_and_says_why(tmp_path):
    from medsynth import io, steps
    from medsynth.case import input_path
    from medsynth.pet.endpoint import NO_LABELS
    from medsynth.tasks import parse_condition

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    ct = np.full((12, 12, 8), -1000.0, dtype=np.float32)
    ct[2:10, 2:10] = 30.0
    ct[2:10, 2] = 1200.0
    mask = (ct > -500).astype(np.uint8)
    for role, data in {"target": ct, "mask": mask, "brainmask": mask, "source-T1w": mask * 1.0}.items():
        io.save_volume(input_path(inputs, "001", role), data, affine)
    pred = io.save_volume(tmp_path / "pred.nii.gz", ct, affine)
    note = steps.pet_references(inputs, ["001"], {}, tmp_path / "pet")
    # a constant T1w has no three tissues to segment either
    assert note.startswith(NO_LABELS) and "sub-001" in note
    assert (tmp_path / "pet" / "skipped.txt").read_text().strip() == note
    cond = parse_condition("mr_to_ct", "default", {"methods": ["bulk_density"]})
    rows = steps.evaluate(cond, inputs, {"001": pred}, {"task": "mr_to_ct"}, "synthrad2023",
                          pet={}, pet_dir=tmp_path / "pet", pet_map=tmp_path / "map.npz")
    assert all(np.isnan(rows[0][c]) for c in COLUMNS)
    assert np.isfinite(rows[0]["mae"])
    with np.load(tmp_path / "map.npz") as saved:
        assert np.isnan(saved["error_pct"]).all()
