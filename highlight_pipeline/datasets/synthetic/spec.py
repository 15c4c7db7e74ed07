"""What defines a generated dataset, whichever recipe makes it.

:class:`SynthSpec` is the ``synth`` slice of a dataset's config (the recipe and its nominal
values); :class:`VideoPlan` is one video as the folder tables describe it (id, category,
duration, highlights, split, file format). The split rule is the same for both recipes: per
category, ``round(V * test_fraction)`` videos (at least one) are test videos, drawn with the
seed (:func:`draw_test_videos`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# The embedded recipe's categories (the default dataset's): a plan is named by them unless
# its recipe names its own (the holdout recipe does).
CATEGORY_NAMES = ["orbit", "slide", "bounce", "pulse", "spin", "zigzag"]


@dataclass(frozen=True)
class SynthSpec:
    categories: int = 3
    videos_per_category: int = 6
    min_seconds: float = 20
    max_seconds: float = 60
    width: int = 160
    height: int = 120
    fps: int = 12
    sample_rate: int = 16000
    test_fraction: float = 0.34
    seed: int = 0
    recipe: str = "embedded"
    clip_seconds: float = 2.0

    @classmethod
    def from_config(cls, synth: dict[str, Any], clip_seconds: float) -> SynthSpec:
        return cls(**synth, clip_seconds=clip_seconds)


@dataclass
class VideoPlan:
    video_id: str
    category: int
    duration: float
    highlights: list[tuple[float, float]]
    split: str
    category_name: str = ""
    filename: str = ""  # under videos/; default <video_id>.<container>
    fps: int = 12
    width: int = 160
    height: int = 120
    sample_rate: int = 16000
    container: str = "mp4"  # mp4: H.264 + AAC; mkv: MPEG-4 Part 2 + FLAC

    def __post_init__(self) -> None:
        self.category_name = self.category_name or CATEGORY_NAMES[self.category]
        self.filename = self.filename or f"{self.video_id}.{self.container}"


def draw_test_videos(rng: np.random.Generator, spec: SynthSpec) -> set[int]:
    """The indices of one category's test videos: ``round(V * test_fraction)`` of its V
    videos, at least one, drawn by ``rng``."""
    n_test = max(1, int(round(spec.videos_per_category * spec.test_fraction)))
    return set(rng.permutation(spec.videos_per_category)[:n_test].tolist())


def plan_of(video: Any, category_name: str) -> VideoPlan:
    """The plan a recipe's planned video hands to the tables: its id, category, duration,
    highlights, split, file and format (``fps``: its exact rate, possibly a Fraction, as a
    float)."""
    return VideoPlan(
        video_id=video.video_id,
        category=video.category,
        duration=video.duration,
        highlights=list(video.highlights),
        split=video.split,
        category_name=category_name,
        filename=video.filename,
        fps=float(video.fps),
        width=video.width,
        height=video.height,
        sample_rate=video.sample_rate,
        container=video.extension,
    )


#: Recipe name -> ``"module:function"`` writing its videos, called as
#: ``function(spec, videos_dir, progress, jobs)`` -> the plans. The one list of recipes:
#: the config schema's ``synth.recipe`` names and ``hlp synth`` read it.
RECIPES: dict[str, str] = {
    "embedded": "highlight_pipeline.datasets.synthetic.embedded:write_embedded_videos",
    "holdout": "highlight_pipeline.datasets.synthetic.holdout:write_holdout_videos",
    "holdout-loud": "highlight_pipeline.datasets.synthetic.holdout:write_loud_holdout_videos",
    "camcorder": "highlight_pipeline.datasets.synthetic.camcorder:write_camcorder_videos",
}


def recipe_names() -> list[str]:
    return list(RECIPES)
