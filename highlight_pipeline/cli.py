"""`hlp`: the command line of the highlight pipeline. Snakemake rules call these subcommands
with explicit paths and their own config slice (JSON); users can call them by hand too."""

from __future__ import annotations

import argparse
import atexit
import inspect
import json
import logging
import os
import sys
import threading
from pathlib import Path

from highlight_pipeline import __version__, memory_guard
from highlight_pipeline.atomic import atomic_output, write_text_atomic
from highlight_pipeline.errors import PipelineError
from highlight_pipeline.methods.registry import FEATURE_INPUTS, method_names
from highlight_pipeline.numerics import pin_numerics

log = logging.getLogger("hlp")


def _json_of(kind: type, name: str):
    def parse(text: str):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc
        if not isinstance(value, kind):
            raise argparse.ArgumentTypeError(f"expected a JSON {name}")
        return value

    return parse


_json = _json_of(dict, "object")
_json_list = _json_of(list, "list")


def cmd_synth(args: argparse.Namespace) -> None:
    from highlight_pipeline.datasets.synthetic import SynthSpec, synthesize

    spec = SynthSpec.from_config(args.slice, args.clip_seconds)
    plans = synthesize(spec, args.out, jobs=args.jobs)
    log.info("wrote %d synthetic videos to %s", len(plans), args.out)


def cmd_manifest(args: argparse.Namespace) -> None:
    from highlight_pipeline.manifest import build_manifest, manifest_summary

    manifest, rejected, splits = build_manifest(args.reader, args.root, args.slice)
    for frame, path in ((manifest, args.out), (rejected, args.rejected), (splits, args.splits)):
        with atomic_output(path) as tmp:
            frame.to_csv(tmp, index=False)
    log.info("manifest: %d videos, %d rejected (%s)", len(manifest), len(rejected), args.rejected)
    print(manifest_summary(args.name or Path(args.out).parent.name, manifest, rejected))


def cmd_clips(args: argparse.Namespace) -> None:
    from highlight_pipeline.datasets.registry import get_reader
    from highlight_pipeline.manifest import read_manifest

    clips = get_reader(args.reader).make_clips(
        read_manifest(args.manifest), Path(args.root), args.slice
    )
    with atomic_output(args.out) as tmp:
        clips.to_csv(tmp, index=False)
    log.info("clips: %d clips of %d videos", len(clips), clips["video_id"].nunique())


def cmd_features(args: argparse.Namespace) -> None:
    from highlight_pipeline.features.extract import extract_shard
    from highlight_pipeline.manifest import read_manifest

    extract_shard(
        read_manifest(args.manifest),
        args.shard,
        args.shards,
        args.slice,
        args.out,
        runtime={**args.runtime, **args.execution} or None,
    )


def cmd_frames(args: argparse.Namespace) -> None:
    from highlight_pipeline.features.frames import write_frame_shard
    from highlight_pipeline.manifest import read_manifest

    write_frame_shard(read_manifest(args.manifest), args.shard, args.shards, args.slice, args.out)


def cmd_pseudo(args: argparse.Namespace) -> None:
    from highlight_pipeline.features.clip_features import load_clip_features, read_clips
    from highlight_pipeline.manifest import read_manifest
    from highlight_pipeline.methods.inputs import training_subset
    from highlight_pipeline.pseudo.category_model import write_category_model
    from highlight_pipeline.pseudo.highlights import (
        compute_pseudo_highlights,
        write_pseudo_highlights,
    )

    clips = read_clips(args.clips)
    features = {}
    if args.visual:
        features["visual"] = load_clip_features(args.visual, clips)
    if args.audio:
        features["audio"] = load_clip_features(args.audio, clips)
    missing = set(args.slice["modalities"]) - set(features)
    if missing:
        raise PipelineError(f"hlp pseudo: the settings use {sorted(missing)}: pass their shards")
    train = {v for v, s in _splits(args).items() if s == "train"}
    reference = features["visual"] if "visual" in features else features["audio"]
    videos = [v for v in reference.by_video if v in train and reference.by_video[v] is not None]
    subset = args.slice.get("training_subset")
    if subset:
        videos = training_subset(videos, subset["fraction"], subset["seed"])
        log.info("training subset: %d videos (%s of the training split)", len(videos), subset)
    manifest = read_manifest(args.manifest)
    real = dict(zip(manifest["video_id"], manifest["category"], strict=True))
    categories, pseudo, summary, model = compute_pseudo_highlights(
        videos, features, args.slice, real
    )
    with atomic_output(args.categories) as tmp:
        categories.to_csv(tmp, index=False)
    write_pseudo_highlights(
        args.highlights, pseudo, {"config_slice": args.slice, "clustering": summary}
    )
    write_category_model(args.category_model, model)
    log.info("pseudo-highlights for %d training videos, K=%d", len(pseudo), summary["k"])


def _splits(args: argparse.Namespace) -> dict[str, str]:
    """video_id -> split: the scheme from --splits, else the manifest's split column."""
    from highlight_pipeline.manifest import read_manifest, read_splits

    if args.splits:
        return read_splits(args.splits, args.split_scheme)
    manifest = read_manifest(args.manifest)
    return dict(zip(manifest["video_id"], manifest["split"], strict=True))


def _feature_shards(args: argparse.Namespace) -> dict[str, list[str]]:
    return {m: getattr(args, m) for m in FEATURE_INPUTS if getattr(args, m, None)}


def _lease(args: argparse.Namespace, uses_gpu: bool):
    """This job's device lease: ``--device`` (a free GPU slot, or the CPU with one log line
    where there is none) for a run that runs a network, else the CPU without asking."""
    from highlight_pipeline.gpu_slots import lease_for_process

    return lease_for_process(args.device if uses_gpu else "cpu", args.cuda)


def cmd_train(args: argparse.Namespace) -> None:
    import torch

    from highlight_pipeline.methods.inputs import load_method_inputs
    from highlight_pipeline.methods.models import save_model
    from highlight_pipeline.methods.recipe import feature_recipe
    from highlight_pipeline.methods.registry import get_method
    from highlight_pipeline.methods.resume import EpochCheckpoint, input_key

    torch.set_num_threads(args.threads)
    spec = get_method(args.method)
    run = {**args.run, "method": args.method, "variant": args.variant}
    kinds = spec.inputs(run)
    _require_inputs(args, kinds, "train")
    inputs = load_method_inputs(
        args.manifest,
        args.clips,
        _splits(args),
        {m: v for m, v in _feature_shards(args).items() if m in kinds},
        args.pseudo if "pseudo" in kinds else None,
        kinds,
        frames=args.frames if "frames" in kinds else None,
    )
    # where methods that start from a published checkpoint look (and whether they may)
    run.update(weights_dir=args.weights_dir, weights=args.weights)
    lease = _lease(args, spec.gpu(run))
    device = lease.device
    fit = spec.implementation().fit
    extra = {}
    if "checkpoint" in inspect.signature(fit).parameters:  # resumable after a kill
        files = [f for paths in inputs.files.values() for f in paths]
        files += [args.manifest, args.clips] + ([args.splits] if args.splits else [])
        key = input_key(run, args.seed, files)
        extra["checkpoint"] = EpochCheckpoint(f"{args.out}.resume", key)
    model = fit(inputs, run, args.seed, device, not args.quiet, **extra)
    recipe = feature_recipe(args.clips, inputs.files)
    save_model(args.out, run, args.seed, model, recipe, lease.record())
    if "checkpoint" in extra:
        extra["checkpoint"].remove()
    log.info("%s/%s seed %d: model written to %s", args.method, args.variant, args.seed, args.out)


def _require_inputs(args: argparse.Namespace, kinds: frozenset[str], step: str) -> None:
    files = {*FEATURE_INPUTS, "pseudo", "frames"}
    given = {k for k in files if getattr(args, k, None)}
    missing = sorted((kinds & files) - given)
    if missing:
        raise PipelineError(
            f"hlp {step}: {args.method if hasattr(args, 'method') else 'the model'} needs "
            + ", ".join(f"--{m}" for m in missing)
        )


def _model_and_inputs(args: argparse.Namespace, step: str, extra: frozenset[str] = frozenset()):
    """A trained model, its checkpoint, and the dataset's inputs in the model's recipe (the
    feature modalities it was trained on) plus ``extra`` kinds."""
    from highlight_pipeline.methods.inputs import load_method_inputs
    from highlight_pipeline.methods.models import load_model

    model, checkpoint = load_model(args.model)
    recipe = checkpoint.get("recipe", {})
    kinds = frozenset(m for m in recipe.get("features", {}))
    if "frames" in recipe:
        kinds |= {"frames"}
    _require_inputs(args, kinds & {*FEATURE_INPUTS, "frames"}, step)
    inputs = load_method_inputs(
        args.manifest,
        args.clips,
        _splits(args),
        {m: v for m, v in _feature_shards(args).items() if m in kinds},
        kinds=kinds | extra,
        frames=args.frames if "frames" in kinds else None,
    )
    return model, checkpoint, inputs


def _placed(args: argparse.Namespace, model, checkpoint: dict):
    """The model on the device this job leases for it (``--device``; the CPU for a run
    without a network), and the lease."""
    from highlight_pipeline.methods.models import place_model, runs_network

    lease = _lease(args, runs_network(checkpoint))
    return place_model(model, lease.device), lease


def cmd_score(args: argparse.Namespace) -> None:
    import numpy as np
    from tqdm import tqdm

    from highlight_pipeline.methods.inputs import write_predictions
    from highlight_pipeline.methods.registry import get_method

    model, checkpoint, inputs = _model_and_inputs(args, "score")
    model, lease = _placed(args, model, checkpoint)
    videos = inputs.videos
    skip = not get_method(checkpoint["method"]).scores_training_videos
    if skip:
        log.info("%s leaves the training videos unscored (null)", checkpoint["method"])
    scores = [
        np.full(v.n_clips, np.nan) if skip and v.split == "train" else model.score(v)
        for v in tqdm(videos, desc="score", unit="video", disable=args.quiet)
    ]
    write_predictions(
        args.out, [v.video_id for v in videos], scores, [v.total_clips for v in videos]
    )
    if args.devices:  # what trained and scored the run, for the metrics
        record = {"train": checkpoint.get("device"), "score": lease.record()}
        write_text_atomic(args.devices, json.dumps(record, indent=2, sort_keys=True) + "\n")
    log.info("scored %d videos with %s on %s", len(inputs.videos), args.model, lease.device)


def cmd_analyse(args: argparse.Namespace) -> None:
    from highlight_pipeline.methods.registry import get_method

    model, checkpoint, inputs = _model_and_inputs(args, "analyse", frozenset({"labels"}))
    spec = get_method(checkpoint["method"])
    found = {a.name: a for a in spec.analyses}
    if args.name not in found:
        raise PipelineError(
            f"{spec.name} has no analysis {args.name!r}; it has: {', '.join(found) or 'none'}"
        )
    videos = inputs.subset(args.eval_split).videos
    result = found[args.name].callable()(
        model, videos, checkpoint["run"], checkpoint["seed"], args.paper_dataset
    )
    record = {
        "method": spec.name,
        "variant": checkpoint["variant"],
        "seed": checkpoint["seed"],
        "analysis": args.name,
        "title": found[args.name].title,
        "eval_split": args.eval_split,
        **result,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(record, indent=2, sort_keys=True) + "\n")
    print("\n".join([f"## {record['title']}", "", *result["markdown"]]))


def cmd_explain(args: argparse.Namespace) -> None:
    from highlight_pipeline.explain import chosen_videos, explain_videos
    from highlight_pipeline.methods.registry import get_method

    model, checkpoint, inputs = _model_and_inputs(args, "explain", frozenset({"labels"}))
    if not get_method(checkpoint["method"]).explains:
        raise PipelineError(f"{checkpoint['method']} has no per-pixel maps to explain with")
    model, _ = _placed(args, model, checkpoint)
    choice = [v for v in args.videos.split(",") if v] if not args.videos.isdigit() else None
    videos = chosen_videos(
        inputs.subset(args.eval_split).videos, choice if choice else int(args.videos)
    )
    title = f"{checkpoint['method']}/{checkpoint['variant']} seed {checkpoint['seed']}"
    written = explain_videos(model, videos, args.out, args.panels, title)
    log.info("explain: %d strips in %s", len(written), args.out)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from highlight_pipeline.evaluate import evaluate_run, write_metrics
    from highlight_pipeline.methods.inputs import read_predictions

    run = {
        "split": args.split_scheme,
        "dataset": args.dataset,
        "method": args.method,
        "variant": args.variant,
        "seed": args.seed,
        "features": args.features,
    }
    metrics = evaluate_run(
        read_predictions(args.predictions),
        args.clips,
        args.manifest,
        args.protocol,
        _splits(args),
        args.eval_split,
        run,
        args.slice,
        args.pseudo,
        json.loads(Path(args.devices).read_text()) if args.devices else None,
        also=[p for p in args.also_protocols.split(",") if p],
    )
    write_metrics(args.out, metrics)
    log.info(
        "%s %s seed %d: %s average %.4f",
        args.method,
        args.variant,
        args.seed,
        metrics["metric"],
        metrics["average"],
    )


def cmd_table(args: argparse.Namespace) -> None:
    from highlight_pipeline.tables import write_tables

    write_tables(
        args.metrics,
        args.dataset,
        args.md,
        args.csv,
        args.tex,
        args.paper_dataset,
        analyses=args.analyses,
        rehearsal=args.rehearsal,
        differs=args.differs,
    )
    print(Path(args.md).read_text())


def cmd_scores_summary(args: argparse.Namespace) -> None:
    from highlight_pipeline.tables import render_scores_summary

    text = render_scores_summary(args.dataset, args.runs)
    write_text_atomic(args.out, text)
    print(text, end="")


def cmd_qv_submission(args: argparse.Namespace) -> None:
    from highlight_pipeline.qvhighlights_submission import validate_submission, write_submission

    if args.check:
        if args.scores or args.out:
            raise PipelineError("give either --check FILE, or --scores and --out; not both")
        n = validate_submission(args.check, args.annotations)
        print(f"{args.check}: a valid submission for the {n} queries of {args.annotations}")
        return
    if not (args.scores and args.out):
        raise PipelineError("give --scores and --out to write a submission (or --check FILE)")
    n = write_submission(args.scores, args.annotations, args.out)
    print(f"{args.out}: {n} queries of {args.annotations}, checked")


def cmd_plots(args: argparse.Namespace) -> None:
    from highlight_pipeline.plots import plot_map_bars, plot_video_curves

    plot_map_bars(args.table, args.bars)
    written = plot_video_curves(
        args.predictions,
        args.clips,
        args.manifest,
        args.curves,
        args.pseudo,
        args.split,
        splits=_splits(args) if args.splits else None,
    )
    log.info("plots: %s and %d score curves in %s", args.bars, len(written), args.curves)


def cmd_reel(args: argparse.Namespace) -> None:
    from highlight_pipeline.manifest import read_manifest
    from highlight_pipeline.methods.inputs import read_predictions
    from highlight_pipeline.reel import video_reel

    video = args.video
    if video is None:  # the first predicted video of the split (of the scheme, if given)
        manifest = read_manifest(args.manifest)
        predicted = read_predictions(args.predictions)
        split_of = _splits(args)
        in_split = manifest["video_id"].map(lambda v: split_of.get(v) == args.split)
        chosen = manifest[in_split & manifest["video_id"].isin(predicted)]
        if chosen.empty:
            raise PipelineError(f"no predicted video in split {args.split!r} for a reel")
        video = str(chosen["video_id"].iloc[0])
    out, segments = video_reel(
        args.predictions, args.clips, args.manifest, video, args.out, args.seconds
    )
    log.info("reel of %s: %s (%d segments)", video, out, len(segments))


def cmd_predict(args: argparse.Namespace) -> None:
    from highlight_pipeline.predict_video import predict_video

    runtime = {
        "weights_dir": args.weights_dir,
        "weights": args.weights,
        "device": args.device,
        "cuda": args.cuda,
    }
    result = predict_video(args.video, args.model, args.out, args.reel_seconds, runtime)
    used = ", ".join(
        f"{modality} {d['extractor']} ({d.get('weights', '?')})"
        for modality, d in sorted(result["features"].items())
    )
    print(
        f"{len(result['clips'])} clips scored with {used or 'no features'}; wrote "
        f"{args.out}/scores.json, scores.png" + (", reel.mp4" if result["reel"] else "")
    )
    if result["note"]:
        print(f"note: {result['note']}")


def cmd_check_config(args: argparse.Namespace) -> None:
    from highlight_pipeline.config import load_configs

    files = list(args.config) or ["config.yaml"]
    base = Path("config.yaml")
    if (
        not args.alone
        and base.is_file()
        and not any(Path(f).resolve() == base.resolve() for f in files)
    ):
        files.insert(0, str(base))  # the Snakefile's configfile, under --configfile files
    config = load_configs(files)
    print(f"{' + '.join(files)}: valid ({len(config['run_datasets'])} dataset(s) to run)")


def cmd_methods(args: argparse.Namespace) -> None:
    from highlight_pipeline.methods.registry import get_method

    for name in method_names():
        spec = get_method(name)
        gpu = ", GPU" if spec.uses_gpu else ""
        kind = "supervised" if spec.supervised else "unsupervised"
        reads = ", ".join(sorted(spec.consumes)) or "nothing"
        print(f"{name}: {spec.title} ({kind}{gpu}; reads {reads})")
        if args.method and args.method != name:
            continue
        for variant, v in spec.variants.items():
            default = " (default)" if variant == spec.default_variant else ""
            overlay = json.dumps(dict(v.overlay)) if v.overlay else "{}"
            print(f"  {variant}{default}: {v.description or v.label}  overlay {overlay}")
        for table in spec.paper_tables:
            print(f"  {table.source} ({table.title}): {', '.join(table.rows)}")
        for analysis in spec.analyses:
            applies = ", ".join(analysis.variants) or "every variant"
            print(f"  analysis {analysis.name} ({applies}): {analysis.title}")


def cmd_weights(args: argparse.Namespace) -> None:
    from highlight_pipeline.features.backbones.registry import format_weights_table, weights_status

    print(format_weights_table(weights_status(args.weights_dir)))


# datasets.miniatures.MINIATURES, named here so that `hlp` starts without importing it
MINIATURE_NAMES = ["youtube", "tvsum", "qvhighlights", "cosum", "vtw"]


def cmd_paper_settings(args: argparse.Namespace) -> None:
    from highlight_pipeline.paper_settings import write_paper_settings

    print(f"wrote {write_paper_settings(args.out)}")


def cmd_rehearsal_data(args: argparse.Namespace) -> None:
    from highlight_pipeline.datasets.miniatures import (
        overlay,
        overlay_line,
        summary,
        write_miniature,
    )

    root = write_miniature(
        args.dataset, args.dir, seed=args.seed, jobs=args.jobs, overwrite=args.overwrite
    )
    if args.config:
        import yaml

        text = yaml.safe_dump(overlay(args.dataset, root), sort_keys=False)
        write_text_atomic(
            args.config,
            f"# the {args.dataset} miniature of `hlp rehearsal-data`: pass this file after "
            f"workflow/configs/{args.dataset}.yaml\n{text}",
        )
    wrote = f" and {args.config}" if args.config else ""
    print(
        f"wrote the {args.dataset} miniature ({summary(args.dataset, root)}) to {root}{wrote}; "
        f"rehearse the preset with: {overlay_line(args.dataset, root)}"
    )


def _add_feature_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", required=True, help="results/{dataset}/manifest.csv")
    p.add_argument("--clips", required=True, help="results/{dataset}/clips.csv")
    p.add_argument("--visual", nargs="+", help="visual feature shards (.h5), if the run reads them")
    p.add_argument("--audio", nargs="+", help="audio feature shards (.h5), if the run reads them")
    p.add_argument("--saliency", nargs="+", help="saliency shards (.h5), if the run reads them")
    p.add_argument("--frames", nargs="+", help="frame shards from `hlp frames` (pld)")
    _add_split_inputs(p)


def _add_device_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help=f"where {what} runs, for a method that runs a network: auto takes a free GPU "
        "slot when there is one (docs/architecture.md, GPU slots), else the CPU; the random "
        "baseline always runs on the CPU",
    )
    p.add_argument(
        "--cuda",
        type=_json,
        default={},
        help='JSON of config.cuda, on a CUDA device: {"deterministic": true, "tf32": false} '
        "(the defaults: deterministic cuDNN, no TF32)",
    )


def _add_run_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--predictions", required=True, help="a run's predictions (JSON lines)")
    p.add_argument("--manifest", required=True, help="results/{dataset}/manifest.csv")
    p.add_argument("--clips", required=True, help="results/{dataset}/clips.csv")


def _add_split_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--splits", help="results/{dataset}/splits.csv (default: the manifest's split)")
    p.add_argument("--split-scheme", default="default", help="split scheme in splits.csv")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hlp",
        description="Video highlight detection pipeline. The Snakefile runs these steps in order; "
        "each can also be run by hand. Run `hlp COMMAND --help` for a step's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add(
        "synth", cmd_synth, "generate the embedded synthetic dataset (videos with sound, labels)"
    )
    p.add_argument("--slice", type=_json, default={}, help="JSON of config.datasets.NAME.synth")
    p.add_argument("--clip-seconds", type=float, default=2.0)
    p.add_argument(
        "--out", required=True, help="output folder (videos/, videos.csv, highlights.csv)"
    )
    p.add_argument("--jobs", type=int, default=1, help="videos written at once (processes)")

    p = add("manifest", cmd_manifest, "probe every video of a dataset into manifest.csv")
    p.add_argument("--reader", default="folder", help="dataset reader (docs/datasets.md)")
    p.add_argument("--root", required=True, help="the dataset folder")
    p.add_argument("--slice", type=_json, default={}, help="JSON of the dataset's config")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--rejected", required=True, help="CSV of videos that cannot be used, with reasons"
    )
    p.add_argument(
        "--splits", required=True, help="CSV of every split scheme: video_id, scheme, split"
    )
    p.add_argument("--name", help="the dataset's name in the summary line (default: the folder)")

    p = add("clips", cmd_clips, "cut each video into clips and attach the dataset's clip labels")
    p.add_argument("--reader", default="folder")
    p.add_argument("--manifest", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--slice", type=_json, default={}, help="JSON of the dataset's config")
    p.add_argument("--out", required=True)

    p = add(
        "features",
        cmd_features,
        "extract window features (or saliency maps) of one shard into HDF5",
    )
    p.add_argument("--manifest", required=True)
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--shards", type=int, required=True)
    p.add_argument(
        "--slice", type=_json, required=True, help="JSON of the extractor's config slice"
    )
    p.add_argument(
        "--runtime",
        type=_json,
        default={},
        help="JSON for published networks: weights_dir, weights (published|random)",
    )
    p.add_argument(
        "--execution",
        type=_json,
        default={},
        help="JSON for published networks: device (auto|cpu|cuda), amp, batch_size",
    )
    p.add_argument("--out", required=True)

    p = add(
        "frames",
        cmd_frames,
        "decode the videos of one shard once into a frame cache (HDF5) for pixel-level methods",
    )
    p.add_argument("--manifest", required=True)
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--shards", type=int, required=True)
    p.add_argument("--slice", type=_json, required=True, help='JSON: {"fps", "height", "width"}')
    p.add_argument("--out", required=True)

    p = add("pseudo", cmd_pseudo, "pseudo-categories and audio-visual recurrence pseudo-highlights")
    _add_feature_inputs(p)
    p.add_argument("--slice", type=_json, required=True, help="JSON of the run's pseudo slice")
    p.add_argument("--categories", required=True, help="output: categories.csv")
    p.add_argument("--highlights", required=True, help="output: highlights.h5")
    p.add_argument(
        "--category-model",
        required=True,
        help="output: category_model.h5 (the fitted categories, arrays only)",
    )

    methods = ", ".join(method_names())
    p = add("train", cmd_train, f"train one run of a method ({methods}) on the training split")
    _add_feature_inputs(p)
    p.add_argument("--method", required=True, choices=method_names())
    p.add_argument("--variant", required=True, help="the run's variant (names the output)")
    p.add_argument(
        "--run", type=_json, required=True, help="JSON of the resolved run (settings, pseudo, ...)"
    )
    p.add_argument("--pseudo", help="highlights.h5 from `hlp pseudo` (methods that read it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    _add_device_options(p, "training")
    p.add_argument(
        "--weights-dir", default="weights", help="published checkpoints (pld's pretrained start)"
    )
    p.add_argument(
        "--weights",
        choices=["published", "random"],
        default="published",
        help="random: methods that start from a checkpoint start from random weights",
    )
    p.add_argument("--out", required=True, help="the model file (.pt)")

    p = add(
        "score",
        cmd_score,
        "score every clip of every video of a dataset with a trained model (Snakemake's "
        "`score` rule; `hlp predict` scores one new video)",
    )
    _add_feature_inputs(p)
    p.add_argument("--model", required=True, help="model file from `hlp train`")
    p.add_argument("--out", required=True, help="clip scores, JSON lines")
    _add_device_options(p, "scoring")
    p.add_argument(
        "--devices",
        help="output JSON: the devices that trained and scored the model (`hlp evaluate "
        "--devices` records them in the metrics)",
    )

    p = add(
        "analyse",
        cmd_analyse,
        "run a method's analysis of a trained model on the labelled videos of a split (e.g. "
        "chd's §4.3 cluster study; `hlp methods` lists them)",
    )
    _add_feature_inputs(p)
    p.add_argument("--model", required=True, help="model file from `hlp train`")
    p.add_argument("--name", required=True, help="the analysis (its registry name)")
    p.add_argument("--eval-split", default="test", help="the videos it studies: test or val")
    p.add_argument("--paper-dataset", default="", help="the dataset's name in the paper's numbers")
    p.add_argument("--out", required=True, help="JSON: the table section and its values")

    p = add(
        "explain",
        cmd_explain,
        "draw a trained model's per-pixel maps (pld's distinction maps) over frames of chosen "
        "evaluation videos: one strip per video, captioned with clip score and ground truth",
    )
    _add_feature_inputs(p)
    p.add_argument("--model", required=True, help="model file from `hlp train`")
    p.add_argument("--eval-split", default="test", help="the videos to choose from")
    p.add_argument(
        "--videos", default="3", help="how many (the first by id) or a comma-separated id list"
    )
    p.add_argument("--panels", type=int, default=6, help="frames per strip")
    p.add_argument("--out", required=True, help="output folder: one {video_id}.png per video")
    _add_device_options(p, "the model")

    p = add("evaluate", cmd_evaluate, "evaluate predictions with the dataset's protocol")
    _add_run_inputs(p)
    p.add_argument(
        "--protocol",
        default="youtube-map",
        help="the protocol the run's row is scored with (docs/protocols.md)",
    )
    p.add_argument(
        "--also-protocols",
        default="",
        help="comma-separated protocols the run is also scored with (the random baseline "
        "beside rows whose paper scores another way), recorded under also_scored",
    )
    _add_split_inputs(p)
    p.add_argument("--eval-split", default="test", help="test or val")
    p.add_argument("--dataset", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--variant", required=True)
    p.add_argument("--features", required=True, help="feature description recorded in the table")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--slice", type=_json, default={}, help="the method's config slice, recorded")
    p.add_argument(
        "--pseudo",
        help="the pseudo-labels (highlights.h5) the run learnt from: their quality on the "
        "training videos is recorded beside the metrics",
    )
    p.add_argument(
        "--devices",
        help="JSON from `hlp score --devices`: the devices that trained and scored the run, "
        "recorded in the metrics (without it, the device is this job's CPU)",
    )
    p.add_argument("--out", required=True)

    p = add("table", cmd_table, "aggregate metrics JSON files into Markdown and CSV tables")
    p.add_argument("--dataset", required=True)
    p.add_argument("--metrics", nargs="+", required=True)
    p.add_argument("--md", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--tex", help="LaTeX table (booktabs)")
    p.add_argument(
        "--analyses", nargs="*", default=[], help="JSON files from `hlp analyse`, shown below"
    )
    p.add_argument(
        "--paper-dataset", help="the dataset's name in the paper numbers (default: --dataset)"
    )
    p.add_argument(
        "--rehearsal",
        action="store_true",
        help="mark the tables and every row as a rehearsal's (random weights, shrunk)",
    )
    p.add_argument(
        "--differs",
        type=_json,
        default={},
        help='JSON {"method/variant": ["setting: ours (paper: theirs)", ...]}: where each run '
        "differs from its paper's setting (the workflow computes it from docs/paper-settings.md"
        "'s rows); shown under the table and in the log",
    )

    p = add(
        "scores-summary",
        cmd_scores_summary,
        "for a dataset without labels: which runs scored it, with which features, and what "
        "that means for trusting them",
    )
    p.add_argument("--dataset", required=True)
    p.add_argument(
        "--runs",
        type=_json_list,
        required=True,
        help='JSON list of {"method", "variant", "features", "scores": [files]}',
    )
    p.add_argument("--out", required=True, help="Markdown summary")

    p = add(
        "qv-submission",
        cmd_qv_submission,
        "write the QVHighlights evaluation server's submission file of a scores file "
        "(highlight detection: one JSON line per query with qid, query, vid and "
        "pred_saliency_scores, one score per 2-second clip), checked against the format's "
        "rules; or check an existing file",
    )
    p.epilog = (
        "Rules checked: every query of the release file exactly once and no other qid, its "
        "vid, one finite number per clip of its grid (int(duration / 2) clips, in order). "
        "A query without scores or a clip without one (null) is refused, never filled in. "
        "The server takes one zip (no folder) of hl_val_submission.jsonl and "
        "hl_test_submission.jsonl (docs/protocols.md). Example: hlp qv-submission --scores "
        "results/qvhighlights/models/avph/av-ph/default/seed0.scores.jsonl --annotations "
        "data/qvhighlights/highlight_test_release.jsonl --out hl_test_submission.jsonl"
    )
    p.add_argument(
        "--annotations",
        required=True,
        metavar="FILE",
        help="the release file whose queries the submission answers: "
        "highlight_test_release.jsonl (or highlight_val_release.jsonl)",
    )
    p.add_argument(
        "--scores",
        metavar="FILE",
        help="clip scores from `hlp score` (….scores.jsonl; one line per query, video_id qid{qid})",
    )
    p.add_argument("--out", metavar="FILE", help="the submission file to write (JSON lines)")
    p.add_argument(
        "--check",
        metavar="FILE",
        help="instead of writing: check this submission file against --annotations",
    )

    p = add("plots", cmd_plots, "score curves per video and a bar chart of the metric per category")
    _add_run_inputs(p)
    p.add_argument("--table", required=True, help="results/tables/{dataset}.csv")
    p.add_argument("--pseudo", help="highlights.h5 of the run's pseudo-labels (in the curves)")
    p.add_argument("--split", default="test", help="videos of this split get curves")
    p.add_argument("--splits", help="splits.csv (default: the manifest's split column)")
    p.add_argument("--split-scheme", default="default", help="the scheme of --splits")
    p.add_argument("--bars", required=True, help="output PNG of the bar chart")
    p.add_argument("--curves", required=True, help="output folder of the score curves")

    p = add("reel", cmd_reel, "cut a video's top-scoring clips into one playable highlight reel")
    _add_run_inputs(p)
    p.add_argument("--video", help="video id (default: the first predicted video of --split)")
    p.add_argument("--split", default="test")
    p.add_argument("--splits", help="splits.csv (default: the manifest's split column)")
    p.add_argument("--split-scheme", default="default", help="the scheme of --splits")
    p.add_argument("--seconds", type=float, default=20.0, help="longest reel")
    p.add_argument("--out", required=True, help="output .mp4")

    p = add(
        "predict",
        cmd_predict,
        "score one video with a trained model: clip scores (JSON), a plot and a highlight reel",
    )
    p.add_argument("video", help="a video file")
    p.add_argument("--model", required=True, help="a checkpoint from `hlp train` (seed*.pt)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--reel-seconds", type=float, default=20.0, help="longest reel")
    p.add_argument("--weights-dir", default="weights", help="checkpoints of neural extractors")
    p.add_argument("--weights", choices=["published", "random"], default="published")
    _add_device_options(p, "featurising and scoring (one device for both)")

    p = add(
        "check-config",
        cmd_check_config,
        "validate the config as Snakemake sees it: ./config.yaml, then the given files merged "
        "over it in order (as `snakemake --configfile FILE ...` does)",
    )
    p.add_argument("config", nargs="*", help="config files (default: config.yaml)")
    p.add_argument(
        "--alone", action="store_true", help="validate the given files without ./config.yaml"
    )

    p = add(
        "methods",
        cmd_methods,
        "list the registered methods, what they read, their variants (config overlays) "
        "and the paper tables they lay out",
    )
    p.add_argument("method", nargs="?", help="only this method's variants")

    p = add("weights", cmd_weights, "list each backbone's checkpoint file, source and presence")
    p.add_argument("--weights-dir", default="weights")

    p = add(
        "paper-settings",
        cmd_paper_settings,
        "write the page of every setting the four papers state beside the value each preset "
        "resolves to (equal, our choice, not stated, cannot here), from the presets and "
        "highlight_pipeline/data/paper_settings.csv",
    )
    p.add_argument(
        "out", nargs="?", default="docs/paper-settings.md", help="the Markdown page to write"
    )

    p = add(
        "rehearsal-data",
        cmd_rehearsal_data,
        "write a miniature of a benchmark in its release layout (the real annotation file "
        "formats, 6-10 short synthetic videos with sound where the reader expects them, their "
        "events where the annotation puts the highlights) to rehearse its paper preset cheaply",
    )
    p.epilog = (
        'The layouts are in docs/datasets.md ("Miniatures for rehearsals"); DIR/miniature.json '
        "records what was generated. Example: hlp rehearsal-data youtube mini/youtube --config "
        "mini.yaml; snakemake --cores 2 --configfile workflow/configs/youtube.yaml "
        "workflow/configs/rehearsal.yaml mini.yaml"
    )
    p.add_argument(
        "dataset",
        choices=MINIATURE_NAMES,
        metavar="DATASET",
        help=f"one of {', '.join(MINIATURE_NAMES)} (the dataset's name in its preset)",
    )
    p.add_argument("dir", metavar="DIR", help="the folder to write (absent or empty)")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="also write the config overlay (datasets: {DATASET: {root: DIR}}) to FILE",
    )
    p.add_argument("--seed", type=int, default=0, help="the same seed writes the same miniature")
    p.add_argument("--jobs", type=int, help="videos written at once (default: up to 2)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace a miniature written to DIR before"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Before numpy, torch or numba load: the same numbers on every x86_64 machine with AVX2.
    pin_numerics(getattr(args, "threads", None))
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        memory_guard.start(args.command)  # $HLP_MEM_MB: the job's mem_mb (memory_guard.py)
        args.func(args)
    except BaseException as exc:
        if memory_guard.tripped():  # whatever the stopped command raised on its way out
            return memory_guard.EXIT_OUT_OF_MEMORY
        if not isinstance(exc, PipelineError):
            raise
        print(f"hlp {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return memory_guard.EXIT_OUT_OF_MEMORY if memory_guard.tripped() else 0


def entry() -> None:
    """The ``hlp`` console script: ``main()``, then a quick exit.

    A Python process that has imported torch spends 0.6 to 1 s after its work tearing down
    its modules: more than many of the pipeline's jobs take for their work, in every one of
    them. Once ``main`` has returned (or exited), every output is written and closed, so the
    process runs the ``atexit`` handlers (they also remove temporary directories), flushes
    its logs and streams, and ends with ``os._exit``. A thread still running that is not a
    daemon (none of ours) gets the ordinary, slower exit instead. An uncaught exception is
    not caught here: it ends the process with its traceback as usual."""
    try:
        code = main()
    except SystemExit as stop:  # argparse's --help and usage errors
        code = stop.code
    if not isinstance(code, int):  # None, or sys.exit("message")
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    main_thread = threading.main_thread()
    if any(t.is_alive() and not t.daemon and t is not main_thread for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # python -m highlight_pipeline.cli: the ordinary exit (profilers)
    sys.exit(main())
