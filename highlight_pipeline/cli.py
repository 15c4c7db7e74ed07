"""`hlp`: the command line of the highlight pipeline. Snakemake rules call these subcommands
with explicit paths and their own config slice (JSON); users can call them by hand too.

Each command is its parser (``_<command>_parser``: name, help and options) and
``cmd_<command>``, which hands the parsed arguments to the one function of the module that
does the step and reports what it returns; :data:`COMMANDS` lists the parsers in the order
``hlp --help`` shows them. Those modules are imported when a command runs, so that ``hlp``
starts quickly."""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from highlight_pipeline import __version__, memory_guard
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


# ------------------------------------------------------------------ options several share


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


def _input_files(args: argparse.Namespace):
    """The dataset files of ``_add_feature_inputs`` (and ``--pseudo``) as given."""
    from highlight_pipeline.methods.inputs import InputFiles

    return InputFiles(
        manifest=args.manifest,
        clips=args.clips,
        features={m: getattr(args, m) for m in FEATURE_INPUTS if getattr(args, m, None)},
        frames=args.frames,
        pseudo=getattr(args, "pseudo", None),
        splits=args.splits,
        split_scheme=args.split_scheme,
    )


def _splits(args: argparse.Namespace) -> dict[str, str]:
    """video_id -> split: the scheme from --splits, else the manifest's split column."""
    from highlight_pipeline.manifest import split_map

    return split_map(args.manifest, args.splits, args.split_scheme)


# ------------------------------------------------------------------------------- commands

# build_parser's `add(name, cmd_<name>, help)`: the command's parser, which runs cmd_<name>
_Add = Callable[[str, Callable[[argparse.Namespace], None], str], argparse.ArgumentParser]


def _synth_parser(add: _Add) -> None:
    p = add(
        "synth", cmd_synth, "generate the embedded synthetic dataset (videos with sound, labels)"
    )
    p.add_argument("--slice", type=_json, default={}, help="JSON of config.datasets.NAME.synth")
    p.add_argument("--clip-seconds", type=float, default=2.0)
    p.add_argument(
        "--out", required=True, help="output folder (videos/, videos.csv, highlights.csv)"
    )
    p.add_argument("--jobs", type=int, default=1, help="videos written at once (processes)")


def cmd_synth(args: argparse.Namespace) -> None:
    from highlight_pipeline.datasets.synthetic import SynthSpec, synthesize

    spec = SynthSpec.from_config(args.slice, args.clip_seconds)
    plans = synthesize(spec, args.out, jobs=args.jobs)
    log.info("wrote %d synthetic videos to %s", len(plans), args.out)


def _manifest_parser(add: _Add) -> None:
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


def cmd_manifest(args: argparse.Namespace) -> None:
    from highlight_pipeline.manifest import manifest_summary, write_manifest

    manifest, rejected = write_manifest(
        args.reader, args.root, args.slice, args.out, args.rejected, args.splits
    )
    log.info("manifest: %d videos, %d rejected (%s)", len(manifest), len(rejected), args.rejected)
    print(manifest_summary(args.name or Path(args.out).parent.name, manifest, rejected))


def _clips_parser(add: _Add) -> None:
    p = add("clips", cmd_clips, "cut each video into clips and attach the dataset's clip labels")
    p.add_argument("--reader", default="folder")
    p.add_argument("--manifest", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--slice", type=_json, default={}, help="JSON of the dataset's config")
    p.add_argument("--out", required=True)


def cmd_clips(args: argparse.Namespace) -> None:
    from highlight_pipeline.manifest import write_clips

    clips = write_clips(args.reader, args.manifest, args.root, args.slice, args.out)
    log.info("clips: %d clips of %d videos", len(clips), clips["video_id"].nunique())


def _features_parser(add: _Add) -> None:
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


def _frames_parser(add: _Add) -> None:
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


def cmd_frames(args: argparse.Namespace) -> None:
    from highlight_pipeline.features.frames import write_frame_shard
    from highlight_pipeline.manifest import read_manifest

    write_frame_shard(read_manifest(args.manifest), args.shard, args.shards, args.slice, args.out)


def _pseudo_parser(add: _Add) -> None:
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


def cmd_pseudo(args: argparse.Namespace) -> None:
    from highlight_pipeline.pseudo.run import write_pseudo_labels

    n, summary = write_pseudo_labels(
        _input_files(args), args.slice, args.categories, args.highlights, args.category_model
    )
    log.info("pseudo-highlights for %d training videos, K=%d", n, summary["k"])


def _train_parser(add: _Add) -> None:
    p = add(
        "train",
        cmd_train,
        f"train one run of a method ({', '.join(method_names())}) on the training split",
    )
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
    p.add_argument(
        "--scores",
        help="then also score every clip of the dataset with the model, into this file (JSON "
        "lines), as `hlp score --out` would: the pipeline's train rule does, in one process",
    )
    p.add_argument(
        "--devices", help="with --scores: the devices that trained and scored (as `hlp score`)"
    )


def cmd_train(args: argparse.Namespace) -> None:
    from highlight_pipeline.methods.steps import train_model

    if args.devices and not args.scores:
        raise PipelineError("hlp train: --devices records the scoring device; give --scores too")

    train_model(
        args.method,
        args.variant,
        args.run,
        _input_files(args),
        args.out,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
        cuda=args.cuda,
        weights_dir=args.weights_dir,
        weights=args.weights,
        progress=not args.quiet,
        scores_out=args.scores,
        devices_out=args.devices,
    )
    log.info("%s/%s seed %d: model written to %s", args.method, args.variant, args.seed, args.out)
    if args.scores:
        log.info("scored the dataset with it into %s", args.scores)


def _score_parser(add: _Add) -> None:
    p = add(
        "score",
        cmd_score,
        "score every clip of every video of a dataset with a trained model (the pipeline's "
        "`train` rule does this in its job: `hlp train --scores`; `hlp predict` scores one new "
        "video)",
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


def cmd_score(args: argparse.Namespace) -> None:
    from highlight_pipeline.methods.steps import score_dataset

    videos, lease = score_dataset(
        args.model,
        _input_files(args),
        args.out,
        devices_out=args.devices,
        device=args.device,
        cuda=args.cuda,
        progress=not args.quiet,
    )
    log.info("scored %d videos with %s on %s", len(videos), args.model, lease.device)


def _analyse_parser(add: _Add) -> None:
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


def cmd_analyse(args: argparse.Namespace) -> None:
    from highlight_pipeline.methods.steps import analyse_model

    record = analyse_model(
        args.model, _input_files(args), args.name, args.out, args.eval_split, args.paper_dataset
    )
    print("\n".join([f"## {record['title']}", "", *record["markdown"]]))


def _explain_parser(add: _Add) -> None:
    p = add(
        "explain",
        cmd_explain,
        "draw a trained model's per-pixel maps (pld's distinction maps) over frames of "
        "chosen evaluation videos: one strip per video, captioned with clip score and "
        "ground truth",
    )
    _add_feature_inputs(p)
    p.add_argument("--model", required=True, help="model file from `hlp train`")
    p.add_argument("--eval-split", default="test", help="the videos to choose from")
    p.add_argument(
        "--videos", default="3", help="how many (the first by id) or a comma-separated id list"
    )
    p.add_argument("--panels", type=int, default=6, help="frames per strip")
    p.add_argument("--out", required=True, help="output folder: one {video_id}.png per video")
    p.add_argument(
        "--scores",
        help="the model's scores file (`hlp train --scores`, `hlp score`): the captions' clip "
        "scores are read from it instead of scoring the videos again",
    )
    _add_device_options(p, "the model")


def _video_choice(text: str) -> int | list[str]:
    """``--videos``: how many (digits), else the listed ids."""
    listed = [v for v in text.split(",") if v] if not text.isdigit() else None
    return listed if listed else int(text)


def cmd_explain(args: argparse.Namespace) -> None:
    from highlight_pipeline.explain import explain_model

    written = explain_model(
        args.model,
        _input_files(args),
        _video_choice(args.videos),
        args.out,
        panels=args.panels,
        eval_split=args.eval_split,
        device=args.device,
        cuda=args.cuda,
        scores=args.scores,
    )
    log.info("explain: %d strips in %s", len(written), args.out)


def _evaluate_parser(add: _Add) -> None:
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
    p.add_argument(
        "--weights",
        choices=("published", "weight-free", "random-init", "none"),
        help="what the run's features and networks rest on, recorded as a field (the "
        "workflow passes it; without it the tables read it from --features)",
    )
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


def cmd_evaluate(args: argparse.Namespace) -> None:
    from highlight_pipeline.evaluate import evaluate_run, write_metrics
    from highlight_pipeline.predictions import read_predictions

    run = {
        "split": args.split_scheme,
        "dataset": args.dataset,
        "method": args.method,
        "variant": args.variant,
        "seed": args.seed,
        "features": args.features,
    }
    if args.weights:
        run["weights"] = args.weights
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


def _table_parser(add: _Add) -> None:
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


def _scores_summary_parser(add: _Add) -> None:
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


def cmd_scores_summary(args: argparse.Namespace) -> None:
    from highlight_pipeline.tables import write_scores_summary

    print(write_scores_summary(args.dataset, args.runs, args.out), end="")


def _qv_submission_parser(add: _Add) -> None:
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


def _plots_parser(add: _Add) -> None:
    p = add("plots", cmd_plots, "score curves per video and a bar chart of the metric per category")
    _add_run_inputs(p)
    p.add_argument("--table", required=True, help="results/tables/{dataset}.csv")
    p.add_argument("--pseudo", help="highlights.h5 of the run's pseudo-labels (in the curves)")
    p.add_argument("--split", default="test", help="videos of this split get curves")
    p.add_argument("--splits", help="splits.csv (default: the manifest's split column)")
    p.add_argument("--split-scheme", default="default", help="the scheme of --splits")
    p.add_argument("--bars", required=True, help="output PNG of the bar chart")
    p.add_argument("--curves", required=True, help="output folder of the score curves")


def cmd_plots(args: argparse.Namespace) -> None:
    from highlight_pipeline.plots import plot_run

    written = plot_run(
        args.table,
        args.bars,
        args.predictions,
        args.clips,
        args.manifest,
        args.curves,
        args.pseudo,
        args.split,
        splits_csv=args.splits,
        split_scheme=args.split_scheme,
    )
    log.info("plots: %s and %d score curves in %s", args.bars, len(written), args.curves)


def _reel_parser(add: _Add) -> None:
    p = add("reel", cmd_reel, "cut a video's top-scoring clips into one playable highlight reel")
    _add_run_inputs(p)
    p.add_argument("--video", help="video id (default: the first predicted video of --split)")
    p.add_argument("--split", default="test")
    p.add_argument("--splits", help="splits.csv (default: the manifest's split column)")
    p.add_argument("--split-scheme", default="default", help="the scheme of --splits")
    p.add_argument("--seconds", type=float, default=20.0, help="longest reel")
    p.add_argument("--out", required=True, help="output .mp4")


def cmd_reel(args: argparse.Namespace) -> None:
    from highlight_pipeline.reel import run_reel

    video, out, segments = run_reel(
        args.predictions,
        args.clips,
        args.manifest,
        args.out,
        args.seconds,
        video_id=args.video,
        split=args.split,
        splits_csv=args.splits,
        split_scheme=args.split_scheme,
    )
    log.info("reel of %s: %s (%d segments)", video, out, len(segments))


def _predict_parser(add: _Add) -> None:
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


def cmd_predict(args: argparse.Namespace) -> None:
    from highlight_pipeline.predict_video import predict_video, result_lines

    runtime = {
        "weights_dir": args.weights_dir,
        "weights": args.weights,
        "device": args.device,
        "cuda": args.cuda,
    }
    result = predict_video(args.video, args.model, args.out, args.reel_seconds, runtime)
    print("\n".join(result_lines(result, args.out)))


def _check_config_parser(add: _Add) -> None:
    p = add(
        "check-config",
        cmd_check_config,
        "validate the config as Snakemake sees it: ./config.yaml, then the given files "
        "merged over it in order (as `snakemake --configfile FILE ...` does)",
    )
    p.add_argument("config", nargs="*", help="config files (default: config.yaml)")
    p.add_argument(
        "--alone", action="store_true", help="validate the given files without ./config.yaml"
    )


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


def _methods_parser(add: _Add) -> None:
    p = add(
        "methods",
        cmd_methods,
        "list the registered methods, what they read, their variants (config overlays) "
        "and the paper tables they lay out",
    )
    p.add_argument("method", nargs="?", help="only this method's variants")


def cmd_methods(args: argparse.Namespace) -> None:
    from highlight_pipeline.methods.registry import describe_methods

    for line in describe_methods(args.method):
        print(line)


def _weights_parser(add: _Add) -> None:
    p = add("weights", cmd_weights, "list each backbone's checkpoint file, source and presence")
    p.add_argument("--weights-dir", default="weights")


def cmd_weights(args: argparse.Namespace) -> None:
    from highlight_pipeline.features.backbones.registry import format_weights_table, weights_status

    print(format_weights_table(weights_status(args.weights_dir)))


def _paper_settings_parser(add: _Add) -> None:
    p = add(
        "paper-settings",
        cmd_paper_settings,
        "write the page of every setting the four papers state beside the value each "
        "preset resolves to (equal, our choice, not stated, cannot here), from the presets "
        "and highlight_pipeline/data/paper_settings.csv",
    )
    p.add_argument(
        "out", nargs="?", default="docs/paper-settings.md", help="the Markdown page to write"
    )


def cmd_paper_settings(args: argparse.Namespace) -> None:
    from highlight_pipeline.paper_settings import write_paper_settings

    print(f"wrote {write_paper_settings(args.out)}")


# datasets.miniatures.MINIATURES, named here so that `hlp` starts without importing it
MINIATURE_NAMES = ["youtube", "tvsum", "qvhighlights", "cosum", "vtw"]


def _rehearsal_data_parser(add: _Add) -> None:
    p = add(
        "rehearsal-data",
        cmd_rehearsal_data,
        "write a miniature of a benchmark in its release layout (the real annotation file "
        "formats, 6-10 short synthetic videos with sound where the reader expects them, "
        "their events where the annotation puts the highlights) to rehearse its paper "
        "preset cheaply",
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


def cmd_rehearsal_data(args: argparse.Namespace) -> None:
    from highlight_pipeline.datasets.miniatures import overlay_line, rehearsal_data, summary

    root = rehearsal_data(
        args.dataset,
        args.dir,
        config=args.config,
        seed=args.seed,
        jobs=args.jobs,
        overwrite=args.overwrite,
    )
    wrote = f" and {args.config}" if args.config else ""
    print(
        f"wrote the {args.dataset} miniature ({summary(args.dataset, root)}) to {root}{wrote}; "
        f"rehearse the preset with: {overlay_line(args.dataset, root)}"
    )


# ------------------------------------------------------------------------------ the parser


# Each command's parser, in the order `hlp --help` lists them.
COMMANDS: tuple[Callable[[_Add], None], ...] = (
    _synth_parser,
    _manifest_parser,
    _clips_parser,
    _features_parser,
    _frames_parser,
    _pseudo_parser,
    _train_parser,
    _score_parser,
    _analyse_parser,
    _explain_parser,
    _evaluate_parser,
    _table_parser,
    _scores_summary_parser,
    _qv_submission_parser,
    _plots_parser,
    _reel_parser,
    _predict_parser,
    _check_config_parser,
    _methods_parser,
    _weights_parser,
    _paper_settings_parser,
    _rehearsal_data_parser,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hlp",
        description="Video highlight detection pipeline. The Snakefile runs these steps in order; "
        "each can also be run by hand. Run `hlp COMMAND --help` for a step's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    for define in COMMANDS:
        define(add)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Before numpy, torch or numba load: the same numbers on every x86-64-v2 machine.
    try:
        pin_numerics(getattr(args, "threads", None))
    except ValueError as exc:  # HLP_NUMERICS or HLP_SIMULATE_CPU names nothing known
        print(f"hlp {args.command}: error: {exc}", file=sys.stderr)
        return 2
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
    if memory_guard.tripped():
        return memory_guard.EXIT_OUT_OF_MEMORY
    if peak := memory_guard.peak_line(args.command):
        print(peak, file=sys.stderr)  # the job's log: what its mem_mb could be
    return 0


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
