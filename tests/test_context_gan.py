"""The context-aware GAN: the generator's shrinking patch, the gradient
difference loss by hand, tiled inference reconstructing a volume exactly,
the auto-context cascade feeding each stage's synthesis to the next (in
inference and in training), resuming a cascade interrupted mid-stage, and a
trained cascade on the target grid beating its source."""

import nibabel as nib
import numpy as np
import pytest
import torch
from model_weights import assert_same_weights, weights
from paired_inputs import write_inputs

from medsynth import steps, train
from medsynth.case import TrainingData, extract_arrays, input_path
from medsynth.infer import predict_tiles, tile_starts
from medsynth.methods import context_gan
from medsynth.tasks import parse_condition

T1_TO_T2 = parse_condition("t1_to_t2", "default", {})
TINY = {"widths": [2, 2, 2, 2, 4, 4, 4, 2], "kernels": [5, 3, 3, 3, 5, 3, 3, 3, 3],
        "patch_size": [8, 8, 8], "discriminator_widths": [2, 4], "discriminator_kernels": [3, 3],
        "discriminator_fc": [4], "n_stages": 2, "min_head_fraction": 0.5, "batch_size": 2,
        "lr": 3e-3, "iterations": 6, "log_every": 2, "checkpoint_every": 2, "val_every": 0,
        "infer_tile": [8, 8, 8], "infer_step": [6, 6, 6]}


def inverted(source):
    """A contrast change the identity cannot fake: bright becomes dark, nonlinearly."""
    return (1.0 - source) ** 2


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    root = tmp_path_factory.mktemp("context_gan")
    (root / "inputs").mkdir()
    write_inputs(root / "inputs", ["001", "002", "003", "004"], (20, 18, 14),
                 np.random.default_rng(0), inverted)
    extract_arrays(root / "inputs", {"train": ["001", "002", "003"], "val": ["004"]}, T1_TO_T2,
                   root / "arrays")
    return root


class CentreOf(torch.nn.Module):
    """Stands in for a generator: channel `channel` of the input's centre, times `scale` plus `add`."""

    def __init__(self, margin, channel=0, scale=1.0, add=0.0):
        super().__init__()
        self.margin, self.channel, self.scale, self.add = margin, channel, scale, add

    def forward(self, x):
        m = self.margin
        centre = x[:, self.channel:self.channel + 1]
        if m:
            centre = centre[..., m:-m, m:-m, m:-m]
        return centre * self.scale + self.add


# networks and losses ------------------------------------------------------------------------

def test_paper_generator_maps_a_32_cube_to_its_16_cube_centre():
    params = context_gan.DEFAULTS
    assert context_gan.source_margin(params["kernels"]) == 8
    net = context_gan.ContextFCN(1, params["widths"], params["kernels"])
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 32, 32, 32)).shape == (1, 1, 16, 16, 16)


def test_discriminator_gives_one_logit_per_patch():
    params = context_gan.DEFAULTS
    net = context_gan.Discriminator3D(params["patch_size"], params["discriminator_widths"],
                                      params["discriminator_kernels"], params["discriminator_fc"])
    with torch.no_grad():
        assert net(torch.zeros(3, 1, 16, 16, 16)).shape == (3, 1)
    with pytest.raises(ValueError, match="poolings"):
        context_gan.Discriminator3D([4, 4, 4], [2, 2, 2], [3, 3, 3], [4])


def test_gradient_difference_loss_by_hand():
    real = torch.tensor([[0.0, 2.0], [1.0, 1.0]]).reshape(1, 1, 2, 2, 1)
    fake = torch.tensor([[0.0, 1.0], [0.0, 0.0]]).reshape(1, 1, 2, 2, 1)
    # x differences (rows): real |1-0|, |1-2| = 1, 1; fake 0, 1 -> (1-0)^2, (1-1)^2: mean 0.5
    # y differences (columns): real 2, 0; fake 1, 0 -> (2-1)^2, 0: mean 0.5; z has none
    assert context_gan.gradient_difference_loss(fake, real).item() == pytest.approx(1.0)
    # alpha = 1: the same differences, not squared
    assert context_gan.gradient_difference_loss(fake, real, 1.0).item() == pytest.approx(1.0)
    # twice the real image: x |2 - 1|, |2 - 1| (mean 1), y |4 - 2|, 0 (mean 1)
    assert context_gan.gradient_difference_loss(2 * real, real, 1.0).item() == pytest.approx(2.0)
    # a constant offset changes no gradient
    assert context_gan.gradient_difference_loss(real + 5, real).item() == 0.0


# tiled inference ----------------------------------------------------------------------------

def test_tile_starts_cover_the_axis_and_end_flush():
    assert tile_starts(20, 8, 6) == [0, 6, 12]
    assert tile_starts(21, 8, 6) == [0, 6, 12, 13]
    assert tile_starts(8, 8, 3) == [0]
    with pytest.raises(ValueError):
        tile_starts(5, 8, 3)


@pytest.mark.parametrize("shape", [(20, 17, 13), (9, 30, 5)])
def test_tiling_with_an_identity_generator_reconstructs_the_volume_exactly(shape):
    volume = np.random.default_rng(1).random((1, *shape)).astype(np.float32)
    out = predict_tiles(CentreOf(margin=4), volume, torch.device("cpu"), tile=8, margin=4,
                        step=5, batch_size=3)
    assert out.shape == shape
    np.testing.assert_array_equal(out, volume[0])


def test_tiling_averages_overlapping_tiles():
    class TileIndex(torch.nn.Module):  # each tile predicts a constant: its batch position
        def forward(self, x):
            return torch.arange(len(x), dtype=x.dtype).reshape(-1, 1, 1, 1, 1).expand(
                -1, 1, 4, 4, 4)

    out = predict_tiles(TileIndex(), np.zeros((1, 6, 4, 4), np.float32), torch.device("cpu"),
                        tile=4, margin=0, step=2, batch_size=8)
    # tiles at x = 0 and 2: x 0-1 only the first (0), 2-3 both (mean 0.5), 4-5 the second (1)
    np.testing.assert_array_equal(out[:, 0, 0], [0, 0, 0.5, 0.5, 1, 1])


def test_tiling_refuses_a_network_that_returns_the_wrong_size():
    with pytest.raises(ValueError, match="centre"):
        predict_tiles(CentreOf(margin=0), np.zeros((1, 10, 10, 10), np.float32),
                      torch.device("cpu"), tile=4, margin=2, step=4)


# the cascade --------------------------------------------------------------------------------

def test_cascade_feeds_each_stage_the_source_and_its_predecessors_synthesis():
    source = np.random.default_rng(2).random((1, 12, 10, 9)).astype(np.float32)
    stage1 = CentreOf(margin=2, channel=0, add=1.0)  # source + 1
    stage2 = CentreOf(margin=2, channel=1, scale=2.0)  # twice stage 1's output
    params = {**context_gan.DEFAULTS, "infer_tile": [4, 4, 4], "infer_step": [3, 3, 3]}
    out = context_gan.synthesise([stage1, stage2], source, params, torch.device("cpu"))
    np.testing.assert_allclose(out, 2 * (source[0] + 1), rtol=1e-6)


def test_each_stage_trains_on_the_previous_stages_synthesis_of_the_training_subjects(
        arrays, tmp_path, monkeypatch):
    seen = []
    build = context_gan.ContextGanStage.__init__

    def recording(self, runtime, params, source, *args):
        seen.append(np.array(source))
        build(self, runtime, params, source, *args)

    monkeypatch.setattr(context_gan.ContextGanStage, "__init__", recording)
    data = TrainingData.load(arrays / "arrays", T1_TO_T2)
    context_gan.fit(data, TINY, tmp_path / "model", seed=0, threads=1)
    assert [s.shape[1] for s in seen] == [1, 2]  # stage 2: source and stage 1's synthesis
    np.testing.assert_array_equal(seen[1][:, :1], seen[0])
    params = train.merge_params(context_gan.DEFAULTS, TINY, "context_gan")
    runtime = train.Runtime.create()
    stage1 = context_gan.ContextFCN(1, TINY["widths"], TINY["kernels"])
    stage1 = context_gan.load_network(stage1, tmp_path / "model" / "stage-1", "generator",
                                      runtime)
    for subject in range(len(seen[0])):
        expected = context_gan.synthesise([stage1], seen[0][subject], params, runtime.device)
        np.testing.assert_array_equal(seen[1][subject, 1], expected)
    record = train.load_params(tmp_path / "model")
    assert record["n_stages"] == 2 and record["source_contrasts"] == ["T1w"]
    header = (tmp_path / "model" / train.LOSS_CSV).read_text().splitlines()[0].split(",")
    assert {"g_l2", "g_gdl", "g_adversarial", "val_mae_stage1", "val_mae_stage2"} <= set(header)


@pytest.mark.parametrize("killed_at", [3, 9])  # in stage 1; in stage 2 after stage 1 finished
def test_cascade_resumed_after_interruption_ends_bit_identical(arrays, tmp_path, killed_at):
    data = TrainingData.load(arrays / "arrays", T1_TO_T2)

    def run(name, **kwargs):
        context_gan.fit(data, TINY, tmp_path / name / "model", seed=0, threads=1,
                        state_dir=tmp_path / name / "state", **kwargs)

    run("straight")
    run("killed", stop_after=killed_at)
    assert not (tmp_path / "killed" / "model" / train.PARAMS).exists()
    run("killed")
    for stage in ("stage-1", "stage-2"):
        assert_same_weights(weights(tmp_path / "straight" / "model" / stage),
                            weights(tmp_path / "killed" / "model" / stage))
    # the state folder is emptied once the model is complete
    assert not any((tmp_path / "killed" / "state").iterdir())


def test_trained_cascade_beats_its_source_on_the_target_grid(arrays, tmp_path):
    params = {**TINY, "widths": [8, 8, 8, 8, 8, 8, 8, 8], "batch_size": 4, "iterations": 120,
              "log_every": 40, "checkpoint_every": 120}
    model = tmp_path / "model"
    steps.train("context_gan", T1_TO_T2, arrays / "arrays", model, params, seed=0, threads=2)
    target = nib.load(input_path(arrays / "inputs", "004", "target"))
    source = nib.load(input_path(arrays / "inputs", "004", "source-T1w")).get_fdata()
    errors = {}
    for stages in (1, 2):
        out = steps.infer("context_gan", T1_TO_T2, arrays / "inputs", "004", model,
                          {**params, "use_stages": stages}, tmp_path / f"pred-{stages}.nii.gz")
        pred = nib.load(out)
        assert pred.shape == target.shape
        np.testing.assert_allclose(pred.affine, target.affine)
        errors[stages] = np.mean((pred.get_fdata() - target.get_fdata()) ** 2)
    mse_source = np.mean((source - target.get_fdata()) ** 2)
    assert errors[2] < 0.5 * mse_source, (errors, mse_source)
    with pytest.raises(ValueError, match="use_stages"):
        steps.infer("context_gan", T1_TO_T2, arrays / "inputs", "004", model,
                    {**params, "use_stages": 3}, tmp_path / "pred-3.nii.gz")
