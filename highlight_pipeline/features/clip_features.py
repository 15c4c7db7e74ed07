"""Clip-level features of a dataset: window features from the shards pooled onto clips.csv."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from highlight_pipeline.features.pooling import pool_windows
from highlight_pipeline.features.shards import load_features

log = logging.getLogger(__name__)


@dataclass
class ClipFeatures:
    """Per video ``[n_clips, D]`` features; ``None`` where the modality is missing."""

    by_video: dict[str, np.ndarray | None]
    dim: int
    failed: list[dict]

    def available(self) -> list[str]:
        return [v for v, x in self.by_video.items() if x is not None]


def read_clips(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"video_id": str})


def load_clip_features(shard_paths: list[str | Path], clips: pd.DataFrame) -> ClipFeatures:
    entries, failed = load_features(shard_paths)
    by_video: dict[str, np.ndarray | None] = {}
    dim = 0
    for video_id, group in clips.groupby("video_id", sort=False):
        entry = entries.get(video_id)
        if entry is None:
            continue  # failed or rejected: not part of this modality
        dim = entry.windows.shape[1]
        if entry.missing or len(entry.windows) == 0:
            by_video[video_id] = None
            continue
        by_video[video_id] = pool_windows(
            entry.windows,
            entry.start,
            entry.end,
            group["start"].to_numpy(float),
            group["end"].to_numpy(float),
        )
    return ClipFeatures(by_video, dim, failed)
