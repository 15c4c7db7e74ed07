"""Protocol scoring: a method's clip scores against the clips' truth, as a protocol scores.

Below :mod:`highlight_pipeline.evaluate` (which writes a run's metrics) and
:mod:`highlight_pipeline.pseudo.quality` (which scores pseudo-labels the same way), beside
:mod:`highlight_pipeline.metrics` (the protocols' registry and functions).

Clips without a score. A video whose stream ended early is scored on its leading clips only
(``methods.inputs``): the predictions hold no score (null, read as NaN) for the clips past
the cut. Each video is taken over its scored clips only, as if the video ended there:
unscored clips count neither as scored nor as negatives, and no score is made up for them.
A video with no scored clip is left out. Unscored clips must be the last ones of a video; a
missing score between scored clips is an error.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from highlight_pipeline.datasets.registry import protocol_columns
from highlight_pipeline.errors import DatasetError
from highlight_pipeline.metrics import MetricInputError, get_protocol

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
    if entry.columns == "label":  # one binary ground truth per clip (the dataset's labels)
        if any((truth[v] < 0).any() for v in videos["video_id"]):
            raise DatasetError(
                "the dataset has no highlight labels (highlights.csv): cannot evaluate"
            )
        empty = [v for v in videos["video_id"] if not (truth[v][:, 0] > 0).any()]
        if empty:
            log.warning(
                "%d evaluated video(s) without a highlight clip (%s): %s counts each as AP 0, "
                "as the reference code (UMT) does; check their labels",
                len(empty),
                ", ".join(empty[:5]) + (", ..." if len(empty) > 5 else ""),
                protocol,
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
