"""The holdout recipe's names where they were imported from before the generators became
the package :mod:`highlight_pipeline.datasets.synthetic` (whose ``holdout*`` modules hold
them now)."""

from highlight_pipeline.datasets.synthetic.encoding import float_rgb_to_yuv420p as to_yuv420p
from highlight_pipeline.datasets.synthetic.holdout import (
    frame_times,
    write_holdout_video,
    write_holdout_videos,
)
from highlight_pipeline.datasets.synthetic.holdout_pictures import _Picture
from highlight_pipeline.datasets.synthetic.holdout_plan import (
    CATEGORY_NAMES,
    FORMATS,
    OPUS_RATES,
    SALT,
    STANDARD_RATES,
    VORBIS_MIN_RATE,
    HoldoutVideo,
    Occurrence,
    plan_holdout,
)
from highlight_pipeline.datasets.synthetic.holdout_sound import audio_samples, render_sound

__all__ = [
    "CATEGORY_NAMES",
    "FORMATS",
    "OPUS_RATES",
    "SALT",
    "STANDARD_RATES",
    "VORBIS_MIN_RATE",
    "HoldoutVideo",
    "Occurrence",
    "_Picture",
    "audio_samples",
    "frame_times",
    "plan_holdout",
    "render_sound",
    "to_yuv420p",
    "write_holdout_video",
    "write_holdout_videos",
]
