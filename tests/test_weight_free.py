"""Tests for the weight-free extractors: colour histograms, grid motion, log-mel bands."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from highlight_pipeline.features import weight_free as wf
from highlight_pipeline.features.extract import build_extractor
from highlight_pipeline.features.weight_free import (
    ColorMotionExtractor,
    LogMelExtractor,
    colour_histograms,
    grid_motion,
    mel_filterbank,
    moving_histograms,
)
from highlight_pipeline.features.windows import window_grid

GRID = {"window_seconds": 1.0, "stride_seconds": 0.5}
LOGMEL = {"extractor": "logmel", "audio_rate": 16000, **GRID}


def code(r: int, g: int, b: int) -> int:
    """Joint histogram bin of an RGB colour with 8 levels (32 values) per channel."""
    return (r // 32) * 64 + (g // 32) * 8 + (b // 32)


# -------------------------------------------------------------------- colour histograms


def test_colour_histogram_known_proportions():
    frame = np.zeros((10, 20, 3), np.uint8)
    frame[:, :10] = (255, 0, 0)  # 50 %
    frame[:, 10:16] = (0, 255, 0)  # 30 %
    frame[:, 16:] = (10, 10, 200)  # 20 %
    hist = colour_histograms(frame[None])
    assert hist.shape == (1, 512)
    expected = np.zeros(512)
    expected[code(255, 0, 0)] = np.sqrt(0.5)
    expected[code(0, 255, 0)] = np.sqrt(0.3)
    expected[code(10, 10, 200)] = np.sqrt(0.2)
    np.testing.assert_allclose(hist[0], expected, atol=1e-6)
    assert np.linalg.norm(hist[0]) == pytest.approx(1.0, abs=1e-6)


def test_colour_histogram_bin_boundaries_and_batch_independence():
    a = np.zeros((4, 4, 3), np.uint8)
    a[:2] = (31, 32, 63)  # levels (0, 1, 1)
    a[2:] = (224, 223, 64)  # levels (7, 6, 2)
    b = np.full((4, 4, 3), 128, np.uint8)  # levels (4, 4, 4)
    hist = colour_histograms(np.stack([a, b]))
    assert hist[0, 0 * 64 + 1 * 8 + 1] == pytest.approx(np.sqrt(0.5))
    assert hist[0, 7 * 64 + 6 * 8 + 2] == pytest.approx(np.sqrt(0.5))
    assert np.count_nonzero(hist[0]) == 2
    assert hist[1, 4 * 64 + 4 * 8 + 4] == pytest.approx(1.0)
    assert np.count_nonzero(hist[1]) == 1
    np.testing.assert_allclose(np.linalg.norm(hist, axis=1), 1.0, atol=1e-6)


# -------------------------------------------------------------------------- grid motion


def test_grid_motion_zero_for_static_frames():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    frames = np.stack([frame] * 4)
    motion = grid_motion(frames, None)
    assert motion.shape == (4, 16)
    np.testing.assert_array_equal(motion, 0.0)
    previous = frame.astype(np.float32).mean(axis=-1)
    np.testing.assert_array_equal(grid_motion(frames, previous), 0.0)


def test_grid_motion_localised_in_the_right_cell():
    # 64x48 frame, 4x4 grid: cells of 16 columns x 12 rows
    frames = np.zeros((3, 48, 64, 3), np.uint8)
    frames[1, 12:24, 32:48] = 255  # white square fills cell (row 1, col 2) = index 6
    frames[2, 24:36, 48:64] = 255  # moves to cell (row 2, col 3) = index 11
    motion = grid_motion(frames, None)
    expected = np.zeros((3, 16))
    expected[1, 6] = 1.0
    expected[2, 6] = 1.0  # the square left this cell
    expected[2, 11] = 1.0  # and arrived in this one
    np.testing.assert_allclose(motion, expected, atol=1e-6)


def test_grid_motion_uses_previous_frame_and_partial_cells():
    previous = np.zeros((48, 64), np.float32)
    frame = np.zeros((1, 48, 64, 3), np.uint8)
    frame[0, 0:6, 0:16] = 102  # half of cell 0 changes by 102 / 255 = 0.4
    motion = grid_motion(frame, previous)
    expected = np.zeros(16)
    expected[0] = 0.5 * 102 / 255
    np.testing.assert_allclose(motion[0], expected, atol=1e-6)


# ------------------------------------------------------------------------ mel filterbank


def htk_centres(rate, n_mels, fmin=50.0):
    mel = np.linspace(
        2595 * np.log10(1 + fmin / 700), 2595 * np.log10(1 + rate / 2 / 700), n_mels + 2
    )
    return (700 * (10 ** (mel / 2595) - 1))[1:-1]


@pytest.mark.parametrize("rate", [8000, 16000])
def test_mel_filterbank_shape_sign_and_order(rate):
    filters = mel_filterbank(rate, 400, 40)
    assert filters.shape == (201, 40)
    assert filters.min() >= 0
    assert np.all(filters.max(axis=0) > 0)  # no empty band
    assert filters.max() <= 1.0 + 1e-6
    peaks = filters.argmax(axis=0)
    assert np.all(np.diff(peaks) >= 0)
    assert peaks[-1] > peaks[0]
    # each band's peak bin is the FFT bin nearest its HTK centre frequency (within one bin)
    freqs = np.fft.rfftfreq(400, 1 / rate)
    np.testing.assert_allclose(freqs[peaks], htk_centres(rate, 40), atol=rate / 400)
    # triangles: every band is non-zero on one contiguous run of bins
    for m in range(40):
        support = np.flatnonzero(filters[:, m] > 0)
        assert np.all(np.diff(support) == 1)


# --------------------------------------------------------------------------- log-mel


def test_logmel_tone_peaks_in_its_band(make_video):
    tone = 2000.0
    path = make_video("tone.mp4", seconds=3.0, tone_hz=tone)
    extractor = LogMelExtractor(LOGMEL)
    found = extractor.extract(path, SimpleNamespace(duration=3.0))
    np.testing.assert_allclose(found.grid, window_grid(3.0, 1.0, 0.5))
    assert not found.short
    features = found.windows
    assert features.shape == (5, 80) and extractor.dim == 80
    band = int(np.argmin(np.abs(htk_centres(16000, 40) - tone)))
    assert np.all(features[:, :40].argmax(axis=1) == band)
    # both halves are centred over bands
    np.testing.assert_allclose(features[:, :40].mean(axis=1), 0, atol=1e-4)
    np.testing.assert_allclose(features[:, 40:].mean(axis=1), 0, atol=1e-4)


def naive_mel_rows(signal, rate):
    hop = int(round(rate * 0.01))
    window = np.hanning(400)
    filters = mel_filterbank(rate, 400, 40)
    rows = []
    for start in range(0, len(signal) - 400 + 1, hop):
        power = np.abs(np.fft.rfft(signal[start : start + 400] * window)) ** 2
        rows.append(np.log(power @ filters + 1e-6))
    return np.array(rows)


def test_mel_rows_continuous_across_chunks(monkeypatch):
    rng = np.random.default_rng(0)
    signal = rng.normal(0, 0.1, 16000 + 123).astype(np.float32)
    cuts = np.sort(rng.choice(np.arange(1, len(signal)), 12, replace=False))
    pieces = np.split(signal, cuts)  # uneven chunks, some shorter than one FFT frame
    monkeypatch.setattr(wf, "iter_audio_chunks", lambda path, rate: iter(pieces))
    rows = LogMelExtractor(LOGMEL).mel_rows("unused.mp4")
    expected = naive_mel_rows(signal.astype(np.float64), 16000)
    assert rows.shape == expected.shape
    np.testing.assert_allclose(rows, expected, atol=2e-3)


def _logmel_windows(monkeypatch, signal: np.ndarray) -> np.ndarray:
    monkeypatch.setattr(wf, "iter_audio_chunks", lambda path, rate: iter([signal]))
    seconds = len(signal) / 16000
    return LogMelExtractor(LOGMEL).extract("unused.mp4", SimpleNamespace(duration=seconds)).windows


def _event_over_room(lowpass_hz: float | None = None) -> np.ndarray:
    """4 s of quiet white room noise, a loud broadband burst over 1.5-2.5 s; low-passed
    (every bin above ``lowpass_hz`` removed, as a codec does) where given."""
    rng = np.random.default_rng(3)
    signal = rng.normal(0, 0.001, 4 * 16000)
    signal[24000:40000] += rng.normal(0, 0.1, 16000)
    if lowpass_hz is not None:
        spectrum = np.fft.rfft(signal)
        spectrum[np.fft.rfftfreq(len(signal), 1 / 16000) > lowpass_hz] = 0
        signal = np.fft.irfft(spectrum, len(signal))
    return signal.astype(np.float32)


def test_logmel_log_floor_is_relative_to_the_recording_level(monkeypatch):
    """Version 2: each band's log is taken over ``power + 1e-6 + 0.03 * mean power``, the
    mean over the whole recording (version 1: ``power + 1e-6``)."""
    signal = _event_over_room(lowpass_hz=3000)
    found = _logmel_windows(monkeypatch, signal)
    power = np.exp(naive_mel_rows(signal.astype(np.float64), 16000)) - 1e-6
    rows = np.log(power + 1e-6 + 0.03 * power.mean())
    grid = window_grid(4.0, 1.0, 0.5)
    expected = []
    for start, end in grid:
        part = rows[int(round(start * 100)) : int(round(end * 100))]
        mean, spread = part.mean(axis=0), part.std(axis=0)
        expected.append(np.concatenate([mean - mean.mean(), spread - spread.mean()]))
    np.testing.assert_allclose(found, np.array(expected), atol=5e-3)


def test_logmel_does_not_change_with_the_recording_gain(monkeypatch):
    signal = _event_over_room()
    quiet = _logmel_windows(monkeypatch, signal)
    loud = _logmel_windows(monkeypatch, signal * np.float32(20))
    np.testing.assert_allclose(loud, quiet, atol=1e-4)


def test_logmel_room_tone_far_below_the_level_comes_out_nearly_flat(monkeypatch):
    """The quiet windows' band shape (coloured by nothing but the room) is small beside the
    event's: what the recurrence compares is the sounds, not the room."""
    windows = _logmel_windows(monkeypatch, _event_over_room(lowpass_hz=3000))
    room, event = np.linalg.norm(windows[0, :40]), np.linalg.norm(windows[3, :40])
    assert room < 0.25 * event, (room, event)


# --------------------------------------------------------------------------- colormotion


def test_colormotion_windows_on_generated_video(make_video):
    red, light = (250, 10, 10), (240, 240, 240)
    frames = [np.full((48, 64, 3), red if i < 10 else light, np.uint8) for i in range(20)]
    path = make_video("cm.mp4", seconds=2.0, fps=10, audio=False, frames=frames)
    extractor = build_extractor(
        {"extractor": "colormotion", "fps": 10, "width": 32, "height": 24, **GRID}
    )
    assert isinstance(extractor, ColorMotionExtractor) and extractor.dim == 1040
    found = extractor.extract(path, SimpleNamespace(duration=2.0))
    np.testing.assert_allclose(found.grid, [[0, 1], [0.5, 1.5], [1, 2]])
    features = found.windows
    assert features.shape == (3, 1040)
    # every window minus the video's median window: whole-frame red (1, 0.5, 0) -> median 0.5
    whole = features[:, 512:1024]
    np.testing.assert_allclose(whole[:, code(*red)], [0.5, 0.0, -0.5], atol=1e-6)
    np.testing.assert_allclose(whole[:, code(*light)], [-0.5, 0.0, 0.5], atol=1e-6)
    # the median window it took off is kept: windows + centre are the uncentred windows
    assert found.centre.shape == (1040,)
    np.testing.assert_allclose(found.centre[512 + code(*red)], 0.5, atol=1e-6)
    np.testing.assert_allclose((whole + found.centre[512:1024])[:, code(*red)], [1, 0.5, 0])
    # every pixel changes once, to light, at frame 10: 1 in one frame of the window's 10
    moving = features[:, :512]
    np.testing.assert_allclose(moving[:, code(*light)], [-0.1, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(moving[:, code(*red)], 0.0, atol=1e-6)
    # one grey jump from 90 to 240 at frame 10, but the whole frame brightened: the grid
    # motion compares 240 with the frame before scaled by the frame's gain, (240 + 1) / (90
    # + 1), and what is left is averaged over the 10 frames of a window
    jump = (240 - 90 * 241 / 91) / 255 / 10
    motion = features[:, 1024:]
    np.testing.assert_allclose(motion[0], -jump, atol=2e-3)
    np.testing.assert_allclose(motion[1:], 0.0, atol=2e-3)


def test_moving_histogram_sees_the_moving_object_not_the_scene():
    grey, red = (100, 100, 100), (250, 10, 10)
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    frames[:] = grey
    frames[0, :2, :2] = frames[1, :2, :2] = red  # still for a frame, then it moves right
    frames[2, :2, 4:6] = red
    hist = moving_histograms(frames, None)
    np.testing.assert_allclose(hist[:2], 0.0)  # nothing changed yet
    # frame 2: the square arrived on 4 pixels (red) and left 4 (grey again) of 64
    assert hist[2, code(*red)] == pytest.approx(np.sqrt(4 / 64))
    assert hist[2, code(*grey)] == pytest.approx(np.sqrt(4 / 64))
    assert np.count_nonzero(hist[2]) == 2
    # a scene of another colour with the same motion gives the same object bin
    other = frames.copy()
    other[(other == 100).all(axis=-1)] = (20, 200, 20)
    assert moving_histograms(other, None)[2, code(*red)] == pytest.approx(np.sqrt(4 / 64))


def test_brightness_gains_are_exact_level_ratios():
    frames = np.zeros((3, 4, 4, 3), np.uint8)
    frames[0], frames[1], frames[2] = 9, 19, 19
    np.testing.assert_array_equal(wf.brightness_gains(frames, None), [1.0, 2.0, 1.0])
    previous = np.full((4, 4, 3), 4, np.int16)  # the last frame of the batch before
    np.testing.assert_array_equal(wf.brightness_gains(frames, previous), [2.0, 2.0, 1.0])


def test_a_flash_is_not_motion_but_an_object_moving_through_it_is():
    rng = np.random.default_rng(0)
    scene = rng.integers(40, 120, (16, 16, 3)).astype(np.uint8)  # a textured scene
    frames = np.stack([scene, scene, scene])
    frames[2] = np.clip(scene.astype(np.float32) * 1.8, 0, 255).astype(np.uint8)  # a flash
    frames[2, :2, :2] = (250, 10, 10)  # and an object that arrived during it
    gains = wf.brightness_gains(frames, None)
    without = moving_histograms(frames, None)
    with_gain = moving_histograms(frames, None, None, gains)
    assert (without[2] ** 2).sum() > 0.9  # every pixel brightened by more than 20 levels
    assert (with_gain[2] ** 2).sum() == pytest.approx(4 / 256)  # only the object's 4 pixels
    assert with_gain[2, code(250, 10, 10)] == pytest.approx(np.sqrt(4 / 256))
    motion = grid_motion(frames, None, gains)
    assert motion[2, 0] > 5 * motion[2, 1:].max()  # the object's cell stands out
    assert grid_motion(frames, None)[2, 1:].min() > 5 * motion[2, 1:].max()


def test_build_extractor_rejects_unknown():
    assert isinstance(build_extractor({**LOGMEL, "audio_rate": 8000}), LogMelExtractor)
    with pytest.raises(ValueError, match="unknown"):
        build_extractor({"extractor": "sift"})


def test_video_shorter_than_a_window_is_flagged(make_video):
    path = make_video("short.mp4", seconds=0.6, fps=10, audio=False)
    found = build_extractor(
        {"extractor": "colormotion", "fps": 10, "width": 32, "height": 24, **GRID}
    ).extract(path, SimpleNamespace(duration=0.6))
    assert found.short and found.windows.shape == (1, 1040)
    np.testing.assert_allclose(found.grid, [[0.0, 0.6]])


# ----------------------------------------------------------- streams that end early


def test_logmel_windows_end_where_the_sound_ends(monkeypatch):
    rng = np.random.default_rng(1)
    sound = rng.normal(0, 0.1, int(2.3 * 16000)).astype(np.float32)  # 2.3 s of noise
    monkeypatch.setattr(wf, "iter_audio_chunks", lambda path, rate: iter(np.split(sound, 5)))
    found = LogMelExtractor(LOGMEL).extract("unused.mp4", SimpleNamespace(duration=6.0))
    assert found.partial and found.extent == pytest.approx(2.3)
    np.testing.assert_allclose(found.grid, window_grid(2.3, 1.0, 0.5))  # not to 6 s
    assert len(found.windows) == 3
    # no window repeats another (past the sound they used to be copies of the last one)
    assert (np.abs(np.diff(found.windows, axis=0)).max(axis=1) > 0).all()


def test_logmel_sound_ending_within_the_tolerance_keeps_the_claimed_grid(monkeypatch):
    sound = np.random.default_rng(2).normal(0, 0.1, 3 * 16000).astype(np.float32)
    monkeypatch.setattr(wf, "iter_audio_chunks", lambda path, rate: iter([sound]))
    found = LogMelExtractor(LOGMEL).extract("unused.mp4", SimpleNamespace(duration=3.1))
    assert not found.partial and found.extent == pytest.approx(3.0)
    np.testing.assert_allclose(found.grid, window_grid(3.1, 1.0, 0.5))


def test_colormotion_windows_end_with_the_picture(make_video):
    path = make_video("three.mp4", seconds=3.0, fps=10, audio=False)
    extractor = build_extractor(
        {"extractor": "colormotion", "fps": 10, "width": 32, "height": 24, **GRID}
    )
    found = extractor.extract(path, SimpleNamespace(duration=6.0))  # a header claiming 6 s
    assert found.partial and found.extent == pytest.approx(3.0)
    np.testing.assert_allclose(found.grid, window_grid(3.0, 1.0, 0.5))
    complete = extractor.extract(path, SimpleNamespace(duration=3.0))
    assert not complete.partial
    np.testing.assert_array_equal(found.windows, complete.windows)  # nothing held, nothing lost
