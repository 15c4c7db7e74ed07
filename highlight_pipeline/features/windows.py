"""The window grid shared by all modalities, and averaging of per-frame rows into windows."""

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
    csum = np.concatenate([np.zeros((1, rows.shape[1])), np.cumsum(rows, axis=0, dtype=np.float64)])
    return (csum[hi] - csum[lo]) / (hi - lo)[:, None]


def range_means(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mean of ``rows[lo[i]:hi[i]]`` for every i, vectorised with a cumulative sum."""
    return _range_means64(rows, lo, hi).astype(np.float32)


def range_stds(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Standard deviation over the same ranges (moments in float64, cast at the end)."""
    rows64 = rows.astype(np.float64)
    mean = _range_means64(rows64, lo, hi)
    mean_sq = _range_means64(rows64**2, lo, hi)
    return np.sqrt(np.clip(mean_sq - mean**2, 0, None)).astype(np.float32)
