"""Misregistration of paired training data: seeded per subject, the size asked for,
moves only the training and validation sources."""

import numpy as np
import pytest
from paired_inputs import write_inputs

from medsynth import config as msconfig
from medsynth.case import TrainingData, extract_arrays, load_case
from medsynth.preprocess.misregister import misalign, misregister, random_rigid
from medsynth.seeding import subject_rng
from medsynth.tasks import parse_condition

T1_TO_T2 = parse_condition("t1_to_t2", "default", {"methods": ["unet"]})


def test_error_is_seeded_per_subject():
    def draw(seed, subject):
        return random_rigid(subject_rng(seed, subject), 1.8, 1.0)[1]

    assert np.array_equal(draw(42, "001"), draw(42, "001"))
    assert not np.array_equal(draw(42, "001"), draw(42, "002"))
    assert not np.array_equal(draw(42, "001"), draw(7, "001"))


def test_mean_displacement_is_the_asked_size():
    rng = np.random.default_rng(0)
    shifts = np.array([random_rigid(rng, 1.8, 0.0)[1] for _ in range(20000)])
    assert np.linalg.norm(shifts, axis=1).mean() == pytest.approx(1.8, rel=0.02)
    rotation, _ = random_rigid(rng, 1.8, 0.0)
    assert np.allclose(rotation, np.eye(3))


def test_translation_by_hand():
    """A ramp along x moved by +4 mm at 2 mm voxels reads x - 2 voxels inside the volume."""
    ramp = np.broadcast_to(np.arange(10.0)[:, None, None], (10, 6, 6))[None]
    moved = misalign(ramp, (2.0, 2.0, 2.0), np.eye(3), np.array([4.0, 0.0, 0.0]))
    assert np.allclose(moved[0, 2:, 3, 3], np.arange(8.0))
    assert np.allclose(moved[0, :2, 3, 3], 0.0)  # edge extended


def test_rotation_keeps_the_centre():
    vol = np.zeros((1, 9, 9, 9), np.float32)
    vol[0, 4, 4, 4] = 1.0
    rotation, _ = random_rigid(np.random.default_rng(3), 0.0, 10.0)
    moved = misalign(vol, (1.0, 1.0, 1.0), rotation, np.zeros(3))
    assert np.unravel_index(moved[0].argmax(), moved[0].shape) == (4, 4, 4)


def test_only_training_and_validation_sources_move(tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_inputs(inputs, ["001", "002", "003"], (12, 12, 8), np.random.default_rng(1),
                 lambda s: 1 - s)
    split = {"train": ["001", "002"], "val": ["003"]}
    extract_arrays(inputs, split, T1_TO_T2, tmp_path / "true")
    extract_arrays(inputs, split, T1_TO_T2, tmp_path / "moved", {"translation_mm": 3.0}, seed=42)
    true, moved = (TrainingData.load(tmp_path / d, T1_TO_T2) for d in ("true", "moved"))
    assert np.array_equal(true.target, moved.target) and np.array_equal(true.mask, moved.mask)
    assert not np.allclose(true.source, moved.source)
    assert not np.allclose(true.val_source, moved.val_source)
    expected = misregister(load_case(inputs, "002", T1_TO_T2).source, (2.0, 2.0, 2.0), 42, "002",
                           {"translation_mm": 3.0})
    assert np.allclose(moved.source[1], expected)
    # a test subject is read by load_case, which never misregisters
    assert np.array_equal(load_case(inputs, "003", T1_TO_T2).source, true.val_source[0])


def test_config_key_is_validated():
    config = {"dataset": "phantom", "preset": "smoke", "seed": 1, "results": "r",
              "tasks": {"mr_to_ct": {"methods": ["unet"], "misregistration": {"translation_mm": 1.8}}}}
    msconfig.validate(config)
    config["tasks"]["mr_to_ct"]["misregistration"] = {"translation": 1.8}
    with pytest.raises(msconfig.ConfigError, match="translation"):
        msconfig.validate(config)
