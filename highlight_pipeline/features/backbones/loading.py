"""Building the backbone networks and loading their published checkpoint files (torch).

Imported lazily by :mod:`highlight_pipeline.features.backbones`, so that code which only
needs the registry (file names, sources, the weights check of the Snakefile) never imports
torch.
"""

from __future__ import annotations

import re
import zipfile
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
    from . import c3d, clip_vit, cnn14, i3d, r3d, slowfast, tased

    return {
        "r3d34": r3d.ResNet3D34,
        "c3d": c3d.C3D,
        "i3d": i3d.InceptionI3d,
        "tased": tased.TASEDv2,
        "cnn14": cnn14.build_cnn14,
        "slowfast_r50": slowfast.SlowFastR50,
        "clip_vit_b32": clip_vit.CLIPImageEncoder,
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


def _drop_unused(
    state: Mapping[str, torch.Tensor], spec: BackboneSpec
) -> Mapping[str, torch.Tensor]:
    """Leave aside the keys of the parts of the published network the backbone does not use
    (``spec.unused_keys``, e.g. CLIP's text encoder), where the file holds the whole network
    (some keys under ``spec.key_prefix``); a file of the backbone alone is kept as it is."""
    prefix = spec.key_prefix
    if not spec.unused_keys or not prefix or not any(key.startswith(prefix) for key in state):
        return state
    unused = re.compile("|".join(f"(?:{pattern})" for pattern in spec.unused_keys))

    def kept(key: str) -> bool:
        return key.startswith(prefix) or not unused.fullmatch(key)

    out: OrderedDict[str, torch.Tensor] = OrderedDict(
        (key, value) for key, value in state.items() if kept(key)
    )
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:  # only the backbone's modules: their names would collide
        root = prefix.rstrip(".")
        out._metadata = OrderedDict(  # type: ignore[attr-defined]
            (key, value)
            for key, value in metadata.items()
            if key in ("", root) or key.startswith(prefix)
        )
    return out


def _is_torchscript_archive(path: Path) -> bool:
    """A zip whose root folder holds ``constants.pkl``: what ``torch.jit.save`` writes (the
    test ``torch.load`` itself uses to refuse such files under ``weights_only``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/", 1)[-1] == "constants.pkl" for name in archive.namelist())


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
        if _is_torchscript_archive(path):  # CLIP: tensors read as data, no code is run
            from .clip_vit import read_torchscript_state

            obj = read_torchscript_state(path)
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a weights problem
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WeightsError(
            f"cannot read checkpoint {path} for backbone '{spec.name}': "
            f"{type(exc).__name__}: {detail[:200]} (expected the file {spec.where()})"
        ) from exc
    return _strip_prefix(_drop_unused(_unwrap(obj, spec, path), spec), spec.key_prefix)


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a published checkpoint file into a model from :func:`build` (strict) and return it.

    ``path`` is the file (or a directory holding it under its published name).  The file is
    read with ``torch.load(..., map_location="cpu", weights_only=True)`` (a TorchScript archive,
    CLIP's, with :func:`.clip_vit.read_torchscript_state`: its tensors as data); the
    ``state_dict``, ``model`` or ``model_state`` entry is unwrapped, the keys of unused parts
    of the network (``unused_keys``) left aside and a ``module.`` (``visual.``) prefix
    stripped as the published layout needs.  Every key of the file must be used and every
    parameter/buffer of the model set; otherwise
    :class:`~highlight_pipeline.errors.WeightsError` lists the missing and unexpected keys
    (the model is left untouched).  A missing file raises ``WeightsError`` naming the path
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
