"""Runs: (dataset, method, variant) resolved into the settings a training job depends on.

A run's settings are the config's, with the variant's overlay merged over four parts:

* ``settings``: ``methods.METHOD`` (schema defaults), then ``datasets.D.methods.METHOD``,
  then the variant's ``method`` part;
* ``features``: the backbones (``features.visual``, ``audio``, ``saliency``), then the
  variant's ``features`` part;
* ``pseudo``: ``pseudo``, then the variant's ``pseudo`` part;
* ``training``: ``training``, then the variant's ``training`` part.

Variants come from the method's registry entry, and from ``variants.METHOD.NAME`` in the
config (which may also redefine a registered one). ``evaluation.runs`` lists the
method/variant pairs of the tables.

Pseudo-labels are keyed by what they depend on (:func:`pseudo_slice`, :func:`pseudo_id`):
two runs with the same pseudo settings, backbones and training videos read one file.
"""

from __future__ import annotations

from typing import Any

from highlight_pipeline.errors import ConfigError
from highlight_pipeline.hashing import deep_merge, slice_hash
from highlight_pipeline.methods.registry import FEATURE_INPUTS, get_method

OVERLAY_PARTS = ("method", "features", "pseudo", "training")


def variants_of(config: dict[str, Any], method: str) -> dict[str, dict[str, Any]]:
    """Variant name -> overlay: the registry's, then the config's ``variants.METHOD``."""
    spec = get_method(method)
    found = {name: dict(v.overlay) for name, v in spec.variants.items()}
    found.update(config.get("variants", {}).get(method, {}))
    return found


def overlay_of(config: dict[str, Any], method: str, variant: str) -> dict[str, Any]:
    found = variants_of(config, method)
    if variant not in found:
        raise ConfigError(
            f"method {method} has no variant {variant!r}; known: {', '.join(sorted(found))} "
            f"(add your own under config.variants.{method})"
        )
    overlay = found[variant] or {}
    unknown = set(overlay) - set(OVERLAY_PARTS)
    if unknown:
        raise ConfigError(
            f"variant {method}/{variant}: unknown part(s) {sorted(unknown)}; "
            f"allowed: {', '.join(OVERLAY_PARTS)}"
        )
    return overlay


def method_settings(config: dict[str, Any], dataset: str, method: str) -> dict[str, Any]:
    base = config["methods"].get(method, {})
    override = config["datasets"][dataset].get("methods", {}).get(method, {})
    return deep_merge(base, override)


def resolve_run(config: dict[str, Any], dataset: str, method: str, variant: str) -> dict[str, Any]:
    """Everything a run's training depends on, as one JSON-able dict.

    A rehearsal's method settings (``rehearsal.methods``) are merged last, over the
    dataset's overrides and the variant's overlay: it shrinks whatever the preset sets."""
    overlay = overlay_of(config, method, variant)
    backbones = {m: config["features"][m] for m in FEATURE_INPUTS}
    settings = deep_merge(method_settings(config, dataset, method), overlay.get("method", {}))
    rehearsal = config.get("rehearsal", {})
    if rehearsal.get("enabled"):
        settings = deep_merge(settings, rehearsal.get("methods", {}).get(method, {}))
    return {
        "method": method,
        "variant": variant,
        "settings": settings,
        "features": deep_merge(backbones, overlay.get("features", {})),
        "pseudo": deep_merge(config["pseudo"], overlay.get("pseudo", {})),
        "training": deep_merge(config["training"], overlay.get("training", {})),
    }


def run_list(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The (method, variant) pairs of ``evaluation.runs``, in config order.

    Config files merge dictionaries, so a method is left out with an empty list (or null):
    ``--configfile`` with ``runs: {avph: []}`` drops the default file's avph runs."""
    pairs: list[tuple[str, str]] = []
    for method, variants in config["evaluation"]["runs"].items():
        get_method(method)
        for variant in variants or []:
            pairs.append((method, variant))
    if not pairs:
        raise ConfigError("config.evaluation.runs lists no run (every method has no variants)")
    return pairs


def run_inputs(run: dict[str, Any]) -> frozenset[str]:
    """What the run's training consumes (visual, audio, saliency, frames, labels, pseudo)."""
    return get_method(run["method"]).inputs(run)


def run_slice(run: dict[str, Any]) -> dict[str, Any]:
    """What a run's jobs depend on: the pseudo settings only when it reads pseudo-labels,
    the backbones of the modalities it reads. Rules pass this (a change elsewhere does not
    rerun the run) and the metrics record it."""
    kinds = run_inputs(run)
    out = {k: run[k] for k in ("method", "variant", "settings", "training")}
    out["features"] = feature_backbones(run, kinds)
    if "pseudo" in kinds:
        out["pseudo"] = run["pseudo"]
    return out


def feature_backbones(run: dict[str, Any], kinds: frozenset[str] | set[str]) -> dict[str, str]:
    """Modality -> backbone for the feature modalities in ``kinds``."""
    return {m: run["features"][m] for m in FEATURE_INPUTS if m in kinds}


def uses_training_subset(run: dict[str, Any]) -> bool:
    return float(run["training"]["fraction"]) < 1.0


def pseudo_slice(run: dict[str, Any], seed: int) -> dict[str, Any]:
    """What a run's pseudo-labels depend on: pseudo settings, backbones, training videos.

    With ``training.fraction`` < 1 the training videos are a seeded subset drawn with the
    run's seed, so the pseudo-labels are per seed; with all videos they are shared by seeds.
    """
    modalities = list(run["pseudo"]["modalities"])
    slice_: dict[str, Any] = {
        **run["pseudo"],
        "backbones": {m: run["features"][m] for m in modalities},
    }
    if uses_training_subset(run):
        slice_["training_subset"] = {"fraction": run["training"]["fraction"], "seed": seed}
    return slice_


def pseudo_feature_set(slice_: dict[str, Any]) -> str:
    """``colormotion+logmel``: the backbones the pseudo-labels read, in modality order."""
    return "+".join(slice_["backbones"][m] for m in FEATURE_INPUTS if m in slice_["backbones"])


def pseudo_id(slice_: dict[str, Any]) -> str:
    """A readable, unique folder name: ``cosine-pseudo-<hash>`` (+ ``-25pct-s0`` for subsets)."""
    name = f"{slice_['similarity']}-{slice_['categories']}"
    subset = slice_.get("training_subset")
    if subset:
        name += f"-{round(100 * subset['fraction'])}pct-s{subset['seed']}"
    return f"{name}-{slice_hash(slice_)[:8]}"


def frames_slice(run: dict[str, Any]) -> dict[str, Any]:
    """The frame cache a run reads (fps, height, width), from its method's declaration."""
    spec = get_method(run["method"])
    if spec.frames_of is None:
        raise ConfigError(f"method {spec.name} reads no frames")
    found = spec.frames_of(run)
    return {
        "fps": float(found["fps"]),
        "height": int(found["height"]),
        "width": int(found["width"]),
    }


def frames_id(frames: dict[str, Any]) -> str:
    """``4fps-32x64``: the folder of a frame cache (fps, height x width; "." written "p")."""
    fps = f"{float(frames['fps']):g}".replace(".", "p")
    return f"{fps}fps-{int(frames['height'])}x{int(frames['width'])}"


def frames_id_of(run: dict[str, Any]) -> str:
    return frames_id(frames_slice(run))


def parse_frames_id(name: str) -> dict[str, Any]:
    """The inverse of :func:`frames_id`."""
    rate, size = name.split("fps-")
    height, width = size.split("x")
    return {"fps": float(rate.replace("p", ".")), "height": int(height), "width": int(width)}


def pretrained_backbone(run: dict[str, Any]) -> str | None:
    """The backbone whose published checkpoint the run's training starts from (pld with
    ``pretrained``), or None; the method's registry entry says."""
    spec = get_method(run["method"])
    return None if spec.pretrained_of is None else spec.pretrained_of(run)
