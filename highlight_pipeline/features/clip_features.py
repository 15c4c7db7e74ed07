"""Clip-level features of a dataset: window features from the shards pooled onto clips.csv.

Where a modality's stream ended early (a ``partial`` shard entry), a video has features of
that modality for its leading clips inside the decoded extent only
(:func:`~highlight_pipeline.features.pooling.decoded_clips`); its other clips are missing
for that modality: the array is shorter than the video's clips, never padded. A partial
stream that covers no clip is missing altogether (``None``), as a video without sound is.

A hole that damaged packets left inside a stream, longer than one window, leaves the clips
over it without features of that modality (``pooling.pool_windows``: NaN). The methods read
a video's leading clips only, so its features are those before the first such clip, and
the rest is missing as past an early end (``gaps`` records it); the shard keeps every
window decoded after the hole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from highlight_pipeline.features.pooling import decoded_clips, pool_windows, present_clips
from highlight_pipeline.features.shards import load_features

log = logging.getLogger(__name__)


@dataclass
class ClipFeatures:
    """Per video ``[n, D]`` features of its first n clips (all of them unless the stream
    ended early); ``None`` where the modality is missing."""

    by_video: dict[str, np.ndarray | None]
    dim: int
    failed: list[dict]
    n_clips: dict[str, int] = field(default_factory=dict)  # the video's clips in clips.csv
    partial: dict[str, tuple[float, float]] = field(default_factory=dict)  # (extent, claimed)
    gaps: dict[str, np.ndarray] = field(default_factory=dict)  # [K, 2] holes that cut a video
    # [D] per video: the centre its extractor took off every window (shards.py's ``centre``)
    centres: dict[str, np.ndarray] = field(default_factory=dict)

    def video_mean(self, video_id: str) -> np.ndarray:
        """The mean of the video's clip features before the extractor's per-recording
        centring (the mean itself where the extractor does not centre)."""
        return with_centre(self.by_video[video_id].mean(axis=0), self.centres.get(video_id))

    def available(self) -> list[str]:
        return [v for v, x in self.by_video.items() if x is not None]

    def clip_count(self, video_id: str) -> int:
        """The video's clips in clips.csv (the feature rows where that is not recorded)."""
        if video_id in self.n_clips:
            return self.n_clips[video_id]
        found = self.by_video.get(video_id)
        return 0 if found is None else len(found)


def with_centre(mean: np.ndarray, centre: np.ndarray | None) -> np.ndarray:
    """A video's mean feature with its per-recording centre added back (``centre``: None
    where the extractor took none off)."""
    return mean if centre is None else mean + centre


def read_clips(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"video_id": str})


def load_clip_features(shard_paths: list[str | Path], clips: pd.DataFrame) -> ClipFeatures:
    entries, failed = load_features(shard_paths)
    by_video: dict[str, np.ndarray | None] = {}
    n_clips: dict[str, int] = {}
    partial: dict[str, tuple[float, float]] = {}
    gaps: dict[str, np.ndarray] = {}
    centres: dict[str, np.ndarray] = {}
    dim = 0
    for video_id, group in clips.groupby("video_id", sort=False):
        entry = entries.get(video_id)
        if entry is None:
            continue  # failed or rejected: not part of this modality
        dim = entry.windows.shape[1]
        n_clips[video_id] = len(group)
        if entry.missing or len(entry.windows) == 0:
            by_video[video_id] = None
            continue
        starts, ends = group["start"].to_numpy(float), group["end"].to_numpy(float)
        keep = len(group)
        if entry.partial and entry.extent is not None:
            keep = decoded_clips(starts, ends, entry.extent)
            claimed = entry.duration if entry.duration is not None else float(ends.max())
            partial[video_id] = (entry.extent, claimed)
            log.warning(
                "%s: its stream ends at %.2f s of %.2f s (partial): features for %d of its "
                "%d clips, the rest missing",
                video_id,
                entry.extent,
                claimed,
                keep,
                len(group),
            )
        pooled = None
        if keep:
            pooled = pool_windows(entry.windows, entry.start, entry.end, starts[:keep], ends[:keep])
            present = present_clips(pooled)
            if present < keep:
                gaps[video_id] = entry.gaps
                log.warning(
                    "%s: no data at %s s (damaged packets): features for %d of its %d clips, "
                    "the rest missing",
                    video_id,
                    ", ".join(f"{a:.2f}-{b:.2f}" for a, b in entry.gaps),
                    present,
                    len(group),
                )
                keep, pooled = present, pooled[:present]
        by_video[video_id] = pooled if keep else None
        if entry.centre is not None:
            centres[video_id] = entry.centre
    return ClipFeatures(by_video, dim, failed, n_clips, partial, gaps, centres)
