"""Tests for features.neural: frame windows, loop padding, normalisation, audio windows,
and the published backbones run end to end with random weights (no checkpoint files)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pandas as pd
import pytest
import torch

import highlight_pipeline.features.neural as neural
from highlight_pipeline.config import slice_hash
from highlight_pipeline.errors import ConfigError, WeightsError
from highlight_pipeline.features.backbones import build, get_spec
from highlight_pipeline.features.extract import build_extractor, extract_shard
from highlight_pipeline.features.neural import (
    REFERENCE_VISUAL,
    NeuralExtractor,
    decode_size,
    iter_audio_windows,
    iter_visual_windows,
    load_backbone,
    resolve_device,
    to_model_input,
    visual_input_spec,
)
from highlight_pipeline.features.shards import read_entries, read_meta
from highlight_pipeline.features.windows import window_grid
from highlight_pipeline.video.decode import iter_frame_batches
from highlight_pipeline.video.probe import probe
from tests.conftest import LEVEL_STEP, write_test_video

CPU = torch.device("cpu")
HAS_CUDA = torch.cuda.is_available()


# ------------------------------------------------------------------------------ helpers


def reference_levels(path: Path, fps: float, width: int, height: int) -> np.ndarray:
    """Mean level of every source frame decoded at (width, height) at the native rate.

    Frame i of a conftest video is grey ``LEVEL_STEP * i``; the decoded level is close to it
    but not exact (colour conversion), so windows are identified by the nearest level.
    """
    levels = np.concatenate(
        [
            f.reshape(len(f), -1).mean(axis=1)
            for _, f in iter_frame_batches(path, fps, width, height)
        ]
    )
    assert np.all(np.diff(levels) > 1.0)  # every frame distinguishable
    np.testing.assert_allclose(levels, LEVEL_STEP * np.arange(len(levels)), atol=6)
    return levels


def frame_ids(windows: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``[B, T, H, W, 3]`` uniform frames -> ``[B, T]`` source frame indices."""
    b, t = windows.shape[:2]
    flat = windows.reshape(b, t, -1)
    assert np.all(flat.min(axis=2) == flat.max(axis=2))  # uniform frames: nothing mixed in
    means = flat.mean(axis=2)
    return np.abs(means[..., None] - levels).argmin(axis=-1)


def row_of(path: Path, video_id: str = "v") -> SimpleNamespace:
    info = probe(path)
    return SimpleNamespace(video_id=video_id, path=str(path), **info.as_dict())


def write_av(path: Path, signal: np.ndarray, rate: int, seconds: float, fps: int = 10) -> Path:
    """A black 32x24 video with ``signal`` (mono float32 at ``rate``) as its AAC track."""
    with av.open(str(path), "w") as container:
        vstream = container.add_stream("libx264", rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = 32, 24, "yuv420p"
        astream = container.add_stream("aac", rate=rate, layout="mono")
        for i in range(int(round(seconds * fps))):
            frame = av.VideoFrame.from_ndarray(np.zeros((24, 32, 3), np.uint8), format="rgb24")
            frame.pts = i
            container.mux(vstream.encode(frame))
        container.mux(vstream.encode(None))
        for start in range(0, len(signal), 1024):
            aframe = av.AudioFrame.from_ndarray(
                signal[start : start + 1024][None, :], format="fltp", layout="mono"
            )
            aframe.sample_rate = rate
            aframe.pts = start
            container.mux(astream.encode(aframe))
        container.mux(astream.encode(None))
    return path


def small_spec(**overrides) -> neural.VisualInputSpec:
    return visual_input_spec("r3d34", {"resize_short": 24, "crop": 16, **overrides})


# -------------------------------------------------------------------------- decode_size


def test_decode_size_keeps_aspect_with_short_side():
    spec = REFERENCE_VISUAL["r3d34"]  # short side 112
    assert decode_size(spec, 64, 48) == (int(112 * 64 / 48), 112)  # landscape
    assert decode_size(spec, 48, 64) == (112, int(112 * 64 / 48))  # portrait
    assert decode_size(spec, 50, 50) == (112, 112)
    i3d = REFERENCE_VISUAL["i3d"]  # short side 256
    assert decode_size(i3d, 1280, 720) == (455, 256)
    assert decode_size(i3d, 720, 1280) == (256, 455)


def test_decode_size_fixed_resize_ignores_aspect():
    spec = REFERENCE_VISUAL["c3d"]  # resize (128, 171) = (height, width)
    assert decode_size(spec, 64, 48) == (171, 128)
    assert decode_size(spec, 48, 640) == (171, 128)


def test_decode_size_without_resize_uses_crop_as_short_side():
    spec = dataclasses.replace(REFERENCE_VISUAL["r3d34"], resize_short=None, crop=100)
    assert decode_size(spec, 300, 200) == (150, 100)


def test_decoded_size_always_covers_the_crop():
    for name, spec in REFERENCE_VISUAL.items():
        for w, h in [(64, 48), (48, 64), (1920, 1080), (320, 240), (100, 101)]:
            out_w, out_h = decode_size(spec, w, h)
            assert min(out_w, out_h) >= spec.crop, (name, w, h)


# ----------------------------------------------------------------------- input spec


def test_visual_input_spec_defaults_are_the_reference():
    for name in ("r3d34", "c3d", "i3d"):
        assert visual_input_spec(name) == REFERENCE_VISUAL[name]
        assert visual_input_spec(name, {}) == REFERENCE_VISUAL[name]
    r3d = visual_input_spec("r3d34")
    assert (r3d.window, r3d.stride, r3d.crop, r3d.resize_short) == (16, 16, 112, 112)
    assert r3d.fps is None and r3d.channel_order == "RGB"
    assert visual_input_spec("c3d").resize == (128, 171)
    assert visual_input_spec("i3d").crop == 224


def test_visual_input_spec_overrides_and_tuple_conversion():
    original = REFERENCE_VISUAL["c3d"]
    spec = visual_input_spec(
        "c3d",
        {
            "mean": [1, 2, 3],
            "std": [4, 5, 6],
            "resize": [64, 80],
            "window": 8,
            "fps": 12.5,
            "channel_order": "BGR",
        },
    )
    assert spec.mean == (1, 2, 3) and isinstance(spec.mean, tuple)
    assert spec.std == (4, 5, 6) and isinstance(spec.std, tuple)
    assert spec.resize == (64, 80) and isinstance(spec.resize, tuple)
    assert (spec.window, spec.fps, spec.channel_order) == (8, 12.5, "BGR")
    assert spec.stride == original.stride and spec.crop == original.crop  # untouched
    assert REFERENCE_VISUAL["c3d"] == original  # the reference is not modified
    hash(spec)  # frozen, hashable: spec lists became tuples


def test_visual_input_spec_rejects_unknown_option():
    with pytest.raises(TypeError):
        visual_input_spec("r3d34", {"windw": 8})


# ------------------------------------------------------------------- visual windows


@pytest.fixture(scope="module")
def index_clip(tmp_path_factory) -> Path:
    """25 frames at 10 fps, 64x48; frame i is grey LEVEL_STEP * i."""
    return write_test_video(
        tmp_path_factory.mktemp("neural") / "index.mp4", seconds=2.5, fps=10, audio=False
    )


@pytest.mark.parametrize(
    "window,stride,batch",
    [(4, 3, 3), (8, 8, 2), (5, 1, 7), (3, 5, 2), (25, 25, 4), (16, 16, 8)],
)
def test_visual_windows_consecutive_frames_on_the_stride_grid(index_clip, window, stride, batch):
    n, fps = 25, 10.0
    spec = small_spec(window=window, stride=stride)
    out_w, out_h = decode_size(spec, 64, 48)
    levels = reference_levels(index_clip, fps, out_w, out_h)
    assert len(levels) == n
    batches = list(iter_visual_windows(index_clip, spec, fps, 64, 48, n / fps, batch))
    expected_count = (n - window) // stride + 1
    sizes = [len(b[0]) for b in batches]
    assert sum(sizes) == expected_count
    assert all(s == batch for s in sizes[:-1]) and 1 <= sizes[-1] <= batch
    assert not any(short for _, _, short in batches)
    windows = np.concatenate([b[0] for b in batches])
    times = np.concatenate([b[1] for b in batches])
    assert windows.dtype == np.uint8
    assert windows.shape == (expected_count, window, 16, 16, 3)
    ids = frame_ids(windows, levels)
    k = np.arange(expected_count)
    np.testing.assert_array_equal(ids, k[:, None] * stride + np.arange(window)[None, :])
    np.testing.assert_allclose(times[:, 0], k * stride / fps)
    np.testing.assert_allclose(times[:, 1], (k * stride + window) / fps)


def test_visual_windows_centre_crop_of_the_resized_frame(make_video):
    # left half black, right half white: the square centre crop straddles the boundary
    frame = np.zeros((48, 96, 3), np.uint8)
    frame[:, 48:] = 255
    path = make_video("halves.mp4", frames=[frame] * 4, fps=10, width=96, height=48, audio=False)
    spec = visual_input_spec("r3d34", {"window": 4, "stride": 4, "resize_short": 24, "crop": 16})
    assert decode_size(spec, 96, 48) == (48, 24)
    [(windows, _, _)] = list(iter_visual_windows(path, spec, 10.0, 96, 48, 0.4, 2))
    assert windows.shape == (1, 4, 16, 16, 3)
    grey = windows[0, 0].mean(axis=-1)
    # crop columns 16..31 of 48: the boundary (column 24) falls in the middle of the crop
    assert grey[:, :6].max() < 40 and grey[:, 10:].min() > 215


def test_short_video_is_loop_padded_and_flagged(make_video):
    n, fps = 5, 10
    path = make_video("short.mp4", seconds=n / fps, fps=fps, audio=False)
    spec = small_spec(window=8, stride=8)
    levels = reference_levels(path, fps, *decode_size(spec, 64, 48))
    batches = list(iter_visual_windows(path, spec, float(fps), 64, 48, n / fps, 4))
    assert len(batches) == 1
    windows, times, short = batches[0]
    assert short is True
    assert windows.shape == (1, 8, 16, 16, 3)
    np.testing.assert_array_equal(frame_ids(windows, levels)[0], np.arange(8) % n)
    np.testing.assert_allclose(times, [[0.0, n / fps]])


def test_video_of_exactly_one_window_is_not_short(make_video):
    path = make_video("exact.mp4", seconds=0.8, fps=10, audio=False)
    spec = small_spec(window=8, stride=8)
    batches = list(iter_visual_windows(path, spec, 10.0, 64, 48, 0.8, 4))
    assert [(len(w), short) for w, _, short in batches] == [(1, False)]
    np.testing.assert_allclose(batches[0][1], [[0.0, 0.8]])


def test_spec_fps_resamples_the_video(make_video):
    # 30 frames at 20 fps (1.5 s); the spec asks for 10 fps: every second frame
    path = make_video("fast.mp4", seconds=1.5, fps=20, audio=False)
    spec = small_spec(window=4, stride=4, fps=10.0)
    levels = reference_levels(path, 20.0, *decode_size(spec, 64, 48))
    assert len(levels) == 30
    batches = list(iter_visual_windows(path, spec, 20.0, 64, 48, 1.5, 8))
    windows = np.concatenate([b[0] for b in batches])
    times = np.concatenate([b[1] for b in batches])
    count = (15 - 4) // 4 + 1  # 15 frames at 10 fps
    assert windows.shape[0] == count
    ids = frame_ids(windows, levels)
    k = np.arange(count)
    np.testing.assert_array_equal(ids, 2 * (k[:, None] * 4 + np.arange(4)[None, :]))
    np.testing.assert_allclose(times[:, 0], k * 4 / 10.0)  # times at the spec's rate
    np.testing.assert_allclose(times[:, 1], (k * 4 + 4) / 10.0)


# ------------------------------------------------------------------- model input


def test_to_model_input_rgb_normalisation():
    rng = np.random.default_rng(0)
    windows = rng.integers(0, 256, (2, 3, 4, 5, 3), dtype=np.uint8)
    spec = small_spec(mean=(10.0, 20.0, 30.0), std=(2.0, 4.0, 8.0))
    x = to_model_input(windows, spec, CPU)
    assert x.shape == (2, 3, 3, 4, 5) and x.dtype == torch.float32
    for c in range(3):
        expected = (windows[..., c].astype(np.float64) - spec.mean[c]) / spec.std[c]
        np.testing.assert_allclose(x[:, c].numpy(), expected, rtol=1e-6, atol=1e-5)


def test_to_model_input_bgr_flips_channels_before_normalising():
    rng = np.random.default_rng(1)
    windows = rng.integers(0, 256, (1, 2, 3, 3, 3), dtype=np.uint8)
    windows[..., 0], windows[..., 1], windows[..., 2] = 200, 100, 0  # R, G, B
    windows[0, 1, 0, 0] = (7, 8, 9)
    spec = small_spec(mean=(1.0, 2.0, 3.0), std=(1.0, 2.0, 4.0), channel_order="bgr")
    x = to_model_input(windows, spec, CPU).numpy()
    # channel 0 is blue, normalised with mean[0] / std[0] (mean and std are in BGR order)
    np.testing.assert_allclose(x[0, 0, 0, 1, 1], (0 - 1.0) / 1.0)
    np.testing.assert_allclose(x[0, 1, 0, 1, 1], (100 - 2.0) / 2.0)
    np.testing.assert_allclose(x[0, 2, 0, 1, 1], (200 - 3.0) / 4.0)
    np.testing.assert_allclose(x[0, :, 1, 0, 0], [(9 - 1) / 1, (8 - 2) / 2, (7 - 3) / 4])


def test_to_model_input_reference_specs():
    windows = np.full((1, 2, 2, 2, 3), 255, np.uint8)
    i3d = to_model_input(windows, REFERENCE_VISUAL["i3d"], CPU)
    np.testing.assert_allclose(i3d.numpy(), 1.0)  # [-1, 1] scaling
    r3d = to_model_input(windows, REFERENCE_VISUAL["r3d34"], CPU)
    np.testing.assert_allclose(
        r3d[0, :, 0, 0, 0].numpy(), 255 - np.array([114.7748, 107.7354, 99.4750]), rtol=1e-6
    )


# ------------------------------------------------------------------- audio windows

SWITCH = 1.5  # seconds: 500 Hz before, 2000 Hz after


@pytest.fixture(scope="module")
def switch_clip(tmp_path_factory) -> Path:
    rate, seconds = 16000, 3.0
    t = np.arange(int(seconds * rate)) / rate
    signal = np.where(
        t < SWITCH, 0.5 * np.sin(2 * np.pi * 500 * t), 0.5 * np.sin(2 * np.pi * 2000 * t)
    ).astype(np.float32)
    return write_av(tmp_path_factory.mktemp("audio") / "switch.mp4", signal, rate, seconds)


def test_audio_windows_on_the_grid_see_the_frequency_switch(switch_clip):
    rate = 8000
    starts = np.arange(0.0, 3.0, 0.5)  # the last window [2.5, 3.5] runs past the audio
    grid = np.stack([starts, starts + 1.0], axis=1)
    batches = list(iter_audio_windows(switch_clip, rate, grid, 4))
    assert [b.shape for b in batches] == [(4, rate), (2, rate)]
    assert all(b.dtype == np.float32 for b in batches)
    windows = np.concatenate(batches)
    spectrum = np.abs(np.fft.rfft(windows, axis=1))  # 1 Hz bins
    low, high = spectrum[:, 500], spectrum[:, 2000]
    share_low = low / (low + high)
    for (start, end), share in zip(grid, share_low, strict=True):
        if end <= SWITCH:  # fully before
            assert share > 0.995, (start, end, share)
        elif start >= SWITCH:  # fully after
            assert share < 0.005, (start, end, share)
        else:  # [1, 2] holds half a second of each
            assert 0.4 < share < 0.6, (start, end, share)
    # both halves carry the tone where there is audio, the last one is zero past the end
    assert np.abs(windows[0, : rate // 2]).max() > 0.4
    assert np.abs(windows[-1, : rate // 2]).max() > 0.4
    assert np.all(windows[-1, int(0.55 * rate) :] == 0.0)


def test_audio_windows_batch_of_one_and_tiny_grid(switch_clip):
    grid = np.array([[0.0, 0.25], [2.0, 2.25]])
    batches = list(iter_audio_windows(switch_clip, 8000, grid, 1))
    assert [b.shape for b in batches] == [(1, 2000), (1, 2000)]


@pytest.fixture
def synthetic_audio(monkeypatch):
    """Replace decoding by chunks of a ramp (sample i has value i + 1) of a given length."""
    state = {"length": 1000, "chunk": 230}

    def chunks(path, rate):
        signal = np.arange(state["length"], dtype=np.float32) + 1
        for start in range(0, len(signal), state["chunk"]):
            yield signal[start : start + state["chunk"]]

    monkeypatch.setattr(neural, "iter_audio_chunks", chunks)
    return state


def expected_windows(grid: np.ndarray, rate: int, length: int) -> np.ndarray:
    signal = np.arange(length, dtype=np.float32) + 1
    size = int(round((grid[0, 1] - grid[0, 0]) * rate))
    out = np.zeros((len(grid), size), np.float32)
    for k, start in enumerate(np.round(grid[:, 0] * rate).astype(int)):
        piece = signal[start : start + size]
        out[k, : len(piece)] = piece
    return out


@pytest.mark.parametrize("window,stride", [(1.0, 0.5), (1.0, 1.0), (2.5, 0.3)])
def test_audio_windows_exact_across_chunk_boundaries(synthetic_audio, window, stride):
    rate = 100  # the ramp is 10 s long, chunks of 2.3 s
    grid = window_grid(12.0, window, stride)  # the last windows run past the end
    got = np.concatenate(list(iter_audio_windows("x", rate, grid, 3)))
    np.testing.assert_array_equal(got, expected_windows(grid, rate, 1000))


def test_audio_windows_with_gaps_between_windows(synthetic_audio):
    rate = 100
    grid = window_grid(10.0, 0.5, 1.5)  # starts 0, 1.5, 3.0, ... ; chunks end at 2.3, 4.6, ...
    got = np.concatenate(list(iter_audio_windows("x", rate, grid, 3)))
    np.testing.assert_array_equal(got, expected_windows(grid, rate, 1000))


# -------------------------------------------------------------- devices and weights


def test_resolve_device_cpu():
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(HAS_CUDA, reason="needs a machine without CUDA")
def test_resolve_device_auto_and_cuda_without_gpu():
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="cuda"):
        resolve_device("cuda")


def test_load_backbone_published_without_file_names_it(tmp_path):
    with pytest.raises(WeightsError) as info:
        load_backbone("tased", tmp_path, "published", CPU)
    message = str(info.value)
    assert "TASED_updated.pt" in message
    assert str(tmp_path) in message


def test_load_backbone_random_is_eval_mode_and_random_init(tmp_path):
    model, origin = load_backbone("tased", tmp_path, "random", CPU)
    assert origin == "random-init"
    assert not model.training
    assert not any(p.is_cuda for p in model.parameters())


def test_neural_extractor_published_without_file_raises(tmp_path):
    filename = get_spec("i3d").filename
    with pytest.raises(WeightsError, match=re.escape(filename)):
        NeuralExtractor({"extractor": "i3d", "options": {}}, tmp_path, "published", "cpu")


# ------------------------------------------------------------- networks end to end


def test_r3d34_random_init_windows(make_video, tmp_path):
    path = make_video("r3d.mp4", seconds=3.2, fps=10, audio=False)  # 32 frames: 2 windows
    row = row_of(path)
    extractor = build_extractor(
        {"extractor": "r3d34", "options": {}},
        {"weights_dir": tmp_path, "weights": "random", "device": "cpu", "batch_size": 1},
    )
    assert isinstance(extractor, NeuralExtractor)
    assert (extractor.modality, extractor.dim) == ("visual", 512)
    found = extractor.extract(path, row)
    assert found.windows.shape == (2, 512)
    assert found.windows.dtype == np.float32 and np.all(np.isfinite(found.windows))
    np.testing.assert_allclose(found.grid, [[0.0, 1.6], [1.6, 3.2]])
    assert found.short is False
    assert not np.allclose(found.windows[0], found.windows[1])  # different frames
    # the same as running the model by hand on the windows, batched differently
    [(windows, _, _)] = list(iter_visual_windows(path, extractor.spec, 10.0, 64, 48, 3.2, 2))
    with torch.inference_mode():
        direct = extractor.model.extract(to_model_input(windows, extractor.spec, CPU)).numpy()
    np.testing.assert_allclose(found.windows, direct, rtol=1e-4, atol=1e-4)
    info = extractor.describe()
    assert info["weights"] == "random-init"
    assert info["device"] == "cpu" and info["amp"] is False
    assert info["input"]["window"] == 16 and info["input"]["crop"] == 112


def test_cnn14_random_init_on_the_seconds_grid(make_video, tmp_path):
    path = make_video("tone.mp4", seconds=2.0, fps=10, tone_hz=440.0)
    row = row_of(path)
    extractor = NeuralExtractor(
        {"extractor": "cnn14", "window_seconds": 1.0, "stride_seconds": 1.0},
        tmp_path,
        "random",
        "cpu",
        batch_size=4,
    )
    assert (extractor.modality, extractor.dim) == ("audio", 2048)
    found = extractor.extract(path, row)
    assert found.windows.shape == (2, 2048)
    assert np.all(np.isfinite(found.windows)) and found.windows.min() >= 0.0  # relu(fc1)
    np.testing.assert_allclose(found.grid, window_grid(row.duration, 1.0, 1.0))
    np.testing.assert_allclose(found.grid, [[0.0, 1.0], [1.0, 2.0]])
    assert found.short is False
    assert extractor.describe() == {"weights": "random-init", "device": "cpu", "amp": False}


def test_extract_shard_records_random_init(make_video, tmp_path):
    path = make_video("short.mp4", seconds=1.0, fps=10, audio=False)  # 10 frames < 16
    info = probe(path)
    manifest = pd.DataFrame([{"video_id": "clip/1", "path": str(path), **info.as_dict()}])
    feature_slice = {"extractor": "r3d34", "options": {"window": 16}}
    out = tmp_path / "features" / "shard-0.h5"
    runtime = {"weights_dir": tmp_path / "none", "weights": "random", "device": "cpu"}
    meta = extract_shard(manifest, 0, 1, feature_slice, out, progress=False, runtime=runtime)
    assert meta.weights == "random-init" and meta.failed == []
    stored = read_meta(out)
    assert stored.weights == "random-init"
    assert stored.backbone == "r3d34"
    assert stored.array == "windows"
    assert stored.config_hash == slice_hash({**feature_slice, "weights": "random-init"})
    assert stored.preprocessing["input"]["window"] == 16
    [entry] = list(read_entries(out))
    assert entry.video_id == "clip/1"
    assert entry.windows.shape == (1, 512)
    assert entry.short is True
    np.testing.assert_allclose(entry.start, [0.0])
    np.testing.assert_allclose(entry.end, [1.0])


def test_model_input_is_contiguous_for_networks_that_flatten():
    # C3D flattens pool5 with view(-1, 8192), which fails on channels-last activations
    # that a permuted (non-contiguous) input would propagate through the convolutions.
    windows = np.random.default_rng(0).integers(0, 255, (2, 16, 112, 112, 3), dtype=np.uint8)
    x = to_model_input(windows, visual_input_spec("c3d"), torch.device("cpu"))
    assert x.is_contiguous() and x.shape == (2, 3, 16, 112, 112)
    model = build("c3d").eval()
    features = model.extract(x)
    # the same values from a channels-last view of the same input
    channels_last = x.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3)
    torch.testing.assert_close(model.extract(channels_last), features)


def test_visual_batch_is_bounded_by_bytes(monkeypatch):
    """I3D's long windows at 224x224 come fewer per forward pass; small windows keep
    batch_size; without the bound, batch_size whatever the size."""
    import highlight_pipeline.features.neural as neural

    i3d = visual_input_spec("i3d")
    long_windows = visual_input_spec("i3d", {"window": 64, "stride": 64})
    assert neural.visual_batch(visual_input_spec("r3d34"), 8) == 8
    assert neural.visual_batch(i3d, 8) == neural.BATCH_BYTES // (3 * 16 * 224 * 224 * 4) < 8
    assert neural.visual_batch(long_windows, 8) == 1
    assert neural.visual_batch(i3d, 2) == 2
    monkeypatch.setattr(neural, "BATCH_BYTES", None)
    assert neural.visual_batch(long_windows, 8) == 8
