"""Writing a generated video file: the mechanics both recipes share.

A seed gives the same bytes on the same FFmpeg build, so what could vary between runs is
pinned here: frames are converted to YUV 4:2:0 in numpy rather than by swscale inside the
encoder (the bytes then depend on nothing but the frames), every codec runs one thread,
x264 runs without lookahead or macroblock tree, the container is written with bit-exact
flags (no muxer version string, no random Matroska segment id), and a file appears under
its name only when complete. What a recipe chooses (codecs and their settings, frame times,
the order in which picture and sound are muxed) stays with the recipe.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

# x264 with one thread and no lookahead or macroblock tree: with those, the bytes still
# varied now and then between runs (about 1 run in 15).
X264_REPRODUCIBLE = "threads=1:rc-lookahead=0:mbtree=0"


class VideoFile:
    """One video file with a picture and a sound stream, written byte-reproducibly.

    Use it as a context manager: the file is written to a hidden temporary file beside
    ``path`` (``.NAME.part.EXT``) and replaces ``path`` only when it was completed without
    an error. ``muxer`` is FFmpeg's name of the container format (default: from the
    extension).
    """

    def __init__(self, path: Path, muxer: str | None = None) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.part{self.path.suffix}")
        self.muxer = muxer

    def __enter__(self) -> VideoFile:
        # bitexact: no muxer version string or random segment id (Matroska) in the file
        self.out = av.open(
            str(self.tmp), "w", format=self.muxer, container_options={"fflags": "+bitexact"}
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.out.close()
        if kind is None:
            self.tmp.replace(self.path)

    def add_picture(
        self,
        codec: str,
        rate: Any,
        width: int,
        height: int,
        options: dict[str, str],
        gop_size: int | None = None,
        time_base: Fraction | None = None,
    ) -> None:
        """The video stream: YUV 4:2:0 frames, one encoder thread (set on the codec context:
        the "threads" option alone is overridden), the codec's ``options``."""
        stream = self.out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        if gop_size is not None:
            stream.codec_context.gop_size = gop_size
        if time_base is not None:
            stream.codec_context.time_base = time_base
            stream.time_base = time_base
        stream.options = options
        self.picture = stream

    def add_sound(
        self, codec: str, rate: int, layout: str, options: dict[str, str] | None = None
    ) -> None:
        """The audio stream (``layout``: "mono" or "stereo")."""
        stream = self.out.add_stream(codec, rate=rate, layout=layout)
        if options is not None:
            stream.options = options
        self.sound, self.rate, self.layout = stream, rate, layout

    def put_picture(
        self, yuv: np.ndarray, pts: int | None = None, time_base: Fraction | None = None
    ) -> None:
        """Encode and mux one frame (planar YUV 4:2:0, as the ``*_yuv420p`` functions give);
        without ``pts`` the encoder numbers the frames."""
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        if pts is not None:
            frame.pts, frame.time_base = pts, time_base
        self.out.mux(self.picture.encode(frame))

    def put_sound(
        self,
        samples: np.ndarray,
        pts: int,
        sample_format: str = "fltp",
        time_base: Fraction | None = None,
    ) -> None:
        """Encode and mux one block of samples, ``[channels, n]`` in ``sample_format``,
        starting at sample ``pts``."""
        frame = av.AudioFrame.from_ndarray(samples, format=sample_format, layout=self.layout)
        frame.sample_rate, frame.pts = self.rate, pts
        if time_base is not None:
            frame.time_base = time_base
        self.out.mux(self.sound.encode(frame))

    def end_picture(self) -> None:
        """Flush the video encoder."""
        self.out.mux(self.picture.encode(None))

    def end_sound(self) -> None:
        """Flush the audio encoder."""
        self.out.mux(self.sound.encode(None))


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 ``[H, W, 3]`` -> planar YUV 4:2:0 ``[H * 3 / 2, W]`` (BT.601, limited range).

    The embedded recipe's frames: chroma is computed per pixel, then averaged over 2x2.
    """
    x = rgb.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    h, w = y.shape

    def down(c: np.ndarray) -> np.ndarray:
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = [y, down(u).reshape(h // 4, w), down(v).reshape(h // 4, w)]
    return np.clip(np.rint(np.concatenate(planes)), 0, 255).astype(np.uint8)


def float_rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """Float RGB ``[H, W, 3]`` (0-255) -> planar YUV 4:2:0 ``[H * 3 / 2, W]`` uint8 (the
    matrix of :func:`rgb_to_yuv420p`).

    The holdout recipe's frames, unrounded: chroma is computed from the 2x2-averaged RGB
    (the same, as the matrix is linear, but not the same floating-point steps: each recipe
    keeps its own so that its bytes stay those it was made with).
    """
    h, w = rgb.shape[:2]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    quad = 0.25 * (rgb[0::2, 0::2] + rgb[1::2, 0::2] + rgb[0::2, 1::2] + rgb[1::2, 1::2])
    r, g, b = quad[..., 0], quad[..., 1], quad[..., 2]
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    planes = [y, u.reshape(h // 4, w), v.reshape(h // 4, w)]
    return np.clip(np.rint(np.concatenate(planes)), 0, 255).astype(np.uint8)


def write_each(videos: list, videos_dir: Path, write_one, desc: str, progress: bool = True) -> list:
    """``write_one(path, video)`` for every planned video, one at a time, into
    ``videos_dir`` (made if missing); returns their plans (``video.as_plan()``)."""
    from tqdm import tqdm

    videos_dir = Path(videos_dir)
    videos_dir.mkdir(parents=True, exist_ok=True)
    for video in tqdm(videos, desc=desc, unit="video", disable=not progress):
        write_one(videos_dir / video.filename, video)
    return [video.as_plan() for video in videos]
