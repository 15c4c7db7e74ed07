"""Tests for highlight_pipeline.video: probing and streaming decode of generated videos."""

from __future__ import annotations

import subprocess

import av
import numpy as np
import pytest

from highlight_pipeline.errors import VideoError
from highlight_pipeline.video import decode as decode_module
from highlight_pipeline.video import probe as probe_module
from highlight_pipeline.video.decode import (
    END_TOLERANCE,
    StreamExtent,
    iter_audio_chunks,
    iter_frame_batches,
    sample_and_hold,
)
from highlight_pipeline.video.probe import fingerprint, probe

LEVEL_STEP = 8  # grey level per source frame index, as written by conftest.write_test_video


def index_of_frame(frame: np.ndarray) -> int:
    """Source frame index encoded in a decoded (uniform grey) frame."""
    return int(round(float(frame.mean()) / LEVEL_STEP))


def decoded(path, fps, batch=100, duration=None, width=32, height=24):
    batches = list(iter_frame_batches(path, fps, width, height, batch, duration))
    times = np.concatenate([t for t, _ in batches])
    frames = np.concatenate([f for _, f in batches])
    return batches, times, frames


def expected_source_index(target_times, source_times):
    """Sample and hold: the last source frame whose timestamp is not after the target time."""
    out = []
    for t in target_times:
        candidates = [i for i, s in enumerate(source_times) if s <= t + 1e-9]
        out.append(candidates[-1] if candidates else 0)
    return out


# ------------------------------------------------------------------------------ probe


def test_probe_generated_video(av_clip):
    info = probe(av_clip)
    assert info.duration == pytest.approx(3.0, abs=0.05)
    assert info.fps == pytest.approx(10.0)
    assert info.frames == 30
    assert (info.width, info.height) == (64, 48)
    assert info.has_audio is True
    assert info.fingerprint == fingerprint(av_clip)
    assert set(info.as_dict()) >= {"duration", "fps", "frames", "has_audio", "fingerprint"}


def test_probe_video_without_audio(make_video):
    info = probe(make_video("silent.mp4", seconds=2.0, fps=5, audio=False))
    assert info.has_audio is False
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.fps == pytest.approx(5.0)
    assert info.frames == 10


def test_probe_missing_file(tmp_path):
    path = tmp_path / "absent.mp4"
    with pytest.raises(VideoError, match="not found") as info:
        probe(path)
    assert str(path) in str(info.value)


def test_probe_corrupt_file_names_path(corrupt_file):
    with pytest.raises(VideoError) as info:
        probe(corrupt_file)
    assert str(corrupt_file) in str(info.value)


def test_probe_truncated_mp4(av_clip, tmp_path):
    data = av_clip.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])  # moov atom (at the end) is lost
    with pytest.raises(VideoError) as info:
        probe(truncated)
    assert str(truncated) in str(info.value)


def test_fingerprint_depends_on_size_and_both_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(probe_module, "FINGERPRINT_BLOCK", 16)
    base = bytes(range(100))

    def fp(data: bytes) -> str:
        path = tmp_path / "f.bin"
        path.write_bytes(data)
        return fingerprint(path)

    reference = fp(base)
    assert fp(base) == reference
    assert fp(b"\xff" + base[1:]) != reference  # head
    assert fp(base[:-1] + b"\xff") != reference  # tail
    assert fp(base + b"\x00") != reference  # size
    assert fp(base[:50] + b"\xff" + base[51:]) == reference  # middle is not hashed (by design)


# ----------------------------------------------------------------------------- frames


def test_frames_downsampled_pick_last_frame_not_after_target(av_clip):
    batches, times, frames = decoded(av_clip, fps=4, duration=3.0)
    np.testing.assert_allclose(times, np.arange(12) / 4)
    source_times = np.arange(30) / 10
    assert [index_of_frame(f) for f in frames] == expected_source_index(times, source_times)
    assert frames.dtype == np.uint8
    assert frames.shape == (12, 24, 32, 3)


def test_frames_same_rate_is_identity(av_clip):
    _, times, frames = decoded(av_clip, fps=10, duration=3.0, width=64, height=48)
    np.testing.assert_allclose(times, np.arange(30) / 10)
    assert [index_of_frame(f) for f in frames] == list(range(30))
    # colour really encodes the index (decoder within a few levels of the source)
    levels = frames.reshape(30, -1).mean(axis=1)
    assert np.abs(levels - LEVEL_STEP * np.arange(30)).max() < 3


def test_frames_upsampled_repeat_source_frames(av_clip):
    _, times, frames = decoded(av_clip, fps=25, duration=3.0)
    np.testing.assert_allclose(times, np.arange(75) / 25)
    expected = [int(np.floor(t * 10 + 1e-9)) for t in times]
    assert [index_of_frame(f) for f in frames] == expected


def test_frames_batch_sizes(av_clip):
    batches, times, _ = decoded(av_clip, fps=4, batch=5, duration=3.0)
    assert [len(t) for t, _ in batches] == [5, 5, 2]
    assert all(len(t) == len(f) for t, f in batches)
    assert np.all(np.diff(times) > 0)


def test_frames_duration_bounds_output(av_clip):
    _, times, frames = decoded(av_clip, fps=4, duration=1.0)
    np.testing.assert_allclose(times, [0.0, 0.25, 0.5, 0.75])
    assert [index_of_frame(f) for f in frames] == [0, 2, 5, 7]


def test_frames_without_duration_hold_last_frame_one_interval(av_clip):
    # last source frame at 2.9 s is held until 2.9 + 1/4: targets 0, 0.25, ..., 3.0
    _, times, frames = decoded(av_clip, fps=4)
    np.testing.assert_allclose(times, np.arange(13) / 4)
    assert index_of_frame(frames[-1]) == 29


def test_variable_frame_rate_sample_and_hold(make_video):
    pts_ms = [0, 100, 150, 600, 700, 1300]
    path = make_video("vfr.mp4", audio=False, pts_ms=pts_ms)
    _, times, frames = decoded(path, fps=10)
    # the last frame (1.3 s) is held for one target interval: targets 0.0 .. 1.3
    np.testing.assert_allclose(times, np.arange(14) / 10)
    expected = expected_source_index(times, [p / 1000 for p in pts_ms])
    assert expected == [0, 1, 2, 2, 2, 2, 3, 4, 4, 4, 4, 4, 4, 5]  # hand check of the helper
    assert [index_of_frame(f) for f in frames] == expected


def test_variable_frame_rate_with_duration(make_video):
    pts_ms = [0, 400, 500, 1700]
    path = make_video("vfr2.mp4", audio=False, pts_ms=pts_ms)
    _, times, frames = decoded(path, fps=5, duration=2.0)
    np.testing.assert_allclose(times, np.arange(10) / 5)
    assert [index_of_frame(f) for f in frames] == [0, 0, 1, 2, 2, 2, 2, 2, 2, 3]


def test_picture_shorter_than_the_claimed_duration_is_not_held(av_clip):
    # the file holds 3 s; a header that claims 6 s must not get 3 s of its last frame
    extent = StreamExtent()
    batches = list(iter_frame_batches(av_clip, 4, 32, 24, 100, 6.0, extent))
    times = np.concatenate([t for t, _ in batches])
    np.testing.assert_allclose(times, np.arange(12) / 4)  # 0 .. 2.75: inside the picture
    assert extent.claimed == 6.0 and extent.seconds == pytest.approx(3.0)
    assert extent.partial and extent.covered() == pytest.approx(3.0)


def test_picture_ending_within_the_tolerance_runs_to_the_duration(av_clip):
    extent = StreamExtent()
    duration = 3.0 + END_TOLERANCE - 0.05
    times = np.concatenate(
        [t for t, _ in iter_frame_batches(av_clip, 4, 32, 24, 100, duration, extent)]
    )
    np.testing.assert_allclose(times, np.arange(13) / 4)  # as before: to the duration
    assert not extent.partial and extent.covered() == duration


def test_sample_and_hold_ends_with_the_last_frame_display_time():
    timed = iter([(0.0, "a"), (1.0, "b"), (2.0, "c")])  # one frame a second
    extent = StreamExtent(10.0)
    out = list(sample_and_hold(timed, 0.5, 10.0, extent))
    assert [t for t, _ in out] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]  # "c" shows until 3.0
    assert [f for _, f in out] == ["a", "a", "b", "b", "c", "c"]
    assert extent.seconds == 3.0 and extent.partial


def test_data_breaking_off_after_frames_ends_the_stream(caplog):
    def frames():
        yield "first"
        yield "second"
        raise av.error.InvalidDataError(1094995529, "Invalid data found")

    assert list(decode_module._until_broken(frames(), "cut.mp4", "sound")) == ["first", "second"]
    assert "cut.mp4: the sound stops decoding after 2 frames" in caplog.text

    def broken():
        raise av.error.InvalidDataError(1094995529, "Invalid data found")
        yield  # pragma: no cover

    with pytest.raises(av.error.InvalidDataError):  # nothing decoded: an error, as before
        list(decode_module._until_broken(broken(), "bad.mp4", "picture"))


def test_frames_of_corrupt_file_raise_video_error(corrupt_file):
    with pytest.raises(VideoError) as info:
        list(iter_frame_batches(corrupt_file, 4, 32, 24))
    assert str(corrupt_file) in str(info.value)


# ------------------------------------------------------------------------------ audio


def test_audio_chunks_mono_float32_length_and_tone(av_clip):
    chunks = list(iter_audio_chunks(av_clip, 8000, chunk_seconds=0.5))
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    assert all(len(c) == 4000 for c in chunks[:-1])
    assert 0 < len(chunks[-1]) <= 4000
    audio = np.concatenate(chunks)
    assert abs(len(audio) - 3.0 * 8000) <= 0.03 * 3.0 * 8000
    spectrum = np.abs(np.fft.rfft(audio))
    peak = np.fft.rfftfreq(len(audio), 1 / 8000)[spectrum.argmax()]
    assert peak == pytest.approx(440.0, abs=2.0)
    # amplitude 0.5 sine: RMS 0.354 (samples are in [-1, 1], not integer PCM)
    rms = float(np.sqrt(np.mean(audio[2000:-2000] ** 2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_audio_other_rate_and_tone(make_video):
    path = make_video("tone.mp4", seconds=2.0, tone_hz=1500.0, rate=22050)
    audio = np.concatenate(list(iter_audio_chunks(path, 16000)))
    assert abs(len(audio) - 2.0 * 16000) <= 0.03 * 2.0 * 16000
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.fft.rfftfreq(len(audio), 1 / 16000)[spectrum.argmax()] == pytest.approx(
        1500.0, abs=2.0
    )


def test_audio_starting_late_is_preceded_by_silence(make_video):
    path = make_video("late.mp4", audio_delay=0.5, tone_hz=1000.0)
    audio = np.concatenate(list(iter_audio_chunks(path, 8000)))
    # sample i is at time i / rate on the video clock: silence before 0.5 s, tone after
    assert np.abs(audio[: int(0.45 * 8000)]).max() < 0.05
    assert np.abs(audio[int(0.55 * 8000) : int(0.65 * 8000)]).max() > 0.3
    assert abs(len(audio) - 3.0 * 8000) <= 0.03 * 3.0 * 8000


def test_audio_starting_before_the_video_is_trimmed(make_video):
    # video frames from 0.5 s to 2.9 s, audio from 0 to 3.0 s: on the video's clock the
    # audio spans [-0.5, 2.5], so 2.5 s remain after trimming what precedes the video
    path = make_video("early.mp4", pts_ms=[500 + 100 * i for i in range(25)], tone_hz=1000.0)
    audio = np.concatenate(list(iter_audio_chunks(path, 8000)))
    assert abs(len(audio) - 2.5 * 8000) <= 0.03 * 2.5 * 8000  # actual: ~2.95 s


def test_audio_of_video_without_audio_raises(make_video):
    path = make_video("silent.mp4", seconds=1.0, audio=False)
    with pytest.raises(VideoError, match="no audio"):
        list(iter_audio_chunks(path, 8000))


def write_rotated_video(path, degrees: int, width=64, height=32, fps=5, seconds=1.0):
    """A clip whose display matrix turns it by ``degrees`` (counter-clockwise), with a red
    block in the stored picture's top-left corner so that orientation is visible."""
    picture = np.zeros((height, width, 3), np.uint8)
    picture[: height // 4, : width // 4] = (255, 0, 0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.set_display_rotation(degrees)
        for _ in range(int(seconds * fps)):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def ffmpeg_shows(path, width, height):
    """The first frame as ffmpeg shows it (autorotation on, as in players and the reel)."""
    from highlight_pipeline.video.ffmpeg import ffmpeg_binary

    raw = subprocess.run(
        [
            ffmpeg_binary(),
            "-v",
            "error",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-s",
            f"{width}x{height}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_rotated_video_is_decoded_as_a_player_shows_it(tmp_path, degrees):
    path = write_rotated_video(tmp_path / f"r{degrees}.mp4", degrees)
    info = probe(path)
    upright = abs(degrees) == 180
    assert (info.width, info.height) == ((64, 32) if upright else (32, 64))
    assert info.rotation == degrees % 360 and info.fingerprint.endswith(f"-rot{degrees % 360}")
    out_w, out_h = info.width // 2, info.height // 2
    _, frames = next(iter_frame_batches(path, 5, out_w, out_h, batch=1))
    shown = ffmpeg_shows(path, out_w, out_h)
    assert frames.shape[1:] == shown.shape
    # the red block sits where the player shows it (scaling blurs edges a little)
    ours = frames[0, ..., 0] > 128
    theirs = shown[..., 0] > 128
    assert ours.any() and (ours == theirs).mean() > 0.97


def test_unrotated_video_keeps_its_fingerprint_and_rotation_zero(tmp_path):
    path = write_rotated_video(tmp_path / "r0.mp4", 0)
    info = probe(path)
    assert info.rotation == 0 and "-rot" not in info.fingerprint
    assert (info.width, info.height) == (64, 32)


def test_decoder_threads_follow_the_job_and_leave_the_frames_unchanged(av_clip, monkeypatch):
    """HLP_DECODE_THREADS (a decoding job's threads) sets FFmpeg's frame threads; the frames
    are the same with one thread as with FFmpeg's own choice. A bad value is refused."""
    seen = []
    opened = decode_module.av.open

    def spying_open(*args, **kwargs):
        container = opened(*args, **kwargs)
        if container.streams.video:
            seen.append(container.streams.video[0])
        return container

    monkeypatch.setattr(decode_module.av, "open", spying_open)
    monkeypatch.setenv("HLP_DECODE_THREADS", "1")
    _, _, one = decoded(av_clip, fps=10, duration=3.0)
    assert seen and seen[-1].thread_count == 1
    monkeypatch.delenv("HLP_DECODE_THREADS")
    assert decode_module.decode_threads() == 0  # FFmpeg's choice
    _, _, auto = decoded(av_clip, fps=10, duration=3.0)
    np.testing.assert_array_equal(one, auto)
    for bad in ("two", "-1"):
        monkeypatch.setenv("HLP_DECODE_THREADS", bad)
        with pytest.raises(ValueError, match="HLP_DECODE_THREADS"):
            decode_module.decode_threads()
