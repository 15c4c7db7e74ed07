"""The ffmpeg executable for ffmpeg-python: the system's if on PATH, else imageio-ffmpeg's.

PyAV wheels carry their own FFmpeg libraries (decoding, encoding); only command-line
ffmpeg work (cutting and joining highlight reels) needs an executable, and imageio-ffmpeg
ships one inside its wheel, so no system ffmpeg is required.
"""

from __future__ import annotations

import os
import shutil

from highlight_pipeline.errors import PipelineError


def ffmpeg_binary() -> str:
    override = os.environ.get("HLP_FFMPEG")
    if override:
        return override
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise PipelineError(
            "no ffmpeg found: install imageio-ffmpeg or put ffmpeg on PATH"
        ) from exc
    return imageio_ffmpeg.get_ffmpeg_exe()
