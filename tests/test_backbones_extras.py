"""Preprocessing helpers, the registry and TASED-Net's whole-video windowing (no big models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from highlight_pipeline.features.backbones import BACKBONES, NAMES, get_spec
from highlight_pipeline.features.backbones.preprocess import (
    PREPROCESSORS,
    c3d_input,
    cnn14_input,
    i3d_input,
    r3d34_input,
    tased_frame,
    tased_input,
)
from highlight_pipeline.features.backbones.tased import (
    postprocess_saliency,
    saliency_windows,
    window_indices,
)


def frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)


def test_registry_entries_complete() -> None:
    assert NAMES == ("r3d34", "c3d", "i3d", "tased", "cnn14", "slowfast_r50", "clip_vit_b32")
    assert set(PREPROCESSORS) == set(NAMES)
    dims = {"r3d34": 512, "c3d": 4096, "i3d": 1024, "cnn14": 2048}
    for name, spec in BACKBONES.items():
        assert spec.filename and spec.source and spec.reference
        assert spec.modality in ("visual", "audio", "saliency")
        if name in dims:
            assert spec.feature_dim == dims[name]
    assert get_spec("cnn14").preprocessing.sample_rate == 32000
    assert get_spec("tased").preprocessing.frames_per_window == 32
    assert get_spec("r3d34").preprocessing.mean == (114.7748, 107.7354, 99.4750)


def test_r3d34_input() -> None:
    x = r3d34_input(frames(16, 120, 160))
    assert x.shape == (1, 3, 16, 112, 112) and x.dtype == torch.float32
    assert float(x.min()) >= -114.7748 - 1e-3 and float(x.max()) <= 255 - 99.4750 + 1e-3
    flat = np.full((16, 90, 200, 3), 120, dtype=np.uint8)
    y = r3d34_input(flat)
    torch.testing.assert_close(
        y[0, :, 0, 0, 0], torch.tensor([120 - 114.7748, 120 - 107.7354, 120 - 99.4750])
    )


def test_c3d_input_channel_order_and_mean() -> None:
    clip = np.zeros((16, 128, 171, 3), dtype=np.uint8)
    clip[..., 0] = 200  # red
    rgb = c3d_input(clip)
    assert rgb.shape == (1, 3, 16, 112, 112)
    assert float(rgb[0, 0].mean()) == pytest.approx(200 - 102.0)
    bgr = c3d_input(clip, channel_order="BGR", mean=(90.0, 98.0, 102.0))
    assert float(bgr[0, 2].mean()) == pytest.approx(200 - 102.0)
    assert float(bgr[0, 0].mean()) == pytest.approx(-90.0)
    raw = c3d_input(clip, mean=(0.0, 0.0, 0.0))
    assert float(raw.max()) == 200.0
    with pytest.raises(ValueError):
        c3d_input(clip, channel_order="GRB")


def test_i3d_and_tased_inputs_in_unit_range() -> None:
    x = i3d_input(frames(9, 240, 320))
    assert x.shape == (1, 3, 9, 224, 224)
    assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    y = tased_input(frames(32, 100, 180))
    assert y.shape == (1, 3, 32, 224, 384)
    assert -1.0 <= float(y.min()) and float(y.max()) <= 1.0
    one = tased_frame(frames(1, 100, 180)[0])
    assert one.shape == (3, 224, 384)
    black = tased_frame(np.zeros((224, 384, 3), dtype=np.uint8))
    assert float(black.max()) == -1.0


def test_cnn14_input() -> None:
    pcm = (np.sin(np.linspace(0, 100, 16000)) * 32767).astype(np.int16)
    stereo = np.stack([pcm, pcm])
    x = cnn14_input(stereo, sample_rate=32000)
    assert x.shape == (1, 16000) and x.dtype == torch.float32
    assert float(x.abs().max()) <= 1.0
    y = cnn14_input(pcm.astype(np.float32) / 32768, sample_rate=16000)
    assert y.shape == (1, 32000)


def test_bad_frames_rejected() -> None:
    with pytest.raises(ValueError):
        r3d34_input(np.zeros((16, 112, 112), dtype=np.uint8))


def test_window_indices_follow_run_example() -> None:
    n = 100
    assert window_indices(31, n) == list(range(0, 32))
    assert window_indices(99, n) == list(range(68, 100))
    # frame j < 31: reversed window j+31 ... j, i.e. torch.flip of the clip ending at j+31
    assert window_indices(0, n) == list(range(31, -1, -1))
    assert window_indices(30, n) == list(range(61, 29, -1))
    for j in range(n):
        w = window_indices(j, n)
        assert len(w) == 32 and w[-1] == j and all(0 <= i < n for i in w)
    for n_short in (1, 5, 32, 40, 62):  # shorter than the reference accepts: still valid
        for j in range(n_short):
            w = window_indices(j, n_short)
            assert len(w) == 32 and w[-1] == j and all(0 <= i < n_short for i in w)


class _RecordingModel(nn.Module):
    """Stands in for TASED: returns the window's frame ids as a map, records each window."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        self.windows: list[list[int]] = []

    def extract(self, x: Tensor) -> Tensor:
        for clip in x:
            self.windows.append([round(float(v)) for v in clip[0, :, 0, 0]])
        return x[:, 0, -1] / 1000.0  # (B, H, W): last frame's id


@pytest.mark.parametrize(("n", "batch_size"), [(70, 1), (70, 4), (40, 3), (3, 2)])
def test_saliency_windows_order_and_windows(n: int, batch_size: int) -> None:
    model = _RecordingModel()
    video = (torch.full((3, 2, 2), float(i)) for i in range(n))
    out = list(saliency_windows(model, video, preprocessed=True, batch_size=batch_size))
    assert [f.index for f in out] == list(range(n))
    assert model.windows == [window_indices(j, n) for j in range(n)]
    for f in out:
        assert f.smoothed is None
        assert float(f.raw[0, 0]) == pytest.approx(f.index / 1000.0)


def test_saliency_windows_uint8_frames_and_postprocess() -> None:
    model = _RecordingModel()
    video = [np.full((30, 40, 3), 7, dtype=np.uint8) for _ in range(2)]
    out = list(saliency_windows(model, video, postprocess=True, sigma=2.0))
    assert len(out) == 2
    assert out[0].raw.shape == (224, 384)
    assert out[0].smoothed is not None and out[0].smoothed.shape == (224, 384)


def test_postprocess_saliency() -> None:
    rng = np.random.default_rng(0)
    smap = rng.random((224, 384)).astype(np.float32) * 0.5
    out = postprocess_saliency(smap)
    assert out.shape == smap.shape and out.dtype == np.float32
    assert float(out.max()) == pytest.approx(1.0)
    assert float(out.min()) >= 0.0
    assert float(postprocess_saliency(np.zeros((8, 8))).max()) == 0.0
