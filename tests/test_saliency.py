"""Tests for features.saliency, features.pqft and features.novelty: spectral residual maps,
PQFT maps (colour and motion), novelty maps (distance from the temporal-median background)
and TASED-Net windows and maps."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from highlight_pipeline.features import novelty as novelty_module
from highlight_pipeline.features import pqft as pqft_module
from highlight_pipeline.features.backbones.tased import WINDOW, window_indices
from highlight_pipeline.features.extract import build_extractor
from highlight_pipeline.features.novelty import NoveltySaliency, half_window, novelty_map
from highlight_pipeline.features.pqft import PQFTSaliency, opponent_channels, pqft_saliency
from highlight_pipeline.features.saliency import (
    TASED_SIZE,
    SpectralResidualSaliency,
    TasedSaliency,
    smoothed,
    spectral_residual,
    tased_windows,
)
from highlight_pipeline.video.decode import iter_frame_batches
from highlight_pipeline.video.probe import probe
from tests.conftest import write_test_video

STEP = 3  # grey level per frame index in the colour-index videos (70 frames fit in 0..255)


def row_of(path: Path) -> SimpleNamespace:
    return SimpleNamespace(video_id="v", path=str(path), **probe(path).as_dict())


# ------------------------------------------------------------------- spectral residual


def square_image(top: int, left: int, size: int = 5, shape=(48, 64)) -> np.ndarray:
    image = np.full(shape, 100.0)
    image[top : top + size, left : left + size] = 250.0
    return image


@pytest.mark.parametrize("top,left", [(10, 40), (30, 8), (20, 28)])
def test_spectral_residual_peaks_on_a_small_bright_square(top, left):
    sal = spectral_residual(square_image(top, left)[None])
    assert sal.shape == (1, 48, 64)
    assert np.all(np.isfinite(sal))
    assert sal.min() >= 0.0 and sal.max() == pytest.approx(1.0)
    row, col = np.unravel_index(np.argmax(sal[0]), sal[0].shape)
    assert top - 2 <= row <= top + 5 + 1 and left - 2 <= col <= left + 5 + 1
    # far from the square the map is low
    far = np.ones((48, 64), bool)
    far[max(top - 12, 0) : top + 17, max(left - 12, 0) : left + 17] = False
    assert sal[0][far].max() < 0.2


def test_spectral_residual_normalises_each_frame_separately():
    frames = np.stack([square_image(10, 40), 0.1 * square_image(30, 8)])
    sal = spectral_residual(frames)
    assert sal.shape == (2, 48, 64)
    np.testing.assert_allclose(sal.reshape(2, -1).max(axis=1), 1.0)
    r0 = np.unravel_index(np.argmax(sal[0]), (48, 64))
    r1 = np.unravel_index(np.argmax(sal[1]), (48, 64))
    assert 8 <= r0[0] <= 16 and 38 <= r0[1] <= 46
    assert 28 <= r1[0] <= 36 and 6 <= r1[1] <= 14


def test_spectral_residual_of_a_flat_frame_is_finite_and_bounded():
    sal = spectral_residual(np.full((2, 16, 24), 77.0))
    assert np.all(np.isfinite(sal))
    assert sal.min() >= 0.0 and sal.max() <= 1.0 + 1e-9


# ---------------------------------------------------------------------------- smoothed


def test_smoothed_normalises_every_map_to_max_one():
    rng = np.random.default_rng(0)
    maps = rng.random((3, 14, 24)).astype(np.float16) * np.array([0.1, 0.5, 0.9])[:, None, None]
    out = smoothed(maps)
    assert out.shape == maps.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.reshape(3, -1).max(axis=1), 1.0, rtol=1e-6)
    assert out.min() >= 0.0


def test_smoothed_leaves_an_empty_map_zero():
    out = smoothed(np.zeros((2, 8, 8)))
    assert np.all(out == 0.0)


def test_smoothed_sigma_scales_with_the_stored_width():
    # sigma 7 at 384 px is sigma 3.5 at 192 px: a point spreads as exp(-d^2 / (2 * 3.5^2))
    maps = np.zeros((1, 81, 192))
    maps[0, 40, 96] = 1.0
    out = smoothed(maps)[0]
    assert out[40, 96] == pytest.approx(1.0)
    assert out[40, 96 + 7] == pytest.approx(np.exp(-2.0), rel=0.03)
    assert out[40 - 7, 96] == pytest.approx(np.exp(-2.0), rel=0.03)
    assert out[40, 96 + 14] == pytest.approx(np.exp(-8.0), rel=0.1)


# ------------------------------------------------------------ spectral residual extractor


def test_spectral_extractor_maps_on_the_map_time_grid(make_video):
    frames = []
    for i in range(20):  # 2 s at 10 fps: a bright 7x7 square moving right, grey background
        frame = np.full((48, 64, 3), 90, np.uint8)
        frame[20:27, 2 * i + 4 : 2 * i + 11] = 255
        frames.append(frame)
    path = make_video("square.mp4", frames=frames, fps=10, audio=False)
    feature_slice = {"extractor": "spectral", "fps": 4, "height": 48, "width": 64}
    extractor = build_extractor(feature_slice)
    assert isinstance(extractor, SpectralResidualSaliency)
    assert extractor.modality == "saliency"
    assert extractor.describe()["weights"] == "weight-free"
    found = extractor.extract(path, row_of(path))
    assert found.windows.dtype == np.float16
    assert found.windows.shape == (8, 48, 64)  # 4 maps per second x 2 s
    k = np.arange(8)
    np.testing.assert_allclose(found.grid[:, 0], k / 4)
    np.testing.assert_allclose(found.grid[:, 1], k / 4 + 0.25)
    maps = found.windows.astype(np.float32)
    assert maps.min() >= 0.0 and np.allclose(maps.reshape(8, -1).max(axis=1), 1.0, atol=1e-3)
    for j, m in enumerate(maps):
        i = int(round(j * 10 / 4))  # the source frame shown at time j / 4
        row, col = np.unravel_index(np.argmax(m), m.shape)
        # the square covers rows 20..26 and columns 2i + 4 .. 2i + 10
        assert 18 <= row <= 28, (j, row)
        assert 2 * i + 2 <= col <= 2 * i + 12, (j, col, i)


def test_spectral_extractor_decodes_at_the_stored_size(make_video):
    path = make_video("grey.mp4", seconds=1.0, fps=10, audio=False)
    found = SpectralResidualSaliency(
        {"extractor": "spectral", "fps": 3, "height": 10, "width": 12}
    ).extract(path, row_of(path))
    assert found.windows.shape == (3, 10, 12)
    np.testing.assert_allclose(found.grid, [[0, 1 / 3], [1 / 3, 2 / 3], [2 / 3, 1.0]])


def test_spectral_residual_square_dividing_the_frame_size():
    image = np.full((24, 32), 90.0)
    image[10:14, 2:6] = 255.0  # 4 divides 24 and 32: exact zeros in the spectrum
    sal = spectral_residual(image[None])[0]
    row, col = np.unravel_index(np.argmax(sal), sal.shape)
    assert 8 <= row <= 15 and 0 <= col <= 7, (row, col)


# ---------------------------------------------------------------------- PQFT (colour, motion)

MAP_H, MAP_W = 56, 96


def striped_grey(phase: float = 0.0) -> np.ndarray:
    """A grey background of diagonal stripes, levels 60..200 (mean 130): texture that the
    grey spectral residual marks."""
    yy, xx = np.mgrid[0:MAP_H, 0:MAP_W]
    level = 60 + 140 * (0.5 + 0.5 * np.sin(2 * np.pi * (5 * xx / MAP_W + 3 * yy / MAP_H) + phase))
    return np.repeat(level[..., None], 3, axis=2)


def inside_over_outside(saliency: np.ndarray, inside: np.ndarray) -> float:
    return float(saliency[inside].mean() / saliency[~inside].mean())


@pytest.mark.parametrize("top,left", [(10, 10), (20, 40), (30, 70), (5, 60)])
def test_pqft_marks_a_coloured_moving_object_on_textured_grey(top, left):
    # a reddish 16 x 16 square whose grey level (130) is the background's mean, moving 3 px
    def frame(x: int) -> np.ndarray:
        image = striped_grey()
        image[top : top + 16, x : x + 16] = (200, 100, 90)
        return image

    current, previous = frame(left)[None], frame(left - 3)[None]
    inside = np.zeros((MAP_H, MAP_W), bool)
    inside[top : top + 16, left : left + 16] = True
    colour_and_motion = pqft_saliency(current, previous)[0]
    grey = spectral_residual(current.mean(axis=-1))[0]
    # measured: PQFT 7.6-8.3 x the background's mean inside the object, the grey spectral
    # residual 1.3 x (it marks the stripes as much as the object)
    assert inside_over_outside(colour_and_motion, inside) > 4.0
    assert inside_over_outside(grey, inside) < 2.0
    # pld's pseudo-label mask (3 x the frame mean) lies on and around the object
    mask = colour_and_motion > 3 * colour_and_motion.mean()
    near = np.zeros_like(inside)
    near[max(top - 4, 0) : top + 20, max(left - 7, 0) : left + 20] = True
    assert mask.sum() > 0 and (mask & near).sum() / mask.sum() > 0.9


def test_pqft_motion_channel_finds_a_camouflaged_moving_patch():
    # a patch of the same grey noise as the static background, moving 5 px: invisible in
    # one frame, salient with the frame before it
    rng = np.random.default_rng(0)
    background = rng.uniform(60, 200, size=(MAP_H, MAP_W, 1)).repeat(3, axis=2)
    patch = rng.uniform(60, 200, size=(14, 14, 1)).repeat(3, axis=2)

    def frame(x: int) -> np.ndarray:
        image = background.copy()
        image[20:34, x : x + 14] = patch
        return image

    current, previous = frame(45)[None], frame(40)[None]
    moved = np.zeros((MAP_H, MAP_W), bool)
    moved[20:34, 40:59] = True  # where the patch was and is
    # measured: 2.2 with the reference frame, 1.05 without
    assert inside_over_outside(pqft_saliency(current, previous)[0], moved) > 1.8
    assert inside_over_outside(pqft_saliency(current)[0], moved) < 1.3
    # the same frame as its reference is no motion
    np.testing.assert_allclose(pqft_saliency(current, current), pqft_saliency(current))


def test_opponent_channels_of_pure_colours():
    pixels = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [80, 80, 80]]]])
    intensity, rg, by = (c[0, 0] for c in opponent_channels(pixels))
    np.testing.assert_allclose(intensity, [85, 85, 85, 170, 80])
    # R - G: red +, green -, grey 0; B - Y: blue +, yellow -, grey 0 (Y below 0 is 0)
    np.testing.assert_allclose(rg, [382.5, -382.5, 0, 0, 0])
    np.testing.assert_allclose(by, [-127.5, -127.5, 255, -510, 0])


def test_pqft_shapes_range_and_flat_frames():
    rng = np.random.default_rng(1)
    frames = rng.uniform(0, 255, size=(3, 20, 28, 3))
    out = pqft_saliency(frames, frames[::-1])
    assert out.shape == (3, 20, 28) and out.dtype == np.float64
    np.testing.assert_allclose(out.reshape(3, -1).max(axis=1), 1.0)
    assert out.min() >= 0.0
    flat = pqft_saliency(np.full((2, 16, 24, 3), 77.0))
    assert np.all(np.isfinite(flat)) and flat.min() >= 0.0 and flat.max() <= 1.0 + 1e-9
    # each frame on its own: a batch gives what its frames give one by one
    np.testing.assert_allclose(out[1:2], pqft_saliency(frames[1:2], frames[1:2][::-1]))


def moving_square_video(make_video, name: str = "red_square.mp4") -> Path:
    frames = []
    for i in range(24):  # 2.4 s at 10 fps: a red square moving right over grey stripes
        frame = striped_grey(0.0)[:48, :64].astype(np.uint8)
        frame[20:28, 2 * i + 2 : 2 * i + 10] = (220, 40, 40)
        frames.append(frame)
    return make_video(name, frames=frames, fps=10, audio=False)


def registered_maps(make_video, name: str, cls) -> np.ndarray:
    """The maps of the moving-square video by extractor ``name``, checked on the way: it is
    registered as ``cls``, weight-free, float16, on the spectral maps' grid (the same map
    times) and the same to the bit on a second extraction."""
    path = moving_square_video(make_video)
    feature_slice = {"extractor": name, "fps": 4, "height": 48, "width": 64}
    extractor = build_extractor(feature_slice)
    assert isinstance(extractor, cls) and extractor.modality == "saliency"
    assert extractor.describe()["weights"] == "weight-free"
    found = extractor.extract(path, row_of(path))
    spectral = build_extractor({**feature_slice, "extractor": "spectral"}).extract(
        path, row_of(path)
    )
    assert found.windows.dtype == np.float16
    assert found.windows.shape == spectral.windows.shape == (10, 48, 64)
    np.testing.assert_allclose(found.grid, spectral.grid)
    again = build_extractor(feature_slice).extract(path, row_of(path))
    np.testing.assert_array_equal(again.windows, found.windows)
    return found.windows.astype(np.float32)


def square_contrasts(maps: np.ndarray) -> list[float]:
    """Per map of the moving-square video at 4 maps a second, the mean inside the square
    over the mean outside it."""
    out = []
    for j, m in enumerate(maps):
        i = int(round(j * 10 / 4))  # the source frame shown at time j / 4
        square = np.zeros(m.shape, bool)
        square[20:28, 2 * i + 2 : 2 * i + 10] = True
        out.append(inside_over_outside(m, square))
    return out


def test_pqft_extractor_is_registered_and_on_the_spectral_grid(make_video):
    maps = registered_maps(make_video, "pqft", PQFTSaliency)
    assert maps.min() >= 0.0 and np.allclose(maps.reshape(10, -1).max(axis=1), 1.0, atol=1e-3)
    # measured: 6.6 (the first map, no motion) to 11.5 x the background's mean inside the
    # square; the spectral residual's maps 1.6-3.0 x
    assert min(square_contrasts(maps)) > 5.0


@pytest.mark.parametrize("batch", [1, 3, 7])
def test_pqft_streaming_equals_all_frames_at_once(make_video, monkeypatch, batch):
    # decoded in batches of any size, each map's motion reference is the frame decoded
    # 1/(fps x step) s before it, carried across batches
    path = moving_square_video(make_video)
    fps, step = 2.0, pqft_module.decode_step(2.0)
    assert step == 5  # 10 frames a second decoded, every fifth a map
    _, frames = next(iter_frame_batches(path, fps * step, 64, 48, 1000, 2.4))
    chosen = np.arange(0, len(frames), step)
    reference = frames[np.maximum(chosen - 1, 0)]
    expected = pqft_saliency(frames[chosen], reference).astype(np.float16)
    monkeypatch.setattr(pqft_module, "DECODE_BATCH", batch)
    found = PQFTSaliency({"extractor": "pqft", "fps": fps, "height": 48, "width": 64}).extract(
        path, row_of(path)
    )
    np.testing.assert_array_equal(found.windows, expected)
    np.testing.assert_allclose(found.grid[:, 0], np.arange(len(chosen)) / fps)
    # the first map has no earlier frame: no motion
    np.testing.assert_array_equal(found.windows[0], pqft_saliency(frames[:1]).astype(np.float16)[0])


# ------------------------------------------------------- novelty (temporal-median background)


def test_novelty_marks_what_its_background_window_does_not_hold():
    # a textured scene; a red square is there in 3 of 15 frames: its frames' maps lie on
    # it, and a frame without it is its own background (all zero)
    scene = striped_grey(0.0)
    frames = np.repeat(scene[None], 15, axis=0)
    frames[6:9, 20:30, 40:52] = (220, 40, 40)
    square = np.zeros((MAP_H, MAP_W), bool)
    square[20:30, 40:52] = True
    shown = novelty_map(frames[7], frames)
    assert shown.shape == (MAP_H, MAP_W) and shown.max() == pytest.approx(1.0)
    # measured 73 x (the blur spreads the square's edge over its surroundings); the spectral
    # residual of the same frame marks the stripes too (1.8 x)
    assert inside_over_outside(shown, square) > 20.0
    assert inside_over_outside(spectral_residual(frames[7:8].mean(axis=-1))[0], square) < 3.0
    np.testing.assert_array_equal(novelty_map(frames[2], frames), 0.0)
    # in more than half the window, the square is the background: nothing is new there
    assert novelty_map(frames[7], frames[5:10])[square].max() < 0.05


def test_novelty_extractor_is_registered_and_on_the_spectral_grid(make_video):
    maps = registered_maps(make_video, "novelty", NoveltySaliency)
    # the moving square is never its own background (each place holds it in at most 2 of
    # the window's 10 frames); the stripes are
    assert min(square_contrasts(maps)) > 5.0


@pytest.mark.parametrize("batch", [1, 3, 7])
def test_novelty_streaming_equals_every_window_at_once(make_video, monkeypatch, batch):
    # decoded in batches of any size, with a window shorter than the video, each map's
    # background is the median of the frames within half a window of it, cut at the ends
    path = moving_square_video(make_video)
    monkeypatch.setattr(novelty_module, "WINDOW", 1.0)
    fps = 4.0
    half = half_window(fps)
    assert half == 2
    _, frames = next(iter_frame_batches(path, fps, 64, 48, 1000, 2.4))
    expected = [
        novelty_map(frames[i], frames[max(0, i - half) : i + half + 1]).astype(np.float16)
        for i in range(len(frames))
    ]
    monkeypatch.setattr(novelty_module, "DECODE_BATCH", batch)
    found = NoveltySaliency({"extractor": "novelty", "fps": fps, "height": 48, "width": 64})
    maps = found.extract(path, row_of(path)).windows
    assert len(maps) == len(frames) == 10
    np.testing.assert_array_equal(maps, np.stack(expected))


# ------------------------------------------------------------------------ TASED windows


@pytest.fixture(scope="module")
def clip70(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """70 frames at 10 fps; frame i is grey STEP * i. Also the decoded level of each frame."""
    frames = [np.full((48, 64, 3), STEP * i, np.uint8) for i in range(70)]
    path = write_test_video(
        tmp_path_factory.mktemp("tased") / "c70.mp4", fps=10, frames=frames, audio=False
    )
    return path, levels_at_tased_size(path, 10.0)


def levels_at_tased_size(path: Path, fps: float) -> np.ndarray:
    """Mean decoded level of every frame at 384x224 (colour conversion shifts levels a bit)."""
    height, width = TASED_SIZE
    levels = np.concatenate(
        [
            f.reshape(len(f), -1).mean(axis=1)
            for _, f in iter_frame_batches(path, fps, width, height)
        ]
    )
    assert np.all(np.diff(levels) > 1.0)
    np.testing.assert_allclose(levels, STEP * np.arange(len(levels)), atol=5)
    return levels


def window_frame_ids(windows: np.ndarray, levels: np.ndarray) -> np.ndarray:
    flat = windows.reshape(windows.shape[0], windows.shape[1], -1)
    assert np.all(flat.min(axis=2) == flat.max(axis=2))  # each frame uniform
    return np.abs(flat.mean(axis=2)[..., None] - levels).argmin(axis=-1)


def collect(batches) -> tuple[list[int], np.ndarray, np.ndarray]:
    batches = list(batches)
    sizes = [len(w) for w, _ in batches]
    for w, t in batches:
        assert w.dtype == np.uint8
        assert w.shape[1:] == (WINDOW, *TASED_SIZE, 3)
        assert len(t) == len(w)
    return sizes, np.concatenate([w for w, _ in batches]), np.concatenate([t for _, t in batches])


def expected_targets(n: int, fps: float, map_fps: float) -> list[int]:
    duration = n / fps
    count = int(np.ceil(duration * map_fps - 1e-9))
    return [min(n - 1, int(round(k * fps / map_fps))) for k in range(count)]


def check_windows(windows, times, levels, n, fps, map_fps):
    targets = expected_targets(n, fps, map_fps)
    np.testing.assert_allclose(times, np.asarray(targets) / fps)
    ids = window_frame_ids(windows, levels)
    for k, target in enumerate(targets):
        expected = window_indices(target, n)
        if target >= WINDOW - 1:
            assert expected == list(range(target - WINDOW + 1, target + 1))
        elif target + WINDOW - 1 < n:
            assert expected == list(range(target + WINDOW - 1, target - 1, -1))
        assert ids[k].tolist() == expected, (target, ids[k].tolist())


def test_tased_map_times_and_window_shapes(clip70):
    path, _ = clip70
    _, windows, times = collect(tased_windows(path, 10.0, 7.0, 2.0, 4))
    assert windows.shape == (14, WINDOW, 224, 384, 3)
    np.testing.assert_allclose(times, np.arange(14) * 0.5)  # one map every 1 / map fps


@pytest.mark.parametrize("map_fps", [1.0, 0.25])
def test_tased_windows_hold_the_frames_window_indices_names(clip70, map_fps):
    # map fps 1: targets 0, 10, ..., 60 (reversed windows below 31); 0.25: targets 0 and 40
    path, levels = clip70
    _, windows, times = collect(tased_windows(path, 10.0, 7.0, map_fps, 3))
    assert len(windows) == len(expected_targets(70, 10.0, map_fps))
    check_windows(windows, times, levels, 70, 10.0, map_fps)


def test_tased_windows_beyond_the_head_at_two_maps_per_second(clip70):
    # targets 0, 5, ..., 65: target 30 needs frame 61, target 65 must end at frame 65
    path, levels = clip70
    _, windows, times = collect(tased_windows(path, 10.0, 7.0, 2.0, 4))
    check_windows(windows, times, levels, 70, 10.0, 2.0)


def test_tased_batches_never_exceed_the_batch_size(clip70):
    path, _ = clip70
    sizes, _, _ = collect(tased_windows(path, 10.0, 7.0, 2.0, 4))
    assert max(sizes) <= 4


@pytest.mark.parametrize("n,map_fps", [(20, 2.0), (50, 1.0), (40, 10.0)])
def test_tased_short_video_one_window_per_map_time(make_video, n, map_fps):
    frames = [np.full((48, 64, 3), STEP * i, np.uint8) for i in range(n)]
    path = make_video(f"short{n}.mp4", fps=10, frames=frames, audio=False)
    levels = levels_at_tased_size(path, 10.0)
    assert len(levels) == n
    _, windows, times = collect(tased_windows(path, 10.0, n / 10.0, map_fps, 100))
    assert len(windows) == len(expected_targets(n, 10.0, map_fps))
    check_windows(windows, times, levels, n, 10.0, map_fps)


# ------------------------------------------------------------------------- TASED maps


def test_tased_random_init_maps(make_video, tmp_path):
    path = make_video("tiny.mp4", seconds=1.0, fps=8, audio=False)  # 8 frames, one map
    feature_slice = {"extractor": "tased", "fps": 1, "height": 9, "width": 16}
    runtime = {"weights_dir": tmp_path, "weights": "random", "device": "cpu", "batch_size": 2}
    extractor = build_extractor(feature_slice, runtime)
    assert isinstance(extractor, TasedSaliency)
    assert extractor.modality == "saliency"
    found = extractor.extract(path, row_of(path))
    assert found.windows.dtype == np.float16
    assert found.windows.shape == (1, 9, 16)
    maps = found.windows.astype(np.float32)
    assert np.all(np.isfinite(maps)) and maps.min() > 0.0 and maps.max() < 1.0  # sigmoid
    np.testing.assert_allclose(found.grid, [[0.0, 1.0]])
    info = extractor.describe()
    assert info["weights"] == "random-init" and info["device"] == "cpu"
