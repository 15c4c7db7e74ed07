"""Highlight reels: the top-scoring clips of a video, cut and joined into one mp4.

:func:`select_reel_clips` picks clips by descending score until the next one would take the
reel past ``max_seconds`` (measured on the union of the picked clips, so overlapping
clips are not counted twice), and returns them in time order with adjacent or overlapping
clips merged into one segment. :func:`make_reel` cuts those segments with ffmpeg (the
executable of :func:`highlight_pipeline.video.ffmpeg.ffmpeg_binary`) and concatenates
them, re-encoding to H.264 + AAC so that cuts fall exactly on the segment bounds rather
than on keyframes; a video without sound gives a reel without sound.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import ffmpeg
import numpy as np

from highlight_pipeline.errors import PipelineError
from highlight_pipeline.video.ffmpeg import ffmpeg_binary

TOUCH = 1e-6  # seconds: clips closer than this are adjacent and merge into one segment


class ReelError(PipelineError):
    """A highlight reel cannot be selected or written."""


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    has_video: bool
    has_audio: bool


# ------------------------------------------------------------------------------ selection


def select_reel_clips(
    starts: Sequence[float],
    ends: Sequence[float],
    scores: Sequence[float],
    max_seconds: float,
) -> list[tuple[float, float]]:
    """Top-scoring clips up to ``max_seconds`` in all, as time-ordered merged segments.

    Clips are taken by descending score (ties: the earlier clip first; NaN scores never);
    the first clip that would take the covered time past ``max_seconds`` ends the
    selection. Overlapping or touching selected clips form one segment.
    """
    s = np.asarray(starts, dtype=np.float64)
    e = np.asarray(ends, dtype=np.float64)
    v = np.asarray(scores, dtype=np.float64)
    if not (s.shape == e.shape == v.shape) or s.ndim != 1:
        raise ReelError(
            f"clip starts, ends and scores differ in length ({s.size}, {e.size}, {v.size})"
        )
    if not (np.isfinite(max_seconds) and max_seconds > 0):
        raise ReelError(f"the reel length must be a positive number of seconds, not {max_seconds}")
    if (~np.isfinite(s) | ~np.isfinite(e) | (e <= s)).any():
        bad = int(np.flatnonzero(~np.isfinite(s) | ~np.isfinite(e) | (e <= s))[0])
        raise ReelError(f"clip {bad} has no positive duration ({s[bad]} to {e[bad]} s)")
    valid = np.flatnonzero(np.isfinite(v))
    order = valid[np.lexsort((s[valid], -v[valid]))]

    merged_starts: list[float] = []  # sorted, disjoint, non-touching segments
    merged_ends: list[float] = []
    total = 0.0
    for i in order:
        a, b = float(s[i]), float(e[i])
        # Segments that overlap or touch [a, b]: from the last one starting at or before b,
        # back while their end reaches a.
        hi = bisect.bisect_right(merged_starts, b + TOUCH)
        lo = hi
        while lo > 0 and merged_ends[lo - 1] >= a - TOUCH:
            lo -= 1
        new_a = min([a, *merged_starts[lo:hi]])
        new_b = max([b, *merged_ends[lo:hi]])
        absorbed = sum(y - x for x, y in zip(merged_starts[lo:hi], merged_ends[lo:hi], strict=True))
        added = (new_b - new_a) - absorbed
        if total + added > max_seconds + 1e-9:
            break
        merged_starts[lo:hi] = [new_a]
        merged_ends[lo:hi] = [new_b]
        total += added
    return list(zip(merged_starts, merged_ends, strict=True))


# ------------------------------------------------------------------------------ media


def probe_media(path: str | Path) -> MediaInfo:
    """Duration in seconds and which streams a media file has (PyAV)."""
    try:
        with av.open(str(path)) as container:
            duration = None
            if container.duration is not None:
                duration = container.duration / av.time_base
            else:
                lengths = [
                    float(st.duration * st.time_base)
                    for st in container.streams
                    if st.duration is not None and st.time_base is not None
                ]
                duration = max(lengths) if lengths else None
            if duration is None:
                raise ReelError(f"{path}: the duration cannot be read")
            return MediaInfo(
                duration=float(duration),
                has_video=bool(container.streams.video),
                has_audio=bool(container.streams.audio),
            )
    except (av.error.FFmpegError, OSError) as exc:
        raise ReelError(f"{path}: cannot be opened ({exc})") from exc


def _check_segments(
    segments: Sequence[tuple[float, float]], duration: float, video: Path
) -> list[tuple[float, float]]:
    out = []
    for k, (a, b) in enumerate(segments):
        a, b = float(a), min(float(b), duration)
        if not (math.isfinite(a) and math.isfinite(b)) or a < 0 or b - a <= 1e-3:
            raise ReelError(
                f"{video}: segment {k} ({segments[k][0]} to {segments[k][1]} s) is empty or "
                f"outside the video ({duration:.3f} s)"
            )
        out.append((a, b))
    if not out:
        raise ReelError(f"{video}: no segment to put in the reel")
    return out


def _ffmpeg_failure(exc: ffmpeg.Error) -> str:
    lines = [ln.strip() for ln in (exc.stderr or b"").decode(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1] if lines else "no message"


def make_reel(
    video_path: str | Path,
    segments: Sequence[tuple[float, float]],
    out_path: str | Path,
    crf: int = 20,
    preset: str = "veryfast",
    audio_bitrate: str = "128k",
) -> Path:
    """Cut ``segments`` (seconds, in the given order) from the video, join them into an mp4.

    Each segment is read with an accurate input seek and re-encoded (H.264, yuv420p, AAC),
    so the reel lasts the sum of the segment durations (segments are clipped to the
    video's end). The file is written to a temporary name and renamed into place.
    """
    video = Path(video_path)
    out = Path(out_path)
    if not video.is_file():
        raise ReelError(f"{video}: no such video")
    info = probe_media(video)
    if not info.has_video:
        raise ReelError(f"{video}: has no video stream")
    cuts = _check_segments(segments, info.duration, video)

    streams = []
    for a, b in cuts:
        source = ffmpeg.input(str(video), ss=f"{a:.6f}", t=f"{b - a:.6f}")
        streams.append(source.video.filter("setpts", "PTS-STARTPTS"))
        if info.has_audio:
            streams.append(source.audio.filter("asetpts", "PTS-STARTPTS"))
    joined = ffmpeg.concat(*streams, v=1, a=int(info.has_audio), unsafe=False).node
    picture = joined[0].filter("scale", "trunc(iw/2)*2", "trunc(ih/2)*2")
    outputs = [picture] + ([joined[1]] if info.has_audio else [])
    codec = {"vcodec": "libx264", "pix_fmt": "yuv420p", "crf": crf, "preset": preset}
    if info.has_audio:
        codec.update({"acodec": "aac", "b:a": audio_bitrate})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    command = ffmpeg.output(*outputs, str(tmp), format="mp4", movflags="+faststart", **codec)
    try:
        command.run(
            cmd=ffmpeg_binary(), capture_stdout=True, capture_stderr=True, overwrite_output=True
        )
    except ffmpeg.Error as exc:
        tmp.unlink(missing_ok=True)
        raise ReelError(
            f"{video}: ffmpeg could not write the reel ({_ffmpeg_failure(exc)})"
        ) from exc
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReelError(f"cannot run ffmpeg ({exc}); set HLP_FFMPEG or install ffmpeg") from exc
    os.replace(tmp, out)
    return out


# ------------------------------------------------------------------------------ pipeline files


def video_reel(
    predictions_path: str | Path,
    clips_csv: str | Path,
    manifest_csv: str | Path,
    video_id: str,
    out_path: str | Path,
    max_seconds: float,
) -> tuple[Path, list[tuple[float, float]]]:
    """The reel of one video from a run's predictions: select its clips, cut, join."""
    from highlight_pipeline.features.clip_features import read_clips
    from highlight_pipeline.manifest import read_manifest
    from highlight_pipeline.predictions import read_predictions

    predictions = read_predictions(predictions_path)
    if video_id not in predictions:
        raise ReelError(f"{predictions_path}: no prediction for video {video_id!r}")
    clips = read_clips(clips_csv)
    clips = clips[clips["video_id"] == video_id].sort_values("clip")
    scores = predictions[video_id]
    if len(clips) != len(scores):
        raise ReelError(f"{video_id}: {len(scores)} predicted scores but {len(clips)} clips")
    manifest = read_manifest(manifest_csv).set_index("video_id")
    if video_id not in manifest.index:
        raise ReelError(f"{manifest_csv}: no video {video_id!r}")
    segments = select_reel_clips(clips["start"], clips["end"], scores, max_seconds)
    if not segments:
        raise ReelError(f"{video_id}: no clip fits in a {max_seconds} s reel")
    return make_reel(manifest.at[video_id, "path"], segments, out_path), segments


def first_predicted_video(
    predictions_path: str | Path,
    manifest_csv: str | Path,
    split: str,
    splits_csv: str | Path | None = None,
    split_scheme: str = "default",
) -> str:
    """The first video of the manifest in ``split`` (under ``split_scheme`` of
    ``splits_csv`` if given, else the manifest's split column) that the predictions score."""
    from highlight_pipeline.manifest import read_manifest, split_map
    from highlight_pipeline.predictions import read_predictions

    manifest = read_manifest(manifest_csv)
    predicted = read_predictions(predictions_path)
    split_of = split_map(manifest_csv, splits_csv, split_scheme)
    in_split = manifest["video_id"].map(lambda v: split_of.get(v) == split)
    chosen = manifest[in_split & manifest["video_id"].isin(predicted)]
    if chosen.empty:
        raise PipelineError(f"no predicted video in split {split!r} for a reel")
    return str(chosen["video_id"].iloc[0])


def run_reel(
    predictions_path: str | Path,
    clips_csv: str | Path,
    manifest_csv: str | Path,
    out_path: str | Path,
    max_seconds: float,
    video_id: str | None = None,
    split: str = "test",
    splits_csv: str | Path | None = None,
    split_scheme: str = "default",
) -> tuple[str, Path, list[tuple[float, float]]]:
    """``hlp reel``: the reel of ``video_id`` (None: :func:`first_predicted_video` of
    ``split``). Returns the video, the reel and its segments."""
    if video_id is None:
        video_id = first_predicted_video(
            predictions_path, manifest_csv, split, splits_csv, split_scheme
        )
    out, segments = video_reel(
        predictions_path, clips_csv, manifest_csv, video_id, out_path, max_seconds
    )
    return video_id, out, segments
