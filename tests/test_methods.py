"""Tests for the method registry, run resolution, variants, model files and the baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from highlight_pipeline.config import validate_config
from highlight_pipeline.errors import ConfigError, PipelineError
from highlight_pipeline.methods import avph
from highlight_pipeline.methods.inputs import MethodInputs, VideoInputs, training_subset
from highlight_pipeline.methods.models import load_model, save_model
from highlight_pipeline.methods.random_baseline import RandomScores
from highlight_pipeline.methods.registry import BUILTIN, INPUT_KINDS, get_method, method_names
from highlight_pipeline.paper_results import load_paper_results
from highlight_pipeline.pseudo.highlights import PseudoHighlight
from highlight_pipeline.runs import pseudo_id, pseudo_slice, resolve_run, run_inputs, run_list


def config_with(runs: dict, **extra) -> dict:
    raw = {
        "run_datasets": ["syn"],
        "datasets": {"syn": {"reader": "synthetic"}},
        "evaluation": {"runs": runs},
        **extra,
    }
    return validate_config(raw)


# ----------------------------------------------------------------------------- registry


def test_registry_lists_builtins_with_valid_declarations():
    assert {"avph", "random"} <= set(method_names())
    for spec in BUILTIN:
        assert spec.default_variant in spec.variants
        assert set(spec.consumes) <= set(INPUT_KINDS)
        for table in spec.paper_tables:
            assert set(table.rows) <= set(spec.variants), table
    with pytest.raises(ConfigError, match="unknown method 'nope'.*avph"):
        get_method("nope")


def test_every_avph_paper_row_is_a_variant_with_a_paper_number():
    """Tables 5-12 of the AV-PH paper: each variant has the paper's YouTube number."""
    paper = load_paper_results()
    avph_rows = paper[(paper["method"] == "avph") & (paper["dataset"] == "youtube")]
    spec = get_method("avph")
    assert set(avph_rows["variant"]) <= set(spec.variants)
    for variant in spec.variants:
        assert variant in set(avph_rows["variant"]), variant
    assert len(spec.paper_tables) == 8


def test_variants_resolve_into_their_inputs():
    config = config_with({"avph": list(get_method("avph").variants)})

    def inputs(variant):
        return run_inputs(resolve_run(config, "syn", "avph", variant))

    assert inputs("av-ph") == {"visual", "audio", "pseudo"}
    assert inputs("unimodal-v") == {"visual", "pseudo"}
    assert inputs("unimodal-a") == {"audio", "pseudo"}
    assert inputs("supervised") == {"visual", "audio", "labels"}
    assert inputs("pseudo-highlights-as-predictions") == {"visual", "audio", "pseudo"}
    run = resolve_run(config, "syn", "avph", "pcc")
    assert run["pseudo"]["similarity"] == "pearson" and run["settings"]["target"] == "av"
    assert run_inputs(resolve_run(config, "syn", "random", "uniform")) == frozenset()


def test_runs_share_pseudo_labels_exactly_when_their_settings_agree():
    config = config_with({"avph": list(get_method("avph").variants)})

    def key(variant, seed=0):
        return pseudo_id(pseudo_slice(resolve_run(config, "syn", "avph", variant), seed))

    shared = {key(v) for v in ("av-ph", "v-ph", "a-ph", "sa-early", "sa-late")}
    assert len(shared) == 1 and key("av-ph", 0) == key("av-ph", 1)  # seeds share them too
    others = [key(v) for v in ("pcc", "real-categories", "unimodal-v", "unimodal-a")]
    assert len(set(others) | shared) == 5
    assert key("train-25pct", 0) != key("train-25pct", 1)  # the subset is drawn per seed
    assert key("train-25pct", 0).startswith("cosine-pseudo-25pct-s0-")


def test_config_variants_are_validated_and_named_in_errors():
    config = config_with(
        {"avph": ["av-ph", "top40"]},
        variants={"avph": {"top40": {"pseudo": {"top_fraction": 0.4}}}},
    )
    assert run_list(config) == [("avph", "av-ph"), ("avph", "top40")]
    assert resolve_run(config, "syn", "avph", "top40")["pseudo"]["top_fraction"] == 0.4
    with pytest.raises(ConfigError, match=r"variant avph/bad.*methods\.avph.*fusion"):
        config_with(
            {"avph": ["bad"]}, variants={"avph": {"bad": {"method": {"fusion": "sideways"}}}}
        )
    with pytest.raises(ConfigError, match=r"unknown key 'top_fractoin'.*variant avph/bad"):
        config_with(
            {"avph": ["bad"]}, variants={"avph": {"bad": {"pseudo": {"top_fractoin": 0.4}}}}
        )
    with pytest.raises(ConfigError, match="has no variant 'nope'.*known: a-ph"):
        config_with({"avph": ["nope"]})
    with pytest.raises(ConfigError, match="unknown method 'chdd'"):
        config_with({"chdd": []})
    # config files merge dictionaries: an empty list drops a method of an earlier file
    assert run_list(config_with({"avph": [], "random": ["uniform"]})) == [("random", "uniform")]
    with pytest.raises(ConfigError, match="lists no run"):
        config_with({"avph": None})


def test_training_subset_is_seeded_sorted_and_keeps_two():
    ids = [f"v{i:02d}" for i in range(20)]
    a = training_subset(ids, 0.25, 0)
    assert a == sorted(a) and len(a) == 5 and set(a) <= set(ids)
    assert training_subset(list(reversed(ids)), 0.25, 0) == a  # order of the input irrelevant
    assert training_subset(ids, 0.25, 1) != a
    assert training_subset(ids, 0.01, 0).__len__() == 2
    assert training_subset(ids, 1.0, 5) == ids


# ----------------------------------------------------------------------------- models


def video(name, n, split="train", seed=0, audio=True, label=None, pseudo=None):
    rng = np.random.default_rng(seed)
    return VideoInputs(
        name,
        np.arange(n, dtype=float),
        np.arange(1, n + 1.0),
        split=split,
        visual=rng.normal(size=(n, 5)).astype(np.float32),
        audio=rng.normal(size=(n, 3)).astype(np.float32) if audio else None,
        labels=label,
        pseudo=pseudo,
    )


def test_random_scores_depend_on_seed_and_video_not_on_order():
    a, b = video("a", 6), video("b", 4)
    first = RandomScores(3)
    np.testing.assert_array_equal(first.score(a), RandomScores(3).score(a))
    assert not np.array_equal(first.score(a), RandomScores(4).score(a))
    assert not np.array_equal(first.score(a)[:4], first.score(b))
    assert len(first.score(b)) == 4


def avph_run(config, variant):
    run = resolve_run(config, "syn", "avph", variant)
    run["settings"].update(epochs=3, hidden=8, heads=2, batch_size=2)
    return run


def labelled_inputs():
    videos = []
    for i in range(4):
        y = (np.arange(6) % 2).astype(np.int64)
        ph = PseudoHighlight(
            visual=np.linspace(0, 1, 6),
            audio=np.linspace(1, 0, 6),
            av=np.full(6, 0.5),
            label=(np.arange(6) < 3).astype(np.uint8),
            category=0,
            labels={
                "av": (np.arange(6) < 3).astype(np.int8),
                "visual": (np.arange(6) >= 3).astype(np.int8),
                "audio": np.full(6, -1, np.int8) if i == 0 else (np.arange(6) < 3).astype(np.int8),
            },
        )
        videos.append(video(f"v{i}", 6, "train", seed=i, audio=i != 0, label=y, pseudo=ph))
    videos.append(video("t", 5, "test", seed=9))
    return MethodInputs(videos)


def test_avph_targets_follow_the_variant():
    config = config_with({"avph": list(get_method("avph").variants)})
    inputs = labelled_inputs()
    chosen, targets = avph._training_targets(inputs, avph_run(config, "v-ph"), 0)
    assert len(chosen) == 4 and (targets[0] == (np.arange(6) >= 3)).all()
    chosen, targets = avph._training_targets(inputs, avph_run(config, "a-ph"), 0)
    assert [v.video_id for v in chosen] == ["v1", "v2", "v3"]  # v0 has no A-PH labels
    chosen, targets = avph._training_targets(inputs, avph_run(config, "supervised"), 0)
    assert (targets[1] == np.arange(6) % 2).all()
    unlabelled = MethodInputs([video("u", 4, "train", label=np.full(4, -1))])
    with pytest.raises(PipelineError, match="ground-truth needs clip labels"):
        avph._training_targets(unlabelled, avph_run(config, "supervised"), 0)


@pytest.mark.parametrize("variant", ["av-ph", "sa-early", "sa-late", "unimodal-v", "unimodal-a"])
def test_avph_networks_train_save_and_load(variant, tmp_path):
    torch.set_num_threads(1)
    config = config_with({"avph": [variant]})
    run = avph_run(config, variant)
    inputs = labelled_inputs()
    model = avph.fit(inputs, run, seed=0, progress=False)
    path = tmp_path / "m.pt"
    save_model(path, run, 0, model, {"features": {}, "clip_seconds": 2.0})
    restored, checkpoint = load_model(path)
    assert checkpoint["variant"] == variant and checkpoint["run"] == run
    assert len(checkpoint["losses"]) == 3
    for v in inputs.videos:
        if variant == "unimodal-a" and v.audio is None:
            with pytest.raises(PipelineError, match="no audio features"):
                model.score(v)
            continue
        np.testing.assert_array_equal(model.score(v), restored.score(v))
    test = inputs.videos[-1]
    if variant == "unimodal-v":  # the audio stream is not read
        silent = VideoInputs(test.video_id, test.starts, test.ends, visual=test.visual)
        np.testing.assert_array_equal(model.score(test), model.score(silent))
    if variant == "unimodal-a":  # the visual stream is not read
        blind = VideoInputs(test.video_id, test.starts, test.ends, audio=test.audio)
        np.testing.assert_array_equal(model.score(test), model.score(blind))


def test_load_model_errors(tmp_path):
    with pytest.raises(PipelineError, match="model file not found"):
        load_model(tmp_path / "missing.pt")
    torch.save({"x": 1}, tmp_path / "other.pt")
    with pytest.raises(PipelineError, match="not a model file"):
        load_model(tmp_path / "other.pt")
