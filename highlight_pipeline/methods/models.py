"""Trained models of any method on disk: one ``torch.save`` file per (run, seed).

The file holds the method and variant names, the fully resolved run settings, the seed,
the training losses (when the method has them), the *recipe* (how the training videos
were featurised: the extractors' config slices and the clip length, so ``hlp predict``
featurises a new video the same way) and the method's own state: tensors, numbers and
strings only. It is read with ``torch.load(weights_only=True)`` and checked
(``methods/state_files.py``): a file that holds anything else, a key its writer does not
write, or a tensor of another shape or dtype than the network's is refused with one line
naming it, and nothing in it is run. The method's registry entry turns the state back into
a model. Since format 2 a file may also say which device trained it (``device``: the job's
lease record, ``gpu_slots.DeviceLease.record``); the metrics record it.

A model is always read to the CPU; :func:`place_model` moves a network method's model to
the device its scoring job leased.
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
OPTIONAL_KEYS = ("device",)  # the device that trained it (older files do not say)


def save_model(
    path: str | Path, run: dict, seed: int, model, recipe: dict, device: dict | None = None
) -> None:
    """``device``: the training job's device record (``DeviceLease.record()``), if known."""
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
    if device is not None:
        checkpoint["device"] = device
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
            expect_keys(checkpoint, "checkpoint", required=CHECKPOINT_KEYS, optional=OPTIONAL_KEYS)
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


def runs_network(checkpoint: dict) -> bool:
    """Whether the model of ``checkpoint`` runs a network, so that scoring it leases a GPU
    (its method's :meth:`MethodSpec.gpu` for the run it records)."""
    spec = get_method(checkpoint["method"])
    run = checkpoint.get("run")
    if isinstance(run, dict) and isinstance(run.get("settings"), dict):
        return spec.gpu(run)
    return spec.uses_gpu


def place_model(model, device: str):
    """``model`` on ``device`` for scoring: a network method's model (one with ``to``) moves
    there; on the CPU, or for a model without ``to`` (the random baseline, a plugin's), it
    stays as it was read."""
    if str(device) == "cpu" or not hasattr(model, "to"):
        return model
    return model.to(device)
