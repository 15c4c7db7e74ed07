"""Building the backbone networks and loading their published checkpoint files (torch).

Imported lazily by :mod:`highlight_pipeline.features.backbones`, so that code which only
needs the registry (file names, sources, the weights check of the Snakefile) never imports
torch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from highlight_pipeline.errors import WeightsError

from .registry import BACKBONES, BackboneSpec, get_spec

_MAX_LISTED = 8


def _builders() -> dict[str, Callable[[], nn.Module]]:
    from . import c3d, cnn14, i3d, r3d, tased

    return {
        "r3d34": r3d.ResNet3D34,
        "c3d": c3d.C3D,
        "i3d": i3d.InceptionI3d,
        "tased": tased.TASEDv2,
        "cnn14": cnn14.build_cnn14,
    }


def build(name: str) -> nn.Module:
    """Architecture of backbone ``name`` with random weights (no file is read, no network).

    The module's parameter/buffer names equal the keys of the published checkpoint (after the
    wrapping described in the registry), and ``model.extract(x)`` returns its features.
    """
    get_spec(name)
    model = _builders()[name]()
    return model


def _spec_of(model: nn.Module) -> BackboneSpec:
    name = getattr(model, "backbone_name", None)
    if not isinstance(name, str) or name not in BACKBONES:
        raise WeightsError(
            f"{type(model).__name__} is not a backbone built by "
            "highlight_pipeline.features.backbones.build()"
        )
    return BACKBONES[name]


def _shorten(keys: list[str]) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:_MAX_LISTED])
    if len(keys) > _MAX_LISTED:
        shown += f", ... (+{len(keys) - _MAX_LISTED} more)"
    return shown


def _is_state_dict(obj: object) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _unwrap(obj: Any, spec: BackboneSpec, path: Path) -> Mapping[str, torch.Tensor]:
    """Find the state_dict inside a loaded checkpoint object."""
    candidates = [spec.container] if spec.container else []
    candidates += [key for key in ("state_dict", "model") if key not in candidates]
    if isinstance(obj, Mapping) and not _is_state_dict(obj):
        for key in candidates:
            if key in obj and _is_state_dict(obj[key]):
                return obj[key]
    if _is_state_dict(obj):
        return obj
    kind = type(obj).__name__
    keys = _shorten([str(k) for k in obj]) if isinstance(obj, Mapping) else "-"
    raise WeightsError(
        f"{path}: no state_dict found for backbone '{spec.name}' ({kind} with keys: {keys}); "
        f"expected the published file {spec.where()}"
    )


def _strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> OrderedDict[str, torch.Tensor]:
    """Remove the layout's key prefix (DataParallel's ``module.``).

    With a published prefix it is removed from every key that carries it (so a stray key
    without it is reported by its own name); otherwise ``module.`` is removed only when every
    key carries it (a re-saved DataParallel model).  The ``_metadata`` attached by
    ``state_dict()`` is kept and renamed too, so that version-aware loading (BatchNorm's
    ``num_batches_tracked``) behaves exactly as with ``load_state_dict``.
    """
    if prefix:
        strip = any(key.startswith(prefix) for key in state)
    else:
        prefix = "module."
        strip = all(key.startswith(prefix) for key in state)

    def rename(key: str) -> str:
        return key[len(prefix) :] if strip and key.startswith(prefix) else key

    out: OrderedDict[str, torch.Tensor] = OrderedDict(
        (rename(key), value) for key, value in state.items()
    )
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:
        renamed: OrderedDict[str, Any] = OrderedDict()
        for key, value in metadata.items():
            if strip:
                if key == prefix.rstrip("."):
                    key = ""
                elif key.startswith(prefix):
                    key = key[len(prefix) :]
                elif key == "":
                    continue  # the wrapper's own entry; the wrapped model's replaces it
            renamed[key] = value
        out._metadata = renamed  # type: ignore[attr-defined]
    return out


def _optional_missing(key: str, metadata: Mapping[str, Any] | None) -> bool:
    """BatchNorm counters absent from pre-1.0 files are filled in by ``load_state_dict``."""
    suffix = ".num_batches_tracked"
    if not key.endswith(suffix) and key != "num_batches_tracked":
        return False
    module = key[: -len(suffix)] if key.endswith(suffix) else ""
    version = (metadata or {}).get(module, {}).get("version")
    return version is None or version < 2


def read_state_dict(path: str | Path, name: str) -> OrderedDict[str, torch.Tensor]:
    """Read backbone ``name``'s published file and return its state_dict with model key names."""
    spec = get_spec(name)
    path = Path(path)
    if path.is_dir():
        path = path / spec.filename
    if not path.is_file():
        raise WeightsError(
            f"checkpoint for backbone '{spec.name}' not found: {path} "
            f"(expected the file {spec.where()}; see docs/backbones.md)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a weights problem
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WeightsError(
            f"cannot read checkpoint {path} for backbone '{spec.name}': "
            f"{type(exc).__name__}: {detail[:200]} (expected the file {spec.where()})"
        ) from exc
    return _strip_prefix(_unwrap(obj, spec, path), spec.key_prefix)


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a published checkpoint file into a model from :func:`build` (strict) and return it.

    ``path`` is the file (or a directory holding it under its published name).  The file is
    read with ``torch.load(..., map_location="cpu", weights_only=True)``; the ``state_dict`` or
    ``model`` entry is unwrapped and a ``module.`` prefix stripped as the published layout
    needs.  Every key of the file must be used and every parameter/buffer of the model set;
    otherwise :class:`~highlight_pipeline.errors.WeightsError` lists the missing and unexpected
    keys (the model is left untouched).  A missing file raises ``WeightsError`` naming the path
    and where the file is published.
    """
    spec = _spec_of(model)
    state = read_state_dict(path, spec.name)
    expected = model.state_dict()
    metadata = getattr(state, "_metadata", None)
    missing = [k for k in expected if k not in state and not _optional_missing(k, metadata)]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        parts = [f"missing keys: {_shorten(missing)}", f"unexpected keys: {_shorten(unexpected)}"]
        if mismatched:
            parts.append(f"shape mismatches: {_shorten(mismatched)}")
        raise WeightsError(
            f"{path}: does not match backbone '{spec.name}' "
            f"(expected the published file {spec.where()}); " + "; ".join(parts)
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise WeightsError(
            f"{path}: cannot load into backbone '{spec.name}': {detail[:500]}"
        ) from exc
    return model
