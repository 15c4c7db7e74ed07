"""Pretrained backbones, loadable from their published checkpoint files unchanged.

::

    from highlight_pipeline.features.backbones import build, load_checkpoint
    model = build("r3d34")          # "r3d34", "c3d", "i3d", "tased", "cnn14",
                                    # "slowfast_r50", "clip_vit_b32"; random init
    load_checkpoint(model, "weights/resnet-34-kinetics.pth")   # strict: every key used
    model.eval()
    y = model.extract(x)

Architectures, published files and input conventions are described in ``registry.py`` and
``docs/backbones.md``; input helpers are in ``preprocess.py``.  Every file is read as data:
``torch.load(weights_only=True)``, and for CLIP's TorchScript archive
``clip_vit.read_torchscript_state`` (its tensors, without running the archive's code).
The registry's names import without torch; ``build``, ``load_checkpoint`` and
``read_state_dict`` (``loading.py``) import it on first use, so the Snakefile can check
weights files without loading torch.
"""

from __future__ import annotations

from typing import Any

from .registry import (
    BACKBONES,
    DEFAULT_WEIGHTS_DIR,
    NAMES,
    BackboneSpec,
    checkpoint_path,
    format_weights_table,
    get_spec,
    weights_status,
)

__all__ = [
    "BACKBONES",
    "DEFAULT_WEIGHTS_DIR",
    "NAMES",
    "BackboneSpec",
    "build",
    "checkpoint_path",
    "format_weights_table",
    "get_spec",
    "load_checkpoint",
    "read_state_dict",
    "weights_status",
]

_LAZY = {"build", "load_checkpoint", "read_state_dict"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import loading

        return getattr(loading, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
