"""Shared test helpers: tiny generated videos (PyAV) whose content is known exactly.

Frame i of a generated video is a uniform grey of level ``LEVEL_STEP * i`` (frame index
encoded in the colour), so a decoded frame tells which source frame it came from; the
audio track is a sine tone of known frequency.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from highlight_pipeline.numerics import pin_ffmpeg

# FFmpeg's C code from the start, as in every hlp process once it decodes (numerics.py).
# The flag is process-wide and reaches the encoders too: without this, a test that writes
# a video after another test decoded would encode other bytes than before.
pin_ffmpeg()

LEVEL_STEP = 8  # grey level per frame index (30 frames fit in 0..255)


def write_test_video(
    path: str | Path,
    seconds: float = 3.0,
    fps: int = 10,
    width: int = 64,
    height: int = 48,
    audio: bool = True,
    tone_hz: float = 440.0,
    rate: int = 16000,
    pts_ms: Sequence[int] | None = None,
    frames: Sequence[np.ndarray] | None = None,
    audio_delay: float = 0.0,
) -> Path:
    """Write an H.264 mp4; ``pts_ms`` gives irregular frame timestamps (variable frame rate).

    Without ``frames``, frame i is uniform grey ``LEVEL_STEP * i``. The tone (amplitude 0.5)
    starts ``audio_delay`` seconds after the video and ends with it.
    """
    path = Path(path)
    n = len(pts_ms) if pts_ms is not None else int(round(seconds * fps))
    if frames is not None:
        n = len(frames)
    with av.open(str(path), "w") as container:
        vstream = container.add_stream("libx264", rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.options = {"crf": "0", "preset": "ultrafast", "bf": "0"}
        if pts_ms is not None:
            vstream.codec_context.time_base = Fraction(1, 1000)
            vstream.time_base = Fraction(1, 1000)
        astream = container.add_stream("aac", rate=rate, layout="mono") if audio else None
        for i in range(n):
            image = (
                frames[i]
                if frames is not None
                else np.full((height, width, 3), LEVEL_STEP * i, np.uint8)
            )
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts_ms is not None:
                frame.pts = int(pts_ms[i])
                frame.time_base = Fraction(1, 1000)
            else:
                frame.pts = i
            container.mux(vstream.encode(frame))
        container.mux(vstream.encode(None))
        if astream is not None:
            total = int(round((seconds - audio_delay) * rate))
            offset = int(round(audio_delay * rate))
            t = np.arange(total) / rate
            signal = (0.5 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
            for start in range(0, total, 1024):
                aframe = av.AudioFrame.from_ndarray(
                    signal[start : start + 1024][None, :], format="fltp", layout="mono"
                )
                aframe.sample_rate = rate
                aframe.pts = offset + start
                container.mux(astream.encode(aframe))
            container.mux(astream.encode(None))
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors: one thread is ~30x faster than two on a loaded 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """``make_video(name, **kwargs)`` writes a test video under tmp_path (see write_test_video)."""

    def _make(name: str = "clip.mp4", **kwargs) -> Path:
        return write_test_video(tmp_path / name, **kwargs)

    return _make


@pytest.fixture(scope="session")
def av_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s, 64x48, 10 fps clip with a 440 Hz tone (shared, read-only)."""
    return write_test_video(tmp_path_factory.mktemp("video") / "av_clip.mp4")


@pytest.fixture
def corrupt_file(tmp_path: Path) -> Path:
    """Random bytes with an .mp4 name."""
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return path
