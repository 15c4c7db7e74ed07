"""Tests for hpcl: the losses on hand-computable cases, the hard pairs, the segment
sampler, padding, missing audio, the variants' inputs and a short supervised training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from highlight_pipeline.config import validate_config
from highlight_pipeline.errors import DatasetError
from highlight_pipeline.methods import hpcl
from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs
from highlight_pipeline.methods.registry import get_method
from highlight_pipeline.runs import resolve_run, run_inputs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- Eq. (8)


def test_contrastive_loss_of_a_tiny_labelled_set_by_hand():
    """f1 = f2 = (1, 0) highlights, f3 = (0, 1) not. Query f1: its positive f2 (dot 1), its
    negative f3 (dot 0): -log(e^(1/t) / (e^(1/t) + e^0)); f2 the same; f3 has no positive
    and is left out. With t = 0.5 the loss is log(1 + e^-2)."""
    f = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    labels = torch.tensor([[1, 1, 0]])
    padding = torch.zeros(1, 3, dtype=torch.bool)
    loss = hpcl.segment_contrastive_loss(f, labels, padding, temperature=0.5)
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-9)
    # the norm does not matter (the features are L2-normalised)
    assert float(hpcl.segment_contrastive_loss(3 * f, labels, padding, 0.5)) == pytest.approx(
        float(loss), rel=1e-9
    )


def test_contrastive_loss_two_positives_and_two_negatives_by_hand():
    """Highlights (1,0), (0.6,0.8); others (0,1), (-1,0), t = 1. Query (1,0): positive dot
    0.6, negatives 0 and -1: -log(e^.6 / (e^.6 + e^0 + e^-1)). Query (.6,.8): positive .6,
    negatives .8 and -.6. Query (0,1): positive 0 (its partner (-1,0)), negatives 0 and .8.
    Query (-1,0): positive 0, negatives -1 and -.6. The loss is the mean of the four."""
    f = torch.tensor([[[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]]], dtype=torch.float64)
    labels = torch.tensor([[1, 1, 0, 0]])

    def term(pos, negs):
        return -math.log(math.exp(pos) / (math.exp(pos) + sum(math.exp(n) for n in negs)))

    expected = (
        term(0.6, [0.0, -1.0])
        + term(0.6, [0.8, -0.6])
        + term(0.0, [0.0, 0.8])
        + term(0.0, [-1, -0.6])
    ) / 4
    padding = torch.zeros(1, 4, dtype=torch.bool)
    loss = hpcl.segment_contrastive_loss(f, labels, padding, temperature=1.0)
    assert float(loss) == pytest.approx(expected, rel=1e-9)


def test_contrastive_loss_ignores_padded_segments():
    f = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]], dtype=torch.float64)
    labels = torch.tensor([[1, 1, 0, 0]])  # the 4th, padded, would be a negative at dot 1
    padding = torch.tensor([[False, False, False, True]])
    loss = hpcl.segment_contrastive_loss(f, labels, padding, temperature=0.5)
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-9)


# ----------------------------------------------------------------------------- hard pairs


def test_hard_pairs_around_one_watershed():
    labels = [0] * 5 + [1] * 5  # watershed c = 4, the last segment before the change
    assert hpcl.hard_pairs(labels, 3) == [(1, 7), (2, 6), (3, 5)]


def test_hard_pairs_around_two_watersheds_and_at_the_start():
    labels = [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0]  # watersheds 2 and 7
    # around 2: (1, 3), (0, 4) and 2 - 3 < 0 -> (2, 5); around 7: (6, 8), (5, 9), (4, 10)
    assert hpcl.hard_pairs(labels, 3) == [(0, 4), (1, 3), (2, 5), (4, 10), (5, 9), (6, 8)]


def test_hard_pairs_at_the_end_and_across_a_short_run():
    # c = 2; 2 + 3 is past the end (5 segments): replaced with c + 1 = 3
    assert hpcl.hard_pairs([0, 0, 0, 1, 1], 3) == [(0, 4), (1, 3), (2, 3)]
    # a highlight of one segment: around it only (c - 1, c + 1) straddle a change of label
    assert hpcl.hard_pairs([0, 0, 0, 1, 0, 0, 0], 3) == [(1, 3)]
    assert hpcl.hard_pairs([1, 1, 1, 1], 3) == []


def test_margin_loss_at_below_and_above_the_margin():
    def pair_at(distance):  # two unit vectors this far apart
        angle = 2 * math.asin(distance / 2)
        return torch.tensor([[1.0, 0.0], [math.cos(angle), math.sin(angle)]], dtype=torch.float64)

    assert float(hpcl.margin_loss(pair_at(0.5), [(0, 1)], 0.7)) == pytest.approx(0.2, abs=1e-9)
    assert float(hpcl.margin_loss(pair_at(0.7), [(0, 1)], 0.7)) == pytest.approx(0.0, abs=1e-9)
    assert float(hpcl.margin_loss(pair_at(1.2), [(0, 1)], 0.7)) == 0.0
    # Eq. (9) sums over the pairs
    f = torch.cat([pair_at(0.5), pair_at(0.3)[1:]])
    assert float(hpcl.margin_loss(f, [(0, 1), (0, 2)], 0.7)) == pytest.approx(0.6, abs=1e-9)
    assert float(hpcl.margin_loss(f, [], 0.7)) == 0.0


# ----------------------------------------------------------------------------- sampler


def test_sampler_keeps_order_both_labels_and_the_ratio():
    labels = np.zeros(80, dtype=int)
    labels[30:36] = 1
    labels[70:73] = 1  # 9 highlights of 80: most windows of 20 hold fewer than 7
    rng = np.random.default_rng(0)
    for _ in range(200):
        index = hpcl.sample_segments(labels, 20, rng)
        assert len(index) == 20 and (np.diff(index) > 0).all()
        positives = int(labels[index].sum())
        assert positives >= 7 and 20 - positives >= 7  # minority : majority >= 1 : 2


def test_sampler_takes_a_window_when_the_ratio_holds():
    labels = np.tile([1] * 5 + [0] * 5, 8)
    index = hpcl.sample_segments(labels, 20, np.random.default_rng(3))
    assert (np.diff(index) == 1).all() and len(index) == 20


def test_sampler_with_few_highlights_or_segments_or_one_label():
    rng = np.random.default_rng(1)
    labels = np.zeros(60, dtype=int)
    labels[[5, 25, 45]] = 1  # three highlights anywhere: three of them and six others
    index = hpcl.sample_segments(labels, 20, rng)
    assert len(index) == 9 and labels[index].sum() == 3 and (np.diff(index) > 0).all()
    short = np.array([1, 1, 0, 0, 0, 0, 1, 1, 0, 0])  # 4 : 6 holds the ratio: all of it
    assert hpcl.sample_segments(short, 20, rng).tolist() == list(range(10))
    short[7] = 0  # 3 : 7 does not: the three and six of the others
    index = hpcl.sample_segments(short, 20, rng)
    assert len(index) == 9 and {0, 1, 6} <= set(index.tolist())
    assert hpcl.sample_segments(np.zeros(30, dtype=int), 20, rng) is None


# ----------------------------------------------------------------------------- network


def hparams(architecture="co-av", **extra):
    return {
        "architecture": architecture,
        "global_context": "mean",
        "hidden": 16,
        "key_dim": 16,
        "value_dim": 16,
        "heads": 4,
        "layers": 2,
        "dropout": 0.0,
        "visual_dim": 6,
        "audio_dim": 4,
        "head_weights": [1.0, 1.0, 1.0],
        **extra,
    }


@pytest.mark.parametrize("architecture", ["co-av", "cr-av", "av-concat", "v-only", "a-only"])
def test_padding_changes_nothing_and_heads_match_the_architecture(architecture):
    torch.manual_seed(0)
    net = hpcl.HPCLNet(hparams(architecture)).eval()
    visual, audio = torch.randn(1, 7, 6), torch.randn(1, 7, 4)
    inputs = {"visual": visual, "audio": audio, "av": torch.cat([visual, audio], -1)}
    alone = torch.zeros(1, 7, dtype=torch.bool)
    padded = {k: torch.cat([v, torch.randn(1, 3, v.shape[-1])], 1) for k, v in inputs.items()}
    pad = torch.tensor([[False] * 7 + [True] * 3])
    with torch.no_grad():
        logits, rep = net({k: inputs[k] for k in net.intra}, alone, alone)
        logits_p, rep_p = net({k: padded[k] for k in net.intra}, pad, pad)
    expected = {
        "co-av": {"co", "visual", "audio"},
        "cr-av": {"co", "visual", "audio"},
        "av-concat": {"av"},
        "v-only": {"visual"},
        "a-only": {"audio"},
    }[architecture]
    assert set(logits) == expected
    width = 32 if architecture in hpcl.TWO_STREAMS else 16  # concat of two d-wide streams
    assert rep.shape == (1, 7, width)
    for head in logits:
        torch.testing.assert_close(logits[head], logits_p[head][:, :7])
    torch.testing.assert_close(rep, rep_p[:, :7])


def test_co_occurrence_reads_the_other_modality_and_global_context_the_whole_video():
    torch.manual_seed(0)
    visual, audio = torch.randn(1, 6, 6), torch.randn(1, 6, 4)
    pad = torch.zeros(1, 6, dtype=torch.bool)
    for architecture in ("co-av", "cr-av"):
        net = hpcl.HPCLNet(hparams(architecture)).eval()
        with torch.no_grad():
            a, _ = net({"visual": visual, "audio": audio}, pad, pad)
            b, _ = net({"visual": visual, "audio": audio + 1.0}, pad, pad)
        assert not torch.allclose(a["co"], b["co"])  # audio reaches the co-occurrence head
        torch.testing.assert_close(a["visual"], b["visual"])  # not the visual stream's
    # the global context: changing one segment changes the scores of the others
    net = hpcl.HPCLNet(hparams("v-only")).eval()
    changed = visual.clone()
    changed[0, 0] += 5.0
    with torch.no_grad():
        a, _ = net({"visual": visual}, pad, pad)
        b, _ = net({"visual": changed}, pad, pad)
    assert not torch.allclose(a["visual"][0, 1:], b["visual"][0, 1:])


# ----------------------------------------------------------------------------- runs


def config_with(variants):
    return validate_config(
        {
            "run_datasets": ["synthetic"],
            "datasets": {"synthetic": {"reader": "synthetic"}},
            "evaluation": {"runs": {"hpcl": list(variants)}},
        }
    )


def test_variants_read_the_features_they_need():
    config = config_with(get_method("hpcl").variants)
    kinds = {v: run_inputs(resolve_run(config, "synthetic", "hpcl", v)) for v in ["co-av"]}
    kinds["v-only"] = run_inputs(resolve_run(config, "synthetic", "hpcl", "v-only"))
    kinds["a-only"] = run_inputs(resolve_run(config, "synthetic", "hpcl", "a-only"))
    assert kinds == {
        "co-av": {"visual", "audio", "labels"},
        "v-only": {"visual", "labels"},
        "a-only": {"audio", "labels"},
    }
    i3d = resolve_run(config, "synthetic", "hpcl", "co-av-i3d")
    assert i3d["features"]["visual"] == "i3d" and i3d["features"]["audio"] == "cnn14"
    assert resolve_run(config, "synthetic", "hpcl", "loss-ce")["settings"]["lambda_hpcl"] == 0
    settings = resolve_run(config, "synthetic", "hpcl", "co-av")["settings"]
    assert (settings["hidden"], settings["heads"], settings["margin"]) == (256, 8, 0.7)


def separable_inputs(n_videos=8, no_audio=(), labels_known=True, seed=0):
    """Highlights shift visual dimension 0 and audio dimension 1: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    videos = []
    for i in range(n_videos):
        n = int(rng.integers(18, 30))
        labels = np.zeros(n, dtype=np.int64)
        start = int(rng.integers(0, n - 6))
        labels[start : start + int(rng.integers(3, 7))] = 1
        visual = rng.normal(size=(n, 6)).astype(np.float32)
        visual[:, 0] += 2.5 * labels
        audio = rng.normal(size=(n, 4)).astype(np.float32)
        audio[:, 1] += 2.5 * labels
        videos.append(
            VideoInputs(
                f"v{i}",
                np.arange(n, dtype=float),
                np.arange(1, n + 1, dtype=float),
                split="train" if i < n_videos - 2 else "test",
                labels=labels if labels_known else np.full(n, -1),
                visual=visual,
                audio=None if i in no_audio else audio,
            )
        )
    return MethodInputs(videos)


def small_run(variant="co-av", **settings):
    run = resolve_run(config_with([variant]), "synthetic", "hpcl", variant)
    run["settings"].update(
        {
            "hidden": 16,
            "key_dim": 16,
            "value_dim": 16,
            "heads": 2,
            "epochs": 15,
            "samples_per_video": 4,
            "dropout": 0.1,
            "lr": 3e-3,
        },
        **settings,
    )
    return run


def average_precision(labels, scores):
    order = np.argsort(-scores, kind="stable")
    hits = labels[order] == 1
    return float((np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)).mean())


def test_training_learns_the_labels_and_the_state_round_trips():
    inputs = separable_inputs()
    model = hpcl.fit(inputs, small_run(), seed=0, progress=False)
    assert model.losses[-1]["total"] < model.losses[0]["total"]
    assert model.losses[-1]["hpcl"] > 0
    test = inputs.subset("test").videos
    aps = [average_precision(v.labels, model.score(v)) for v in test]
    chance = [v.labels.mean() for v in test]
    assert np.mean(aps) > np.mean(chance) + 0.3, (aps, chance)
    again = hpcl.load(model.state())
    np.testing.assert_array_equal(again.score(test[0]), model.score(test[0]))
    scores = model.score(test[0])
    assert scores.shape == (test[0].n_clips,) and ((0 <= scores) & (scores <= 1)).all()


def test_same_seed_same_model_and_ce_only_has_no_contrastive_part():
    inputs = separable_inputs()
    a = hpcl.fit(inputs, small_run(epochs=2), seed=3, progress=False)
    b = hpcl.fit(inputs, small_run(epochs=2), seed=3, progress=False)
    video = inputs.videos[-1]
    np.testing.assert_array_equal(a.score(video), b.score(video))
    ce = hpcl.fit(inputs, small_run("loss-ce", epochs=2), seed=3, progress=False)
    assert all(loss["hpcl"] == 0 and loss["rank"] == 0 for loss in ce.losses)


def test_a_dataset_without_labels_is_told_hpcl_needs_them():
    with pytest.raises(DatasetError, match="hpcl is supervised"):
        hpcl.fit(separable_inputs(labels_known=False), small_run(), seed=0, progress=False)


def test_videos_without_audio_are_left_out_of_training_and_scored_by_the_visual_head(caplog):
    inputs = separable_inputs(no_audio=(0, 7))
    model = hpcl.fit(inputs, small_run(epochs=2), seed=0, progress=False)
    assert "1 labelled training videos lack audio/visual features" in caplog.text
    silent = inputs.videos[7]
    with torch.no_grad():
        x = torch.from_numpy(model.standardisers["visual"](silent.visual))[None]
        visual_only = torch.sigmoid(
            model.net.visual_logits(x, torch.zeros(1, silent.n_clips, dtype=bool))
        )
    np.testing.assert_allclose(model.score(silent), visual_only[0].double().numpy())
    with pytest.raises(DatasetError, match="a-only needs audio"):
        hpcl.fit(inputs, small_run("a-only", epochs=1), seed=0, progress=False).score(silent)


def test_every_row_of_the_paper_tables_has_the_papers_number():
    """The presets lay out HPCL Tables 1-5: each row finds the paper's YouTube (mAP) and
    TVSum (top-5 mAP) average."""
    from highlight_pipeline.paper_results import paper_value

    spec = get_method("hpcl")
    rows = [row for table in spec.paper_tables for row in table.rows]
    assert {t.source for t in spec.paper_tables} >= {"HPCL Table 3", "HPCL Table 4"}
    for row in rows:
        assert row in spec.variants
        assert paper_value("hpcl", row, "youtube", "average", "mAP") is not None, row
        assert paper_value("hpcl", row, "tvsum", "average", "top5_mAP") is not None, row
    assert paper_value("hpcl", "co-av", "youtube", "average", "mAP") == 0.747
    assert paper_value("hpcl", "co-av-r3d34", "youtube", "average", "mAP") == 0.739


def test_the_presets_plan_every_variant_of_their_tables():
    import yaml

    from highlight_pipeline.config import deep_merge
    from highlight_pipeline.runs import run_list

    root = Path(__file__).resolve().parents[1]
    base = yaml.safe_load((root / "config.yaml").read_text())
    spec = get_method("hpcl")
    planned = set()
    for preset in ("hpcl.yaml", "hpcl-backbones.yaml"):
        merged = deep_merge(base, yaml.safe_load((root / "workflow/configs" / preset).read_text()))
        planned |= {v for m, v in run_list(validate_config(merged)) if m == "hpcl"}
    assert planned == {row for table in spec.paper_tables for row in table.rows}
