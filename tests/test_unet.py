"""The U-Net baseline, slice-wise inference and the intensity scaling: outputs
land on the target grid whatever the slice size, CT survives the scaling round
trip, and a short training learns a paired mapping."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from paired_inputs import AFFINE, write_inputs
from torch import nn

from medsynth import steps, train
from medsynth.case import extract_arrays, input_path
from medsynth.infer import crop_slices, pad_slices, padding, predict_slices
from medsynth.methods import unet
from medsynth.methods.intensity import from_network, to_network
from medsynth.tasks import parse_condition

T1_TO_T2 = parse_condition("t1_to_t2", "default", {})
MR_TO_CT = parse_condition("mr_to_ct", "default", {})
TINY = {"widths": [4, 8, 8], "convs_per_block": [1, 1, 1], "iterations": 3, "batch_size": 2,
        "log_every": 1, "checkpoint_every": 2, "val_every": 0, "infer_batch_size": 4}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny U-Net trained by the workflow's steps on 13 x 11 x 6 volumes."""
    root = tmp_path_factory.mktemp("unet")
    inputs = root / "inputs"
    inputs.mkdir()
    write_inputs(inputs, ["001", "002", "003"], (13, 11, 6), np.random.default_rng(0),
                 lambda s: 1.0 - s)
    extract_arrays(inputs, {"train": ["001", "002"], "val": ["003"]}, T1_TO_T2, root / "arrays")
    steps.train("unet", T1_TO_T2, root / "arrays", root / "model", TINY, seed=0, threads=1,
                state_dir=root / "state")
    return root


def test_padding_is_split_around_the_slice_and_cropped_back():
    assert padding(99, 16) == (6, 7)  # 99 + 13 = 112 = 7 * 16
    assert padding(112, 16) == (0, 0)
    assert padding(1, 4) == (1, 2)
    row = np.array([[0.0, 1.0, 2.0]])
    np.testing.assert_array_equal(pad_slices(row[None], 4)[0], [[0, 1, 2, 1]] * 4)
    batch = np.random.default_rng(0).standard_normal((3, 2, 13, 9)).astype(np.float32)
    padded = pad_slices(batch, 8)
    assert padded.shape == (3, 2, 16, 16)
    np.testing.assert_array_equal(crop_slices(padded, (13, 9), 8), batch)


class ChannelMix(nn.Module):
    """2 * channel 0 + channel 1, voxel by voxel; refuses inputs not padded to 8."""

    def forward(self, x):
        assert x.shape[-2] % 8 == 0 and x.shape[-1] % 8 == 0, x.shape
        return 2 * x[:, :1] + x[:, 1:2]


def test_predict_slices_keeps_every_voxel_in_place():
    source = np.random.default_rng(1).standard_normal((2, 13, 9, 5)).astype(np.float32)
    net = ChannelMix().train()
    out = predict_slices(net, source, batch_size=2, device=torch.device("cpu"), pad_multiple=8)
    assert out.shape == (13, 9, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out, 2 * source[0] + source[1], rtol=1e-6)
    assert net.training  # mode restored


def test_vgg_unet_has_hans_layer_and_parameter_count():
    net = unet.VGGUNet(1, 1, unet.DEFAULTS["widths"], unet.DEFAULTS["convs_per_block"])
    assert sum(isinstance(m, nn.Conv2d) for m in net.modules()) == 27
    assert round(sum(p.numel() for p in net.parameters()) / 1e6) == 35
    assert net.multiple == 16


def test_ct_scaling_round_trip_and_window():
    hu = np.array([-1024.0, -1000.0, 0.0, 40.0, 700.0, 1500.0, 3000.0], np.float32)
    net = to_network(hu, "CT")
    assert net[0] == -1.0 and net[-1] == 1.0
    np.testing.assert_allclose(net[2], 2 * 1024 / 4024 - 1, rtol=1e-6)
    np.testing.assert_allclose(from_network(net, "CT"), hu, atol=1e-3)
    # outside the window: clipped on the way in and on the way out
    np.testing.assert_array_equal(to_network(np.array([-3000.0, 5000.0]), "CT"), [-1.0, 1.0])
    np.testing.assert_array_equal(from_network(np.array([-1.5, 1.2]), "CT"), [-1024.0, 3000.0])


def test_mr_scaling_is_linear_and_unknown_contrast_fails():
    mr = np.array([0.0, 0.5, 1.0, 1.2], np.float32)
    np.testing.assert_allclose(to_network(mr, "T2w"), [-1.0, 0.0, 1.0, 1.4], rtol=1e-6)
    np.testing.assert_allclose(from_network(to_network(mr, "T1w"), "T1w"), mr, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown contrast 'FLAIR'"):
        to_network(mr, "FLAIR")


def test_training_leaves_model_files(trained):
    model = trained / "model"
    assert not (trained / "state" / train.CHECKPOINT).exists()
    state = torch.load(model / train.MODEL, weights_only=True)
    assert set(state) == {"unet"}
    params = json.loads((model / train.PARAMS).read_text())
    assert params["in_channels"] == 1 and params["target_contrast"] == "T2w"
    assert params["widths"] == TINY["widths"]
    header = (model / train.LOSS_CSV).read_text().splitlines()[0]
    assert header == "iteration,l2,val_mae,val_spread,elapsed_s"
    # three iterations from initialisation: barely more than a constant, and said so
    assert params["collapsed"] is (params["val_spread"] < train.COLLAPSE_SPREAD)


@pytest.mark.parametrize("shape", [(15, 9, 7), (13, 11, 6), (16, 16, 3)])
def test_prediction_lies_on_the_target_grid(trained, tmp_path, shape):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_inputs(inputs, ["009"], shape, np.random.default_rng(2), lambda s: 1.0 - s)
    out = steps.infer("unet", T1_TO_T2, inputs, "009", trained / "model", {},
                      tmp_path / "pred.nii.gz")
    pred = nib.load(out)
    assert pred.shape == shape
    np.testing.assert_allclose(pred.affine, AFFINE, atol=1e-5)
    assert np.isfinite(pred.get_fdata()).all()


def test_model_refuses_another_task(trained, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_inputs(inputs, ["009"], (13, 11, 6), np.random.default_rng(2), lambda s: 1.0 - s)
    with pytest.raises(ValueError, match=r"maps \['T1w'\] to T2w, not \['T1w'\] to CT"):
        steps.infer("unet", MR_TO_CT, inputs, "009", trained / "model", {}, tmp_path / "p.nii.gz")


def test_unknown_parameter_or_loss_is_refused(trained):
    data_dir = trained / "arrays"
    with pytest.raises(ValueError, match="unknown parameter.*itrations"):
        steps.train("unet", T1_TO_T2, data_dir, trained / "m2", {"itrations": 3}, 0, 1)
    with pytest.raises(ValueError, match="loss must be one of l1, l2"):
        steps.train("unet", T1_TO_T2, data_dir, trained / "m2", {**TINY, "loss": "huber"}, 0, 1)


def test_short_training_learns_a_monotone_mapping(tmp_path):
    """target = 1 - exp(-3 * source): a smooth monotone map the identity gets badly wrong."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    subjects = ["001", "002", "003", "004", "005"]
    write_inputs(inputs, subjects, (32, 32, 16), np.random.default_rng(3),
                 lambda s: (1.0 - np.exp(-3.0 * s)).astype(np.float32))
    extract_arrays(inputs, {"train": subjects[:4], "val": subjects[4:]}, T1_TO_T2,
                   tmp_path / "arrays")
    params = {"widths": [8, 16, 16], "convs_per_block": [1, 1, 1], "iterations": 150,
              "batch_size": 8, "lr": 3e-3, "log_every": 25, "val_every": 0}
    steps.train("unet", T1_TO_T2, tmp_path / "arrays", tmp_path / "model", params, 0, 2)
    source = nib.load(input_path(inputs, "005", "source-T1w")).get_fdata()
    target = nib.load(input_path(inputs, "005", "target")).get_fdata()
    identity_mae = np.abs(source - target)[1:].mean()
    rows = (tmp_path / "model" / train.LOSS_CSV).read_text().splitlines()
    val_mae = float(rows[-1].split(",")[2])
    assert val_mae < 0.1 * identity_mae, (val_mae, identity_mae)  # seen: 0.015 vs 0.26
    assert train.load_params(tmp_path / "model")["collapsed"] is False


def test_a_nan_loss_stops_training_naming_method_condition_and_iteration(trained, monkeypatch):
    monkeypatch.setitem(unet.LOSSES, "l2",
                        lambda pred, target: nn.functional.mse_loss(pred, target) * float("nan"))
    with pytest.raises(train.TrainingDiverged,
                       match=r"unet t1_to_t2/default: loss l2 = nan at iteration 1"):
        steps.train("unet", T1_TO_T2, trained / "arrays", trained / "nan-model", TINY, seed=0,
                    threads=1, state_dir=trained / "nan-state")
    assert not (trained / "nan-model" / train.MODEL).exists()


def test_a_model_predicting_a_constant_head_is_flagged_collapsed(trained, monkeypatch, caplog):
    from medsynth.model_records import read_model_table, write_model_table
    from medsynth.report.tables import summary_table

    # the network's output stuck at one value, as after a dead final ReLU
    monkeypatch.setattr(unet, "predict_slices",
                        lambda net, source, *args, **kwargs: np.zeros(source.shape[1:], np.float32))
    steps.train("unet", T1_TO_T2, trained / "arrays", trained / "flat-model", TINY, seed=0,
                threads=1, state_dir=trained / "flat-state")
    record = train.load_params(trained / "flat-model")
    assert record["collapsed"] is True and record["val_spread"] == 0.0
    assert "unet t1_to_t2/default collapsed" in caplog.text
    healthy = trained / "healthy-model"  # the flat model's files, said not to have collapsed
    healthy.mkdir()
    (healthy / train.PARAMS).write_text(json.dumps({**record, "collapsed": False}))
    models = write_model_table([("t1_to_t2", "default", "unet", 42, trained / "flat-model", [], []),
                                ("t1_to_t2", "default", "pix2pix", 42, healthy, [], [])],
                               trained / "compute.tsv")
    assert list(models["collapsed"]) == [True, False]
    rows = pd.DataFrame([{"dataset": "phantom", "task": "t1_to_t2", "condition": "default",
                          "method": m, "subject": "003", "mae": 0.1}
                         for m in ("unet", "pix2pix")])
    table = summary_table(rows, "t1_to_t2", compute=read_model_table(trained / "compute.tsv"))
    assert table.loc["unet", "flags"] == "collapsed in training"
    assert table.loc["pix2pix", "flags"] == ""
