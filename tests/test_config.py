"""Configuration: schema errors name the bad key; presets and overrides resolve."""

import copy
from pathlib import Path

import pytest
import yaml

from medsynth import config as msconfig
from medsynth.tasks import ALL_LEVELS, condition_names, model_condition, parse_condition

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def default_config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_default_config_is_valid(default_config):
    msconfig.validate(default_config)


@pytest.mark.parametrize(
    "mutate, key, words",
    [
        (lambda c: c.update(tsaks={}), "(top level)", "tsaks"),
        (lambda c: c.update(preset="huge"), "preset", "huge"),
        (lambda c: c["tasks"]["denoise"].update(noise_levels=[-1]), "tasks.denoise.noise_levels.0", "-1"),
        (lambda c: c["tasks"]["superres"].update(thicknes_mm=[1]), "tasks.superres", "thicknes_mm"),
        (lambda c: c["tasks"]["t1_to_t2"].update(methods=["pix2pox"]), "tasks.t1_to_t2.methods", "pix2pox"),
        (lambda c: c["tasks"]["denoise"].update(methods=["unet"]), "tasks.denoise.methods", "unet"),
        (lambda c: c.update(method_params={"unett": {}}), "method_params.unett", "unett"),
        (lambda c: c.update(seeds=[7, 7]), "seeds", "[7, 7]"),
        (lambda c: c.update(seeds=[]), "seeds", "[]"),
    ],
)
def test_config_error_names_the_key(default_config, mutate, key, words):
    config = copy.deepcopy(default_config)
    mutate(config)
    with pytest.raises(msconfig.ConfigError) as err:
        msconfig.validate(config)
    assert key in str(err.value) and words in str(err.value)


def test_outside_methods_are_accepted_for_their_tasks(default_config):
    config = copy.deepcopy(default_config)
    config["tasks"]["denoise"]["methods"].append("gaussian_smoothing")
    with pytest.raises(msconfig.ConfigError):
        msconfig.validate(config)
    msconfig.validate(config, {"gaussian_smoothing": ("denoise",)})


def test_presets_and_overrides(default_config):
    config = copy.deepcopy(default_config)
    config["preset"] = "smoke"
    config["phantom"] = {"n_subjects": 6}
    config["method_params"] = {"unet": {"iterations": 7}}
    block = msconfig.preset(config)
    assert block["phantom"] == {"n_subjects": 6, "voxel_mm": msconfig.presets()["smoke"]["phantom"]["voxel_mm"]}
    assert msconfig.method_params(config, "unet")["iterations"] == 7
    # the preset table itself is not modified by a run's overrides
    assert msconfig.presets()["smoke"]["phantom"]["n_subjects"] == 4


def test_condition_names(default_config):
    names = msconfig.task_conditions(default_config)
    assert names["denoise"] == ["noise-1", "noise-3", "noise-5", "noise-7", "noise-9"]
    assert names["superres"] == ["thick-1.2mm", "thick-1.9mm", "thick-3mm", "thick-3.9mm", "thick-4.8mm"]
    assert names["harmonize"] == ["AtoB-T1w", "AtoB-T2w", "AtoB-PDw"]
    assert names["t1_to_t2"] == ["default"]


def test_sbd_conditions_test_the_models_of_their_synthetic_twins():
    denoise = {"noise_levels": [3, 4], "methods": ["red_wgan"], "sbd_test": True}
    assert condition_names("denoise", denoise) == ["noise-3", "noise-4", "sbd-noise-3"]
    cond = parse_condition("denoise", "sbd-noise-3", denoise)
    assert (cond.external, cond.noise_percent, cond.trained_on) == ("brainweb_sbd", 3.0, "noise-3")
    assert model_condition("denoise", "sbd-noise-3", denoise) == "noise-3"
    assert model_condition("denoise", "noise-4", denoise) == "noise-4"
    pooled = {**denoise, "one_model_per_level": False}
    assert model_condition("denoise", "sbd-noise-3", pooled) == ALL_LEVELS
    assert condition_names("denoise", {**denoise, "sbd_test": False}) == ["noise-3", "noise-4"]


def test_deepharmony_shares_one_model_across_the_harmonize_contrasts():
    harmonize = {"source_site": "A", "target_site": "B", "contrasts": ["T1w", "T2w"]}
    # DeepHarmony's one network outputs every contrast; histogram matching fits each
    assert model_condition("harmonize", "AtoB-T2w", harmonize, "deepharmony") == "AtoB"
    assert model_condition("harmonize", "AtoB-T2w", harmonize, "histogram_matching") == "AtoB-T2w"


def test_test_subjects_sets_the_test_split_and_grows_the_cohort():
    from medsynth.config import preset

    quick = preset({"preset": "quick"})
    more = preset({"preset": "quick", "test_subjects": 6})
    assert more["split"]["test"] == 6 and more["split"]["val"] == quick["split"]["val"]
    train = quick["phantom"]["n_subjects"] - quick["split"]["val"] - quick["split"]["test"]
    assert more["phantom"]["n_subjects"] - 1 - 6 == train  # training keeps its subjects


def test_the_default_protocol_is_synthrad2023_without_extra_metrics(default_config):
    assert msconfig.evaluation(default_config) == ("synthrad2023", ())
    assert msconfig.evaluation({"evaluation": {"protocol": "brasyn", "extra_metrics": ["ms_ssim"]}}) \
        == ("brasyn", ("ms_ssim",))


@pytest.mark.parametrize("evaluation, words", [
    ({"protocol": "synthrad2024"}, "'synthrad2024' is not one of"),
    ({"protocol": "brasyn"}, "protocol 'brasyn' defines no metrics for the CT target of task "
                             "'mr_to_ct'"),
    ({"extra_metrics": ["lpips"]}, "'lpips' is not one of"),
    ({"protcol": "brasyn"}, "protcol"),
])
def test_protocol_errors_name_the_key_and_the_protocol(default_config, evaluation, words):
    config = {**copy.deepcopy(default_config), "evaluation": evaluation}
    with pytest.raises(msconfig.ConfigError) as err:
        msconfig.validate(config)
    assert "evaluation" in str(err.value) and words in str(err.value)


def test_brasyn_fits_the_mr_tasks(default_config):
    config = copy.deepcopy(default_config)
    del config["tasks"]["mr_to_ct"]
    config["evaluation"] = {"protocol": "brasyn", "extra_metrics": ["ms_ssim"]}
    msconfig.validate(config)
