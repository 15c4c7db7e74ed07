"""Feature extractors by name: what each computes from, and where its code lives.

An extractor is one implementation (a class, imported only when a job extracts) and one
:class:`ExtractorSpec` here. The spec is light, like a method's: the Snakefile, the config
schema and the config's slices read it without importing torch or PyAV. It says

* ``modality``: ``visual`` or ``audio`` (windows, the features rule) or ``saliency``
  (maps, the saliency rule); a neural extractor's is its backbone's;
* ``backbone``: for a neural extractor, its entry in
  :data:`highlight_pipeline.features.backbones.registry.BACKBONES` (the published
  checkpoint, its modality, its feature size); ``None`` for a weight-free one. A neural
  extractor's weights slice and execution slice (:mod:`highlight_pipeline.config`) are
  its features job's weights and device settings; a weight-free one has neither;
* ``version``: part of the feature slice when set, so a new definition re-extracts;
* ``settings``: the config values its features depend on, as slice key -> dotted config
  path (``"fps": "decode.fps"``); the key ``"*"`` takes every key of the mapping at the
  path (``"saliency"``). With ``options``, the slice also holds ``features.backbones.NAME``
  (overrides of a visual network's input, ``$defs/visual_input`` of the schema);
* ``factory``: ``"module:Class"`` (or a function), called as ``factory(feature_slice)``,
  a neural one as ``factory(feature_slice, weights_dir=..., weights=..., device=...,
  amp=..., batch_size=..., cuda=...)``. What it returns has ``name``, ``modality``,
  ``dim``, ``extract(path, row) -> WindowFeatures`` and ``describe() -> dict`` (with
  ``weights``);
* ``mem_mb``: the memory its features or saliency job asks for at the first attempt, when
  it needs less than the rule's figure (memory_guard.RULE_LIMITS, which a published
  network needs); the weight-free ones ask for 4000 MB (``docs/slurm.md``).

The feature slice of an extractor is ``{"extractor": name, "version": ..., **settings,
"options": ...}`` (:meth:`ExtractorSpec.feature_slice`), what its shards are keyed by.

Adding an extractor is one implementation module and one entry: in :data:`BUILTIN` for
the package, or, from outside it, an object of the entry-point group
``highlight_pipeline.extractors`` (or :func:`register_extractor` in the same process).
The config schema's extractor names (``features.visual``, ``audio``, ``saliency``, a
variant's ``features``) and ``features.backbones`` are filled from the registry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module, metadata
from typing import Any

from highlight_pipeline.errors import ConfigError
from highlight_pipeline.features.backbones.registry import BACKBONES

ENTRY_POINT_GROUP = "highlight_pipeline.extractors"
MODALITIES = ("visual", "audio", "saliency")

#: The memory of a weight-free extractor's job (first attempt): a 20-minute video took 0.30 to
#: 0.37 GB (colormotion, logmel, spectral; 0.35 GB for 2 minutes of 1080p), growing by
#: at most 12 MB per minute of the longest video in the shard: about 5 hours fit (docs/slurm.md).
WEIGHT_FREE_MB = 4000

#: The window grid of the extractors that put windows every ``stride_seconds`` seconds.
WINDOWS = {"window_seconds": "features.window_seconds", "stride_seconds": "features.stride_seconds"}


@dataclass(frozen=True)
class ExtractorSpec:
    name: str  # [A-Za-z0-9_]+: part of the shard paths and of pseudo-label folder names
    factory: str  # "module:Class", imported when a job extracts
    modality: str | None = None  # weight-free: visual, audio or saliency; neural: the backbone's
    backbone: str | None = None  # neural: its BACKBONES entry; None: weight-free
    also: tuple[str, ...] = ()  # neural: further BACKBONES entries whose checkpoints it reads
    version: int | None = None  # in the feature slice when set (a new version re-extracts)
    settings: Mapping[str, str] = field(default_factory=dict)  # slice key -> config path
    options: bool = False  # takes features.backbones.NAME (visual input overrides)
    title: str = ""
    # first attempt's memory (MB) of its features or saliency job; None: the rule's
    # (memory_guard.RULE_LIMITS, sized for the published networks)
    mem_mb: int | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.name):
            raise ConfigError(f"extractor {self.name!r}: a name is letters, digits and _")
        if self.factory.count(":") != 1:
            raise ConfigError(f"extractor {self.name}: factory {self.factory!r} is not module:name")
        if self.backbone is not None:
            if self.backbone not in BACKBONES:
                raise ConfigError(
                    f"extractor {self.name}: unknown backbone {self.backbone!r}; known: "
                    + ", ".join(BACKBONES)
                )
            own = BACKBONES[self.backbone].modality
            if self.modality not in (None, own):
                raise ConfigError(
                    f"extractor {self.name}: modality {self.modality!r}, but its backbone "
                    f"{self.backbone} is {own}"
                )
            object.__setattr__(self, "modality", own)
            for other in self.also:
                if other not in BACKBONES:
                    raise ConfigError(f"extractor {self.name}: unknown backbone {other!r}")
        elif self.also:
            raise ConfigError(f"extractor {self.name}: `also` needs a `backbone`")
        if self.modality not in MODALITIES:
            raise ConfigError(
                f"extractor {self.name}: modality {self.modality!r} is not one of "
                + ", ".join(MODALITIES)
            )
        if self.options and self.modality != "visual":
            raise ConfigError(f"extractor {self.name}: options are visual input overrides")

    @property
    def networks(self) -> tuple[str, ...]:
        """Every BACKBONES entry whose checkpoint it reads (its backbone first)."""
        return () if self.backbone is None else (self.backbone, *self.also)

    @property
    def neural(self) -> bool:
        """Runs a published network (a checkpoint, a device); weight-free otherwise."""
        return self.backbone is not None

    def feature_slice(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """What its windows depend on, from a validated config (the precision of a neural
        one is added by :func:`highlight_pipeline.config.features_slice`)."""
        found: dict[str, Any] = {"extractor": self.name}
        if self.version is not None:
            found["version"] = self.version
        for key, path in self.settings.items():
            value = _lookup(config, path)
            if key == "*":
                found.update(value)
            else:
                found[key] = value
        if self.options:
            found["options"] = config["features"]["backbones"].get(self.name, {})
        return found

    def load(self) -> Callable[..., Any]:
        module, name = self.factory.split(":")
        return getattr(import_module(module), name)

    def build(self, feature_slice: dict, runtime: dict | None = None) -> Any:
        """The extractor of ``feature_slice``; ``runtime`` (weights and device settings)
        goes to a neural one only."""
        if self.neural:
            return self.load()(feature_slice, **(runtime or {}))
        return self.load()(feature_slice)


def _lookup(config: Mapping[str, Any], path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        node = node[part]
    return node


# ----------------------------------------------------------------------------- built-ins

BUILTIN: tuple[ExtractorSpec, ...] = (
    # weight-free (the embedded default; features/weight_free.py, features/saliency.py,
    # features/pqft.py, features/novelty.py)
    ExtractorSpec(
        name="colormotion",
        factory="highlight_pipeline.features.weight_free:ColorMotionExtractor",
        modality="visual",
        # 2: moving-pixel histograms, minus the video's median window; 3: brightness gains;
        # 4: the median window stored beside the windows (the shard's ``centre``)
        version=4,
        settings={
            "fps": "decode.fps",
            "width": "decode.width",
            "height": "decode.height",
            **WINDOWS,
        },
        title="moving-pixel and whole-frame colour histograms and grid motion",
        mem_mb=WEIGHT_FREE_MB,
    ),
    ExtractorSpec(
        name="logmel",
        factory="highlight_pipeline.features.weight_free:LogMelExtractor",
        modality="audio",
        # 2: the log's floor relative to the recording's mean band power
        version=2,
        settings={"audio_rate": "decode.audio_rate", **WINDOWS},
        title="centred log-mel band shape and spread",
        mem_mb=WEIGHT_FREE_MB,
    ),
    ExtractorSpec(
        name="spectral",
        factory="highlight_pipeline.features.saliency:SpectralResidualSaliency",
        modality="saliency",
        settings={"*": "saliency"},
        title="spectral residual saliency (Hou & Zhang 2007)",
        mem_mb=WEIGHT_FREE_MB,
    ),
    ExtractorSpec(
        name="pqft",
        factory="highlight_pipeline.features.pqft:PQFTSaliency",
        modality="saliency",
        settings={"*": "saliency"},
        title="PQFT saliency: intensity, colour opponents, motion (Guo, Ma & Zhang 2008)",
        mem_mb=WEIGHT_FREE_MB,
    ),
    ExtractorSpec(
        name="novelty",
        factory="highlight_pipeline.features.novelty:NoveltySaliency",
        modality="saliency",
        settings={"*": "saliency"},
        title="novelty saliency: distance from the temporal-median background",
        mem_mb=WEIGHT_FREE_MB,
    ),
    # published networks (features/neural.py, features/saliency.py; backbones/registry.py)
    ExtractorSpec(
        name="r3d34",
        factory="highlight_pipeline.features.neural:NeuralExtractor",
        backbone="r3d34",
        options=True,
    ),
    ExtractorSpec(
        name="c3d",
        factory="highlight_pipeline.features.neural:NeuralExtractor",
        backbone="c3d",
        options=True,
    ),
    ExtractorSpec(
        name="i3d",
        factory="highlight_pipeline.features.neural:NeuralExtractor",
        backbone="i3d",
        options=True,
    ),
    ExtractorSpec(
        name="slowfast_r50",
        factory="highlight_pipeline.features.neural:NeuralExtractor",
        backbone="slowfast_r50",
        options=True,
    ),
    ExtractorSpec(
        name="clip_vit_b32",
        factory="highlight_pipeline.features.neural:NeuralExtractor",
        backbone="clip_vit_b32",
        options=True,
    ),
    # AV-PH's QVHighlights features (after Moment-DETR): SlowFast and CLIP per 2 s clip,
    # each L2-normalised, concatenated (features/slowfast_clip.py)
    ExtractorSpec(
        name="slowfast_clip",
        factory="highlight_pipeline.features.slowfast_clip:SlowFastClipExtractor",
        backbone="slowfast_r50",
        also=("clip_vit_b32",),
        options=True,
        version=1,
        title="SlowFast R50 (2304) and CLIP ViT-B/32 (512), each L2-normalised, concatenated",
    ),
    ExtractorSpec(
        name="cnn14",
        factory="highlight_pipeline.features.neural:NeuralExtractor",
        backbone="cnn14",
        settings=WINDOWS,
    ),
    ExtractorSpec(
        name="tased",
        factory="highlight_pipeline.features.saliency:TasedSaliency",
        backbone="tased",
        settings={"*": "saliency"},
    ),
)

_ADDED: dict[str, ExtractorSpec] = {}


# ----------------------------------------------------------------------------- lookup


@cache
def _from_entry_points() -> dict[str, ExtractorSpec]:
    found: dict[str, ExtractorSpec] = {spec.name: spec for spec in BUILTIN}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        spec = entry.load()
        if not isinstance(spec, ExtractorSpec):
            raise ConfigError(
                f"entry point {entry.value} ({ENTRY_POINT_GROUP}) is not an ExtractorSpec"
            )
        if spec.name in found and found[spec.name] is not spec:
            raise ConfigError(f"extractor {spec.name!r} is registered twice ({entry.value})")
        found[spec.name] = spec
    return found


def _registered() -> dict[str, ExtractorSpec]:
    return {**_from_entry_points(), **_ADDED}


def register_extractor(spec: ExtractorSpec) -> ExtractorSpec:
    """Add ``spec`` to this process's registry (an entry point reaches every process,
    the workflow's jobs included)."""
    known = _registered().get(spec.name)
    if known is not None and known != spec:
        raise ConfigError(f"extractor {spec.name!r} is registered twice")
    _ADDED[spec.name] = spec
    return spec


def extractor_names(modality: str | None = None) -> list[str]:
    """The registered extractors (of ``modality``), built-ins first in their order."""
    return [n for n, s in _registered().items() if modality in (None, s.modality)]


def get_extractor(name: str) -> ExtractorSpec:
    found = _registered()
    if name not in found:
        raise ConfigError(f"unknown feature extractor {name!r}; known: {', '.join(found)}")
    return found[name]


def is_neural(name: str) -> bool:
    """Whether ``name`` is a registered extractor that runs a published network (False for
    a weight-free one and for a name that is not an extractor)."""
    spec = _registered().get(name)
    return spec is not None and spec.neural


def backbone_of(name: str) -> str | None:
    """The backbone (BACKBONES entry) whose checkpoint extractor ``name`` loads, or None."""
    spec = _registered().get(name)
    return None if spec is None else spec.backbone


def networks_of(name: str) -> tuple[str, ...]:
    """Every backbone (BACKBONES entry) whose checkpoint extractor ``name`` loads."""
    spec = _registered().get(name)
    return () if spec is None else spec.networks


def fill_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The config schema with the registry's names: ``$defs/extractor_MODALITY`` (every
    place that names an extractor refers to them) and ``features.backbones`` (one
    ``$defs/visual_input`` per extractor that takes ``options``)."""
    defs = schema["$defs"]
    for modality in MODALITIES:
        defs[f"extractor_{modality}"]["enum"] = extractor_names(modality)
    backbones = schema["properties"]["features"]["properties"]["backbones"]
    backbones["properties"] = {
        name: {"$ref": "#/$defs/visual_input"}
        for name, spec in _registered().items()
        if spec.options
    }
    return schema
