"""Highlight-detection methods by name: what each consumes, its variants, where its code lives.

A method is one implementation module (imported only when a job trains or scores with it)
and one :class:`MethodSpec` here. The spec is light: the Snakefile reads it at parse time
to build the DAG without importing torch. The implementation module provides::

    fit(inputs: MethodInputs, run: dict, seed: int, device: str, progress: bool) -> model
        # optionally a `checkpoint` keyword (methods/resume.py): the state is saved after
        # every epoch and a killed job resumes from the last one
    load(state: dict) -> model           # the inverse of model.state()
    model.score(video: VideoInputs) -> np.ndarray   # one score per clip, higher = highlight
    model.state() -> dict                # tensors, arrays, numbers, strings (torch.save)
    model.to(device) -> model            # optional: score on the job's leased device; a
                                         # model without it scores on the CPU

``fit`` trains on ``device`` (a leased GPU for a method that ``uses_gpu``, else "cpu") and
returns the model on the CPU (its state is saved from there).

``run`` is the fully resolved run (:func:`highlight_pipeline.runs.resolve_run`): the
method's settings after the variant's overlay, the backbones, the pseudo-label settings
and the training-data settings.

A **variant** is a named overlay on the config with up to four parts: ``method`` (the
method's own settings), ``features`` (which backbones it reads), ``pseudo`` (pseudo-label
settings) and ``training`` (which training videos). Users add their own under
``variants.METHOD.NAME`` in the config.

Methods outside this package register through the entry-point group
``highlight_pipeline.methods``: each entry point names a :class:`MethodSpec` object.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module, metadata
from types import ModuleType
from typing import Any

from highlight_pipeline.errors import ConfigError

ENTRY_POINT_GROUP = "highlight_pipeline.methods"

# What a method can consume. Feature modalities are the clip features of the backbones the
# run names; "labels" are the ground-truth clip labels of the training split; "pseudo" the
# pseudo-highlights of the training split; "frames" the decoded videos.
INPUT_KINDS = ("visual", "audio", "saliency", "frames", "labels", "pseudo")
FEATURE_INPUTS = ("visual", "audio", "saliency")


@dataclass(frozen=True)
class Variant:
    """A named overlay on the config (``method``, ``features``, ``pseudo``, ``training``)."""

    overlay: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""  # how the paper names the row, e.g. "AV(V-PH)"
    description: str = ""


@dataclass(frozen=True)
class PaperTable:
    """One ablation table of a paper: its source name and its rows (variant names, in order)."""

    source: str
    title: str
    rows: tuple[str, ...]


@dataclass(frozen=True)
class Analysis:
    """A study of a trained model on a labelled dataset, beside the result table (e.g. CHD
    §4.3, Table 6). It runs once per run and split scheme, on the first seed's model and
    the evaluation split's videos. ``function`` names ``module:callable``, called as
    ``function(model, videos, run, seed, paper_dataset)`` with the videos' method inputs
    (features and labels); it returns ``{"markdown": [lines], "values": {...}}``: a section
    for the table and the numbers behind it."""

    name: str  # [a-z0-9-]+, part of the output file name
    title: str
    function: str
    variants: tuple[str, ...] = ()  # the variants it applies to; () = every variant

    def applies_to(self, variant: str) -> bool:
        return not self.variants or variant in self.variants

    def callable(self) -> Callable[..., dict]:
        module, name = self.function.split(":")
        return getattr(import_module(module), name)


@dataclass(frozen=True)
class MethodSpec:
    name: str
    title: str
    module: str  # the implementation, imported lazily
    consumes: frozenset[str]  # everything the method may consume (documentation, checks)
    supervised: bool = False
    # Runs a network: its train, score and explain jobs ask for the `gpu` resource and
    # lease a GPU when there is one (the CPU otherwise); see ``gpu_of``.
    uses_gpu: bool = False
    variants: Mapping[str, Variant] = field(default_factory=dict)
    default_variant: str = "default"
    # Inputs of one resolved run (a subset of ``consumes``); default: all of ``consumes``.
    inputs_of: Callable[[dict], frozenset[str]] | None = None
    # JSON schema of the method's settings, for methods registered from outside the
    # package; built-in methods keep theirs in highlight_pipeline/data/config.schema.yaml.
    settings_schema: Mapping[str, Any] | None = None
    paper_tables: tuple[PaperTable, ...] = ()
    chance_baseline: bool = False  # tables compare every other run with this one's
    analyses: tuple[Analysis, ...] = ()
    runtime_minutes: int = 30  # a training job's expected runtime and memory on CPU; the
    mem_mb: int = 4000  # rules scale both with the attempt, the SLURM profile retries
    # False: `hlp score` leaves the training videos unscored (null): for methods whose
    # scoring is costly (pld runs a 3D CNN per frame) and whose training-split scores no
    # table reads.
    scores_training_videos: bool = True
    # True: the model has ``explain(video, n)`` (per-pixel maps of n frames) and
    # ``explain_fps``; the workflow draws them over chosen test videos (explain.py).
    explains: bool = False
    # For a method that consumes "frames": the frame cache a run reads (fps, height, width;
    # features/frames.py), from the resolved run.
    frames_of: Callable[[dict], dict] | None = None
    # The backbone whose published checkpoint a run's training starts from (None: none);
    # the Snakefile checks the file before any job starts.
    pretrained_of: Callable[[dict], str | None] | None = None
    # For a method that ``uses_gpu``: whether one resolved run runs a network (default:
    # every run does); a run that does not (avph's pseudo-highlights predictor) asks for
    # no GPU and takes no slot.
    gpu_of: Callable[[dict], bool] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.consumes) - set(INPUT_KINDS)
        if unknown:
            raise ConfigError(f"method {self.name}: unknown input kinds {sorted(unknown)}")
        if self.default_variant not in self.variants:
            raise ConfigError(f"method {self.name}: default variant {self.default_variant!r}")
        if "frames" in self.consumes and self.frames_of is None:
            raise ConfigError(f"method {self.name}: consumes frames but has no frames_of")

    def inputs(self, run: dict) -> frozenset[str]:
        found = self.inputs_of(run) if self.inputs_of is not None else self.consumes
        unexpected = set(found) - set(self.consumes)
        if unexpected:
            raise ConfigError(
                f"method {self.name}: run needs {sorted(unexpected)}, not in its declaration"
            )
        return frozenset(found)

    def gpu(self, run: dict) -> bool:
        """Whether a job of this run (train, score, explain) leases a GPU when there is one:
        the method runs a network (``uses_gpu``) and this run uses it (``gpu_of``)."""
        return self.uses_gpu and (self.gpu_of is None or bool(self.gpu_of(run)))

    def implementation(self) -> ModuleType:
        return import_module(self.module)


# ----------------------------------------------------------------------------- built-ins


def _avph_inputs(run: dict) -> frozenset[str]:
    settings = run["settings"]
    if settings["predictor"] == "pseudo-highlights":
        return frozenset(run["pseudo"]["modalities"]) | {"pseudo"}
    streams = {"av": {"visual", "audio"}, "visual": {"visual"}, "audio": {"audio"}}
    needs = set(streams[settings["network"]])
    needs.add("labels" if settings["supervision"] == "ground-truth" else "pseudo")
    return frozenset(needs)


def _avph_gpu(run: dict) -> bool:
    return run["settings"].get("predictor", "network") == "network"  # pseudo-highlights: none


AVPH = MethodSpec(
    name="avph",
    title="Unsupervised highlight detection from audio and visual recurrence (AV-PH)",
    module="highlight_pipeline.methods.avph",
    consumes=frozenset({"visual", "audio", "pseudo", "labels"}),
    inputs_of=_avph_inputs,
    uses_gpu=True,
    gpu_of=_avph_gpu,
    default_variant="av-ph",
    variants={
        "av-ph": Variant({}, "AV(AV-PH)", "audio-visual network on audio-visual pseudo-highlights"),
        "v-ph": Variant({"method": {"target": "visual"}}, "AV(V-PH)", "trained on V-PH"),
        "a-ph": Variant({"method": {"target": "audio"}}, "AV(A-PH)", "trained on A-PH"),
        "unimodal-v": Variant(
            {
                "method": {"network": "visual", "target": "visual"},
                "pseudo": {"modalities": ["visual"]},
            },
            "V(V-PH)",
            "visual only, in pseudo-labels (categories included) and network",
        ),
        "unimodal-a": Variant(
            {
                "method": {"network": "audio", "target": "audio"},
                "pseudo": {"modalities": ["audio"]},
            },
            "A(A-PH)",
            "audio only, in pseudo-labels (categories included) and network",
        ),
        "pcc": Variant({"pseudo": {"similarity": "pearson"}}, "PCC", "Pearson recurrence"),
        "sa-early": Variant(
            {"method": {"fusion": "sa-early"}},
            "SA-early",
            "concatenated features, one self-attention",
        ),
        "sa-late": Variant(
            {"method": {"fusion": "sa-late"}}, "SA-late", "two self-attention streams, concatenated"
        ),
        "supervised": Variant(
            {"method": {"supervision": "ground-truth"}},
            "AV(Supervised)",
            "ground-truth clip labels of the training split instead of pseudo-highlights",
        ),
        "real-categories": Variant(
            {"pseudo": {"categories": "real"}}, "Real categories", "the dataset's categories"
        ),
        "train-25pct": Variant({"training": {"fraction": 0.25}}, "25%", "25% of training videos"),
        "train-50pct": Variant({"training": {"fraction": 0.5}}, "50%", "50% of training videos"),
        "train-75pct": Variant({"training": {"fraction": 0.75}}, "75%", "75% of training videos"),
        "pseudo-highlights-as-predictions": Variant(
            {"method": {"predictor": "pseudo-highlights"}},
            "pseudo-highlights",
            "test clips scored by recurrence against their nearest pseudo-category",
        ),
    },
    paper_tables=(
        PaperTable("AV-PH Table 5", "pseudo-highlight modality", ("v-ph", "a-ph", "av-ph")),
        PaperTable("AV-PH Table 6", "unimodal vs bimodal", ("unimodal-v", "unimodal-a", "av-ph")),
        PaperTable("AV-PH Table 7", "similarity metric", ("pcc", "av-ph")),
        PaperTable("AV-PH Table 8", "audio-visual fusion", ("sa-early", "sa-late", "av-ph")),
        PaperTable("AV-PH Table 9", "supervised version", ("supervised", "av-ph")),
        PaperTable("AV-PH Table 10", "real vs pseudo-categories", ("real-categories", "av-ph")),
        PaperTable(
            "AV-PH Table 11",
            "amount of pseudo-highlights",
            ("train-25pct", "train-50pct", "train-75pct", "av-ph"),
        ),
        PaperTable(
            "AV-PH Table 12",
            "pseudo-highlights as predictions",
            ("pseudo-highlights-as-predictions", "av-ph"),
        ),
    ),
    runtime_minutes=60,
    mem_mb=8000,
)

CHD = MethodSpec(
    name="chd",
    title="Contrastive learning for unsupervised highlight detection (CHD)",
    module="highlight_pipeline.methods.chd",
    consumes=frozenset({"visual"}),
    uses_gpu=True,
    default_variant="full",
    variants={
        "full": Variant({}, "Ours", "dropout-SimCSE contrastive highlight selector"),
        "no-dropout": Variant(
            {"method": {"dropout": 0.0}}, "no dropout", "both passes identical (Table 7)"
        ),
    },
    paper_tables=(PaperTable("CHD Table 7", "effect of dropout", ("no-dropout", "full")),),
    analyses=(
        Analysis(
            "clusters",
            "CHD §4.3 (Table 6): highlight and non-highlight clusters under dropout",
            "highlight_pipeline.methods.chd_analysis:analyse",
            ("full",),
        ),
    ),
    runtime_minutes=60,
    mem_mb=8000,
)

# hpcl's architectures (HPCL Table 3) -> the streams they encode ("av": the visual and audio
# features concatenated into one stream); methods/hpcl.py builds the network from this.
HPCL_STREAMS = {
    "v-only": ("visual",),
    "a-only": ("audio",),
    "av-concat": ("av",),
    "cr-av": ("visual", "audio"),
    "co-av": ("visual", "audio"),
}


def hpcl_modalities(architecture: str) -> frozenset[str]:
    """The clip features an hpcl architecture reads."""
    streams = set(HPCL_STREAMS[architecture])
    return frozenset({"visual", "audio"} if "av" in streams else streams)


def _hpcl_inputs(run: dict) -> frozenset[str]:
    return hpcl_modalities(run["settings"]["architecture"]) | {"labels"}


def _variant(method: dict, label: str, description: str, **parts) -> Variant:
    """A variant whose overlay is ``method`` settings (none when empty) and other parts."""
    return Variant({"method": method, **parts} if method else dict(parts), label, description)


HPCL = MethodSpec(
    name="hpcl",
    title="Audio-visual transformer with hard-pairs guided contrastive learning (HPCL)",
    module="highlight_pipeline.methods.hpcl",
    consumes=frozenset({"visual", "audio", "labels"}),
    inputs_of=_hpcl_inputs,
    supervised=True,
    uses_gpu=True,
    default_variant="co-av",
    variants={
        # HPCL Table 3: architectures
        "v-only": _variant({"architecture": "v-only"}, "V Only", "visual stream alone"),
        "a-only": _variant({"architecture": "a-only"}, "A Only", "audio stream alone"),
        "av-concat": _variant(
            {"architecture": "av-concat"}, "AV", "concatenated features, one intra module"
        ),
        "cr-av": _variant(
            {"architecture": "cr-av"}, "CR-AV", "plain cross-attention between the modalities"
        ),
        "co-av": _variant({}, "CO-AV (ours)", "intra-modality + co-occurrence encoding"),
        # HPCL Table 4: losses
        "loss-ce": _variant(
            {"lambda_hpcl": 0.0, "lambda_rank": 0.0}, "L_ce (baseline)", "cross-entropy only"
        ),
        "loss-ce-hpcl": _variant(
            {"lambda_rank": 0.0}, "L_ce + L_HPCL", "no hard-pairs margin loss"
        ),
        "loss-ce-hpcl-rank": _variant(
            {}, "L_ce + L_HPCL + L_rank", "all three losses (the same run as co-av)"
        ),
        # HPCL Table 5: global context
        "no-global": _variant({"global_context": "none"}, "w/o G", "no global context"),
        "global-random-init": _variant(
            {"global_context": "random"}, "w/ G, random", "learnt global query, random start"
        ),
        "global-mean-init": _variant(
            {}, "w/ G, mean", "global query from the segment mean (the same run as co-av)"
        ),
        # HPCL Tables 1-2: visual backbones (each reads its own feature shards)
        "co-av-r3d34": _variant(
            {},
            "Ours (3D CNN)",
            "3D-ResNet-34 + PANN Cnn14 features",
            features={"visual": "r3d34", "audio": "cnn14"},
        ),
        "co-av-i3d": _variant(
            {},
            "Ours* (I3D)",
            "I3D + PANN Cnn14 features",
            features={"visual": "i3d", "audio": "cnn14"},
        ),
    },
    paper_tables=(
        PaperTable("HPCL Tables 1-2", "visual backbone", ("co-av-r3d34", "co-av-i3d")),
        PaperTable(
            "HPCL Table 3",
            "architecture variants",
            ("v-only", "a-only", "av-concat", "cr-av", "co-av"),
        ),
        PaperTable("HPCL Table 4", "learning scheme", ("loss-ce", "loss-ce-hpcl", "co-av")),
        PaperTable(
            "HPCL Table 5", "global representation", ("no-global", "global-random-init", "co-av")
        ),
    ),
    runtime_minutes=60,
    mem_mb=8000,
)


def _pld_inputs(run: dict) -> frozenset[str]:
    spatial = {"saliency"} if run["settings"]["spatial"] else set()
    return frozenset({"frames", "labels"} | spatial)


def _pld_frames(run: dict) -> dict:
    settings = run["settings"]
    height, width = settings["size"][settings["backbone"]]
    return {"fps": settings["fps"], "height": height, "width": width}


def _pld_pretrained(run: dict) -> str | None:
    settings = run["settings"]
    return str(settings["backbone"]) if settings["pretrained"] else None


def _beta_variant(beta: float) -> Variant:
    return _variant(
        {"beta": beta, "beta_scale": "raw", "beta_by_category": None},
        f"beta = {beta:g}",
        f"TASED full, one beta = {beta:g} for every category (supplement Table S3)",
    )


PLD = MethodSpec(
    name="pld",
    title="Pixel-level distinctions from a 3D-CNN encoder-decoder (PLD-VHD)",
    module="highlight_pipeline.methods.pld",
    consumes=frozenset({"frames", "saliency", "labels"}),
    inputs_of=_pld_inputs,
    frames_of=_pld_frames,
    pretrained_of=_pld_pretrained,
    scores_training_videos=False,
    explains=True,
    supervised=True,
    uses_gpu=True,
    default_variant="tased-full",
    variants={
        "tased-full": _variant({}, "TASED full", "TASED-Net encoder-decoder, saliency targets"),
        "tased-no-spatial": _variant(
            {"spatial": False}, "TASED w/o spatial", "every highlight pixel is 1 (Eq. 1)"
        ),
        "tased-no-temporal": _variant(
            {"temporal": False}, "TASED w/o temporal", "the target frame repeated L times"
        ),
        "c3d-full": _variant(
            {"backbone": "c3d"}, "C3D full", "C3D encoder + 4 transposed convolutions"
        ),
        "c3d-no-spatial": _variant(
            {"backbone": "c3d", "spatial": False}, "C3D w/o spatial", "C3D, Eq. 1 targets"
        ),
        "c3d-no-temporal": _variant(
            {"backbone": "c3d", "temporal": False}, "C3D w/o temporal", "C3D, one frame"
        ),
        "tased-full-beta0": _beta_variant(0.0),
        "tased-full-beta0.0005": _beta_variant(0.0005),
        "tased-full-beta0.001": _beta_variant(0.001),
    },
    paper_tables=(
        PaperTable(
            "PLD-VHD Table 4",
            "temporal and spatial cues, C3D and TASED",
            (
                "c3d-no-temporal",
                "c3d-no-spatial",
                "c3d-full",
                "tased-no-temporal",
                "tased-no-spatial",
                "tased-full",
            ),
        ),
        PaperTable(
            "PLD-VHD Table 5",
            "temporal and spatial cues (TASED)",
            ("tased-no-temporal", "tased-no-spatial", "tased-full"),
        ),
        PaperTable(
            "PLD-VHD Table S3",
            "saliency threshold",
            ("tased-full-beta0", "tased-full-beta0.0005", "tased-full-beta0.001"),
        ),
    ),
    runtime_minutes=360,
    mem_mb=16000,
)

RANDOM = MethodSpec(
    name="random",
    title="Random ranking (seeded uniform clip scores)",
    module="highlight_pipeline.methods.random_baseline",
    consumes=frozenset(),
    default_variant="uniform",
    variants={"uniform": Variant({}, "random", "seeded uniform scores per clip")},
    chance_baseline=True,
    runtime_minutes=5,
    mem_mb=2000,
)

BUILTIN: tuple[MethodSpec, ...] = (AVPH, CHD, HPCL, PLD, RANDOM)


# ----------------------------------------------------------------------------- lookup


@cache
def _registered() -> dict[str, MethodSpec]:
    methods = {spec.name: spec for spec in BUILTIN}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        spec = entry.load()
        if not isinstance(spec, MethodSpec):
            raise ConfigError(
                f"entry point {entry.value} ({ENTRY_POINT_GROUP}) is not a MethodSpec"
            )
        if spec.name in methods and methods[spec.name] is not spec:
            raise ConfigError(f"method {spec.name!r} is registered twice ({entry.value})")
        methods[spec.name] = spec
    return methods


def chance_baselines() -> list[str]:
    """Methods that rank at chance: the tables say which runs do no better."""
    return sorted(name for name, spec in _registered().items() if spec.chance_baseline)


def method_names() -> list[str]:
    return sorted(_registered())


def get_method(name: str) -> MethodSpec:
    methods = _registered()
    if name not in methods:
        raise ConfigError(f"unknown method {name!r}; known: {', '.join(sorted(methods))}")
    return methods[name]


def variant_names() -> list[str]:
    """Every variant name any registered method declares (wildcard constraints)."""
    return sorted({v for spec in _registered().values() for v in spec.variants})


def describe_methods(only: str | None = None) -> list[str]:
    """``hlp methods``: a line per registered method (title, supervision, GPU, what it
    reads); below each (only ``only``'s, when given) its variants with their overlays, the
    paper tables it lays out and its analyses."""
    lines = []
    for name in method_names():
        spec = get_method(name)
        gpu = ", GPU" if spec.uses_gpu else ""
        kind = "supervised" if spec.supervised else "unsupervised"
        reads = ", ".join(sorted(spec.consumes)) or "nothing"
        lines.append(f"{name}: {spec.title} ({kind}{gpu}; reads {reads})")
        if only and only != name:
            continue
        for variant, v in spec.variants.items():
            default = " (default)" if variant == spec.default_variant else ""
            overlay = json.dumps(dict(v.overlay)) if v.overlay else "{}"
            lines.append(f"  {variant}{default}: {v.description or v.label}  overlay {overlay}")
        for table in spec.paper_tables:
            lines.append(f"  {table.source} ({table.title}): {', '.join(table.rows)}")
        for analysis in spec.analyses:
            applies = ", ".join(analysis.variants) or "every variant"
            lines.append(f"  analysis {analysis.name} ({applies}): {analysis.title}")
    return lines
