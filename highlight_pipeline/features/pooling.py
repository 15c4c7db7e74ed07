"""Pool window features to clips: a window belongs to a clip when at least half of it overlaps.

Windows are sorted by start and have (nearly) equal lengths, so each clip's members form
a contiguous run; sums over all runs come from one ``np.add.reduceat`` call, memory
O(clips x D). A clip that no window half-covers takes the window nearest its centre.

A stream that ended early (a partial shard entry) has features only for the leading clips
that lie at least half inside its decoded extent (:func:`decoded_clips`); only those are
pooled, so no clip past the stream's end borrows its last window.

A missing window (NaN: it overlaps a hole that damaged packets left in the stream) is left
out of its clip's mean; a clip whose member windows are all missing, or whose nearest
window is, is missing itself (a NaN row), never filled from other windows.
"""

from __future__ import annotations

import numpy as np


def member_ranges(
    win_start: np.ndarray, win_end: np.ndarray, clip_start: np.ndarray, clip_end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per clip, the window index range ``[first, last)`` of its members (empty -> nearest)."""
    length = win_end - win_start
    lo = np.searchsorted(win_end, clip_start, side="right")  # first window ending after start
    hi = np.searchsorted(win_start, clip_end, side="left")  # windows starting before the end
    span = int(max(1, (hi - lo).max(initial=1)))
    idx = np.clip(lo[:, None] + np.arange(span)[None, :], 0, len(win_start) - 1)
    valid = (lo[:, None] + np.arange(span)[None, :]) < hi[:, None]
    overlap = np.minimum(win_end[idx], clip_end[:, None]) - np.maximum(
        win_start[idx], clip_start[:, None]
    )
    member = valid & (overlap >= 0.5 * length[idx] - 1e-9)
    has = member.any(axis=1)
    first = lo + np.argmax(member, axis=1)
    last = lo + span - np.argmax(member[:, ::-1], axis=1)
    centres = 0.5 * (win_start + win_end)
    nearest = (
        np.abs(centres[None, :] - 0.5 * (clip_start + clip_end)[:, None]).argmin(axis=1)
        if (not has.all())
        else np.zeros(len(clip_start), dtype=np.int64)
    )
    first = np.where(has, first, nearest)
    last = np.where(has, last, nearest + 1)
    return first, last


def pool_windows(
    windows: np.ndarray,
    win_start: np.ndarray,
    win_end: np.ndarray,
    clip_start: np.ndarray,
    clip_end: np.ndarray,
) -> np.ndarray:
    """Clip features ``[C, D]``: mean of the member windows of each clip that are not
    missing (NaN where all of them are)."""
    first, last = member_ranges(win_start, win_end, clip_start, clip_end)
    present = np.isfinite(windows).all(axis=1)
    counts = last - first
    bounds = np.stack([first, last], axis=1).ravel()
    if not present.all():
        windows = np.where(present[:, None], windows, 0).astype(windows.dtype)
        seen = np.add.reduceat(np.concatenate([present, [False]]).astype(np.int64), bounds)[::2]
        counts = np.where(seen > 0, seen, np.nan)
    padded = np.concatenate([windows, np.zeros((1, windows.shape[1]), windows.dtype)])
    sums = np.add.reduceat(padded, bounds, axis=0)[::2]
    return (sums / counts[:, None]).astype(np.float32)


def present_clips(features: np.ndarray) -> int:
    """How many leading clips have features (no NaN row): a run reads a video up to the
    first clip that a hole in one of its streams left without any."""
    missing = ~np.isfinite(features).all(axis=1)
    return int(np.argmax(missing)) if missing.any() else len(features)


def decoded_clips(clip_start: np.ndarray, clip_end: np.ndarray, extent: float) -> int:
    """How many leading clips lie at least half inside ``[0, extent]`` (a stream's decoded
    extent): the clips that have features of that stream. Counting stops at the first
    clip that does not, so the clips kept are always a prefix of the video's clips."""
    inside = np.minimum(clip_end, extent) - clip_start
    present = inside >= 0.5 * (clip_end - clip_start) - 1e-9
    return int(len(present) if present.all() else np.argmin(present))
