"""What a method sees of a dataset, gathered from the pipeline's files.

:func:`load_method_inputs` reads only what a run consumes (its registry entry says which):
clip features per modality, ground-truth clip labels, pseudo-highlights. Every method gets
the same per-video record, :class:`VideoInputs`; ``hlp predict`` builds one for a new video.
:class:`InputFiles` are the files a step is given (``hlp train``, ``score``, ``pseudo``,
...: the manifest, clips, feature shards, frames, pseudo-highlights, splits).

Streams that end early. Where a modality's stream ended before the video's claimed
duration (a truncated file, a sound track shorter than the picture), that modality has
features only for the video's leading clips (``features.clip_features``). A run sees each
video cut to the clips where *every* feature modality it reads exists: its clips, labels,
features and pseudo-highlights are those first ``n`` clips, the same for all of them, and
``total_clips`` keeps how many clips the video has. The clips past the cut are not shown to
the method, for training or scoring; ``predictions.write_predictions`` gives them no
score (null in the JSON), and evaluation leaves them out. A modality the video lacks altogether (no
sound; a stream that ended before its first clip) is ``None``, as before, and does not
cut the video: the method decides what a missing modality means.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from highlight_pipeline.errors import DatasetError, PipelineError
from highlight_pipeline.features.clip_features import load_clip_features, read_clips
from highlight_pipeline.manifest import read_manifest, split_map
from highlight_pipeline.methods.registry import FEATURE_INPUTS

# The prediction files' I/O lived here; it is ``highlight_pipeline.predictions`` now.
from highlight_pipeline.predictions import read_predictions as read_predictions
from highlight_pipeline.predictions import write_predictions as write_predictions

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
    total_clips: int | None = None  # the video's clips in clips.csv (None: n_clips, uncut)
    frames: object | None = None  # a features.frames.FrameSource (pld; read on demand)
    saliency: object | None = None  # a features.saliency_maps.SaliencyTrack (pld)
    # modality -> [D]: the centre its extractor took off every window (ClipFeatures.centres)
    centres: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_clips(self) -> int:
        return len(self.starts)

    @property
    def missing_clips(self) -> int:
        """Clips past the cut: a stream the run reads ended before them."""
        return 0 if self.total_clips is None else self.total_clips - self.n_clips


@dataclass
class MethodInputs:
    videos: list[VideoInputs]
    kinds: frozenset[str] = frozenset()
    files: dict[str, list[str]] = field(default_factory=dict)  # input kind -> its files
    frame_geometry: dict | None = None  # the frame cache's fps, height, width (when read)

    def subset(self, split: str) -> MethodInputs:
        return replace(self, videos=[v for v in self.videos if v.split == split])

    def __len__(self) -> int:
        return len(self.videos)


@dataclass(frozen=True)
class InputFiles:
    """The dataset files a step is given on its command line (``--manifest``, ``--clips``,
    the shards of each feature modality, ``--frames``, ``--pseudo``, ``--splits`` and
    ``--split-scheme``); nothing is read until asked."""

    manifest: str
    clips: str
    features: dict[str, list[str]] = field(default_factory=dict)  # modality -> its shards
    frames: list[str] | None = None
    pseudo: str | None = None
    splits: str | None = None
    split_scheme: str = "default"

    def split_of(self) -> dict[str, str]:
        """video_id -> split: the scheme from ``splits``, else the manifest's split column."""
        return split_map(self.manifest, self.splits, self.split_scheme)

    def require(self, kinds: frozenset[str], step: str, who: str = "the model") -> None:
        """Refuse a step whose run reads a kind of file (``kinds``) it was not given, naming
        the options to give."""
        files = {*FEATURE_INPUTS, "pseudo", "frames"}
        given = {m for m, paths in self.features.items() if paths}
        given |= {k for k in ("pseudo", "frames") if getattr(self, k)}
        missing = sorted((kinds & files) - given)
        if missing:
            raise PipelineError(f"hlp {step}: {who} needs " + ", ".join(f"--{m}" for m in missing))

    def load(self, kinds: frozenset[str]) -> MethodInputs:
        """:func:`load_method_inputs` of the files of ``kinds`` (the others are not read)."""
        return load_method_inputs(
            self.manifest,
            self.clips,
            self.split_of(),
            {m: v for m, v in self.features.items() if m in kinds},
            self.pseudo if "pseudo" in kinds else None,
            kinds,
            frames=self.frames if "frames" in kinds else None,
        )

    def paths(self) -> list[str]:
        """Every file given beside the loaded inputs: the manifest, clips and splits."""
        return [self.manifest, self.clips] + ([self.splits] if self.splits else [])


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
    frames: list[str] | None = None,
) -> MethodInputs:
    """Every usable video of the manifest with its clips and the inputs in ``kinds``.

    ``features`` maps a modality to its shard files; ``splits`` (video_id -> train/val/test
    under one split scheme) overrides the manifest's split column. A video whose visual
    features failed is left out (with a warning) when the run reads visual features; a
    video without audio keeps ``audio=None`` (a method decides what that means). A video
    whose stream of a modality in ``features`` ended early is cut to its leading clips
    that have every such modality (the module docstring), with a warning.

    Saliency shards (``features["saliency"]``) and frame shards (``frames``) are not pooled
    into clips: each video gets a handle that reads its maps or frames on demand
    (``VideoInputs.saliency``, ``VideoInputs.frames``); they do not cut the video, the
    method reads their extents."""
    features = dict(features or {})
    saliency_paths = features.pop("saliency", None)
    manifest = read_manifest(manifest_path).set_index("video_id")
    clips = read_clips(clips_path)
    by_modality = {m: load_clip_features(paths, clips) for m, paths in features.items()}
    tracks, frame_cache = _pixel_inputs(saliency_paths, frames)
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
        found = {m: f.by_video.get(video_id) for m, f in by_modality.items()}
        keep = min([len(x) for x in found.values() if x is not None] + [len(group)])
        if keep < len(group):
            ended = [
                f"{m} ends at {by_modality[m].partial[video_id][0]:.2f} s"
                for m in sorted(found)
                if video_id in by_modality[m].partial and found[m] is not None
            ]
            log.warning(
                "%s: %d of its %d clips kept (%s of %.2f s): the last %d lack features "
                "this run reads and are neither trained on nor scored",
                video_id,
                keep,
                len(group),
                ", ".join(ended),
                float(row["duration"]),
                len(group) - keep,
            )
        clipped = group.iloc[:keep]
        video_pseudo = pseudo.get(video_id)
        if video_pseudo is not None and keep < len(video_pseudo.av):
            video_pseudo = video_pseudo.head(keep)
        videos.append(
            VideoInputs(
                video_id=str(video_id),
                starts=clipped["start"].to_numpy(float),
                ends=clipped["end"].to_numpy(float),
                category=str(row["category"]),
                split=(splits.get(video_id, "") if splits is not None else str(row["split"])),
                labels=clipped["label"].to_numpy() if "label" in clipped else None,
                visual=_head(found.get("visual"), keep),
                audio=_head(found.get("audio"), keep),
                pseudo=video_pseudo,
                path=str(row["path"]),
                total_clips=len(group),
                frames=None if frame_cache is None else frame_cache.sources.get(video_id),
                saliency=tracks.get(video_id),
                centres={
                    m: f.centres[video_id] for m, f in by_modality.items() if video_id in f.centres
                },
            )
        )
    if not videos:
        raise DatasetError(f"no video of {manifest_path} has the inputs this run needs")
    files = {m: [str(p) for p in paths] for m, paths in features.items()}
    if saliency_paths:
        files["saliency"] = [str(p) for p in saliency_paths]
    if frames:
        files["frames"] = [str(p) for p in frames]
    if pseudo_path is not None:
        files["pseudo"] = [str(pseudo_path)]
    geometry = None
    if frame_cache is not None:
        cache = frame_cache
        geometry = {"fps": cache.fps, "height": cache.height, "width": cache.width}
    return MethodInputs(videos, frozenset(kinds), files, geometry)


def _pixel_inputs(saliency_paths: list[str] | None, frame_paths: list[str] | None):
    """Saliency tracks by video and the frame cache (None when not read), with a warning
    per video whose maps or frames failed."""
    tracks: dict = {}
    cache = None
    if saliency_paths:
        from highlight_pipeline.features.saliency_maps import open_saliency_tracks

        tracks, failed = open_saliency_tracks(saliency_paths)
        for failure in failed:
            log.warning("%s: saliency failed (%s)", failure["video_id"], failure["reason"])
    if frame_paths:
        from highlight_pipeline.features.frames import open_frame_cache

        cache = open_frame_cache(frame_paths)
        for failure in cache.failed:
            log.warning("%s: frames failed (%s)", failure["video_id"], failure["reason"])
    return tracks, cache


def _head(features: np.ndarray | None, n: int) -> np.ndarray | None:
    return None if features is None else features[:n]
