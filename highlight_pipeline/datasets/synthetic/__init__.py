"""Generated datasets (`hlp synth`): the embedded recipe (the default dataset) and two
made another way, only for measuring: holdout and camcorder.

docs/synthetic.md describes them. Shared: :mod:`.spec` (what defines a dataset),
:mod:`.encoding` (byte-reproducible files), :mod:`.generate` (a recipe's videos and the
folder tables). Each recipe draws its own plans, pictures and sound: ``embedded_*``,
``holdout_*`` and ``camcorder_*``.
"""

from importlib import import_module
from typing import Any

from highlight_pipeline.datasets.synthetic.spec import (
    CATEGORY_NAMES,
    RECIPES,
    SynthSpec,
    VideoPlan,
    recipe_names,
)

# The rest is imported on first use (the recipes draw with numpy and encode with PyAV): the
# config schema reads RECIPES when the Snakefile is parsed, without loading them.
_LAZY = {
    "write_embedded_videos": "embedded",
    "write_video": "embedded",
    "EVENT_COLOURS": "embedded_pictures",
    "_Renderer": "embedded_pictures",
    "scene_colour": "embedded_pictures",
    "plan_videos": "embedded_plan",
    "event_sound": "embedded_sound",
    "render_audio": "embedded_sound",
    "rgb_to_yuv420p": "encoding",
    "synthesize": "generate",
    "write_tables": "generate",
}

__all__ = ["CATEGORY_NAMES", "RECIPES", "SynthSpec", "VideoPlan", "recipe_names", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
