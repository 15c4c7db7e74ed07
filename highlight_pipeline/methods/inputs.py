"""What a method sees of a dataset, gathered from the pipeline's files, and predictions I/O.

:func:`load_method_inputs` reads only what a run consumes (its registry entry says which):
clip features per modality, ground-truth clip labels, pseudo-highlights. Every method gets
the same per-video record, :class:`VideoInputs`; ``hlp predict`` builds one for a new video.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from highlight_pipeline.errors import DatasetError
from highlight_pipeline.features.clip_features import load_clip_features, read_clips
from highlight_pipeline.manifest import read_manifest

log = logging.getLogger(__name__)


@dataclass
class VideoInputs:
    """One video's clips and what the run reads of it (``None``: not read, or missing)."""

    video_id: str
    starts: np.ndarray
    ends: np.ndarray
    category: str = ""
    split: str = ""
    labels: np.ndarray | None = None  # ground truth per clip, -1 where unknown
    visual: np.ndarray | None = None
    audio: np.ndarray | None = None  # None also when the video has no usable audio
    pseudo: object | None = None  # a pseudo.highlights.PseudoHighlight (training videos)
    path: str = ""

    @property
    def n_clips(self) -> int:
        return len(self.starts)


@dataclass
class MethodInputs:
    videos: list[VideoInputs]
    kinds: frozenset[str] = frozenset()
    files: dict[str, list[str]] = field(default_factory=dict)  # input kind -> its files

    def subset(self, split: str) -> MethodInputs:
        return replace(self, videos=[v for v in self.videos if v.split == split])

    def __len__(self) -> int:
        return len(self.videos)


def training_subset(video_ids: list[str], fraction: float, seed: int) -> list[str]:
    """A seeded share of the training videos (Table 11 of AV-PH), at least two, sorted.

    The draw depends only on the sorted ids, the fraction and the seed, so the pseudo job
    and the training job of a run pick the same videos."""
    ids = sorted(video_ids)
    if fraction >= 1.0 or len(ids) <= 2:
        return ids
    keep = max(2, int(round(fraction * len(ids))))
    chosen = np.random.default_rng(seed).permutation(len(ids))[:keep]
    return sorted(ids[i] for i in chosen)


def load_method_inputs(
    manifest_path: str | Path,
    clips_path: str | Path,
    splits: dict[str, str] | None = None,
    features: dict[str, list[str]] | None = None,
    pseudo_path: str | Path | None = None,
    kinds: frozenset[str] | set[str] = frozenset(),
) -> MethodInputs:
    """Every usable video of the manifest with its clips and the inputs in ``kinds``.

    ``features`` maps a modality to its shard files; ``splits`` (video_id -> train/val/test
    under one split scheme) overrides the manifest's split column. A video whose visual
    features failed is left out (with a warning) when the run reads visual features; a
    video without audio keeps ``audio=None`` (a method decides what that means)."""
    features = features or {}
    manifest = read_manifest(manifest_path).set_index("video_id")
    clips = read_clips(clips_path)
    by_modality = {m: load_clip_features(paths, clips) for m, paths in features.items()}
    for modality, found in by_modality.items():
        for failure in found.failed:
            log.warning(
                "skipping %s: %s features failed (%s)",
                failure["video_id"],
                modality,
                failure["reason"],
            )
    pseudo = {}
    if pseudo_path is not None:
        from highlight_pipeline.pseudo.highlights import read_pseudo_highlights

        pseudo = read_pseudo_highlights(pseudo_path)
    videos: list[VideoInputs] = []
    for video_id, group in clips.groupby("video_id", sort=False):
        if video_id not in manifest.index:
            continue
        if "visual" in by_modality and by_modality["visual"].by_video.get(video_id) is None:
            continue  # the visual stream is what every feature-based method scores
        if set(by_modality) == {"audio"} and by_modality["audio"].by_video.get(video_id) is None:
            log.warning("skipping %s: no audio features for an audio-only run", video_id)
            continue
        row = manifest.loc[video_id]
        videos.append(
            VideoInputs(
                video_id=str(video_id),
                starts=group["start"].to_numpy(float),
                ends=group["end"].to_numpy(float),
                category=str(row["category"]),
                split=(splits.get(video_id, "") if splits is not None else str(row["split"])),
                labels=group["label"].to_numpy() if "label" in group else None,
                visual=by_modality["visual"].by_video.get(video_id)
                if "visual" in by_modality
                else None,
                audio=by_modality["audio"].by_video.get(video_id)
                if "audio" in by_modality
                else None,
                pseudo=pseudo.get(video_id),
                path=str(row["path"]),
            )
        )
    if not videos:
        raise DatasetError(f"no video of {manifest_path} has the inputs this run needs")
    files = {m: [str(p) for p in paths] for m, paths in features.items()}
    if pseudo_path is not None:
        files["pseudo"] = [str(pseudo_path)]
    return MethodInputs(videos, frozenset(kinds), files)


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
