"""Highlight-detection metrics that follow the public reference evaluation code.

Four protocols are registered in :data:`PROTOCOLS`, the one list of protocol names (see
``docs/protocols.md`` for the exact definitions and the reference functions they reproduce):

``youtube-map``
    :func:`youtube_map`, the mean over videos of :func:`ap_trapezoid` (TencentARC/UMT
    ``datasets/youtube.py`` ``YouTubeHighlights.evaluate``).
``tvsum-top5-median``
    :func:`tvsum_top5_map`, top-5 trapezoid mAP with per-annotator lower-median labels
    (TencentARC/UMT ``datasets/tvsum.py`` ``TVSum.evaluate``; line/lighthouse
    ``training/evaluate.py`` ``compute_hl_results``).
``qvhighlights-hl``
    :func:`qvhighlights_hl`, HL-mAP and HL-HIT@1 at the Fair/Good/VeryGood thresholds
    (jayleicn/moment_detr ``standalone_eval/eval.py`` ``eval_highlight`` with ``get_ap``
    from ``standalone_eval/utils.py``).
``tvsum-top5-top50``
    :func:`top5_map_binary`, top-5 mAP against the higher 50 % of a video's clips by mean
    rating, as HPCL and PLD-VHD define TVSum's ground truth.

Ties in the predicted scores: rankings use a *stable* sort of the negated scores, so tied
clips keep their original (temporal) order; the interpolated AP of ``qvhighlights-hl``
treats a group of tied scores as one operating point, exactly as scikit-learn's
``precision_recall_curve`` does in the reference. All functions return plain fractions in
[0, 1] (the reference scripts print percentages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from highlight_pipeline.errors import PipelineError

__all__ = [
    "PROTOCOLS",
    "QV_THRESHOLDS",
    "MetricInputError",
    "Protocol",
    "ap_trapezoid",
    "evaluate",
    "get_protocol",
    "interpolated_ap",
    "qvhighlights_hl",
    "top5_map_binary",
    "tvsum_top5_map",
    "youtube_map",
]


class MetricInputError(PipelineError, ValueError):
    """Invalid metric input (empty, mismatched lengths, NaN, wrong shape)."""


#: QVHighlights saliency thresholds: a clip is positive for an annotator when the rating
#: is at least this value (moment_detr ``eval_highlight``: ``gt_saliency_score_min_list``).
QV_THRESHOLDS: dict[str, int] = {"Fair": 2, "Good": 3, "VeryGood": 4}


# --------------------------------------------------------------------------- validation


def _where(video: int | None) -> str:
    return "" if video is None else f" (video {video})"


def _as_scores(scores: Any, name: str = "scores", video: int | None = None) -> np.ndarray:
    """Return ``scores`` as a non-empty, NaN-free 1-D float64 array."""
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name}{_where(video)} must be numeric: {exc}") from exc
    if arr.ndim != 1:
        raise MetricInputError(
            f"{name}{_where(video)} must be 1-D (one score per clip), got shape {arr.shape}"
        )
    if arr.size == 0:
        raise MetricInputError(f"{name}{_where(video)} is empty")
    if np.isnan(arr).any():
        raise MetricInputError(f"{name}{_where(video)} contains NaN")
    return arr


def _as_matrix(
    values: Any, n: int, name: str, video: int | None = None, ncols: int | None = None
) -> np.ndarray:
    """Return ``values`` as a NaN-free (n, k) float64 array (k >= 1)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name}{_where(video)} must be numeric: {exc}") from exc
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise MetricInputError(
            f"{name}{_where(video)} must be 2-D (clips x annotators), got shape {arr.shape}"
        )
    if arr.shape[0] != n:
        raise MetricInputError(
            f"length mismatch{_where(video)}: {n} scores but {arr.shape[0]} rows of {name}"
        )
    if ncols is not None and arr.shape[1] != ncols:
        raise MetricInputError(
            f"{name}{_where(video)} has {arr.shape[1]} annotators, expected {ncols} "
            "(every video must have the same number of annotators)"
        )
    if np.isnan(arr).any():
        raise MetricInputError(f"{name}{_where(video)} contains NaN")
    return arr


def _as_items(items: Any, what: str) -> list[tuple[Any, Any]]:
    """Materialise an iterable of (scores, labels) pairs; a mapping contributes its values."""
    if isinstance(items, Mapping):
        items = items.values()
    if isinstance(items, np.ndarray) or not isinstance(items, Iterable):
        raise MetricInputError(f"{what}: items must be an iterable of (scores, labels) pairs")
    out = []
    for i, item in enumerate(items):
        try:
            scores, labels = item
        except (TypeError, ValueError) as exc:
            raise MetricInputError(f"{what}: item {i} is not a (scores, labels) pair") from exc
        out.append((scores, labels))
    if not out:
        raise MetricInputError(f"{what}: no videos given (empty input)")
    return out


def _rank(scores: np.ndarray) -> np.ndarray:
    """Clip indices by descending score; ties keep their original order (stable sort)."""
    return np.argsort(-scores, kind="stable")


# ------------------------------------------------------------------------- trapezoid AP


def _trapezoid_ranked(ranked: np.ndarray) -> np.ndarray:
    """Trapezoid AP of each column of ``ranked`` (k, C), rows already in ranked order.

    Walking down the ranking with recall ``r`` and precision ``p`` after each row
    (starting from r = 0, p = 1), AP = sum (r - r_prev) * (p_prev + p) / 2, with the number
    of positives taken as the column's total. A column without positives gets 0.
    """
    pos = ranked > 0
    k = pos.shape[0]
    hits = np.cumsum(pos, axis=0, dtype=np.float64)
    npos = hits[-1]
    prec = hits / np.arange(1, k + 1, dtype=np.float64)[:, None]
    rec = hits / np.where(npos > 0, npos, 1.0)
    rec_prev = np.vstack([np.zeros((1, pos.shape[1])), rec[:-1]])
    prec_prev = np.vstack([np.ones((1, pos.shape[1])), prec[:-1]])
    ap = np.sum((rec - rec_prev) * (prec_prev + prec) / 2.0, axis=0)
    return np.where(npos > 0, ap, 0.0)


def ap_trapezoid(scores: Any, labels: Any) -> float:
    """Trapezoid average precision of one video (UMT / lighthouse highlight evaluation).

    Clips are ranked by descending ``scores`` (stable sort: tied clips keep their original
    order). Walking the ranking, with recall r and precision p after each clip and the
    initial point r = 0, p = 1, AP = sum (r - r_prev) * (p_prev + p) / 2. A clip is positive
    when its label is > 0 (UMT's ``1 if s > 0 else 0`` for YouTube Highlights' -1/0/1
    labels; for 0/1 or boolean labels this is the label itself). Returns 0.0 when the video
    has no positive clip.

    Raises:
        ValueError: empty or non-1-D input, mismatched lengths, NaN scores or labels.
    """
    s = _as_scores(scores)
    y = _as_scores(labels, name="labels")
    if y.shape != s.shape:
        raise MetricInputError(f"length mismatch: {s.size} scores but {y.size} labels")
    return float(_trapezoid_ranked(y[_rank(s)][:, None])[0])


def youtube_map(items: Iterable[tuple[Any, Any]]) -> float:
    """Mean over videos of :func:`ap_trapezoid` (YouTube Highlights mAP, one domain).

    ``items`` is an iterable (or a mapping, whose values are used) of ``(scores, labels)``
    pairs, one per video. A video without a positive clip counts as 0.
    """
    pairs = _as_items(items, "youtube_map")
    aps = []
    for i, (scores, labels) in enumerate(pairs):
        s = _as_scores(scores, video=i)
        y = _as_scores(labels, name="labels", video=i)
        if y.shape != s.shape:
            raise MetricInputError(
                f"length mismatch (video {i}): {s.size} scores but {y.size} labels"
            )
        aps.append(_trapezoid_ranked(y[_rank(s)][:, None])[0])
    return float(np.mean(aps))


# ------------------------------------------------------------------------ TVSum top-5


def _lower_median(user_scores: np.ndarray) -> np.ndarray:
    """Per-column lower median (``torch.median`` semantics): sorted[(n - 1) // 2]."""
    n = user_scores.shape[0]
    return np.sort(user_scores, axis=0)[(n - 1) // 2]


def tvsum_top5_map(items: Iterable[tuple[Any, Any]], top_k: int = 5) -> float:
    """TVSum top-k mAP with per-annotator median-binarised labels (UMT protocol).

    ``items``: ``(scores[n], user_scores[n, U])`` per video (or a mapping with such
    values); every video must have the same number U of annotators (20 for TVSum).

    For each annotator u and video: the clip is positive when its rating is strictly
    greater than the lower median of that annotator's ratings over the video's clips
    (``torch.median`` returns the lower of the two middle values). Clips are ranked by
    predicted score (stable sort), the top ``top_k`` are kept, and the trapezoid AP of
    :func:`ap_trapezoid` is computed over those ``top_k`` clips with the number of
    positives counted within them (0 when none). The result is averaged over videos, then
    over annotators (equal to the mean over all video x annotator pairs).
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise MetricInputError(f"top_k must be a positive integer, got {top_k!r}")
    pairs = _as_items(items, "tvsum_top5_map")
    per_video = []
    n_annot = None
    for i, (scores, user_scores) in enumerate(pairs):
        s = _as_scores(scores, video=i)
        u = _as_matrix(user_scores, s.size, "user_scores", video=i, ncols=n_annot)
        n_annot = u.shape[1]
        positive = u > _lower_median(u)[None, :]
        top = _rank(s)[:top_k]
        per_video.append(_trapezoid_ranked(positive[top]))
    ap = np.vstack(per_video)  # (videos, annotators)
    return float(np.mean(ap.mean(axis=0)))


# ---------------------------------------------------------------------- QVHighlights HL


def _interpolated_ap_columns(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """moment_detr ``get_ap`` (interpolate=True, point_11=False) for each label column.

    Operating points are the distinct score thresholds (tied scores form one point, as in
    ``sklearn.metrics.precision_recall_curve``). The precision at a point is replaced by
    the maximum precision over all points with at least its recall, and AP is the mean of
    that interpolated precision over the distinct non-zero recall levels, each level taken
    at the first (highest-threshold) point that reaches it. An all-negative column gives 0
    and an all-positive one 1 (the reference's special cases).
    """
    pos = labels > 0
    n, _ = pos.shape
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    # last index of each group of tied scores, in descending-score order
    ends = np.append(np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), n - 1)
    tps = np.cumsum(pos[order], axis=0, dtype=np.float64)[ends]  # (points, C)
    precision = tps / (ends + 1.0)[:, None]
    # interpolate: running maximum from the high-recall end (right) towards the left
    interp = np.maximum.accumulate(precision[::-1], axis=0)[::-1]
    prev_tps = np.vstack([np.zeros((1, tps.shape[1])), tps[:-1]])
    new_level = tps > prev_tps  # first point at each distinct non-zero recall level
    n_levels = new_level.sum(axis=0)
    ap = np.sum(interp * new_level, axis=0) / np.maximum(n_levels, 1)
    n_pos = pos.sum(axis=0)
    ap = np.where(n_pos == 0, 0.0, ap)
    return np.where(n_pos == n, 1.0, ap)


def interpolated_ap(scores: Any, labels: Any) -> float:
    """Interpolated AP of one label vector, as moment_detr ``get_ap`` computes it."""
    s = _as_scores(scores)
    y = _as_scores(labels, name="labels")
    if y.shape != s.shape:
        raise MetricInputError(f"length mismatch: {s.size} scores but {y.size} labels")
    return float(_interpolated_ap_columns(s, y[:, None])[0])


def qvhighlights_hl(items: Iterable[tuple[Any, Any]]) -> dict[str, float]:
    """QVHighlights highlight-detection metrics (moment_detr ``eval_highlight``).

    ``items``: ``(scores[n], saliency[n, A])`` per query (or a mapping with such values),
    ``saliency`` holding each annotator's 0..4 rating and 0 for clips outside the relevant
    windows (A = 3 in QVHighlights). For each threshold Fair (>= 2), Good (>= 3) and
    VeryGood (>= 4):

    * ``HIT@1``: 1 when the top-scored clip (``np.argmax``: the first one on ties) is
      positive for at least one annotator; averaged over queries.
    * ``mAP``: :func:`interpolated_ap` per (query, annotator), averaged over all of them.

    Returns fractions in [0, 1]: ``mAP-<name>`` and ``HIT@1-<name>`` for each threshold,
    plus ``mAP`` and ``HIT@1`` (the VeryGood values, the numbers usually reported).
    """
    pairs = _as_items(items, "qvhighlights_hl")
    data = []
    for i, (scores, saliency) in enumerate(pairs):
        s = _as_scores(scores, video=i)
        data.append((s, _as_matrix(saliency, s.size, "saliency", video=i)))
    out: dict[str, float] = {}
    for name, thr in QV_THRESHOLDS.items():
        hits = []
        aps = []
        for s, sal in data:
            binary = sal >= thr
            hits.append(float(binary[int(np.argmax(s))].any()))
            aps.append(_interpolated_ap_columns(s, binary))
        out[f"mAP-{name}"] = float(np.mean(np.concatenate(aps)))
        out[f"HIT@1-{name}"] = float(np.mean(hits))
    out["mAP"] = out["mAP-VeryGood"]
    out["HIT@1"] = out["HIT@1-VeryGood"]
    return out


# --------------------------------------------------------------------------- registry


def top5_map_binary(items: Iterable[tuple[Any, Any]], top_k: int = 5) -> float:
    """Top-k mAP against one binary ground truth per clip (HPCL's and PLD-VHD's TVSum).

    ``items``: ``(scores[n], labels[n])`` per video, a clip positive when its label is > 0
    (TVSum: the clip's mean rating over the annotators is above the video's median, the
    higher 50 % of its clips). The top ``top_k`` clips by predicted score (stable sort) are
    kept and :func:`ap_trapezoid`'s AP is computed over them with the positives counted
    within them, as :func:`tvsum_top5_map` does for one annotator; averaged over videos.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise MetricInputError(f"top_k must be a positive integer, got {top_k!r}")
    pairs = _as_items(items, "top5_map_binary")
    per_video = []
    for i, (scores, labels) in enumerate(pairs):
        s = _as_scores(scores, video=i)
        y = _as_matrix(np.asarray(labels, dtype=np.float64)[:, None], s.size, "labels", video=i)
        per_video.append(_trapezoid_ranked((y > 0)[_rank(s)[:top_k]])[0])
    return float(np.mean(per_video))


class Protocol(NamedTuple):
    """A registered evaluation protocol: how a row of a table is scored.

    ``columns``: the clip-table columns that hold the ground truth: an exact column name
    (``label``) or a prefix and ``*`` for the columns of that prefix followed by digits
    (``u*``: ``u0, u1, ...``, one column per annotator). ``averaging``: ``category`` (the
    value of each category, then their mean, as the papers report YouTube Highlights and
    TVSum) or ``all`` (one value over all videos or queries). ``function`` takes
    ``(scores, truth)`` pairs, one per video, and returns the value, or a dict with
    ``metric`` and secondary metrics (``qvhighlights-hl``).
    """

    description: str
    function: Callable[..., Any]
    metric: str
    columns: str
    averaging: str
    papers: str = ""


def _labels_column(items: Iterable[tuple[Any, Any]]) -> float:
    return top5_map_binary([(s, np.asarray(t)[:, 0]) for s, t in _as_items(items, "top50")])


def _youtube(items: Iterable[tuple[Any, Any]]) -> float:
    return youtube_map([(s, np.asarray(t)[:, 0]) for s, t in _as_items(items, "youtube-map")])


#: Protocol name -> :class:`Protocol` (read-only mapping): the one list of protocols. The
#: config schema's enum, the readers' defaults and ``hlp evaluate`` read it.
PROTOCOLS: Mapping[str, Protocol] = MappingProxyType(
    {
        "youtube-map": Protocol(
            "YouTube Highlights: mean over videos of the trapezoid AP over the full "
            "ranking of clips (label > 0 is positive); TencentARC/UMT "
            "YouTubeHighlights.evaluate.",
            _youtube,
            metric="mAP",
            columns="label",
            averaging="category",
            papers="all four papers (YouTube Highlights); the folder and synthetic datasets",
        ),
        "tvsum-top5-median": Protocol(
            "TVSum: per annotator, clips rated above the video's lower median are "
            "positive; trapezoid AP over the top-5 predicted clips, averaged over videos "
            "then annotators; TencentARC/UMT TVSum.evaluate, lighthouse "
            "compute_hl_results.",
            tvsum_top5_map,
            metric="top5_mAP",
            columns="u*",
            averaging="category",
            papers="AV-PH and CHD (TVSum, 'as prior works'); PLD-VHD (CoSum's three users)",
        ),
        "tvsum-top5-top50": Protocol(
            "TVSum: a clip is positive when its mean rating over the annotators is in the "
            "higher 50 % of the video's clips (above the video's median); trapezoid AP "
            "over the top-5 predicted clips, per video, averaged per category then over "
            "categories.",
            _labels_column,
            metric="top5_mAP",
            columns="label",
            averaging="category",
            papers="HPCL §4.1 and PLD-VHD §4.1.1 (TVSum: the top 50 % of segments by score)",
        ),
        "qvhighlights-hl": Protocol(
            "QVHighlights: HL-mAP (interpolated AP per query and annotator) and HL-HIT@1 "
            "at rating thresholds Fair>=2, Good>=3, VeryGood>=4; jayleicn/moment_detr "
            "eval_highlight / get_ap.",
            qvhighlights_hl,
            metric="mAP",
            columns="s*",
            averaging="all",
            papers="AV-PH (QVHighlights)",
        ),
    }
)


def get_protocol(name: str) -> Protocol:
    """The registered protocol ``name``; an unknown name is a :class:`MetricInputError`
    that lists the known ones."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        known = ", ".join(sorted(PROTOCOLS))
        raise MetricInputError(f"unknown protocol {name!r}; known: {known}") from None


def evaluate(protocol: str, items: Iterable[tuple[Any, Any]], **kwargs: Any) -> Any:
    """Run the registered ``protocol`` on ``items``."""
    return get_protocol(protocol).function(items, **kwargs)
