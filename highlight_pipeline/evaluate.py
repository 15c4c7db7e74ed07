"""Evaluate one run's predictions on a split with the dataset's protocol; write metrics JSON.

Per protocol (the registry :data:`highlight_pipeline.metrics.PROTOCOLS`, docs/protocols.md):
``youtube-map``, ``tvsum-top5-median`` and ``tvsum-top5-top50`` are computed
per category (domain) and averaged over categories, as the papers report them;
``qvhighlights-hl`` over all queries (column ``all``), with HIT@1 and the Fair/Good
thresholds as secondary metrics.

Clips without a score. A video whose stream ended early is scored on its leading clips only
(``methods.inputs``): the predictions hold no score (null, read as NaN) for the clips past
the cut. Evaluation takes each video over its scored clips only, as if the video ended
there: unscored clips count neither as scored nor as negatives, and no score is made up for
them. A video with no scored clip is left out. The log says which videos were cut and by
how much, and the metrics JSON lists them (``unscored_clips``: video -> [scored, clips]).
Unscored clips must be the last ones of a video; a missing score between scored clips is an
error. (A method that reads no features, the random baseline, scores every clip.)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from highlight_pipeline.atomic import write_text_atomic
from highlight_pipeline.config import slice_hash
from highlight_pipeline.datasets.registry import protocol_columns
from highlight_pipeline.errors import DatasetError
from highlight_pipeline.features.clip_features import read_clips
from highlight_pipeline.manifest import read_manifest
from highlight_pipeline.metrics import MetricInputError, get_protocol
from highlight_pipeline.provenance import provenance

log = logging.getLogger(__name__)


def protocol_metric(protocol: str) -> str:
    """The name of ``protocol``'s headline metric (``mAP``, ``top5_mAP``)."""
    return _protocol(protocol).metric


def _protocol(protocol: str):
    try:
        return get_protocol(protocol)
    except MetricInputError as exc:
        raise DatasetError(str(exc)) from None


def _by_category(videos: pd.DataFrame, score_video) -> tuple[dict[str, float], float]:
    per_category: dict[str, float] = {}
    for category, group in videos.groupby("category", sort=True):
        per_category[str(category) or "all"] = float(score_video(list(group["video_id"])))
    return per_category, float(np.mean(list(per_category.values())))


def clip_truth(protocol: str, clips: pd.DataFrame) -> dict[str, np.ndarray]:
    """video_id -> ``[clips, columns]`` of what ``protocol`` compares scores with."""
    columns = protocol_columns(protocol, clips)
    return {v: g[columns].to_numpy() for v, g in clips.groupby("video_id", sort=False)}


def scored_clips(video_id: str, scores: np.ndarray) -> int:
    """How many leading clips of a video have a score (the rest have none: NaN)."""
    finite = np.isfinite(scores)
    n = len(scores) if finite.all() else int(np.argmin(finite))
    if finite[n:].any():
        raise DatasetError(
            f"video {video_id}: clip {n} has no score but later clips do (only the clips past "
            "the end of a stream that ended early may lack one)"
        )
    return n


def unscored_clips(
    predictions: dict[str, np.ndarray], ids: list[str]
) -> dict[str, tuple[int, int]]:
    """video_id -> (scored, clips) of the videos in ``ids`` with clips that have no score."""
    out = {}
    for v in ids:
        n = scored_clips(v, predictions[v])
        if n < len(predictions[v]):
            out[v] = (n, len(predictions[v]))
    return out


def protocol_scores(
    protocol: str,
    predictions: dict[str, np.ndarray],
    clips: pd.DataFrame,
    videos: pd.DataFrame,
    truth: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, float], float, dict]:
    """(per-category values, average, secondary metrics) of ``protocol`` on ``videos``
    (``truth``: :func:`clip_truth` of ``clips``, when already computed)."""
    truth = clip_truth(protocol, clips) if truth is None else truth
    for v in videos["video_id"]:
        if len(predictions[v]) != len(truth[v]):
            raise DatasetError(
                f"video {v}: {len(predictions[v])} predicted scores for {len(truth[v])} clips"
            )
    cut = unscored_clips(predictions, list(videos["video_id"]))
    if cut:
        shown = [f"{v} {n} of {total}" for v, (n, total) in list(cut.items())[:5]]
        log.warning(
            "%d video(s) evaluated over their scored clips only (a stream ended early; the "
            "clips past it have no score and are not evaluated): %s",
            len(cut),
            ", ".join(shown) + (", ..." if len(cut) > 5 else ""),
        )
        videos = videos[~videos["video_id"].isin([v for v, (n, _) in cut.items() if n == 0])]
        if videos.empty:
            raise DatasetError("no evaluated video has a scored clip")
        predictions = {
            v: predictions[v][: cut[v][0]] if v in cut else predictions[v]
            for v in videos["video_id"]
        }
        truth = {v: truth[v][: cut[v][0]] if v in cut else truth[v] for v in videos["video_id"]}
    entry = _protocol(protocol)
    if entry.columns == "label" and any((truth[v] < 0).any() for v in videos["video_id"]):
        raise DatasetError("the dataset has no highlight labels (highlights.csv): cannot evaluate")
    if protocol == "youtube-map":
        empty = [v for v in videos["video_id"] if not (truth[v][:, 0] > 0).any()]
        if empty:
            log.warning(
                "%d evaluated video(s) without a highlight clip (%s): youtube-map counts each "
                "as AP 0, as the reference code (UMT) does; check their labels",
                len(empty),
                ", ".join(empty[:5]) + (", ..." if len(empty) > 5 else ""),
            )

    def value(ids: list[str]):
        return entry.function([(predictions[v], truth[v]) for v in ids])

    if entry.averaging == "category":
        per_category, average = _by_category(videos, value)
        return per_category, average, {}
    results = value(list(videos["video_id"]))
    if not isinstance(results, dict):
        return {"all": float(results)}, float(results), {}
    secondary = {
        name: {"per_category": {"all": v}, "average": v}
        for name, v in results.items()
        if name != entry.metric
    }
    return {"all": results[entry.metric]}, results[entry.metric], secondary


def evaluate_run(
    predictions: dict[str, np.ndarray],
    clips_path: str | Path,
    manifest_path: str | Path,
    protocol: str,
    splits: dict[str, str],
    eval_split: str,
    run: dict,
    method_slice: dict,
    pseudo_path: str | Path | None = None,
    devices: dict | None = None,
    also: list[str] | tuple[str, ...] = (),
) -> dict:
    """The run's metrics; with ``pseudo_path`` (the pseudo-labels the run learnt from) also
    their quality on the training videos (:mod:`highlight_pipeline.pseudo.quality`); with
    ``devices`` (what trained and scored the run, ``hlp score --devices``) the device that
    trained it and its name (:func:`highlight_pipeline.provenance.provenance`); with
    ``also``, the same predictions scored with other protocols too (``also_scored``: the
    random baseline beside rows whose paper scores another way)."""
    metric = protocol_metric(protocol)
    manifest = read_manifest(manifest_path)
    chosen = [v for v, s in splits.items() if s == eval_split]
    videos = manifest[manifest["video_id"].isin(chosen) & manifest["video_id"].isin(predictions)]
    if videos.empty:
        raise DatasetError(f"no predicted video in split {eval_split!r}")
    clips = read_clips(clips_path)
    per_category, average, secondary = protocol_scores(protocol, predictions, clips, videos)
    also_scored = []
    for other in dict.fromkeys(p for p in also if p != protocol):
        other_categories, other_average, other_secondary = protocol_scores(
            other, predictions, clips, videos
        )
        also_scored.append(
            {
                "protocol": other,
                "metric": protocol_metric(other),
                "per_category": other_categories,
                "average": other_average,
                "secondary": other_secondary,
            }
        )
    unscored = unscored_clips(predictions, list(videos["video_id"]))
    quality = None
    if pseudo_path is not None:
        from highlight_pipeline.pseudo.quality import pseudo_quality

        quality = pseudo_quality(str(pseudo_path), clips, manifest, protocol, run.get("seed", 0))
    return {
        **run,
        "protocol": protocol,
        "metric": metric,
        "eval_split": eval_split,
        "per_category": per_category,
        "average": average,
        "secondary": secondary,
        "also_scored": also_scored,
        "n_videos": len(videos) - sum(1 for n, _ in unscored.values() if n == 0),
        "unscored_clips": {v: list(c) for v, c in sorted(unscored.items())},
        "pseudo_quality": quality,
        "config_slice": method_slice,
        "config_hash": slice_hash(method_slice),
        **provenance(devices=devices),
    }


def write_metrics(path: str | Path, metrics: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
