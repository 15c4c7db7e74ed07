"""Probe a video once: duration, frame rate, frame count, streams, content fingerprint.

Only headers are read (and the first frame decoded): a file cut short usually claims its
whole duration there, so how far each stream really decodes is measured at extraction
(``video.decode.StreamExtent``). What a header does tell is a sound track that the file
itself says is shorter than the picture (``audio_duration``)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import av

from highlight_pipeline.errors import VideoError
from highlight_pipeline.numerics import pin_ffmpeg
from highlight_pipeline.video.decode import display_turns, first_frame

FINGERPRINT_BLOCK = 4 << 20  # bytes hashed at each end of the file


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    fps: float
    frames: int
    width: int
    height: int
    has_audio: bool
    fingerprint: str
    rotation: int = 0  # degrees counter-clockwise the player turns the stored picture
    audio_duration: float | None = None  # the audio stream's duration in its header, if any

    # width and height are the displayed size (after the rotation)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def fingerprint(path: str | Path) -> str:
    """Content fingerprint: sha256 over the size and the first and last 4 MiB (cheap, stable)."""
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(FINGERPRINT_BLOCK))
        if size > 2 * FINGERPRINT_BLOCK:
            handle.seek(-FINGERPRINT_BLOCK, os.SEEK_END)
            digest.update(handle.read(FINGERPRINT_BLOCK))
    return digest.hexdigest()[:16]


def probe(path: str | Path) -> VideoInfo:
    """Read the container header and decode the first frame; raise VideoError if unusable."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: file not found")
    pin_ffmpeg()  # before the first decode of the process (numerics.py)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
            duration = _duration_seconds(container, stream)
            frames = int(stream.frames) if stream.frames else int(round(duration * fps))
            first = first_frame(container, stream, path)  # damaged packets skipped
            if first is None:
                raise VideoError(f"{path}: video stream holds no decodable frame")
            turns = display_turns(first.rotation)
            width, height = first.width, first.height
            if turns % 2:
                width, height = height, width  # as a player shows it
            has_audio = bool(container.streams.audio)
            audio_duration = _stream_seconds(container.streams.audio[0]) if has_audio else None
    except VideoError:
        raise
    except (av.error.FFmpegError, StopIteration, ValueError, OSError) as exc:
        raise VideoError(f"{path}: cannot be decoded ({type(exc).__name__}: {exc})") from exc
    if duration <= 0 or fps <= 0:
        raise VideoError(
            f"{path}: no usable duration or frame rate (duration={duration}, fps={fps})"
        )
    # A rotated video's fingerprint says so: features extracted before frames were turned
    # as players show them (shards reuse a video whose fingerprint is unchanged) are redone.
    content = fingerprint(path) + (f"-rot{90 * turns}" if turns else "")
    return VideoInfo(
        duration, fps, frames, width, height, has_audio, content, 90 * turns, audio_duration
    )


def _stream_seconds(stream: av.stream.Stream) -> float | None:
    """A stream's duration from the container: its own field (mp4, mov), else its
    ``DURATION`` tag (Matroska, WebM: ``HH:MM:SS.fraction``); ``None`` if neither says."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get("DURATION") or (stream.metadata or {}).get("duration")
    try:
        hours, minutes, seconds = str(tag).split(":")
        return 3600 * int(hours) + 60 * int(minutes) + float(seconds)
    except ValueError:
        return None


def _duration_seconds(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0
