"""Streaming PyAV decoding: frames resampled to a fixed rate and size, audio to mono at a rate.

Nothing here holds a whole video: frames come out in small batches, audio in chunks.
Frame resampling is sample-and-hold on presentation timestamps, so variable-frame-rate
input yields frames at the right times: output frame k (time k / fps) is the last decoded
frame whose timestamp is not after k / fps.

Frames come out the way a player shows them: a display matrix that rotates the picture (a
phone video held upright) is applied, as ffmpeg's autorotation does, so every extractor,
the manifest's size and the reel (cut by ffmpeg) agree. Mirroring in a display matrix is
not applied (phones do not write it).
"""

from __future__ import annotations

from collections.abc import Iterator
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


def _stream_start(stream: av.stream.Stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def sample_and_hold(
    timed_frames: Iterator[tuple[float, T]], step: float, duration: float | None
) -> Iterator[tuple[float, T]]:
    """``(k * step, frame)`` for k = 0, 1, ...: the last frame whose time is not after k * step
    (the first frame for times before it). ``duration`` ends the output; without it the last
    frame is held for one step."""
    index = 0
    held: T | None = None
    last_time = 0.0
    for time, frame in timed_frames:
        source = frame if held is None else held
        while index * step < time - 1e-9 and (duration is None or index * step < duration):
            yield index * step, source
            index += 1
        held, last_time = frame, time
    if held is None:
        return
    end = duration if duration is not None else last_time + step
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
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(times[B], frames[B, height, width, 3] uint8 RGB)`` at ``fps`` frames per second.

    ``duration`` (from the manifest) bounds the output; without it the last decoded frame
    is held for one frame interval. Each source frame is converted (swscale) once, however
    often it is repeated. A rotated video is scaled to the turned size and turned, so the
    frames are ``height x width`` as displayed.
    """
    times: list[float] = []
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            t0 = _stream_start(stream)

            def timed() -> Iterator[tuple[float, av.VideoFrame]]:
                last = t0
                for frame in container.decode(stream):
                    last = frame.time if frame.time is not None else last
                    yield last - t0, frame

            converted: tuple[av.VideoFrame | None, np.ndarray | None] = (None, None)
            for time, frame in sample_and_hold(timed(), 1.0 / fps, duration):
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
    time i / rate on the video's clock.
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

            for frame in container.decode(stream):
                yield from _collect(resampler.resample(frame))
            yield from _collect(resampler.resample(None))
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: audio decoding failed ({exc})") from exc
    if pending_len:
        yield np.concatenate(pending)
