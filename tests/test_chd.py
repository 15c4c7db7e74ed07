"""Tests for chd: the contrastive loss, the selector's attention scores, padding, seeds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from highlight_pipeline.config import validate_config
from highlight_pipeline.errors import ModelFileError
from highlight_pipeline.methods import chd
from highlight_pipeline.methods.batching import Standardiser
from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs
from highlight_pipeline.runs import resolve_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_loss_of_identical_pairs_with_orthogonal_negatives():
    """h1 = h2 = orthonormal rows: sim is 1 on the pair and 0 to every negative, so each
    video's loss is -log(e^(1/t) / (e^(1/t) + (B-1) e^0))."""
    batch, tau = 4, 0.1
    h = torch.eye(batch, 8, dtype=torch.float64)  # the loss is ~1e-4: float32 rounds it
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + (batch - 1)))
    assert float(chd.contrastive_loss(h, h.clone(), tau)) == pytest.approx(expected, rel=1e-6)
    # scale does not matter (cosine), and a swapped pair (negatives = the positives) is worse
    assert float(chd.contrastive_loss(3 * h, h, tau)) == pytest.approx(expected, rel=1e-6)
    swapped = h[[1, 0, 3, 2]]
    worse = -math.log(1 / (math.exp(1 / tau) + (batch - 1)))
    assert float(chd.contrastive_loss(h, swapped, tau)) == pytest.approx(worse, rel=1e-6)


def test_loss_of_identical_embeddings_everywhere_is_log_batch():
    h = torch.ones(5, 3)
    assert float(chd.contrastive_loss(h, h, 0.1)) == pytest.approx(math.log(5), rel=1e-6)


def selector(dropout=0.0):
    """A selector whose key projection is not zero (as after training), so that its scores
    differ between clips."""
    torch.manual_seed(0)
    net = chd.HighlightSelector(input_dim=6, hidden=8, dropout=dropout)
    with torch.no_grad():
        net.selector.key.weight.normal_(0.0, 0.5)
    return net.eval()


def test_scores_are_the_selector_attention_and_sum_to_one():
    net = selector()
    clips = torch.randn(2, 7, 6)
    padding = torch.zeros(2, 7, dtype=torch.bool)
    with torch.no_grad():
        scores, h, z = net(clips, padding)
        query = z.mean(dim=1, keepdim=True)
        alpha, h_again = net.selector(query, z, padding)
    assert scores.shape == (2, 7) and h.shape == (2, 8)
    assert scores.std(dim=1).min() > 1e-3  # not uniform: the weights below are tested
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(2))
    torch.testing.assert_close(scores, alpha[:, 0])  # the second layer's weights
    torch.testing.assert_close(h, h_again[:, 0])


def test_selector_starts_from_uniform_scores_whatever_the_seed():
    """The selector's key projection starts at zero: before training every clip of a video
    gets 1/N, for any seed, so seeds do not start from different random rankings (the
    module docstring); its gradient is not zero, so one training step moves the scores."""
    clips = torch.randn(2, 7, 6)
    padding = torch.zeros(2, 7, dtype=torch.bool)
    padding[1, 5:] = True
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        net = chd.HighlightSelector(input_dim=6, hidden=8, dropout=0.1)
        assert not net.selector.key.weight.any() and not net.selector.key.bias.any()
        assert net.self_attention.key.weight.any()  # only the selector's key starts at zero
        with torch.no_grad():
            scores = net.eval()(clips, padding)[0]
        torch.testing.assert_close(scores[0], torch.full((7,), 1 / 7))
        torch.testing.assert_close(scores[1, :5], torch.full((5,), 1 / 5))
    net.train()
    _, h1, _ = net(clips, padding)
    _, h2, _ = net(clips, padding)
    chd.contrastive_loss(h1, h2, 0.1).backward()
    assert net.selector.key.weight.grad.abs().sum() > 0


def test_padding_clips_get_no_weight_and_change_nothing():
    net = selector()
    clips = torch.randn(1, 5, 6)
    padded = torch.cat([clips, 100 * torch.randn(1, 3, 6)], dim=1)
    padding = torch.zeros(1, 8, dtype=torch.bool)
    padding[0, 5:] = True
    with torch.no_grad():
        alone, h_alone, _ = net(clips, torch.zeros(1, 5, dtype=torch.bool))
        scores, h, _ = net(padded, padding)
    assert (scores[0, 5:] == 0).all()
    torch.testing.assert_close(scores[0, :5], alone[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h, h_alone, atol=1e-5, rtol=1e-5)


def test_dropout_makes_two_passes_differ_only_when_on():
    clips, padding = torch.randn(2, 6, 6), torch.zeros(2, 6, dtype=torch.bool)
    with_dropout = selector(0.3).train()
    assert not torch.equal(with_dropout(clips, padding)[1], with_dropout(clips, padding)[1])
    without = selector(0.0).train()
    assert torch.equal(without(clips, padding)[1], without(clips, padding)[1])


def inputs(n_videos=6, seed=0):
    rng = np.random.default_rng(seed)
    videos = []
    for i in range(n_videos):
        n = int(rng.integers(5, 9))
        videos.append(
            VideoInputs(
                f"v{i}",
                np.arange(n, dtype=float),
                np.arange(1, n + 1.0),
                split="train" if i < n_videos - 1 else "test",
                visual=rng.normal(size=(n, 6)).astype(np.float32),
            )
        )
    return MethodInputs(videos)


def chd_run(variant="full"):
    config = validate_config(
        {
            "run_datasets": ["syn"],
            "datasets": {"syn": {"reader": "synthetic"}},
            "evaluation": {"runs": {"chd": [variant]}},
            "methods": {"chd": {"epochs": 5, "batch_size": 3, "hidden": 8, "lr": 1e-3}},
        }
    )
    return resolve_run(config, "syn", "chd", variant)


def test_same_seed_same_scores_and_state_round_trip(tmp_path):
    data = inputs()
    a = chd.fit(data, chd_run(), seed=0, progress=False)
    b = chd.fit(data, chd_run(), seed=0, progress=False)
    c = chd.fit(data, chd_run(), seed=1, progress=False)
    test = data.videos[-1]
    np.testing.assert_array_equal(a.score(test), b.score(test))
    assert not np.array_equal(a.score(test), c.score(test))
    assert a.losses == b.losses and len(a.losses) == 5
    path = tmp_path / "m.pt"
    torch.save(a.state(), path)
    restored = chd.load(torch.load(path, weights_only=True))
    np.testing.assert_array_equal(restored.score(test), a.score(test))
    assert a.score(test).sum() == pytest.approx(1.0)


def test_standardised_inputs_are_winsorised_at_input_clip():
    """A colour bin that one clip alone fills is many standard deviations out; input_clip
    bounds it, and leaves the rest of the standardisation as it was."""
    rng = np.random.default_rng(0)
    train = [rng.normal(size=(20, 4)).astype(np.float32) for _ in range(3)]
    train[0][5, 2] = 40.0  # a rare spike
    plain = Standardiser.fit(train)
    clipped = Standardiser.fit(train, clip=3.0)
    np.testing.assert_array_equal(plain.mean, clipped.mean)
    np.testing.assert_array_equal(plain.std, clipped.std)
    z, zc = plain(train[0]), clipped(train[0])
    assert z[5, 2] > 5  # the spike stands out unclipped
    assert zc[5, 2] == pytest.approx(3.0) and np.abs(zc).max() <= 3.0
    inside = np.abs(z) <= 3
    np.testing.assert_array_equal(zc[inside], z[inside])


def test_input_clip_is_a_setting_that_the_model_file_keeps(tmp_path):
    assert chd_run()["settings"]["input_clip"] == 3.0
    data = inputs()
    test = data.videos[-1]
    test.visual[0, 0] = 50.0  # far outside the training range: only the clip bounds it
    model = chd.fit(data, chd_run(), seed=0, progress=False)
    torch.save(model.state(), tmp_path / "m.pt")
    restored = chd.load(torch.load(tmp_path / "m.pt", weights_only=True))
    assert restored.standardiser.clip == 3.0
    np.testing.assert_array_equal(restored.score(test), model.score(test))
    # a model file from before the setting (no input_clip in its hparams) scores unclipped
    state = model.state()
    state["hparams"] = {k: v for k, v in state["hparams"].items() if k != "input_clip"}
    older = chd.load(state)
    assert older.standardiser.clip is None
    assert not np.array_equal(older.score(test), model.score(test))
    for bad in ("3", -1.0, float("nan"), True):
        state["hparams"]["input_clip"] = bad
        with pytest.raises(ModelFileError, match="hparams/input_clip"):
            chd.load(state)


def test_no_dropout_variant_sets_dropout_to_zero():
    assert chd_run("no-dropout")["settings"]["dropout"] == 0.0
    assert chd_run("full")["settings"]["dropout"] == 0.1


# ------------------------------------------------------------------ §4.3 (Table 6)


def test_cluster_statistics_by_hand():
    from highlight_pipeline.methods.chd_analysis import cluster_statistics

    # video 0: points along x and y (centroid at 45°), video 1: the same point twice on -x
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    b = np.array([[-1.0, 0.0], [-1.0, 0.0]])
    intra, inter = cluster_statistics([a, b])
    assert intra == pytest.approx(((1 - math.cos(math.pi / 4)) + 0.0) / 2)
    # centroids at 45° and 180°: distance 1 - cos(135°), each counted once over M = 2
    assert inter == pytest.approx((1 - math.cos(3 * math.pi / 4)) / 2)


def test_dropout_clusters_sample_both_kinds_equally():
    from highlight_pipeline.methods.chd_analysis import dropout_clusters, table6

    data = inputs()
    for v in data.videos:
        v.labels = (np.arange(v.n_clips) < 2).astype(np.int64)  # two highlight clips each
    data.videos[0].labels[:] = -1  # unlabelled: left out
    model = chd.fit(data, chd_run(), seed=0, progress=False)
    clusters = dropout_clusters(model, data.videos, masks=4, seed=0)
    assert len(clusters[True]) == len(clusters[False]) == len(data.videos) - 1
    assert all(c.shape == (2 * 4, 8) for c in clusters[True] + clusters[False])
    stats = table6(model, data.videos, masks=4)
    assert stats["videos"] == 5 and stats["highlight"]["intra"] > 0
    assert not model.net.training  # left in eval mode for scoring
    none = chd.fit(data, chd_run("no-dropout"), seed=0, progress=False)
    assert table6(none, data.videos, masks=4)["highlight"]["intra"] == pytest.approx(
        table6(none, data.videos, masks=1)["highlight"]["intra"], abs=1e-6
    )  # without dropout, the masks add nothing


def test_registry_analysis_writes_the_table6_section_beside_the_paper():
    from highlight_pipeline.methods.registry import get_method

    (analysis,) = get_method("chd").analyses
    assert analysis.applies_to("full") and not analysis.applies_to("no-dropout")
    data = inputs()
    for v in data.videos:
        v.labels = (np.arange(v.n_clips) < 2).astype(np.int64)
    model = chd.fit(data, chd_run(), seed=0, progress=False)
    found = analysis.callable()(model, data.videos, chd_run(), 0, "tvsum")
    values = found["values"]
    assert values["videos"] == len(data.videos) and values["masks"] == 20
    rows = {line.split(" | ")[0]: line for line in found["markdown"] if line.startswith("| ")}
    highlight = f"| highlight | {values['highlight']['intra']:.4f} | "
    assert rows["| highlight"].startswith(highlight)
    assert rows["| highlight"].endswith("| 0.1225 | 0.0981 |")  # the paper's TVSum row
    unknown = analysis.callable()(model, data.videos, chd_run(), 0, "synthetic")
    assert any(line.endswith("| – | – |") for line in unknown["markdown"])


def test_table_appends_analysis_sections_in_a_fixed_order(tmp_path):
    from highlight_pipeline.tables import render_analyses

    paths = []
    for variant in ("b", "a"):
        path = tmp_path / f"{variant}.json"
        record = {"method": "chd", "variant": variant, "seed": 0, "analysis": "clusters"}
        path.write_text(json.dumps({**record, "title": "T", "markdown": [f"row {variant}"]}))
        paths.append(path)
    text = render_analyses(paths)
    assert text.index("## T (chd/a, seed 0)") < text.index("## T (chd/b, seed 0)")
    assert "row a" in text and render_analyses([]) == ""
