"""Prediction files: a run's clip scores, ``….scores.jsonl`` (``hlp score`` writes them).

One JSON line per video, ``{"video_id": "...", "scores": [...]}``: one score per clip of
the video in clips.csv, in clip order, rounded to 6 decimals. A clip without a score is
``null``: the clips past the cut of a video whose feature stream ended early
(``methods/inputs.py``), or every clip of a video the method leaves unscored. No score is
ever made up for them: :func:`read_predictions` gives NaN for them (evaluation leaves
them out), and a QVHighlights submission refuses them (``qvhighlights_submission.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from highlight_pipeline.atomic import atomic_output
from highlight_pipeline.errors import DatasetError


def write_predictions(
    path: str | Path,
    videos: list[str],
    scores: list[np.ndarray],
    total_clips: list[int | None] | None = None,
) -> None:
    """One JSON line per video: its clip scores. With ``total_clips`` (each video's clips in
    clips.csv, :attr:`~highlight_pipeline.methods.inputs.VideoInputs.total_clips`), a video
    scored on its leading clips only gets ``null`` for the rest: clips without a score,
    never an invented one."""
    if total_clips is not None:
        scores = [_padded(np.asarray(s), n) for s, n in zip(scores, total_clips, strict=True)]
    frame = pd.DataFrame({"video_id": videos, "scores": [_rounded(s) for s in scores]})
    with atomic_output(path) as tmp:
        frame.to_json(tmp, orient="records", lines=True)


def _padded(scores: np.ndarray, n: int | None) -> np.ndarray:
    if n is None or len(scores) >= n:
        return scores
    return np.concatenate([scores, np.full(n - len(scores), np.nan)])


def _rounded(scores: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(x) else x for x in np.round(scores, 6).tolist()]


def read_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """video_id -> clip scores (NaN for a clip without a score)."""
    frame = pd.read_json(path, orient="records", lines=True, dtype={"video_id": str})
    return {
        v: np.asarray(s, dtype=np.float64)
        for v, s in zip(frame["video_id"], frame["scores"], strict=True)
    }


def read_prediction_lists(
    path: str | Path, error: type[Exception] = DatasetError
) -> dict[str, list]:
    """video_id -> its clip scores as written (None for a clip without a score), for a
    reader that checks every value itself; a line that is not JSON or not a scores line
    is ``error`` naming the file and line."""
    from highlight_pipeline.datasets.qvhighlights import json_lines

    found: dict[str, list] = {}
    for lineno, obj in json_lines(path, error):
        if not isinstance(obj, dict) or not isinstance(obj.get("scores"), list):
            raise error(f"{path}:{lineno}: not a scores line (video_id, scores)")
        found[str(obj.get("video_id"))] = obj["scores"]
    return found
