"""Streaming PyAV decoding: frames resampled to a fixed rate and size, audio to mono at a rate.

Nothing here holds a whole video: frames come out in small batches, audio in chunks.
Frame resampling is sample-and-hold on presentation timestamps, so variable-frame-rate
input yields frames at the right times: output frame k (time k / fps) is the last decoded
frame whose timestamp is not after k / fps.

A stream can end before the duration its container claims (a truncated file; a sound track
shorter than the picture); data that breaks off after decoded frames (the last, cut packet
of a truncated file) ends the stream there too, with a log line. Where a stream ends, its
output ends: the last frame shows for its own display time (the gap before it) and is
never held to reach the claimed duration. A
:class:`StreamExtent` given to the decoder receives how far the stream decoded; the stream
is *partial* when it ends more than ``END_TOLERANCE`` seconds early. Within that tolerance
the output runs to the claimed duration, as before: decoded ends and container durations
differ by a few frames for reasons of encoding alone (encoder delay, rounding), up to
0.06 s on the generated datasets.

Frames come out the way a player shows them: a display matrix that rotates the picture (a
phone video held upright) is applied, as ffmpeg's autorotation does, so every extractor,
the manifest's size and the reel (cut by ffmpeg) agree. Mirroring in a display matrix is
not applied (phones do not write it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import av
import numpy as np
from av.video.reformatter import Interpolation

from highlight_pipeline.errors import VideoError

# Bilinear scaling with libswscale's exact, accurately rounded path: its SIMD code paths
# otherwise give different pixels on CPUs with different instruction sets (numerics.py).
EXACT = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.BITEXACT

T = TypeVar("T")
log = logging.getLogger(__name__)

END_TOLERANCE = 0.25  # seconds a stream may end before the claimed duration and be complete


@dataclass
class StreamExtent:
    """How far one stream of a video decoded, in seconds on the video's clock.

    A decoding iterator given one fills in ``seconds`` (final once the iterator is
    exhausted); ``claimed`` is the duration the container states (the manifest's)."""

    claimed: float | None = None
    seconds: float = 0.0

    @property
    def partial(self) -> bool:
        """The stream ended more than ``END_TOLERANCE`` before the claimed duration."""
        return self.claimed is not None and self.seconds < self.claimed - END_TOLERANCE

    def covered(self) -> float:
        """Seconds that features of the stream cover: the decoded extent of a partial stream,
        else the claimed duration (the decoded one without a claim)."""
        if self.claimed is None or self.partial:
            return self.seconds
        return self.claimed


def _stream_start(stream: av.stream.Stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _until_broken(frames: Iterator[T], path: str | Path, what: str) -> Iterator[T]:
    """``frames`` until one cannot be decoded: data that breaks off after decoded frames (a
    file cut short) ends the stream there, with a log line; a stream that breaks before its
    first frame is an error (VideoError from the caller)."""
    count = 0
    while True:
        try:
            frame = next(frames, None)
        except av.error.FFmpegError as exc:
            if not count:
                raise
            log.warning("%s: the %s stops decoding after %d frames (%s)", path, what, count, exc)
            return
        if frame is None:
            return
        count += 1
        yield frame


def sample_and_hold(
    timed_frames: Iterator[tuple[float, T]],
    step: float,
    duration: float | None,
    extent: StreamExtent | None = None,
) -> Iterator[tuple[float, T]]:
    """``(k * step, frame)`` for k = 0, 1, ...: the last frame whose time is not after k * step
    (the first frame for times before it). ``duration`` ends the output; without it the last
    frame is held for one step.

    The decoded picture ends at the last frame's time plus its display time (the gap
    before it; one step for a lone frame). When that is more than ``END_TOLERANCE`` before
    ``duration``, the output ends there: the last frame is not held to fill the gap.
    ``extent`` receives the decoded picture's end."""
    index = 0
    held: T | None = None
    last_time = 0.0
    shown = step  # display time of the last frame: the gap to the frame before it
    for time, frame in timed_frames:
        source = frame if held is None else held
        while index * step < time - 1e-9 and (duration is None or index * step < duration):
            yield index * step, source
            index += 1
        if held is not None and time > last_time:
            shown = time - last_time
        held, last_time = frame, time
    if extent is not None:
        extent.seconds = 0.0 if held is None else last_time + shown
    if held is None:
        return
    picture_end = last_time + shown
    if duration is None:
        end = last_time + step
    elif picture_end < duration - END_TOLERANCE:
        end = picture_end  # the stream ended early: its frames end with it
    else:
        end = duration
    while index * step < end - 1e-9:
        yield index * step, held
        index += 1


def display_turns(rotation: float | None) -> int:
    """Counter-clockwise quarter turns that show a stored picture as players do, from a
    frame's display-matrix rotation in degrees (PyAV's ``VideoFrame.rotation``: counter-
    clockwise; ffmpeg's autorotation turns the picture by the same angle)."""
    return int(round((rotation or 0) / 90.0)) % 4


def iter_frame_batches(
    path: str | Path,
    fps: float,
    width: int,
    height: int,
    batch: int = 32,
    duration: float | None = None,
    extent: StreamExtent | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(times[B], frames[B, height, width, 3] uint8 RGB)`` at ``fps`` frames per second.

    ``duration`` (from the manifest) bounds the output; without it the last decoded frame
    is held for one frame interval. A picture that ends more than ``END_TOLERANCE`` before
    ``duration`` ends the output there (:func:`sample_and_hold`); ``extent`` receives how
    far it decoded (its ``claimed`` defaults to ``duration``). Each source frame is
    converted (swscale) once, however often it is repeated. A rotated video is scaled to
    the turned size and turned, so the frames are ``height x width`` as displayed.
    """
    if extent is not None and extent.claimed is None:
        extent.claimed = duration
    times: list[float] = []
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            t0 = _stream_start(stream)

            def timed() -> Iterator[tuple[float, av.VideoFrame]]:
                last = t0
                for frame in _until_broken(container.decode(stream), path, "picture"):
                    last = frame.time if frame.time is not None else last
                    yield last - t0, frame

            converted: tuple[av.VideoFrame | None, np.ndarray | None] = (None, None)
            for time, frame in sample_and_hold(timed(), 1.0 / fps, duration, extent):
                if converted[0] is not frame:
                    turns = display_turns(frame.rotation)
                    w, h = (height, width) if turns % 2 else (width, height)
                    picture = frame.to_ndarray(
                        width=w, height=h, format="rgb24", interpolation=EXACT
                    )
                    if turns:
                        picture = np.ascontiguousarray(np.rot90(picture, turns))
                    converted = (frame, picture)
                times.append(time)
                frames.append(converted[1])
                if len(frames) == batch:
                    yield np.asarray(times), np.stack(frames)
                    times, frames = [], []
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: decoding failed ({exc})") from exc
    if frames:
        yield np.asarray(times), np.stack(frames)


def iter_audio_chunks(
    path: str | Path, rate: int, chunk_seconds: float = 10.0
) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 chunks at ``rate`` Hz, starting at the video's time 0.

    Audio that starts after the video is preceded by silence so that sample i is at
    time i / rate on the video's clock. The chunks end where the decoded sound does, so the
    samples a consumer counts, divided by ``rate``, are the audio's decoded extent.
    """
    chunk = int(rate * chunk_seconds)
    pending: list[np.ndarray] = []
    pending_len = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise VideoError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            video_start = (
                _stream_start(container.streams.video[0]) if container.streams.video else 0.0
            )
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            started = False
            skip = 0  # samples before the video's time 0 still to drop

            def _collect(out_frames: list[av.AudioFrame]) -> Iterator[np.ndarray]:
                nonlocal pending_len, started, skip
                for out in out_frames:
                    samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    if not started:
                        started = True
                        offset = (out.time - video_start) if out.time is not None else 0.0
                        if offset > 0:
                            pending.append(np.zeros(int(round(offset * rate)), np.float32))
                            pending_len += pending[-1].size
                        elif offset < 0:
                            skip = int(round(-offset * rate))
                    if skip:
                        dropped = min(skip, samples.size)
                        samples, skip = samples[dropped:], skip - dropped
                    pending.append(samples)
                    pending_len += samples.size
                    while pending_len >= chunk:
                        joined = np.concatenate(pending)
                        yield joined[:chunk]
                        rest = joined[chunk:]
                        pending[:] = [rest]
                        pending_len = rest.size

            for frame in _until_broken(container.decode(stream), path, "sound"):
                yield from _collect(resampler.resample(frame))
            yield from _collect(resampler.resample(None))
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: audio decoding failed ({exc})") from exc
    if pending_len:
        yield np.concatenate(pending)
