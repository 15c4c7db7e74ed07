"""Resumable training: a state saved after an epoch gives, resumed, the model of an
uninterrupted run; a state of another run or a damaged file is ignored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from highlight_pipeline.methods import avph, chd, hpcl
from highlight_pipeline.methods.optim import Adam
from highlight_pipeline.methods.resume import EpochCheckpoint, input_key
from tests.test_chd import chd_run
from tests.test_hpcl import separable_inputs, small_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def same_state(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_hpcl_and_chd_resumed_after_a_stop_equal_an_uninterrupted_run(tmp_path):
    inputs = separable_inputs()
    for module, whole in ((hpcl, small_run(epochs=6)), (chd, chd_run())):
        epochs = whole["settings"]["epochs"]
        reference = module.fit(inputs, whole, 0, progress=False)
        checkpoint = EpochCheckpoint(tmp_path / f"{module.__name__}.resume", "key", 0)
        stopped = {**whole, "settings": {**whole["settings"], "epochs": epochs // 2}}
        module.fit(inputs, stopped, 0, progress=False, checkpoint=checkpoint)  # "killed"
        assert torch.load(checkpoint.path, weights_only=True)["epoch"] == epochs // 2
        resumed = module.fit(inputs, whole, 0, progress=False, checkpoint=checkpoint)
        assert resumed.losses == reference.losses
        assert same_state(resumed.state()["state_dict"], reference.state()["state_dict"])


def test_avph_resumed_after_a_stop_equals_an_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(0)
    visual = [rng.normal(size=(n, 5)).astype(np.float32) for n in (9, 12, 7, 10)]
    audio = [rng.normal(size=(len(v), 3)).astype(np.float32) for v in visual]
    targets = [(rng.random(len(v)) < 0.5).astype(np.float32) for v in visual]
    settings = {
        "lr": 1e-2,
        "epochs": 8,
        "batch_size": 2,
        "hidden": 8,
        "heads": 2,
        "dropout": 0.1,
        "self_attention_layers": 1,
        "fc_layers": 2,
        "weight_decay": 0.0,
    }
    reference, losses = avph.train_avph(visual, audio, targets, settings, 1, False)
    checkpoint = EpochCheckpoint(tmp_path / "avph.resume", "key", every_seconds=0)
    avph.train_avph(visual, audio, targets, {**settings, "epochs": 3}, 1, False, "cpu", checkpoint)
    resumed, resumed_losses = avph.train_avph(
        visual, audio, targets, settings, 1, False, "cpu", checkpoint
    )
    assert resumed_losses == losses
    assert same_state(resumed.net.state_dict(), reference.net.state_dict())


def test_a_state_of_another_run_or_a_damaged_file_is_ignored(tmp_path, caplog):
    inputs = separable_inputs()
    run = small_run(epochs=2)
    path = tmp_path / "m.resume"
    hpcl.fit(inputs, run, 0, progress=False, checkpoint=EpochCheckpoint(path, "old inputs", 0))
    fresh = hpcl.fit(inputs, run, 0, progress=False)
    other = hpcl.fit(inputs, run, 0, progress=False, checkpoint=EpochCheckpoint(path, "new"))
    assert "belongs to another run or other inputs" in caplog.text
    assert len(other.losses) == 2 and other.losses == fresh.losses
    path.write_bytes(b"not a checkpoint")
    damaged = hpcl.fit(inputs, run, 0, progress=False, checkpoint=EpochCheckpoint(path, "new"))
    assert "unreadable" in caplog.text and damaged.losses == fresh.losses


def test_the_key_follows_the_run_the_seed_and_the_input_files(tmp_path):
    data = tmp_path / "features.h5"
    data.write_bytes(b"1234")
    key = input_key({"lr": 1}, 0, [data])
    assert key == input_key({"lr": 1}, 0, [data])
    assert key != input_key({"lr": 2}, 0, [data]) and key != input_key({"lr": 1}, 1, [data])
    data.write_bytes(b"12345")  # re-extracted features
    assert key != input_key({"lr": 1}, 0, [data])


def test_a_state_is_saved_once_its_interval_has_passed_since_the_last(tmp_path, monkeypatch):
    """Saving after every epoch cost small models more than their training: a save waits
    until ``every_seconds`` have passed since the job started or last saved."""
    net = torch.nn.Linear(3, 1)
    optimiser = Adam(net.parameters())
    rng = np.random.default_rng(0)
    clock = [100.0]
    monkeypatch.setattr("highlight_pipeline.methods.resume.time.monotonic", lambda: clock[0])
    checkpoint = EpochCheckpoint(tmp_path / "m.resume", "key", every_seconds=10)
    clock[0] = 105.0
    checkpoint.save(1, net, optimiser, rng, [0.5])
    assert not checkpoint.path.exists()  # 5 s after the start
    clock[0] = 110.5
    checkpoint.save(2, net, optimiser, rng, [0.5, 0.4])
    assert torch.load(checkpoint.path, weights_only=True)["epoch"] == 2
    clock[0] = 119.0
    checkpoint.save(3, net, optimiser, rng, [0.5, 0.4, 0.3])
    assert torch.load(checkpoint.path, weights_only=True)["epoch"] == 2  # 8.5 s after it
    monkeypatch.setenv("HLP_CHECKPOINT_SECONDS", "0")
    assert EpochCheckpoint(tmp_path / "n.resume", "key").every_seconds == 0.0


def test_a_state_that_is_slow_to_write_is_saved_less_often(tmp_path, monkeypatch):
    """Writing the state takes at most MAX_SHARE of the job: a write of 0.5 s (pld's 255 MB)
    puts the next save 25 s later, not 10; a fast write keeps the 10 s."""
    from highlight_pipeline.methods import resume

    clock = [0.0]
    cost = [0.5]
    real_save = torch.save

    def slow_save(state, path):
        real_save(state, path)
        clock[0] += cost[0]

    monkeypatch.setattr(resume.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(resume.torch, "save", slow_save)
    net = torch.nn.Linear(2, 1)
    saver = EpochCheckpoint(tmp_path / "m.resume", "k", every_seconds=10)
    rng = np.random.default_rng(0)

    def epoch_at(t: float, epoch: int) -> int:
        clock[0] = t
        saver.save(epoch, net, Adam(net.parameters()), rng, [0.1] * epoch)
        return torch.load(saver.path, weights_only=True)["epoch"] if saver.path.exists() else 0

    assert epoch_at(9.0, 1) == 0  # not 10 s yet
    assert epoch_at(11.0, 2) == 2  # saved, the write took 0.5 s: next after 11.5 + 25
    assert epoch_at(30.0, 3) == 2
    assert epoch_at(36.0, 4) == 2
    cost[0] = 0.01
    assert epoch_at(37.0, 5) == 5  # 25.5 s after; this write was fast: 10 s again
    assert epoch_at(45.0, 6) == 5
    assert epoch_at(47.5, 7) == 7
