"""The embedded recipe's plans: which videos, their durations, highlights, splits and file
formats (docs/synthetic.md). Every video draws from its own generators, seeded by (seed,
category, video), so changing one setting never reshuffles unrelated videos.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from highlight_pipeline.datasets.synthetic.spec import (
    CATEGORY_NAMES,
    SynthSpec,
    VideoPlan,
    draw_test_videos,
)


def plan_videos(spec: SynthSpec) -> list[VideoPlan]:
    """Every video of the dataset, category by category (no rendering)."""
    plans: list[VideoPlan] = []
    rng = np.random.default_rng([spec.seed, 7919])  # the splits, one category after another
    for c in range(spec.categories):
        test_idx = draw_test_videos(rng, spec)
        for v in range(spec.videos_per_category):
            vr = np.random.default_rng([spec.seed, c, v])
            duration = float(np.floor(vr.uniform(spec.min_seconds, spec.max_seconds)))
            highlights = _plan_highlights(vr, duration)
            plans.append(
                VideoPlan(
                    video_id=f"{CATEGORY_NAMES[c]}_{v:02d}",
                    category=c,
                    duration=duration,
                    highlights=highlights,
                    split="test" if v in test_idx else "train",
                    **_plan_format(spec, np.random.default_rng([spec.seed, c, v, 2])),
                )
            )
    return plans


def _plan_format(spec: SynthSpec, rng: np.random.Generator) -> dict[str, Any]:
    """What real footage varies per file: frame rate, frame size and shape, sample rate,
    codec and container (the spec's values are the nominal ones)."""
    scale = float(rng.choice([0.8, 1.0, 1.2]))
    aspect = float(rng.choice([4 / 3, 16 / 9]))
    height = max(32, int(round(spec.height * scale / 4)) * 4)
    width = max(32, int(round(height * aspect / 4)) * 4)
    return {
        "fps": max(4, int(round(spec.fps * float(rng.choice([0.8, 1.0, 1.25]))))),
        "width": width,
        "height": height,
        "sample_rate": int(rng.choice([spec.sample_rate, 22050, 32000, 44100])),
        "container": str(rng.choice(["mp4", "mp4", "mkv"])),
    }


def _plan_highlights(rng: np.random.Generator, duration: float) -> list[tuple[float, float]]:
    wanted = int(rng.integers(1, 4))
    wanted = max(1, min(wanted, int(0.45 * duration / 6)))  # highlights stay a minority
    segments: list[tuple[float, float]] = []
    for _ in range(50):
        if len(segments) == wanted:
            break
        length = min(float(rng.integers(4, 9)), np.floor(0.45 * duration))
        start = float(rng.integers(1, max(2, int(duration - length))))
        end = min(start + length, duration - 1)
        if end - start < 3:
            continue
        if all(end + 2 <= s or start >= e + 2 for s, e in segments):
            segments.append((start, end))
    if not segments:  # very short video: one highlight in the middle
        segments.append((duration / 3, duration / 3 + min(4.0, duration / 3)))
    return sorted(segments)
