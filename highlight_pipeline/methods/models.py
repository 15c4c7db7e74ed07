"""Trained models of any method on disk: one ``torch.save`` file per (run, seed).

The file holds the method and variant names, the fully resolved run settings, the seed,
the training losses (when the method has them), the *recipe* (how the training videos
were featurised: the extractors' config slices and the clip length, so ``hlp predict``
featurises a new video the same way) and the method's own state. It is read with
``torch.load(weights_only=True)``; the method's registry entry turns the state back into
a model.
"""

from __future__ import annotations

from pathlib import Path

import torch

from highlight_pipeline.atomic import atomic_output
from highlight_pipeline.errors import PipelineError
from highlight_pipeline.methods.registry import get_method

FORMAT = 2


def save_model(path: str | Path, run: dict, seed: int, model, recipe: dict) -> None:
    checkpoint = {
        "format": FORMAT,
        "method": run["method"],
        "variant": run["variant"],
        "run": run,
        "seed": int(seed),
        "recipe": recipe,
        "losses": list(getattr(model, "losses", []) or []),
        "model": model.state(),
    }
    with atomic_output(path) as tmp:  # a killed job never leaves a file that looks complete
        torch.save(checkpoint, tmp)


def load_model(path: str | Path):
    """``(model, checkpoint)``; a checkpoint of the first format (avph only) is upgraded."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"model file not found: {path}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if "method" not in checkpoint and "state_dict" in checkpoint:  # format 1: avph's state
        checkpoint = {"method": "avph", "variant": "av-ph", "model": checkpoint, **checkpoint}
    if "method" not in checkpoint:
        raise PipelineError(f"{path}: not a model file written by `hlp train`")
    model = get_method(checkpoint["method"]).implementation().load(checkpoint["model"])
    return model, checkpoint
