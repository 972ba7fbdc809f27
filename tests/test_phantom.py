"""The phantom cohort: BIDS-like geometry, physically right contrast, determinism, two sites."""

import csv
import json
import math

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from medsynth import io
from medsynth.data import cavities, phantom
from medsynth.data.bids import anat_path
from medsynth.data.phantom_figure import save_subject_figure
from medsynth.data.tissues import (
    HOUNSFIELD,
    LABELS,
    MPRAGE,
    SITES,
    Relaxation,
    SpinEcho,
    SpoiledGradientEcho,
    compartments,
)

SEED = 11
VOXEL_MM = 4.0
TEMPLATE_FOV_MM = np.array([197.0, 233.0, 189.0])
SITE_A_ROLES = ("A_T1w", "A_T2w", "A_PDw", "CT", "dseg")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantom")
    ids = phantom.make_cohort(2, SEED, VOXEL_MM, root)
    paths = {s: phantom_paths(root, s) for s in ids}
    return root, ids, paths


def phantom_paths(root, subject):
    paths = {f"{site}_{c}": anat_path(root, subject, c, site)
             for site in ("A", "B") for c in ("T1w", "T2w", "PDw")}
    paths.update(CT=anat_path(root, subject, "CT"), dseg=anat_path(root, subject, "dseg"))
    return paths


def interior(labels, label):
    """Voxels of one label away from its border (no partial volume with neighbours)."""
    mask = ndimage.binary_erosion(labels == label)
    assert mask.sum() >= 5, f"label {LABELS[label]} has no interior at {VOXEL_MM} mm"
    return mask


def on_grid_a(path, affine_a, shape_a):
    """A site-B image sampled (nearest) at site A's voxel centres."""
    data, affine_b = io.load_array(path)
    ijk = np.indices(shape_a).reshape(3, -1)
    world = affine_a[:3, :3] @ ijk + affine_a[:3, 3:4]
    coords = np.linalg.solve(affine_b[:3, :3], world - affine_b[:3, 3:4])
    return ndimage.map_coordinates(data, coords, order=0, mode="nearest").reshape(shape_a)


def test_anat_path_is_bids_like_and_rejects_ambiguous_labels(tmp_path):
    assert anat_path(tmp_path, "001", "T1w", "A") == (
        tmp_path / "sub-001" / "anat" / "sub-001_acq-A_T1w.nii.gz")
    assert anat_path(tmp_path, "001", "CT") == tmp_path / "sub-001" / "anat" / "sub-001_CT.nii.gz"
    for bad in ("sub-001", "0_1", ""):
        with pytest.raises(ValueError, match="subject"):
            anat_path(tmp_path, bad, "T1w")


def test_make_cohort_writes_every_file_with_zero_padded_ids(cohort):
    root, ids, paths = cohort
    assert ids == ["001", "002"]
    assert all(p.exists() for subject in ids for p in paths[subject].values())
    written = phantom.make_subject("009", 8, SEED, 6.0, root / "extra")
    assert set(written) == set(paths["001"])
    assert written["B_T1w"] == anat_path(root / "extra", "009", "T1w", "B")


def test_site_a_images_share_one_ras_grid_of_the_requested_voxel_size(cohort):
    _, ids, paths = cohort
    for subject in ids:
        images = [io.load_volume(paths[subject][role]) for role in SITE_A_ROLES]
        reference = images[0]
        expected_shape = tuple(int(math.ceil(f / VOXEL_MM)) for f in TEMPLATE_FOV_MM)
        assert reference.shape == expected_shape
        np.testing.assert_allclose(reference.affine[:3, :3], np.diag([VOXEL_MM] * 3))
        assert nib.aff2axcodes(reference.affine) == ("R", "A", "S")
        for img in images[1:]:
            assert io.same_grid(img, reference)


def test_site_b_covers_the_same_world_fov_on_its_own_grid(cohort):
    _, ids, paths = cohort
    a = io.load_volume(paths[ids[0]]["A_T1w"])
    b = io.load_volume(paths[ids[0]]["B_T1w"])
    voxel_b = VOXEL_MM * np.array(SITES["B"].voxel_scale)
    np.testing.assert_allclose(io.voxel_sizes(b.affine), voxel_b)
    assert nib.aff2axcodes(b.affine) == ("R", "A", "S")
    assert b.shape != a.shape
    for img in (io.load_volume(paths[ids[0]][f"B_{c}"]) for c in ("T2w", "PDw")):
        assert io.same_grid(img, b)

    def corners(img):
        return ((img.affine @ [-0.5, -0.5, -0.5, 1])[:3],
                (img.affine @ [*(np.array(img.shape) - 0.5), 1.0])[:3])

    (a_lo, a_hi), (b_lo, b_hi) = corners(a), corners(b)
    np.testing.assert_allclose(a_lo, b_lo, atol=1e-6)
    np.testing.assert_allclose(b_hi - b_lo, [n * v for n, v in zip(b.shape, voxel_b, strict=True)])
    assert np.all(b_hi - b_lo >= TEMPLATE_FOV_MM) and np.all(a_hi - a_lo >= TEMPLATE_FOV_MM)
    assert np.all(np.abs(b_hi - a_hi) < voxel_b)


def test_labels_are_uint8_and_every_tissue_is_present(cohort):
    _, ids, paths = cohort
    for subject in ids:
        img = nib.load(paths[subject]["dseg"])
        assert img.get_data_dtype() == np.uint8
        assert set(np.unique(np.asarray(img.dataobj)).tolist()) == set(LABELS)


def test_mr_contrast_orders_brain_tissues_as_relaxation_predicts(cohort):
    _, ids, paths = cohort
    for subject in ids:
        labels, affine = io.load_array(paths[subject]["dseg"])
        masks = {label: interior(labels, label) for label in (1, 2, 3)}
        for site in ("A", "B"):
            means = {}
            for contrast in ("T1w", "T2w"):
                data = on_grid_a(paths[subject][f"{site}_{contrast}"], affine, labels.shape)
                means[contrast] = [float(data[masks[label]].mean()) for label in (1, 2, 3)]
            csf, gm, wm = means["T1w"]
            assert wm > gm > csf, (subject, site, "T1w", csf, gm, wm)
            csf, gm, wm = means["T2w"]
            assert csf > gm > wm, (subject, site, "T2w", csf, gm, wm)


def test_tissue_signals_are_physical_at_both_sites():
    for site in SITES.values():
        tissues = compartments(site.field_t)
        for contrast in ("T1w", "T2w", "PDw"):
            signal = site.tissue_signals(contrast, tissues)
            brightest = max(abs(v) for v in signal.values())
            assert signal[0] == 0.0  # air
            assert abs(signal[6]) < 1e-3 * brightest  # cortical bone: T2* ~ 0.4 ms
        t1w = site.tissue_signals("T1w", tissues)
        assert t1w[5] > t1w[3] > t1w[2] > t1w[1]  # fat brightest on T1w


def test_signal_equations_match_hand_computed_limits():
    tissue = Relaxation(t1_ms=800.0, t2_ms=80.0, t2s_ms=50.0, pd=0.7)
    se = SpinEcho(tr_ms=2000.0, te_ms=100.0).signal(tissue)
    assert se == pytest.approx(0.7 * (1 - math.exp(-2.5)) * math.exp(-1.25))
    # FLASH with TR >> T1 is fully relaxed: PD sin(a) exp(-TE/T2*).
    flash = SpoiledGradientEcho(tr_ms=1e6, te_ms=10.0, flip_deg=30.0).signal(tissue)
    assert flash == pytest.approx(0.7 * 0.5 * math.exp(-0.2))
    # MPRAGE, negligible readout: inversion recovery in steady state, m = (1 - E)/(1 + E).
    weak = MPRAGE(tr_ms=2300.0, ti_ms=900.0, te_ms=0.0, flip_deg=0.01, echo_spacing_ms=1e-4,
                  readouts=2)
    e_tr = math.exp(-2300 / 800)
    free_ir = 1 - (1 + (1 - e_tr) / (1 + e_tr)) * math.exp(-900 / 800)
    assert weak.signal(tissue) / (0.7 * math.sin(math.radians(0.01))) == pytest.approx(free_ir)
    # One 90° readout saturates: the textbook 1 - 2 exp(-TI/T1) + exp(-TR/T1).
    saturating = MPRAGE(tr_ms=2300.0, ti_ms=900.0, te_ms=0.0, flip_deg=90.0,
                        echo_spacing_ms=1e-4, readouts=1)
    ir = 1 - 2 * math.exp(-900 / 800) + math.exp(-2300 / 800)
    assert saturating.signal(tissue) / 0.7 == pytest.approx(ir, abs=1e-6)


def test_ct_orders_tissues_by_density(cohort):
    _, ids, paths = cohort
    for subject in ids:
        labels, _ = io.load_array(paths[subject]["dseg"])
        ct, _ = io.load_array(paths[subject]["CT"])
        means = {label: float(ct[labels == label].mean()) for label in LABELS}
        assert means[6] > means[7] > means[4] > means[5] > means[0]
        for label in (1, 2, 3):
            assert 0.0 <= float(ct[interior(labels, label)].mean()) <= 50.0
        assert ct[0, 0, 0] == pytest.approx(HOUNSFIELD[0])


def test_images_carry_no_noise_outside_the_head(cohort):
    _, ids, paths = cohort
    labels, affine = io.load_array(paths[ids[0]]["dseg"])
    far_air = ndimage.distance_transform_edt(labels == 0) > 3  # no partial volume with tissue
    for site in ("A", "B"):
        for contrast in ("T1w", "T2w", "PDw"):
            data = on_grid_a(paths[ids[0]][f"{site}_{contrast}"], affine, labels.shape)
            assert np.all(data[far_air] == 0.0) and np.all(data >= 0.0)
    ct, _ = io.load_array(paths[ids[0]]["CT"])
    assert np.all(ct[far_air] == HOUNSFIELD[0])


def test_same_seed_reproduces_a_subject_and_subjects_differ(cohort, tmp_path):
    _, ids, paths = cohort
    again = phantom.make_subject("001", 0, SEED, VOXEL_MM, tmp_path)
    for role, path in again.items():
        assert np.array_equal(io.load_array(path)[0], io.load_array(paths["001"][role])[0]), role
    first, _ = io.load_array(paths["001"]["dseg"])
    second, _ = io.load_array(paths["002"]["dseg"])
    assert np.mean(first != second) > 0.01
    other_seed = phantom.draw_subject(SEED + 1, 0)
    assert other_seed.summary() != phantom.draw_subject(SEED, 0).summary()


def test_site_b_contrast_differs_from_site_a(cohort):
    _, ids, paths = cohort
    for subject in ids:
        labels, affine = io.load_array(paths[subject]["dseg"])
        gm, wm = interior(labels, 2), interior(labels, 3)
        ratios = {}
        for site in ("A", "B"):
            t1 = on_grid_a(paths[subject][f"{site}_T1w"], affine, labels.shape)
            ratios[site] = t1[wm].mean() / t1[gm].mean()
        assert abs(ratios["B"] - ratios["A"]) > 0.15, ratios


def test_dataset_files_describe_labels_sites_and_draws(cohort):
    root, ids, _ = cohort
    assert (root / "dseg.tsv").read_text().splitlines() == (
        ["index\tname"] + [f"{i}\t{name}" for i, name in LABELS.items()])
    with open(root / "participants.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [r["participant_id"] for r in rows] == [f"sub-{s}" for s in ids]
    assert rows[0]["skull_mm"] != rows[1]["skull_mm"]
    assert float(rows[0]["skull_mm"]) == pytest.approx(phantom.draw_subject(SEED, 0).skull_mm,
                                                       abs=1e-4)
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["BIDSVersion"]
    assert description["AcquisitionSites"]["B"]["MagneticFieldStrength"] == 3.0
    assert description["AcquisitionSites"]["A"]["Sequences"]["T2w"]["te_ms"] == 120.0


def test_area_average_weights_are_overlaps():
    weights = phantom._area_matrix(5, 1.0, 2, 2.5).toarray()
    np.testing.assert_allclose(weights, np.array([[1, 1, 0.5, 0, 0], [0, 0, 0.5, 1, 1]]) / 2.5)
    # An output voxel reaching past the input keeps only the covered part (the rest is air).
    np.testing.assert_allclose(phantom._area_matrix(3, 1.0, 2, 2.0).toarray(),
                               [[0.5, 0.5, 0.0], [0.0, 0.0, 0.5]])


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="voxel_mm"):
        phantom.make_subject("001", 0, SEED, 0.0, tmp_path)
    with pytest.raises(ValueError, match="n_subjects"):
        phantom.make_cohort(0, SEED, VOXEL_MM, tmp_path)
    assert not any(tmp_path.iterdir())


def test_figure_is_written(cohort, tmp_path):
    root, ids, _ = cohort
    out = save_subject_figure(root / f"sub-{ids[0]}", tmp_path / "phantom.png")
    assert out.stat().st_size > 10_000
    with pytest.raises(io.InputError, match="missing"):
        save_subject_figure(tmp_path / "sub-404", tmp_path / "none.png")


# Published adult volumes (ml) each modelled structure must fall within: mean ± 2 SD of
# the studies cited in medsynth.data.cavities (per side for paired structures).
CAVITY_VOLUME_ML = {
    cavities.FRONTAL: (2.92 - 2 * 2.57, 2.92 + 2 * 2.57),  # [Sinus17]
    cavities.SPHENOID: (4.00 - 2 * 1.99, 4.00 + 2 * 1.99),  # [Sinus17]
    cavities.MAXILLARY: (12.75 - 2 * 4.38, 12.75 + 2 * 4.38),  # [Sinus17]
    cavities.ETHMOID: (5.5 - 2 * 2.0, 5.5 + 2 * 2.0),  # [Morph00]
    cavities.MASTOID: (4.0, 14.0),  # [Mast03], range; air only
    cavities.NASAL: (31.1 * (1 - 2 * 0.66), 31.1 * (1 + 2 * 0.66)),  # [Nasal], CV 66 %
    cavities.EAR_CANAL: (0.5, 3.0),  # [Canal23]: 31 mm × 53-97 mm², the outer part in the pinna
    cavities.VITREOUS: (6.0, 8.5),  # [Bek14]: spheroid of 22.0-24.8 × 23.7 × 24.2 mm
}
PAIRED = (cavities.ETHMOID, cavities.MAXILLARY, cavities.MASTOID, cavities.EAR_CANAL,
          cavities.VITREOUS)


@pytest.fixture(scope="module")
def head_2mm(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantom2mm")
    paths = phantom.make_subject("001", 0, SEED, 2.0, root)
    return {role: io.load_array(path)[0] for role, path in paths.items()}


def test_air_cavities_and_eyes_have_published_volumes(head_2mm):
    labels = head_2mm["dseg"]
    for label, (low, high) in CAVITY_VOLUME_ML.items():
        volume = float((labels == label).sum()) * 8.0 / 1000.0
        if label == cavities.MASTOID:
            volume *= cavities.MASTOID_AIR_FRACTION
        if label in PAIRED:
            volume /= 2
        assert low <= volume <= high, (LABELS[label], volume, low, high)


def test_air_cavities_are_air_on_ct_and_dark_on_every_mr(head_2mm):
    labels, ct = head_2mm["dseg"], head_2mm["CT"]
    for label in (*cavities.AIR_LABELS, cavities.MASTOID):
        core = labels == label
        if label not in (cavities.EAR_CANAL, cavities.FRONTAL, cavities.MASTOID):
            core = ndimage.binary_erosion(core)  # thin ones have no interior at 2 mm
        assert core.sum() >= 2, LABELS[label]
        expected = HOUNSFIELD[label]
        assert float(np.median(ct[core])) < expected + 400, LABELS[label]
        assert float(ct[core].min()) == pytest.approx(expected, abs=60), LABELS[label]
        for site in ("A", "B"):
            for contrast in ("T1w", "T2w", "PDw"):
                image = head_2mm[f"{site}_{contrast}"] if site == "A" else None
                if image is None:
                    continue
                brain_level = float(np.median(image[labels == 2]))
                assert float(np.median(image[core])) < 0.25 * brain_level, (LABELS[label], contrast)
    # vitreous: water on CT, and as bright as CSF where CSF is bright (T2w), dark on T1w
    eye = ndimage.binary_erosion(labels == cavities.VITREOUS)
    assert abs(float(ct[eye].mean()) - HOUNSFIELD[cavities.VITREOUS]) < 5
    t1, t2 = head_2mm["A_T1w"], head_2mm["A_T2w"]
    assert float(t2[eye].mean()) > float(t2[labels == 2].mean())
    assert float(t1[eye].mean()) < float(t1[labels == 2].mean())


def test_cavities_keep_clear_of_the_template_brain():
    brain, _, _, affine = phantom._template_1mm()
    clearance = ndimage.distance_transform_edt(brain == 0)
    grid = np.indices(brain.shape).reshape(3, -1)
    mni = (grid + affine[:3, 3:4]).astype(np.float32)
    for structure in cavities.STRUCTURES:
        for side in (1.0, -1.0) if structure.bilateral else (1.0,):
            inside = cavities._distance(structure, mni, side) <= structure.wall_mm
            assert inside.any()
            assert clearance.ravel()[inside].min() >= 3.0, structure
