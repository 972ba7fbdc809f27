"""The generic training loop: resuming a killed run ends where an uninterrupted
run ends, seeds make runs repeatable, and a run leaves its files."""

import csv
import json

import numpy as np
import pytest
import torch
from model_weights import assert_same_weights, weights
from torch import nn

from medsynth import train


class ToyGAN(train.TrainableModel):
    """GAN-shaped: two networks, two optimisers of different kinds, a scheduler,
    dropout (so the torch random state matters) and batch norm (running stats)."""

    def __init__(self, runtime, lr=1e-2):
        super().__init__(runtime)
        data = np.random.default_rng(0).standard_normal((20, 1, 12, 12)).astype(np.float32)
        self.source, self.target = data, 2 * data + 1
        self.gen = runtime.module(nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.3),
            nn.Conv2d(4, 1, 3, padding=1)))
        self.critic = runtime.module(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout(0.3)))
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=lr)
        self.opt_d = torch.optim.SGD(self.critic.parameters(), lr=1e-3, momentum=0.9)
        self.sched = torch.optim.lr_scheduler.StepLR(self.opt_g, step_size=3, gamma=0.5)

    def modules(self):
        return {"gen": self.gen, "critic": self.critic}

    def optimizers(self):
        return {"g": self.opt_g, "d": self.opt_d}

    def schedulers(self):
        return {"g": self.sched}

    def sample_batch(self, rng):
        index = rng.integers(len(self.source), size=4)
        return self.source[index], self.target[index]

    def train_step(self, batch):
        source, target = (self.runtime.tensor(a) for a in batch)
        fake = self.gen(source)
        loss_d = self.critic(fake.detach()).mean() - self.critic(target).mean()
        self.runtime.optimize(self.opt_d, loss_d)
        loss_g = nn.functional.l1_loss(fake, target) - 0.1 * self.critic(fake).mean()
        self.runtime.optimize(self.opt_g, loss_g)
        return {"d": loss_d.item(), "g": loss_g.item()}

    def validate(self):
        pred = self.gen(self.runtime.tensor(self.source[:5]))
        return {"l1": nn.functional.l1_loss(pred, self.runtime.tensor(self.target[:5])).item()}


PARAMS = {"lr": 1e-2}


def run(model_dir, seed=0, lr=1e-2, **kwargs):
    options = {"iterations": 10, "checkpoint_every": 5, "log_every": 3, "val_every": 4}
    options.update(kwargs)
    train.run_training(lambda runtime: ToyGAN(runtime, lr), name="toy", model_dir=model_dir,
                       params={"lr": lr}, seed=seed, threads=1, **options)


def losses(model_dir):
    with open(model_dir / train.LOSS_CSV) as handle:
        return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in csv.DictReader(handle)]


def test_resumed_run_ends_bit_identical_to_uninterrupted_run(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run(straight)
    run(killed, stop_after=7)  # "killed" after iteration 7; last checkpoint at 5
    assert not (killed / train.MODEL).exists()
    saved = torch.load(killed / train.CHECKPOINT, weights_only=True)
    assert saved["iteration"] == 5
    assert {"modules", "optimizers", "schedulers", "numpy_rng", "torch_rng"} <= saved.keys()
    run(killed)  # restart: resumes from iteration 5
    assert_same_weights(weights(straight), weights(killed))
    # the log is the uninterrupted one: the rows 6-7 of the killed process were
    # replaced, and the loss sum pending at the checkpoint (iteration 5) was kept
    assert losses(killed) == losses(straight)
    assert not (killed / train.CHECKPOINT).exists()  # removed once the model is written


def test_checkpoint_of_other_params_is_not_resumed(tmp_path):
    run(tmp_path / "a", lr=0.5, stop_after=7)
    run(tmp_path / "a", lr=1e-2)
    run(tmp_path / "b", lr=1e-2)
    assert_same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))


def test_unreadable_checkpoint_is_ignored(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / train.CHECKPOINT).write_bytes(b"truncated")
    run(tmp_path / "a")
    run(tmp_path / "b")
    assert_same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))


def test_seed_makes_runs_repeatable(tmp_path):
    run(tmp_path / "a", seed=1)
    run(tmp_path / "b", seed=1)
    run(tmp_path / "c", seed=2)
    assert_same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    a, c = weights(tmp_path / "a"), weights(tmp_path / "c")
    assert not torch.equal(a["gen"]["0.weight"], c["gen"]["0.weight"])


def test_run_writes_model_params_and_loss_log(tmp_path):
    state = tmp_path / "state"
    run(tmp_path / "model", state_dir=state, stop_after=6)
    assert (state / train.CHECKPOINT).exists() and not (tmp_path / "model" / train.CHECKPOINT).exists()
    run(tmp_path / "model", state_dir=state)
    model_dir = tmp_path / "model"
    model = weights(model_dir)
    assert set(model) == {"gen", "critic"}
    record = json.loads((model_dir / train.PARAMS).read_text())
    assert {k: v for k, v in record.items() if k not in train.OUTCOME_KEYS} == {**PARAMS, "seed": 0}
    # what the run cost and ran on: ToyGAN's two networks, counted by hand
    gen = (1 * 4 * 9 + 4) + 2 * 4 + (4 * 1 * 9 + 1)
    critic = 1 * 2 * 9 + 2
    assert record["n_parameters"] == gen + critic and record["device"] == "cpu"
    with open(model_dir / train.LOSS_CSV) as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["iteration", "d", "g", "val_l1", "elapsed_s"]
    # logged every 3 iterations, at each validation (4, 8) and at the end (validated too)
    assert [int(r["iteration"]) for r in rows] == [3, 4, 6, 8, 9, 10]
    assert [r["iteration"] for r in rows if r["val_l1"]] == ["4", "8", "10"]
    assert all(float(r["elapsed_s"]) > 0 for r in rows)
    assert (model_dir / train.LOSS_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (state / train.CHECKPOINT).exists()


def test_logged_loss_is_the_mean_since_the_last_row(tmp_path):
    class Constant(ToyGAN):
        def train_step(self, batch):
            super().train_step(batch)
            self.calls = getattr(self, "calls", 0) + 1
            return {"calls": float(self.calls)}

    train.run_training(Constant, name="toy", iterations=7, model_dir=tmp_path, params={}, seed=0,
                       threads=1, log_every=3)
    rows = losses(tmp_path)
    assert [(r["iteration"], float(r["calls"])) for r in rows] == [("3", 2.0), ("6", 5.0),
                                                                   ("7", 7.0)]


def test_merge_params_names_an_unknown_key():
    assert train.merge_params({"a": 1, "b": 2}, {"b": 3}, "m") == {"a": 1, "b": 3}
    with pytest.raises(ValueError, match="method m: unknown parameter.*itrations"):
        train.merge_params({"iterations": 1}, {"itrations": 5}, "m")


def test_model_files_are_checked(tmp_path):
    with pytest.raises(ValueError, match="no trained model"):
        train.load_modules(tmp_path, torch.device("cpu"))
    (tmp_path / train.MODEL).write_bytes(b"not a model")
    with pytest.raises(ValueError, match="model.pt: not a readable model file"):
        train.load_modules(tmp_path, torch.device("cpu"))


def test_cpu_bf16_runs_the_training_step_in_bfloat16_and_records_it(tmp_path):
    seen = {}

    class Probe(ToyGAN):
        def train_step(self, batch):
            with self.runtime.autocast():
                seen["step"] = self.gen(self.runtime.tensor(batch[0])).dtype
            return super().train_step(batch)

        def validate(self):
            seen["validate"] = self.gen(self.runtime.tensor(self.source[:2])).dtype
            return super().validate()

    def fit(model_dir, cpu_bf16):
        train.run_training(lambda runtime: Probe(runtime), name="toy", iterations=2,
                           model_dir=model_dir, params={"lr": 1e-2, "cpu_bf16": cpu_bf16},
                           seed=0, threads=1, checkpoint_every=2, log_every=1, val_every=2)
        return dict(seen)

    assert fit(tmp_path / "bf16", True) == {"step": torch.bfloat16, "validate": torch.float32}
    assert json.loads((tmp_path / "bf16" / train.PARAMS).read_text())["cpu_bf16"] is True
    assert fit(tmp_path / "fp32", False) == {"step": torch.float32, "validate": torch.float32}
