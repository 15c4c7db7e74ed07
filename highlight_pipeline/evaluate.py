"""Evaluate one run's predictions on a split with the dataset's protocol; write metrics JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from highlight_pipeline.config import slice_hash
from highlight_pipeline.errors import DatasetError
from highlight_pipeline.features.clip_features import read_clips
from highlight_pipeline.manifest import read_manifest
from highlight_pipeline.metrics import ap_trapezoid
from highlight_pipeline.provenance import provenance

PROTOCOL_METRIC = {"youtube-map": "mAP"}


def youtube_map_by_category(
    predictions: dict[str, np.ndarray], clips: pd.DataFrame, manifest: pd.DataFrame, split: str
) -> tuple[dict[str, float], float, int]:
    """Per-category mean of per-video trapezoid AP on ``split``; average over categories."""
    videos = manifest[(manifest["split"] == split) & manifest["video_id"].isin(predictions.keys())]
    if videos.empty:
        raise DatasetError(f"no predicted video in split {split!r}")
    labels = {v: g["label"].to_numpy() for v, g in clips.groupby("video_id", sort=False)}
    if any((labels[v] < 0).any() for v in videos["video_id"]):
        raise DatasetError("the dataset has no highlight labels (highlights.csv): cannot evaluate")
    per_category: dict[str, list[float]] = {}
    for row in videos.itertuples():
        ap = ap_trapezoid(predictions[row.video_id], labels[row.video_id])
        per_category.setdefault(row.category or "all", []).append(ap)
    means = {c: float(np.mean(v)) for c, v in sorted(per_category.items())}
    return means, float(np.mean(list(means.values()))), len(videos)


def evaluate_run(
    predictions: dict[str, np.ndarray],
    clips_path: str | Path,
    manifest_path: str | Path,
    protocol: str,
    split: str,
    run: dict,
    method_slice: dict,
) -> dict:
    if protocol not in PROTOCOL_METRIC:
        raise DatasetError(f"protocol {protocol!r} is not supported yet")
    per_category, average, n_videos = youtube_map_by_category(
        predictions, read_clips(clips_path), read_manifest(manifest_path), split
    )
    return {
        **run,
        "protocol": protocol,
        "metric": PROTOCOL_METRIC[protocol],
        "split": split,
        "per_category": per_category,
        "average": average,
        "n_videos": n_videos,
        "config_slice": method_slice,
        "config_hash": slice_hash(method_slice),
        **provenance(),
    }


def write_metrics(path: str | Path, metrics: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
