"""Generated datasets (`hlp synth`): the embedded recipe (the default dataset) and two
made another way, only for measuring: holdout and camcorder.

docs/synthetic.md describes them. Shared: :mod:`.spec` (what defines a dataset),
:mod:`.encoding` (byte-reproducible files), :mod:`.generate` (a recipe's videos and the
folder tables). Each recipe draws its own plans, pictures and sound: ``embedded_*``,
``holdout_*`` and ``camcorder_*``.
"""

from highlight_pipeline.datasets.synthetic.embedded import write_embedded_videos, write_video
from highlight_pipeline.datasets.synthetic.embedded_pictures import (
    EVENT_COLOURS,
    _Renderer,
    scene_colour,
)
from highlight_pipeline.datasets.synthetic.embedded_plan import plan_videos
from highlight_pipeline.datasets.synthetic.embedded_sound import event_sound, render_audio
from highlight_pipeline.datasets.synthetic.encoding import rgb_to_yuv420p
from highlight_pipeline.datasets.synthetic.generate import synthesize, write_tables
from highlight_pipeline.datasets.synthetic.spec import CATEGORY_NAMES, SynthSpec, VideoPlan

__all__ = [
    "CATEGORY_NAMES",
    "EVENT_COLOURS",
    "SynthSpec",
    "VideoPlan",
    "_Renderer",
    "event_sound",
    "plan_videos",
    "render_audio",
    "rgb_to_yuv420p",
    "scene_colour",
    "synthesize",
    "write_embedded_videos",
    "write_tables",
    "write_video",
]
