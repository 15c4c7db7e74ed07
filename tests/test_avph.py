"""Tests for avph: batching, standardisation, the network's masking, training, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from highlight_pipeline.methods import inputs as method_inputs
from highlight_pipeline.methods.avph import AVHighlightNet, AVPHModel, train_avph
from highlight_pipeline.methods.batching import Standardiser, pad_batch, seeded_batches
from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs
from highlight_pipeline.predictions import read_predictions, write_predictions

SLICE = {
    "lr": 5e-3,
    "epochs": 30,
    "batch_size": 4,
    "hidden": 16,
    "heads": 2,
    "dropout": 0.0,
    "self_attention_layers": 1,
    "fc_layers": 2,
    "weight_decay": 0.0,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------------- batching


def test_pad_batch_shapes_values_and_mask():
    arrays = [np.ones((3, 2)), np.full((1, 2), 5.0), np.arange(4.0).reshape(2, 2)]
    out, pad = pad_batch(arrays, 2)
    assert out.shape == (3, 3, 2) and out.dtype == torch.float32
    assert pad.dtype == torch.bool
    np.testing.assert_array_equal(
        pad.numpy(), [[False, False, False], [False, True, True], [False, False, True]]
    )
    np.testing.assert_array_equal(out[1].numpy(), [[5, 5], [0, 0], [0, 0]])
    np.testing.assert_array_equal(out[2, :2].numpy(), [[0, 1], [2, 3]])
    assert float(out[pad].abs().sum()) == 0.0


def test_seeded_batches_cover_every_video_once():
    batches = seeded_batches(10, 4, np.random.default_rng(3))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    again = seeded_batches(10, 4, np.random.default_rng(3))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))


def test_standardiser_fit_and_apply():
    rng = np.random.default_rng(0)
    arrays = [rng.normal([1, -2, 7], [2, 0.5, 3], size=(n, 3)) for n in (20, 30, 50)]
    arrays = [np.concatenate([a, np.full((len(a), 1), 4.0)], axis=1) for a in arrays]
    std = Standardiser.fit(arrays)
    stacked = np.concatenate(arrays)
    np.testing.assert_allclose(std.mean, stacked.mean(axis=0), rtol=1e-5)
    z = std(stacked)
    np.testing.assert_allclose(z[:, :3].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, :3].std(axis=0), 1, rtol=1e-4)
    # a constant column maps to 0 and does not explode on a new value
    np.testing.assert_allclose(z[:, 3], 0, atol=1e-6)
    new = std(np.array([[1.0, -2.0, 7.0, 5.0]]))
    assert np.isfinite(new).all() and abs(new[0, 3]) < 100


# ----------------------------------------------------------------------------- network


def make_net(seed=0, **kwargs):
    torch.manual_seed(seed)
    params = {"hidden": 16, "heads": 2, "dropout": 0.1, "self_attention_layers": 2, **kwargs}
    net = AVHighlightNet(6, 3, **params)
    net.eval()
    return net


def test_net_output_shape():
    net = make_net()
    out = net(
        torch.randn(3, 7, 6),
        torch.randn(3, 7, 3),
        torch.zeros(3, 7, dtype=bool),
        torch.tensor([True, False, True]),
    )
    assert out.shape == (3, 7)


def test_padding_does_not_change_real_clip_scores():
    net = make_net()
    rng = torch.Generator().manual_seed(1)
    va, aa = torch.randn(1, 5, 6, generator=rng), torch.randn(1, 5, 3, generator=rng)
    vb, ab = torch.randn(1, 9, 6, generator=rng), torch.randn(1, 9, 3, generator=rng)
    with torch.no_grad():
        alone_a = net(va, aa, torch.zeros(1, 5, dtype=bool), torch.tensor([True]))
        alone_b = net(vb, ab, torch.zeros(1, 9, dtype=bool), torch.tensor([True]))
        # batch: video a padded to 9 clips with garbage (not zeros) in the padding
        v = torch.cat([torch.cat([va, 100 * torch.randn(1, 4, 6, generator=rng)], 1), vb])
        a = torch.cat([torch.cat([aa, 100 * torch.randn(1, 4, 3, generator=rng)], 1), ab])
        padding = torch.zeros(2, 9, dtype=bool)
        padding[0, 5:] = True
        batched = net(v, a, padding, torch.tensor([True, True]))
    torch.testing.assert_close(batched[0, :5], alone_a[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched[1], alone_b[0], atol=1e-5, rtol=1e-5)


def test_video_without_audio_ignores_audio_input():
    net = make_net()
    v = torch.randn(1, 6, 6)
    padding = torch.zeros(1, 6, dtype=bool)
    with torch.no_grad():
        silent_1 = net(v, torch.randn(1, 6, 3), padding, torch.tensor([False]))
        silent_2 = net(v, 50 * torch.randn(1, 6, 3), padding, torch.tensor([False]))
        heard_1 = net(v, torch.randn(1, 6, 3), padding, torch.tensor([True]))
        heard_2 = net(v, torch.randn(1, 6, 3), padding, torch.tensor([True]))
    torch.testing.assert_close(silent_1, silent_2, atol=0, rtol=0)
    assert not torch.allclose(heard_1, heard_2)  # with audio, the audio matters


# --------------------------------------------------------------------------- training


def separable_videos(n_videos=8, seed=0):
    """Positive clips have visual feature 0 near +2, negatives near -2; audio is noise."""
    rng = np.random.default_rng(seed)
    visual, audio, targets = [], [], []
    for i in range(n_videos):
        n = int(rng.integers(8, 14))
        y = np.zeros(n, np.uint8)
        y[rng.permutation(n)[: n // 3]] = 1
        v = rng.normal(size=(n, 6)).astype(np.float32)
        v[:, 0] = np.where(y == 1, 2.0, -2.0) + rng.normal(0, 0.3, n)
        visual.append(v)
        audio.append(None if i == 2 else rng.normal(size=(n, 3)).astype(np.float32))
        targets.append(y)
    return visual, audio, targets


@pytest.fixture(scope="module")
def trained():
    visual, audio, targets = separable_videos()
    model, losses = train_avph(visual, audio, targets, SLICE, seed=0, progress=False)
    return model, losses


def test_training_reduces_loss_and_ranks_positives_first(trained):
    model, losses = trained
    assert len(losses) == SLICE["epochs"]
    assert losses[-1] < 0.5 * losses[0]
    visual, audio, targets = separable_videos(n_videos=4, seed=1)  # unseen videos
    audio[1] = None
    scores = model.score_clips(visual, audio)
    for s, y in zip(scores, targets, strict=True):
        assert s.shape == y.shape and s.dtype == np.float64
        assert s[y == 1].min() > s[y == 0].max()


def test_state_round_trip_through_torch_save(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "model.pt"
    torch.save(model.state(), path)
    restored = AVPHModel.from_state(torch.load(path, weights_only=True))
    visual, audio, _ = separable_videos(n_videos=3, seed=2)
    audio[0] = None
    for a, b in zip(
        model.score_clips(visual, audio), restored.score_clips(visual, audio), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert restored.hparams == model.hparams


def test_training_is_reproducible_for_a_seed(trained):
    model, losses = trained
    visual, audio, targets = separable_videos()
    again, losses_again = train_avph(visual, audio, targets, SLICE, seed=0, progress=False)
    assert losses_again == losses
    for a, b in zip(
        model.score_clips(visual, audio), again.score_clips(visual, audio), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    _, other = train_avph(visual, audio, targets, {**SLICE, "epochs": 3}, seed=1, progress=False)
    assert other != losses[:3]


def test_training_without_any_audio():
    visual, _, targets = separable_videos(n_videos=4)
    model, losses = train_avph(
        visual, [None] * 4, targets, {**SLICE, "epochs": 5}, seed=0, progress=False
    )
    scores = model.score_clips(visual, [None] * 4)
    assert all(
        np.isfinite(s).all() and len(s) == len(v) for s, v in zip(scores, visual, strict=True)
    )


# ----------------------------------------------------------------------------- inputs


def test_method_inputs_subset_and_predictions_round_trip(tmp_path):
    def video(name, n, split):
        return VideoInputs(name, np.arange(n, dtype=float), np.arange(1, n + 1.0), split=split)

    inputs = MethodInputs([video("a", 2, "train"), video("b", 3, "test"), video("c", 1, "train")])
    train = inputs.subset("train")
    assert [v.video_id for v in train.videos] == ["a", "c"]
    assert train.videos[1] is inputs.videos[2] and len(inputs) == 3
    assert [v.n_clips for v in inputs.videos] == [2, 3, 1]
    path = tmp_path / "pred" / "p.jsonl"
    write_predictions(path, ["007", "a/b"], [np.array([0.1234567, -2.0]), np.array([3.0])])
    back = read_predictions(path)
    assert list(back) == ["007", "a/b"]  # ids stay strings
    np.testing.assert_allclose(back["007"], [0.123457, -2.0])
    # the old home of the prediction files' I/O still answers to its names
    assert method_inputs.read_predictions is read_predictions
    assert method_inputs.write_predictions is write_predictions
