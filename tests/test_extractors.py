"""The extractor registry (features/extractors.py): one entry per extractor, read by the
config schema, the slices, ``build_extractor`` and the Snakefile; an extractor added
through the registry alone (an entry point outside the package) is extracted by the
unchanged workflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from highlight_pipeline import config as hlconfig
from highlight_pipeline.errors import ConfigError
from highlight_pipeline.features import extractors
from highlight_pipeline.features.backbones.registry import BACKBONES
from highlight_pipeline.features.extract import build_extractor
from highlight_pipeline.features.extractors import (
    BUILTIN,
    WINDOWS,
    ExtractorSpec,
    extractor_names,
    get_extractor,
    register_extractor,
)
from highlight_pipeline.features.shards import load_features, read_meta
from tests.workflow_helpers import CI_CONFIG, new_workdir, planned_outputs, snakemake

TOY = Path(__file__).parent / "fixtures" / "toy_extractor"


def minimal(**features) -> dict:
    return {
        "run_datasets": ["syn"],
        "datasets": {"syn": {"reader": "synthetic"}},
        "features": features,
        "evaluation": {"runs": {"random": ["uniform"]}},
    }


# --------------------------------------------------------------------------- built-ins


def test_builtin_names_per_modality_in_the_schemas_order():
    visual_networks = ["r3d34", "c3d", "i3d", "slowfast_r50", "clip_vit_b32"]
    assert extractor_names("visual") == ["colormotion", *visual_networks, "slowfast_clip"]
    assert extractor_names("audio") == ["logmel", "cnn14"]
    assert extractor_names("saliency") == ["spectral", "pqft", "novelty", "tased"]
    assert [s.name for s in BUILTIN if s.neural] == [
        *visual_networks,
        "slowfast_clip",
        "cnn14",
        "tased",
    ]
    # a network loads its backbone's checkpoint (the Snakefile checks the file)
    assert {n: extractors.backbone_of(n) for n in extractor_names()} == {
        "colormotion": None,
        "logmel": None,
        "spectral": None,
        "pqft": None,
        "novelty": None,
        "slowfast_clip": "slowfast_r50",
        **{n: n for n in (*visual_networks, "cnn14", "tased")},
    }


def test_a_networks_modality_is_its_backbones():
    for spec in BUILTIN:
        if spec.neural:
            assert spec.modality == BACKBONES[spec.backbone].modality, spec.name


def test_the_schema_names_the_registered_extractors():
    schema = hlconfig.load_schema()
    for modality in extractors.MODALITIES:
        assert schema["$defs"][f"extractor_{modality}"]["enum"] == extractor_names(modality)
    backbones = schema["properties"]["features"]["properties"]["backbones"]["properties"]
    assert list(backbones) == [s.name for s in BUILTIN if s.options]
    assert list(backbones) == [
        "r3d34",
        "c3d",
        "i3d",
        "slowfast_r50",
        "clip_vit_b32",
        "slowfast_clip",
    ]


def test_every_factory_imports_and_every_visual_network_has_its_reference_input():
    from highlight_pipeline.features.neural import REFERENCE_VISUAL

    for spec in BUILTIN:
        assert callable(spec.load()), spec.name
        if spec.options:
            assert spec.backbone in REFERENCE_VISUAL, spec.name


def test_registry_schema_and_slices_import_without_torch():
    code = (
        "import sys\n"
        "from highlight_pipeline import config\n"
        "from highlight_pipeline.features import extractors\n"
        "c = config.load_config(config.REPO_ROOT / 'config.yaml')\n"
        "for n in extractors.extractor_names():\n"
        "    config.features_slice(c, extractors.get_extractor(n).modality, n)\n"
        "print(sorted({'torch', 'av'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_extractor_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown feature extractor 'sift'; known: colormotion"):
        get_extractor("sift")
    with pytest.raises(ValueError, match="unknown feature extractor 'sift'"):
        build_extractor({"extractor": "sift"})
    assert hlconfig.weights_slice({}, "sift") == hlconfig.execution_slice({}, "sift") == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "a+b"}, "letters, digits and _"),
        ({"factory": "toy"}, "not module:name"),
        ({"modality": "smell"}, "modality 'smell'"),
        ({"modality": None}, "modality None"),
        ({"modality": None, "backbone": "resnet"}, "unknown backbone 'resnet'"),
        ({"modality": "audio", "backbone": "r3d34"}, "its backbone r3d34 is visual"),
        ({"modality": "audio", "options": True}, "options are visual input overrides"),
    ],
)
def test_a_malformed_entry_is_refused(fields, message):
    base = {"name": "toy", "factory": "tests.test_extractors:Toy", "modality": "visual"}
    with pytest.raises(ConfigError, match=message):
        ExtractorSpec(**{**base, **fields})


# --------------------------------------------------------------------------- registering


class Toy:
    """A weight-free audio extractor: the registry is all it needs."""

    name, modality, dim = "toyaudio", "audio", 1

    def __init__(self, feature_slice: dict) -> None:
        self.slice = feature_slice


TOY_AUDIO = ExtractorSpec(
    name="toyaudio",
    factory="tests.test_extractors:Toy",
    modality="audio",
    version=3,
    settings={"rate": "decode.audio_rate", **WINDOWS},
)


def test_an_extractor_registered_in_process_is_configured_sliced_and_built(monkeypatch):
    monkeypatch.setattr(extractors, "_ADDED", {})
    with pytest.raises(ConfigError, match="config.features.audio: 'toyaudio' is not one of"):
        hlconfig.validate_config(minimal(audio="toyaudio"))
    register_extractor(TOY_AUDIO)
    register_extractor(TOY_AUDIO)  # the same entry again: nothing changes
    config = hlconfig.validate_config(minimal(audio="toyaudio"))
    assert extractor_names("audio") == ["logmel", "cnn14", "toyaudio"]
    assert hlconfig.modality_of_backbone("toyaudio") == "audio"
    found = hlconfig.features_slice(config, "audio")
    assert found == {
        "extractor": "toyaudio",
        "version": 3,
        "rate": 16000,
        "window_seconds": 1.0,
        "stride_seconds": 0.5,
    }
    assert hlconfig.weights_slice(config, "toyaudio") == {}
    built = build_extractor(found, {"device": "cuda"})  # a weight-free one takes no runtime
    assert isinstance(built, Toy) and built.slice == found
    with pytest.raises(ConfigError, match="registered twice"):
        register_extractor(ExtractorSpec("toyaudio", "tests.test_extractors:Toy", "visual"))
    with pytest.raises(ConfigError, match="registered twice"):
        register_extractor(ExtractorSpec("logmel", "tests.test_extractors:Toy", "audio"))


def test_an_entry_point_adds_an_extractor(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY))
    extractors._from_entry_points.cache_clear()
    try:
        assert extractor_names("visual")[-1] == "toycolour"
        spec = get_extractor("toycolour")
        assert not spec.neural and spec.version == 1
        schema = hlconfig.load_schema()
        assert "toycolour" in schema["$defs"]["extractor_visual"]["enum"]
        variant = {"variants": {"avph": {"toy": {"features": {"visual": "toycolour"}}}}}
        hlconfig.validate_config({**minimal(), **variant})
    finally:
        monkeypatch.undo()
        extractors._from_entry_points.cache_clear()
    assert "toycolour" not in extractor_names()


# --------------------------------------------------------------------------- workflow


@pytest.mark.integration
def test_the_workflow_extracts_features_with_a_plugin_extractor(tmp_path):
    workdir = new_workdir(tmp_path / "run")
    override = workdir / "toy.yaml"
    runs = {name: [] for name in ("avph", "chd", "hpcl", "pld", "random")}
    override.write_text(
        yaml.safe_dump(
            {
                "features": {"visual": "toycolour"},
                "evaluation": {"runs": {**runs, "avph": ["av-ph"]}, "seeds": [0]},
            }
        )
    )
    env = {"PYTHONPATH": str(TOY)}
    args = ("--configfile", str(CI_CONFIG), str(override))
    shards = [f"results/synthetic/features/toycolour/shard-{k}.h5" for k in (0, 1)]
    plan = snakemake(workdir, "-n", *args, env=env).stdout  # the whole pipeline's plan
    assert set(shards) <= set(planned_outputs(plan, "features"))
    assert "results/synthetic/features/colormotion/shard-0.h5" not in plan
    snakemake(workdir, "--cores", "2", *shards, *args, env=env)

    meta = read_meta(workdir / shards[0])
    assert meta.backbone == "toycolour" and meta.weights == "weight-free"
    assert meta.preprocessing["slice"] == {  # ci.yaml's decoding, the default windows
        "extractor": "toycolour",
        "version": 1,
        "fps": 5,
        "width": 96,
        "height": 72,
        "window_seconds": 1.0,
        "stride_seconds": 0.5,
    }
    entries, failed = load_features([workdir / s for s in shards])
    assert len(entries) == 10 and not failed  # ci.yaml: 2 categories of 5 videos
    for entry in entries.values():
        assert entry.windows.shape[1] == 3 and np.isfinite(entry.windows).all()
        assert ((entry.windows >= 0) & (entry.windows <= 1)).all()
    again = snakemake(workdir, "-n", *shards, *args, env=env)
    assert "Nothing to be done" in again.stdout + again.stderr
