"""Tests for highlight_pipeline.config: validation messages, defaults, slices and hashes."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from highlight_pipeline.config import (
    REPO_ROOT,
    features_slice,
    load_config,
    slice_hash,
    validate_config,
)
from highlight_pipeline.errors import ConfigError
from highlight_pipeline.runs import method_settings

AVPH_KEYS = {
    "lr",
    "epochs",
    "batch_size",
    "hidden",
    "heads",
    "dropout",
    "self_attention_layers",
    "fc_layers",
    "weight_decay",
    "network",
    "fusion",
    "target",
    "supervision",
    "predictor",
}


def minimal() -> dict:
    return {"run_datasets": ["syn"], "datasets": {"syn": {"reader": "synthetic"}}}


def test_repo_config_is_valid():
    config = load_config(REPO_ROOT / "config.yaml")
    raw = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())
    # validation keeps what the file says and only adds defaults
    assert config["run_datasets"] == raw["run_datasets"]
    assert config["methods"]["avph"] == raw["methods"]["avph"]
    assert config["decode"] == raw["decode"]
    assert set(config["methods"]["avph"]) == AVPH_KEYS
    assert config["datasets"]["synthetic"]["split_seed"] == 0  # default filled in


def test_load_config_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_top_level_key_names_key_and_allowed_keys():
    config = minimal()
    config["epochz"] = 3
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    message = str(info.value)
    assert "'epochz'" in message
    for allowed in ("run_datasets", "datasets", "decode", "features", "pseudo", "methods"):
        assert allowed in message
    assert "allowed keys" in message


def test_unknown_nested_key_names_path_and_allowed_keys():
    config = minimal()
    config["methods"] = {"avph": {"lrr": 0.1}}
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    message = str(info.value)
    assert "'lrr'" in message
    assert "config.methods.avph" in message
    allowed_part = message.split("allowed keys:")[1]
    assert {k.strip() for k in allowed_part.split(",")} == AVPH_KEYS


def test_unknown_key_inside_a_dataset():
    config = minimal()
    config["datasets"]["syn"]["clip_secs"] = 2
    with pytest.raises(ConfigError, match=r"'clip_secs'.*config\.datasets\.syn.*clip_seconds"):
        validate_config(config)


@pytest.mark.parametrize(
    "path, value, where",
    [
        (("decode", "fps"), "fast", "config.decode.fps"),
        (("features", "shards"), 1.5, "config.features.shards"),
        (("pseudo", "similarity"), "euclid", "config.pseudo.similarity"),
        (("run_datasets",), "syn", "config.run_datasets"),
    ],
)
def test_wrong_type_or_value_names_the_key(path, value, where):
    config = minimal()
    node = config
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert str(info.value).startswith(where + ":")


def test_defaults_are_filled_without_mutating_input():
    config = minimal()
    before = copy.deepcopy(config)
    out = validate_config(config)
    assert config == before
    assert out["decode"] == {"fps": 8, "width": 128, "height": 96, "audio_rate": 16000}
    assert out["features"]["window_seconds"] == 1.0
    assert out["features"]["stride_seconds"] == 0.5
    assert out["pseudo"]["k_min"] == 2 and out["pseudo"]["k_max"] == 6
    assert out["evaluation"] == {
        "runs": {"avph": ["av-ph"], "random": ["uniform"]},
        "seeds": [0, 1, 2],
        "reel_seconds": 20,
        "explain_videos": 3,
        "explain_panels": 6,
    }
    assert out["datasets"]["syn"]["clip_seconds"] == 2.0
    assert out["weights"] == "published"


def test_given_values_win_over_defaults():
    config = minimal()
    config["decode"] = {"fps": 4}
    out = validate_config(config)
    assert out["decode"]["fps"] == 4
    assert out["decode"]["width"] == 128


def test_run_datasets_naming_undefined_dataset():
    config = minimal()
    config["run_datasets"] = ["syn", "missing_one"]
    with pytest.raises(ConfigError, match=r"'missing_one'.*defined: syn"):
        validate_config(config)


def test_folder_reader_needs_root():
    config = minimal()
    config["datasets"]["mine"] = {"reader": "folder"}
    with pytest.raises(ConfigError, match=r"datasets\.mine.*root"):
        validate_config(config)
    config["datasets"]["mine"]["root"] = "/data/videos"
    assert validate_config(config)["datasets"]["mine"]["root"] == "/data/videos"


def test_k_min_above_k_max():
    config = minimal()
    config["pseudo"] = {"k_min": 5, "k_max": 3}
    with pytest.raises(ConfigError, match="k_min"):
        validate_config(config)


def test_slice_hash_stable_under_key_order_and_sensitive_to_values():
    a = {"x": 1, "y": {"p": [1, 2], "q": "s"}}
    b = {"y": {"q": "s", "p": [1, 2]}, "x": 1}
    assert slice_hash(a) == slice_hash(b)
    assert len(slice_hash(a)) == 12
    assert slice_hash(a) != slice_hash({**a, "x": 2})
    assert slice_hash(a) != slice_hash({"x": 1, "y": {"p": [2, 1], "q": "s"}})
    assert slice_hash(a) != slice_hash({**a, "z": None})


def test_features_slice_per_modality():
    config = validate_config(minimal())
    visual = features_slice(config, "visual")
    audio = features_slice(config, "audio")
    assert visual["extractor"] == "colormotion" and audio["extractor"] == "logmel"
    assert visual["fps"] == 8 and "fps" not in audio
    assert audio["audio_rate"] == 16000 and "audio_rate" not in visual
    # changing the frame rate changes only the visual slice
    config["decode"]["fps"] = 4
    assert slice_hash(features_slice(config, "visual")) != slice_hash(visual)
    assert slice_hash(features_slice(config, "audio")) == slice_hash(audio)


def test_method_slice_merges_per_dataset_override():
    config = minimal()
    config["methods"] = {
        "avph": {
            "lr": 0.005,
            "epochs": 100,
            "batch_size": 8,
            "hidden": 64,
            "heads": 4,
            "dropout": 0.1,
            "self_attention_layers": 1,
            "fc_layers": 2,
            "weight_decay": 0.0,
            "network": "av",
            "fusion": "bimodal",
            "target": "av",
            "supervision": "pseudo",
            "predictor": "network",
        }
    }
    config["datasets"]["other"] = {"reader": "synthetic", "methods": {"avph": {"lr": 0.001}}}
    out = validate_config(config)
    merged = method_settings(out, "other", "avph")
    assert merged["lr"] == 0.001
    assert {k: v for k, v in merged.items() if k != "lr"} == {
        k: v for k, v in config["methods"]["avph"].items() if k != "lr"
    }
    assert method_settings(out, "syn", "avph") == config["methods"]["avph"]
    assert method_settings(out, "syn", "random") == {}


def test_dataset_override_keeps_global_non_default_values():
    config = minimal()
    config["methods"] = {"avph": {"epochs": 20, "hidden": 32}}
    config["datasets"]["syn"]["methods"] = {"avph": {"lr": 0.001}}
    merged = method_settings(validate_config(config), "syn", "avph")
    assert merged["lr"] == 0.001
    assert merged["epochs"] == 20  # actual: 100 (schema default from the override)
    assert merged["hidden"] == 32  # actual: 64


def test_avph_defaults_filled_when_methods_omitted():
    merged = method_settings(validate_config(minimal()), "syn", "avph")
    assert set(merged) == AVPH_KEYS
    assert merged["lr"] == 5.0e-3


def test_check_config_validates_an_override_merged_over_config_yaml(tmp_path):
    """`hlp check-config my.yaml` checks what Snakemake would run: config.yaml with my.yaml
    over it, so the message is the override's real mistake, not a missing top-level key."""
    import shutil
    import subprocess
    import sys

    shutil.copy(Path(__file__).parents[1] / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / "good.yaml").write_text("methods:\n  avph:\n    epochs: 3\n")
    (tmp_path / "bad.yaml").write_text("methods:\n  avph:\n    learning_rate: 0.1\n")

    def check(*args):
        return subprocess.run(
            [sys.executable, "-m", "highlight_pipeline.cli", "check-config", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )

    good = check("good.yaml")
    assert good.returncode == 0 and "config.yaml + good.yaml: valid" in good.stdout
    bad = check("bad.yaml")
    assert bad.returncode != 0
    assert "learning_rate" in bad.stderr and "run_datasets" not in bad.stderr
    alone = check("good.yaml", "--alone")  # without config.yaml: the required keys are missing
    assert alone.returncode != 0 and "run_datasets" in alone.stderr


def test_pld_preset_merged_after_a_dataset_preset_trains_with_the_papers_sgd():
    """README: `--configfile workflow/configs/youtube.yaml workflow/configs/pld.yaml`; the
    PLD-VHD supplement trains with SGD (config.yaml's CPU setting uses Adam)."""
    from highlight_pipeline.runs import deep_merge, resolve_run

    merged: dict = {}
    for name in ("config.yaml", "workflow/configs/youtube.yaml", "workflow/configs/pld.yaml"):
        merged = deep_merge(merged, yaml.safe_load((REPO_ROOT / name).read_text()))
    config = validate_config(merged)
    settings = resolve_run(config, "youtube", "pld", "tased-full")["settings"]
    assert settings["optimizer"] == "sgd" and settings["lr"] == 0.01
    assert settings["epochs"] == 1500 and settings["pretrained"] is True


def test_the_schema_is_package_data_found_through_importlib_resources():
    """An installed wheel validates a config: the schema is a file of the package, named by
    the package-data globs of pyproject.toml, and Snakemake's workflow/schemas path is a
    link to it."""
    from fnmatch import fnmatch
    from importlib import resources

    from highlight_pipeline import config as hlconfig

    resource = resources.files("highlight_pipeline").joinpath("data", "config.schema.yaml")
    assert resource.is_file()
    assert Path(str(hlconfig.SCHEMA_PATH)) == Path(str(resource))
    assert "$defs" in hlconfig.load_schema()
    with open(REPO_ROOT / "pyproject.toml", "rb") as handle:
        globs = tomllib.load(handle)["tool"]["setuptools"]["package-data"]["highlight_pipeline"]
    assert any(fnmatch("data/config.schema.yaml", glob) for glob in globs)
    link = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert link.resolve() == Path(str(resource)).resolve()


def test_moved_names_stay_importable_from_their_old_modules():
    from highlight_pipeline import config, evaluate, hashing, scoring

    for name in ("canonical_json", "slice_hash", "deep_merge"):
        assert getattr(config, name) is getattr(hashing, name)
    for name in ("clip_truth", "scored_clips", "unscored_clips", "protocol_scores"):
        assert getattr(evaluate, name) is getattr(scoring, name)
    assert evaluate.protocol_metric is scoring.protocol_metric


def test_the_schema_names_come_from_the_registries():
    """Readers, protocols and extractors are listed once, in their registries: the schema's
    enums are filled from them when it is loaded."""
    from highlight_pipeline.config import load_schema
    from highlight_pipeline.datasets.registry import reader_names
    from highlight_pipeline.datasets.synthetic import RECIPES
    from highlight_pipeline.metrics import PROTOCOLS

    schema = load_schema()
    assert schema["$defs"]["dataset"]["properties"]["reader"]["enum"] == reader_names()
    assert schema["$defs"]["protocol"]["enum"] == list(PROTOCOLS)
    assert schema["$defs"]["synth"]["properties"]["recipe"]["enum"] == list(RECIPES)
    text = (REPO_ROOT / "highlight_pipeline" / "data" / "config.schema.yaml").read_text()
    enums = " ".join(re.findall(r"enum: \[([^\]]*)\]", text))
    for name in (*reader_names(), *PROTOCOLS, *RECIPES):
        assert not re.search(rf"(^|[ ,]){re.escape(name)}($|,)", enums), name
