"""VTW, Video Titles in the Wild (Zeng, Chen, Niebles, Sun, "Title generation for user
generated videos", ECCV 2016), the highlight part CHD evaluates on (2,000 training and 2,000
test videos in Zeng et al.'s split, clips of 100 frames, mAP).

The layout below is the pipeline's own. The file layout of the official VTW highlight
annotation could not be confirmed: the project page (aliensunmin.github.io/project/
video-language) and summaries of the paper speak of ground-truth highlights (median
duration about 100 frames) but not of their files, and no public code that loads them was
found (the CHD repository, tkbadamdorj/CHD, holds only a README). Convert the release into
these two CSV files (docs/datasets.md, "VTW"):

    vtw_videos.csv        header row; columns video_id, split, frames (more are ignored)
    vtw_highlights.csv    header row; columns video_id, start_frame, end_frame: one
                          ground-truth highlight interval a row
    videos/{video_id}.mp4 the videos (``video_pattern``)

``split`` is ``train``, ``val`` or ``test`` (blank: in no split). ``frames`` is the video's
frame count, the count the highlight frame numbers refer to; blank takes the manifest's
(the probed video file's). Frame numbers are 0-based and an interval is half-open:
``start_frame`` is its first frame, ``end_frame`` the frame after its last, with
``0 <= start_frame < end_frame <= frames``. Intervals may overlap. A video without any row
in vtw_highlights.csv is unlabelled (its clips get ``label`` -1; evaluation refuses it).

Config keys:

* ``root``: the folder above.
* ``video_pattern``: default ``"videos/{video_id}.mp4"``; field ``{video_id}``.
* ``split_scheme``: ``"default"`` (the only one: the ``split`` column).

Clips: consecutive, non-overlapping 100-frame clips (the paper, after Zeng et al.): clip k
covers frames ``[100 k, min(100 (k + 1), frames))``, so the last clip is shorter when
``frames`` is not a multiple of 100 (kept, so that every frame and every highlight lies in a
clip); ``start``/``end`` are those frames / the manifest's fps. Columns ``label`` (1 when the
clip shares at least one frame with a ground-truth highlight: CHD does not say how the
intervals become clip labels, so this is the pipeline's choice), ``highlight_frames`` (how
many of the clip's frames lie in some highlight; overlapping intervals count once),
``start_frame``, ``end_frame``. Category is empty (VTW has none). Protocol: ``youtube-map``
(AP per video, averaged over all videos, as CHD reports VTW).
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from highlight_pipeline.datasets import registry
from highlight_pipeline.errors import DatasetError

log = logging.getLogger(__name__)

DEFAULTS = {"video_pattern": "videos/{video_id}.mp4"}
VIDEOS_FILE = "vtw_videos.csv"
HIGHLIGHTS_FILE = "vtw_highlights.csv"
CLIP_FRAMES = 100
SCHEME = "default"
VIDEO_FIELDS = ("video_id", "split", "frames")
HIGHLIGHT_FIELDS = ("video_id", "start_frame", "end_frame")
CLIP_COLUMNS = [
    "video_id",
    "clip",
    "start",
    "end",
    "label",
    "highlight_frames",
    "start_frame",
    "end_frame",
]


@dataclass(frozen=True)
class VTWVideo:
    video_id: str
    split: str  # "" when in no split
    frames: int | None  # None: the manifest's
    where: str  # "{root}/vtw_videos.csv: line n"
    highlights: tuple[tuple[int, int, str], ...]  # (start_frame, end_frame, "file: line n")


def read_table(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV with a header naming at least ``columns``."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"{path}: not found (VTW layout, see docs/datasets.md)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DatasetError(f"{path}: empty (expected a header row)") from None
    except csv.Error as exc:
        raise DatasetError(f"{path}: line 1: malformed CSV ({exc})") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise DatasetError(
            f"{path}: header lacks column(s) {', '.join(missing)} (has {', '.join(header)})"
        )
    rows = []
    try:
        for cells in reader:
            lineno = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise DatasetError(
                    f"{path}: line {lineno}: {len(cells)} fields, the header has {len(header)}"
                )
            rows.append((lineno, {h: c.strip() for h, c in zip(header, cells, strict=True)}))
    except csv.Error as exc:
        raise DatasetError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None
    return rows


def _frame_number(text: str, what: str, where: str) -> int:
    """A whole, non-negative frame number ("120" or "120.0")."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value) or value < 0:
        raise DatasetError(f"{where}: {what} {text!r} is not a whole frame number >= 0")
    return int(value)


def read_videos_file(path: Path) -> list[tuple[str, str, int | None, str]]:
    """(video_id, split, frames or None, "file: line n") of vtw_videos.csv, in file order."""
    out = []
    first: dict[str, str] = {}
    for lineno, row in read_table(path, VIDEO_FIELDS):
        where = f"{path}: line {lineno}"
        vid = row["video_id"]
        if not vid:
            raise DatasetError(f"{where}: empty video_id")
        if vid in first:
            raise DatasetError(f"{where}: duplicate video_id {vid!r} (first at {first[vid]})")
        first[vid] = f"line {lineno}"
        split = row["split"]
        if split and split not in registry.SPLITS:
            raise DatasetError(
                f"{where}: video {vid!r} has split {split!r}; "
                f"expected {', '.join(registry.SPLITS)} or blank"
            )
        frames = None
        if row["frames"]:
            frames = _frame_number(row["frames"], f"video {vid!r} frames", where)
            if frames < 1:
                raise DatasetError(f"{where}: video {vid!r} has frames 0 (need >= 1 or blank)")
        out.append((vid, split, frames, where))
    if not out:
        raise DatasetError(f"{path}: no videos")
    return out


def read_highlights_file(
    path: Path, frames_of: dict[str, int | None], videos_path: Path
) -> dict[str, list[tuple[int, int, str]]]:
    """video_id -> [(start_frame, end_frame, "file: line n"), ...] of vtw_highlights.csv."""
    out: dict[str, list[tuple[int, int, str]]] = {}
    for lineno, row in read_table(path, HIGHLIGHT_FIELDS):
        where = f"{path}: line {lineno}"
        vid = row["video_id"]
        if vid not in frames_of:
            raise DatasetError(f"{where}: video {vid!r} is not listed in {videos_path}")
        start = _frame_number(row["start_frame"], f"video {vid!r} start_frame", where)
        end = _frame_number(row["end_frame"], f"video {vid!r} end_frame", where)
        if start >= end:
            raise DatasetError(
                f"{where}: video {vid!r} highlight [{start}, {end}) is empty "
                "(need start_frame < end_frame; end_frame is the frame after the last)"
            )
        frames = frames_of[vid]
        if frames is not None and end > frames:
            raise DatasetError(
                f"{where}: video {vid!r} highlight [{start}, {end}) ends after the "
                f"video's {frames} frames"
            )
        out.setdefault(vid, []).append((start, end, where))
    return out


def load_annotations(root: Path) -> list[VTWVideo]:
    """The videos of vtw_videos.csv with their highlights from vtw_highlights.csv."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder (VTW root)")
    videos_path, highlights_path = root / VIDEOS_FILE, root / HIGHLIGHTS_FILE
    listed = read_videos_file(videos_path)
    highlights = read_highlights_file(
        highlights_path, {vid: frames for vid, _, frames, _ in listed}, videos_path
    )
    return [
        VTWVideo(vid, split, frames, where, tuple(highlights.get(vid, ())))
        for vid, split, frames, where in listed
    ]


def clip_labels(
    video: VTWVideo, frames: int, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start_frame [n], end_frame [n], highlight frames per clip [n]) of the 100-frame clips."""
    mask = np.zeros(frames, dtype=bool)
    for start, end, at in video.highlights:
        if end > frames:
            raise DatasetError(
                f"{at}: video {video.video_id!r} highlight [{start}, {end}) ends after the "
                f"video's {frames} frames ({where})"
            )
        mask[start:end] = True
    starts = np.arange(0, frames, CLIP_FRAMES, dtype=np.int64)
    ends = np.minimum(starts + CLIP_FRAMES, frames)
    inside = np.add.reduceat(mask.astype(np.int64), starts)
    return starts, ends, inside


class VTWReader:
    name = "vtw"
    protocol = "youtube-map"

    def read_videos(self, root: Path, spec: dict) -> pd.DataFrame:
        root = Path(root)
        pattern = spec.get("video_pattern", DEFAULTS["video_pattern"])
        videos = load_annotations(root)
        rows = []
        for v in videos:
            path = registry.resolve_video(root, pattern, {"video_id": v.video_id}, v.where)
            rows.append({"video_id": v.video_id, "path": path, "category": ""})
        schemes = self._schemes(videos, {v.video_id for v in videos})
        return registry.video_table(rows, schemes, registry.scheme_name(schemes, spec, self.name))

    def split_schemes(self, videos: pd.DataFrame, spec: dict) -> dict[str, dict[str, str]]:
        listed = load_annotations(registry.spec_root(spec, self.name))
        return self._schemes(listed, set(videos["video_id"]))

    @staticmethod
    def _schemes(listed: list[VTWVideo], wanted: set[str]) -> dict[str, dict[str, str]]:
        return {SCHEME: {v.video_id: v.split for v in listed if v.video_id in wanted and v.split}}

    def make_clips(self, manifest: pd.DataFrame, root: Path, spec: dict) -> pd.DataFrame:
        root = Path(root)
        registry.require_columns(manifest, ["video_id", "fps"], "manifest")
        by_id = {v.video_id: v for v in load_annotations(root)}
        parts = []
        for row in tqdm(
            manifest.itertuples(), total=len(manifest), desc="clips", unit="video", disable=None
        ):
            video = by_id.get(row.video_id)
            if video is None:
                raise DatasetError(
                    f"manifest: video {row.video_id!r} is not listed in {root / VIDEOS_FILE}"
                )
            fps = registry.manifest_fps(row, "manifest")
            frames, where = self._frames(video, row)
            starts, ends, inside = clip_labels(video, frames, where)
            if video.highlights:
                label = (inside > 0).astype(np.int64)
            else:
                label = np.full(len(starts), -1, dtype=np.int64)
                inside = np.full(len(starts), -1, dtype=np.int64)
            parts.append(
                registry.clip_frame(
                    row.video_id,
                    {
                        "clip": np.arange(len(starts)),
                        "start": (starts / fps).round(3),
                        "end": (ends / fps).round(3),
                        "label": label,
                        "highlight_frames": inside,
                        "start_frame": starts,
                        "end_frame": ends,
                    },
                )
            )
        return registry.concat_clips(parts, CLIP_COLUMNS)

    @staticmethod
    def _frames(video: VTWVideo, row) -> tuple[int, str]:
        """The frame count the clips cover and where it came from."""
        try:
            probed = float(getattr(row, "frames", math.nan))
        except (TypeError, ValueError):
            probed = math.nan
        usable = math.isfinite(probed) and probed >= 1
        if video.frames is None:
            if not usable:
                raise DatasetError(
                    f"{video.where}: video {video.video_id!r} leaves frames blank and the "
                    f"manifest has no frame count for it ({getattr(row, 'frames', None)!r})"
                )
            return int(probed), "the manifest's frame count"
        if usable and int(probed) != video.frames:
            log.warning(
                "vtw: %s: %s gives %d frames, the video file %d; clips follow the annotation",
                video.video_id,
                VIDEOS_FILE,
                video.frames,
                int(probed),
            )
        return video.frames, f"frames in {video.where}"
