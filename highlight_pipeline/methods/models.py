"""Trained models of any method on disk: one ``torch.save`` file per (run, seed).

The file holds the method and variant names, the fully resolved run settings, the seed,
the training losses (when the method has them), the *recipe* (how the training videos
were featurised: the extractors' config slices and the clip length, so ``hlp predict``
featurises a new video the same way) and the method's own state: tensors, numbers and
strings only. It is read with ``torch.load(weights_only=True)`` and checked
(``methods/state_files.py``): a file that holds anything else, a key its writer does not
write, or a tensor of another shape or dtype than the network's is refused with one line
naming it, and nothing in it is run. The method's registry entry turns the state back into
a model.
"""

from __future__ import annotations

from pathlib import Path

import torch

from highlight_pipeline.atomic import atomic_output
from highlight_pipeline.errors import ModelFileError, PipelineError
from highlight_pipeline.methods.registry import get_method
from highlight_pipeline.methods.state_files import expect_keys, one_line, read_torch_file

FORMAT = 2
CHECKPOINT_KEYS = ("format", "method", "variant", "run", "seed", "recipe", "losses", "model")


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
    """``(model, checkpoint)``; a checkpoint of the first format (avph only) is upgraded.
    Anything but a model file this package writes is a :class:`ModelFileError`."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"model file not found: {path}")
    checkpoint = read_torch_file(path)
    if not isinstance(checkpoint, dict):
        raise ModelFileError(f"{path}: refused: not a model file written by `hlp train`")
    if "method" not in checkpoint and "state_dict" in checkpoint:  # format 1: avph's state
        checkpoint = {"method": "avph", "variant": "av-ph", "model": checkpoint, **checkpoint}
    elif "method" not in checkpoint:
        raise ModelFileError(f"{path}: refused: not a model file written by `hlp train`")
    else:
        try:
            expect_keys(checkpoint, "checkpoint", required=CHECKPOINT_KEYS)
        except ModelFileError as error:
            raise ModelFileError(f"{path}: refused: {error}") from None
        if checkpoint["format"] != FORMAT:
            raise ModelFileError(
                f"{path}: refused: model file format {checkpoint['format']!r}; this version "
                f"reads {FORMAT} (retrain with `hlp train`)"
            )
    method = checkpoint["method"]
    if not isinstance(method, str):
        raise ModelFileError(f"{path}: refused: the method name is not a string")
    implementation = get_method(method).implementation()
    try:
        model = implementation.load(checkpoint["model"])
    except PipelineError as error:
        raise ModelFileError(f"{path}: refused: {error}") from None
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as error:
        raise ModelFileError(
            f"{path}: refused: not a {method} model this version writes ({one_line(error)})"
        ) from None
    return model, checkpoint
