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

A damaged packet (real files often carry one) is skipped and counted, and decoding goes
on with the next packet, as ffmpeg does: each packet is decoded on its own and an FFmpeg
error of one packet skips that packet alone. After the stream, one log line per file and
stream says how many packets were skipped and at what time. The hole they leave is never
filled: the picture shows its last frame until the next one (as a player does, and as for
a variable frame rate), and the sound after the hole keeps its true time, the hole itself
being NaN samples (missing, neither silence nor repeated sound). :class:`StreamExtent`
records the holes inside a stream (``gaps``); a feature window that overlaps one longer
than a window is marked missing by the extractors. A stream of which nothing decodes is an
error, as before.

FFmpeg decodes with its plain C code in every process that decodes (:func:`pin_ffmpeg`,
called before each file is opened): its float audio decoders and resampler give other
samples with other CPU flags (numerics.py).

Frames come out the way a player shows them: a display matrix that rotates the picture (a
phone video held upright) is applied, as ffmpeg's autorotation does, so every extractor,
the manifest's size and the reel (cut by ffmpeg) agree. Mirroring in a display matrix is
not applied (phones do not write it).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import av
import numpy as np
from av.video.reformatter import Interpolation

from highlight_pipeline.errors import VideoError
from highlight_pipeline.numerics import pin_ffmpeg

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
    skipped: int = 0  # damaged packets skipped
    gaps: list[tuple[float, float]] = field(default_factory=list)  # holes they left inside

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


DECODE_THREADS_VARIABLE = "HLP_DECODE_THREADS"


def decode_threads() -> int:
    """FFmpeg's video decoder threads: ``HLP_DECODE_THREADS`` (the pipeline's decoding jobs
    set it to their ``threads``, ``features.threads``), else 0, FFmpeg's own choice (one per
    CPU). Frame threading is bit-exact, so the frames do not depend on it; on 720p H.264
    it saved 5 % of a decode-and-scale loop (docs/performance.md)."""
    text = os.environ.get(DECODE_THREADS_VARIABLE, "").strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        wrong = f"{DECODE_THREADS_VARIABLE} must be a whole number, not {text!r}"
        raise ValueError(wrong) from None
    if value < 0:
        raise ValueError(f"{DECODE_THREADS_VARIABLE} must be 0 (FFmpeg's choice) or more")
    return value


def _stream_start(stream: av.stream.Stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _until_broken(
    frames: Iterator[T], path: str | Path, what: str, unit: str = "frames"
) -> Iterator[T]:
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
            log.warning("%s: the %s stops decoding after %d %s (%s)", path, what, count, unit, exc)
            return
        if frame is None:
            return
        count += 1
        yield frame


def _seconds(value: int | None, time_base) -> float | None:
    return None if value is None or time_base is None else float(value * time_base)


class _Damage:
    """The damaged packets of one stream: skipped, counted, their times kept for the log
    line; for a picture also the frames that never came out, which place its holes: a
    frame-threaded decoder reports a packet's error a few packets late."""

    LATE = 2.0  # seconds an error may be reported after its packet (frame threads)

    def __init__(self, path: str | Path, stream: av.stream.Stream, what: str) -> None:
        self.path, self.what = path, what
        self.start = _stream_start(stream)
        rate = getattr(stream, "average_rate", None) or getattr(stream, "guessed_rate", None)
        self.step = 1.0 / float(rate) if rate else 0.0  # a frame's duration when unknown
        self.frames = 0
        self.last = -float("inf")  # time of the last decoded frame
        self.first_error: av.error.FFmpegError | None = None
        self.times: list[float] = []  # of the packets whose decoding failed
        self.lost_since = 0.0  # seconds of packets skipped since the last decoded frame
        self.skipped_before = 0  # packets skipped just before the latest decoded frame
        self.lost_before = 0.0  # ... and their seconds
        self._skipped_since = 0
        self.tracking = what == "video"
        self.sent: dict[int, tuple[float, float]] = {}  # pts -> (time, duration), in flight
        self.lost: deque[tuple[float, float]] = deque(maxlen=4096)  # frames never shown

    @property
    def count(self) -> int:
        return len(self.times)

    def span(self, packet: av.Packet) -> tuple[float, float]:
        """(time on the stream's clock, NaN if unknown; duration) of a packet."""
        time = _seconds(packet.pts, packet.time_base)
        duration = _seconds(packet.duration, packet.time_base) or self.step
        return (float("nan") if time is None else time - self.start), duration

    def sending(self, packet: av.Packet) -> None:
        if self.tracking and packet.pts is not None and packet.size:
            self.sent[packet.pts] = self.span(packet)
            if len(self.sent) > 1024:  # frames that do not carry their packets' timestamps
                self.tracking = False
                self.sent.clear()

    def skip(self, packet: av.Packet, exc: av.error.FFmpegError) -> None:
        time, duration = self.span(packet)
        self.first_error = self.first_error or exc
        self.times.append(time)
        self.lost_since += duration
        self._skipped_since += 1

    def shown(self, frame: av.frame.Frame) -> None:
        self.frames += 1
        self.skipped_before, self.lost_before = self._skipped_since, self.lost_since
        self._skipped_since, self.lost_since = 0, 0.0
        if frame.time is not None:
            self.last = frame.time - self.start
        if not self.tracking:
            return
        if frame.pts is None:  # frames without timestamps: the failed packets' times
            self.tracking = False
            self.sent.clear()
            return
        for pts in [p for p in self.sent if p < frame.pts]:
            self.lost.append(self.sent.pop(pts))  # an earlier frame that never came out
        self.sent.pop(frame.pts, None)

    def _lost_spans(self) -> list[tuple[float, float]]:
        """Picture frames that never came out, up to ``LATE`` before a failed packet."""
        errors = [t for t in self.times if t == t]
        return [
            (t, t + d) for t, d in self.lost if any(e - self.LATE <= t <= e + 1e-6 for e in errors)
        ]

    def holes(self) -> list[tuple[float, float]]:
        """The spans of the picture frames lost to damaged packets, merged, that lie
        inside the stream (frames lost after the last decoded one end it instead)."""
        errors = [t for t in self.times if t == t]
        spans = self._lost_spans()
        if not spans:
            spans = [(t, t + self.step) for t in errors]
        merged: list[tuple[float, float]] = []
        for a, b in sorted(spans):
            if a >= self.last:
                break
            if merged and a <= merged[-1][1] + 1e-6:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        return merged

    def report(self) -> None:
        """One log line for the stream, if any packet was skipped: how many, and when (a
        picture's lost frames where known: its failed packets may be reported late)."""
        if not self.count:
            return
        known = sorted(t for t, _ in self._lost_spans()) or sorted(t for t in self.times if t == t)
        if not known:
            when = "at an unknown time"
        elif known[-1] - known[0] < 1e-6:
            when = f"at {known[0]:.2f} s"
        else:
            when = f"from {known[0]:.2f} s to {known[-1]:.2f} s"
        plural = self.count != 1
        log.warning(
            "%s: %d damaged %s packet%s skipped (%s); decoding went on after %s",
            self.path,
            self.count,
            self.what,
            "s" if plural else "",
            when,
            "them" if plural else "it",
        )


def _decoded(
    container: av.container.InputContainer, stream: av.stream.Stream, damage: _Damage
) -> Iterator[av.frame.Frame]:
    """The stream's frames, packet by packet: a packet that fails to decode is skipped
    (``damage`` counts it); a stream of which no frame decodes raises its first error.
    Data that cannot be demuxed any further ends the stream (:func:`_until_broken`)."""
    for packet in _until_broken(container.demux(stream), damage.path, damage.what, "packets"):
        if damage.what == "video":
            damage.sending(packet)
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            damage.skip(packet, exc)
            continue
        for frame in frames:
            damage.shown(frame)
            yield frame
    if not damage.frames and damage.first_error is not None:
        raise damage.first_error


def first_frame(container: av.container.InputContainer, stream: av.stream.Stream, path):
    """The first frame of ``stream`` that decodes (damaged packets before it skipped), or
    ``None``; raises the first error where nothing decodes."""
    for frame in _decoded(container, stream, _Damage(path, stream, stream.type)):
        return frame
    return None


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
    the turned size and turned, so the frames are ``height x width`` as displayed. Damaged
    packets are skipped (module docstring); ``extent`` receives their count and the holes
    they leave (``skipped``, ``gaps``) once the frames are exhausted.
    """
    if extent is not None and extent.claimed is None:
        extent.claimed = duration
    pin_ffmpeg()  # FFmpeg's C code, the same on every CPU (numerics.py)
    times: list[float] = []
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.thread_count = decode_threads()
            t0 = _stream_start(stream)
            damage = _Damage(path, stream, "video")

            def timed() -> Iterator[tuple[float, av.VideoFrame]]:
                last = t0
                for frame in _decoded(container, stream, damage):
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
    damage.report()
    if extent is not None:
        extent.skipped, extent.gaps = damage.count, damage.holes()
    if frames:
        yield np.asarray(times), np.stack(frames)


def iter_audio_chunks(
    path: str | Path,
    rate: int,
    chunk_seconds: float = 10.0,
    extent: StreamExtent | None = None,
) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 chunks at ``rate`` Hz, starting at the video's time 0.

    Audio that starts after the video is preceded by silence so that sample i is at
    time i / rate on the video's clock. The chunks end where the decoded sound does, so the
    samples a consumer counts, divided by ``rate``, are the audio's decoded extent.

    Damaged packets are skipped (module docstring). The sound after them keeps its true
    time: the hole they leave, from the end of the sound before it to the next decoded
    frame's timestamp (the skipped packets' durations where frames have none), is NaN
    samples, missing sound that a consumer must not take for sound; so is the lead-in
    before the first frame where damaged packets precede it. ``extent`` receives the count
    of skipped packets and the holes in seconds (``skipped``, ``gaps``); its ``seconds``
    are the consumer's to set.
    """
    pin_ffmpeg()  # the float decoders' C code, the same on every CPU (numerics.py)
    chunk = int(rate * chunk_seconds)
    pending: list[np.ndarray] = []
    pending_len = 0
    holes: list[tuple[float, float]] = []
    position = 0  # samples so far, on the video's clock

    def _append(samples: np.ndarray, hole: bool = False) -> Iterator[np.ndarray]:
        nonlocal pending_len, position
        if not samples.size:
            return
        if hole:
            holes.append((position / rate, (position + samples.size) / rate))
        pending.append(samples)
        pending_len += samples.size
        position += samples.size
        while pending_len >= chunk:
            joined = np.concatenate(pending)
            yield joined[:chunk]
            rest = joined[chunk:]
            pending[:] = [rest]
            pending_len = rest.size

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise VideoError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            video_start = (
                _stream_start(container.streams.video[0]) if container.streams.video else 0.0
            )
            damage = _Damage(path, stream, "audio")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            started = False
            skip = 0  # samples before the video's time 0 still to drop
            sound_end: float | None = None  # where the last decoded frame's sound ends

            def _collect(out_frames: list[av.AudioFrame]) -> Iterator[np.ndarray]:
                nonlocal started, skip
                for out in out_frames:
                    samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    if not started:
                        started = True
                        offset = (out.time - video_start) if out.time is not None else 0.0
                        if offset > 0:  # silence, or missing where damaged packets lead
                            lead = int(round(offset * rate))
                            if damage.count:
                                yield from _append(np.full(lead, np.nan, np.float32), True)
                            else:
                                yield from _append(np.zeros(lead, np.float32))
                        elif offset < 0:
                            skip = int(round(-offset * rate))
                    if skip:
                        dropped = min(skip, samples.size)
                        samples, skip = samples[dropped:], skip - dropped
                    yield from _append(samples)

            for frame in _decoded(container, stream, damage):
                if damage.skipped_before and started:
                    known = frame.time is not None and sound_end is not None
                    hole = frame.time - sound_end if known else damage.lost_before
                    if hole * rate >= 0.5:
                        # the sound before the hole to its last sample, then the hole
                        yield from _collect(resampler.resample(None))
                        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
                        missing = int(round(hole * rate))
                        if skip:  # a hole before the video's time 0: drop it
                            missing, skip = max(missing - skip, 0), max(skip - missing, 0)
                        yield from _append(np.full(missing, np.nan, np.float32), True)
                if frame.time is not None:
                    sound_end = frame.time + frame.samples / frame.sample_rate
                yield from _collect(resampler.resample(frame))
            yield from _collect(resampler.resample(None))
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: audio decoding failed ({exc})") from exc
    damage.report()
    if extent is not None:
        extent.skipped, extent.gaps = damage.count, holes
    if pending_len:
        yield np.concatenate(pending)
