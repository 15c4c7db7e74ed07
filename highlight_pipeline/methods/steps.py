"""The pipeline's steps with a method's model: ``hlp train`` (fit a run, write its model
file), ``hlp score`` (every clip of a dataset, into a predictions file) and ``hlp analyse``
(a method's analysis of a trained model); ``hlp explain`` (``explain.py``) loads its model
here too.

A step reads the dataset files it is given (:class:`~.inputs.InputFiles`) that its run
needs: the method's inputs for training, the trained model's recipe (the feature
modalities it was trained on) afterwards. A run that runs a network leases a device
(``--device``: a free GPU slot, or the CPU with one log line where there is none); one
without a network runs on the CPU without asking (``gpu_slots.py``).
"""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from highlight_pipeline.atomic import write_text_atomic
from highlight_pipeline.errors import PipelineError
from highlight_pipeline.gpu_slots import lease_for_process
from highlight_pipeline.methods.inputs import InputFiles, MethodInputs
from highlight_pipeline.methods.models import load_model, place_model, runs_network, save_model
from highlight_pipeline.methods.recipe import feature_recipe
from highlight_pipeline.methods.registry import FEATURE_INPUTS, get_method
from highlight_pipeline.methods.resume import EpochCheckpoint, input_key
from highlight_pipeline.predictions import write_predictions

log = logging.getLogger("hlp")  # the commands' console lines, under the name `hlp` gives them


def lease(device: str, cuda: dict | None, uses_gpu: bool):
    """This job's device lease: ``device`` (auto, cpu or cuda) for a run that runs a
    network, else the CPU without asking."""
    return lease_for_process(device if uses_gpu else "cpu", cuda)


def train_model(
    method: str,
    variant: str,
    run_slice: dict,
    files: InputFiles,
    out: str | Path,
    seed: int = 0,
    threads: int = 1,
    device: str = "auto",
    cuda: dict | None = None,
    weights_dir: str = "weights",
    weights: str = "published",
    progress: bool = True,
    scores_out: str | Path | None = None,
    devices_out: str | Path | None = None,
) -> None:
    """Fit one run (``run_slice``: the resolved run) of ``method`` on the training split and
    write its model file ``out``. A method whose ``fit`` takes a ``checkpoint`` resumes
    from ``{out}.resume`` after a kill (``methods/resume.py``). ``weights_dir`` and
    ``weights`` (published or random): where methods that start from a published checkpoint
    look, and whether they may.

    ``scores_out`` (and ``devices_out``): then score the dataset with the model file just
    written, in this process, exactly as :func:`score_dataset` (``hlp score``) does; the
    pipeline's ``train`` rule does this, which saves each run a process that spends most of
    its time importing torch (``docs/performance.md``). The resume file is kept until the
    scores are written, so a job that fails while scoring resumes at its last epoch."""
    torch.set_num_threads(threads)
    spec = get_method(method)
    run = {**run_slice, "method": method, "variant": variant}
    kinds = spec.inputs(run)
    files.require(kinds, "train", method)
    inputs = files.load(kinds)
    run.update(weights_dir=weights_dir, weights=weights)
    held = lease(device, cuda, spec.gpu(run))
    fit = spec.implementation().fit
    extra = {}
    if "checkpoint" in inspect.signature(fit).parameters:  # resumable after a kill
        paths = [f for found in inputs.files.values() for f in found] + files.paths()
        extra["checkpoint"] = EpochCheckpoint(f"{out}.resume", input_key(run, seed, paths))
    model = fit(inputs, run, seed, held.device, progress, **extra)
    recipe = feature_recipe(files.clips, inputs.files)
    save_model(out, run, seed, model, recipe, held.record())
    if scores_out is not None:
        score_dataset(out, files, scores_out, devices_out, device, cuda, progress)
    if "checkpoint" in extra:
        extra["checkpoint"].remove()


def model_and_inputs(
    model_path: str | Path, files: InputFiles, step: str, extra: frozenset[str] = frozenset()
) -> tuple[object, dict, MethodInputs]:
    """A trained model, its checkpoint, and the dataset's inputs in the model's recipe (the
    feature modalities it was trained on) plus ``extra`` kinds."""
    model, checkpoint = load_model(model_path)
    recipe = checkpoint.get("recipe", {})
    kinds = frozenset(m for m in recipe.get("features", {}))
    if "frames" in recipe:
        kinds |= {"frames"}
    files.require(kinds & {*FEATURE_INPUTS, "frames"}, step)
    return model, checkpoint, files.load(kinds | extra)


def placed(model, checkpoint: dict, device: str, cuda: dict | None):
    """The model on the device this job leases for it (``device``; the CPU for a run
    without a network), and the lease."""
    held = lease(device, cuda, runs_network(checkpoint))
    return place_model(model, held.device), held


def score_dataset(
    model_path: str | Path,
    files: InputFiles,
    out: str | Path,
    devices_out: str | Path | None = None,
    device: str = "auto",
    cuda: dict | None = None,
    progress: bool = True,
):
    """Every clip of every video of the dataset scored by the model of ``model_path``, into
    the predictions file ``out`` (``predictions.py``; a method that leaves the training
    videos unscored gives them null). ``devices_out``: a JSON of the devices that trained
    and scored the model, for the metrics. Returns the videos scored and the lease."""
    model, checkpoint, inputs = model_and_inputs(model_path, files, "score")
    model, held = placed(model, checkpoint, device, cuda)
    videos = inputs.videos
    skip = not get_method(checkpoint["method"]).scores_training_videos
    if skip:
        log.info("%s leaves the training videos unscored (null)", checkpoint["method"])
    scores = [
        np.full(v.n_clips, np.nan) if skip and v.split == "train" else model.score(v)
        for v in tqdm(videos, desc="score", unit="video", disable=not progress)
    ]
    write_predictions(out, [v.video_id for v in videos], scores, [v.total_clips for v in videos])
    if devices_out:  # what trained and scored the run, for the metrics
        record = {"train": checkpoint.get("device"), "score": held.record()}
        write_text_atomic(devices_out, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return videos, held


def analyse_model(
    model_path: str | Path,
    files: InputFiles,
    name: str,
    out: str | Path,
    eval_split: str = "test",
    paper_dataset: str = "",
) -> dict:
    """The method's analysis ``name`` (its registry entry's) of a trained model on the
    labelled videos of ``eval_split``, written to the JSON ``out``; returns the record (its
    ``title`` and ``markdown``: the table section)."""
    model, checkpoint, inputs = model_and_inputs(
        model_path, files, "analyse", frozenset({"labels"})
    )
    spec = get_method(checkpoint["method"])
    found = {a.name: a for a in spec.analyses}
    if name not in found:
        raise PipelineError(
            f"{spec.name} has no analysis {name!r}; it has: {', '.join(found) or 'none'}"
        )
    videos = inputs.subset(eval_split).videos
    result = found[name].callable()(
        model, videos, checkpoint["run"], checkpoint["seed"], paper_dataset
    )
    record = {
        "method": spec.name,
        "variant": checkpoint["variant"],
        "seed": checkpoint["seed"],
        "analysis": name,
        "title": found[name].title,
        "eval_split": eval_split,
        **result,
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record
