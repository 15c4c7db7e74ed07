"""The clip features and labels a method sees, gathered from the pipeline's files."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from highlight_pipeline.errors import DatasetError
from highlight_pipeline.features.clip_features import load_clip_features, read_clips
from highlight_pipeline.manifest import read_manifest

log = logging.getLogger(__name__)


@dataclass
class MethodInputs:
    videos: list[str]
    visual: list[np.ndarray]
    audio: list[np.ndarray | None]
    split: list[str]
    category: list[str]
    labels: list[np.ndarray]

    def subset(self, split: str) -> MethodInputs:
        keep = [i for i, s in enumerate(self.split) if s == split]
        return MethodInputs(
            *[[getattr(self, f)[i] for i in keep] for f in self.__dataclass_fields__]
        )


def load_method_inputs(
    manifest_path: str | Path,
    clips_path: str | Path,
    visual_shards: list[str | Path],
    audio_shards: list[str | Path],
    splits: dict[str, str] | None = None,
) -> MethodInputs:
    """Clip features and labels of every video with visual features; ``splits`` (video_id ->
    train/val/test under one split scheme) overrides the manifest's split column."""
    manifest = read_manifest(manifest_path).set_index("video_id")
    clips = read_clips(clips_path)
    visual = load_clip_features(visual_shards, clips)
    audio = load_clip_features(audio_shards, clips)
    for failure in visual.failed:
        log.warning(
            "skipping %s: visual features failed (%s)", failure["video_id"], failure["reason"]
        )
    videos = [v for v in visual.available() if v in manifest.index]
    if not videos:
        raise DatasetError(f"no video of {manifest_path} has visual features")
    labels = {v: g["label"].to_numpy() for v, g in clips.groupby("video_id", sort=False)}
    return MethodInputs(
        videos=videos,
        visual=[visual.by_video[v] for v in videos],
        audio=[audio.by_video.get(v) for v in videos],
        split=[
            splits.get(v, "") if splits is not None else str(manifest.at[v, "split"])
            for v in videos
        ],
        category=[str(manifest.at[v, "category"]) for v in videos],
        labels=[labels[v] for v in videos],
    )


def write_predictions(path: str | Path, videos: list[str], scores: list[np.ndarray]) -> None:
    frame = pd.DataFrame({"video_id": videos, "scores": [np.round(s, 6).tolist() for s in scores]})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_json(path, orient="records", lines=True)


def read_predictions(path: str | Path) -> dict[str, np.ndarray]:
    frame = pd.read_json(path, orient="records", lines=True, dtype={"video_id": str})
    return {
        v: np.asarray(s, dtype=np.float64)
        for v, s in zip(frame["video_id"], frame["scores"], strict=True)
    }
