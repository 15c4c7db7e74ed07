"""The window grid shared by all modalities, and averaging of per-frame rows into windows.

Missing data is NaN: a row (a frame's features) with a NaN comes from a hole that damaged
packets left in a stream (``video.decode``) and is left out of a window's mean; a window
that overlaps a hole longer than one window is missing altogether (:func:`mark_gaps`).
"""

from __future__ import annotations

import numpy as np


def window_grid(duration: float, window_seconds: float, stride_seconds: float) -> np.ndarray:
    """``[N, 2]`` window start/end times covering a video of ``duration`` seconds.

    Windows are ``window_seconds`` long every ``stride_seconds``; a video shorter than
    one window gets a single window ``[0, duration]`` (callers flag it as short).
    """
    if duration <= window_seconds:
        return np.array([[0.0, max(duration, 1e-3)]])
    count = int(np.floor((duration - window_seconds) / stride_seconds + 1e-9)) + 1
    starts = np.arange(count) * stride_seconds
    return np.stack([starts, starts + window_seconds], axis=1)


def frame_ranges(grid: np.ndarray, rate: float, available: int) -> tuple[np.ndarray, np.ndarray]:
    """Index ranges ``[lo, hi)`` of rows sampled at ``rate`` per second inside each window."""
    lo = np.clip(np.round(grid[:, 0] * rate).astype(np.int64), 0, max(available - 1, 0))
    hi = np.clip(np.round(grid[:, 1] * rate).astype(np.int64), lo + 1, max(available, 1))
    return lo, hi


def _range_means64(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    present = np.isfinite(rows).all(axis=1)
    counts = hi - lo
    if not present.all():  # rows of a hole: left out; a range of them only is NaN
        rows = np.where(present[:, None], rows, 0.0)
        seen = np.concatenate([[0], np.cumsum(present)])
        counts = np.where(seen[hi] > seen[lo], seen[hi] - seen[lo], np.nan)
    csum = np.concatenate([np.zeros((1, rows.shape[1])), np.cumsum(rows, axis=0, dtype=np.float64)])
    return (csum[hi] - csum[lo]) / counts[:, None]


def range_means(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mean of ``rows[lo[i]:hi[i]]`` for every i, vectorised with a cumulative sum; rows
    with a NaN (missing) are left out, and a range without any other row is NaN."""
    return _range_means64(rows, lo, hi).astype(np.float32)


def range_stds(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Standard deviation over the same ranges (moments in float64, cast at the end;
    missing rows left out as in :func:`range_means`)."""
    rows64 = rows.astype(np.float64)
    mean = _range_means64(rows64, lo, hi)
    mean_sq = _range_means64(rows64**2, lo, hi)
    return np.sqrt(np.clip(mean_sq - mean**2, 0, None)).astype(np.float32)


def long_gaps(gaps: list[tuple[float, float]] | np.ndarray, window_seconds: float) -> np.ndarray:
    """``[K, 2]`` start/end seconds of the holes longer than one window."""
    spans = np.asarray(gaps, dtype=np.float64).reshape(-1, 2)
    return spans[spans[:, 1] - spans[:, 0] > window_seconds]


def mark_gaps(
    windows: np.ndarray,
    grid: np.ndarray,
    gaps: list[tuple[float, float]] | np.ndarray,
    window_seconds: float,
) -> np.ndarray:
    """Set to NaN (missing) the windows that overlap a hole longer than one window, in
    place; return those holes (``[K, 2]`` seconds). Nothing stands in for what a hole
    lacks: its windows are not made from the frames or sound around it."""
    spans = long_gaps(gaps, window_seconds)
    if len(spans) and len(windows):
        over = (grid[:, :1] < spans[:, 1]) & (grid[:, 1:2] > spans[:, 0])
        windows[over.any(axis=1)] = np.nan
    return spans


def nan_runs(samples: np.ndarray, offset: int, runs: list[list[int]]) -> None:
    """Add to ``runs`` the ``[start, end)`` index runs of NaN samples of a chunk that starts
    at sample ``offset`` (a run that goes on from the last one extends it)."""
    missing = np.isnan(samples)
    if not missing.any():
        return
    edges = np.flatnonzero(np.diff(np.concatenate([[False], missing, [False]]).astype(np.int8)))
    for start, end in zip(edges[::2] + offset, edges[1::2] + offset, strict=True):
        if runs and runs[-1][1] == start:
            runs[-1][1] = int(end)
        else:
            runs.append([int(start), int(end)])
