"""`hlp synth`: a recipe's videos and the folder-dataset tables (docs/synthetic.md).

Recipes: ``embedded`` (:mod:`.embedded`, the default dataset), ``holdout``
(:mod:`.holdout`, a second dataset made another way, used only to measure) and
``camcorder`` (:mod:`.camcorder`, a third, made by code shared with neither, also only to
measure). All write the same folder format: ``videos/``, ``videos.csv``,
``highlights.csv`` and ``clip_labels.csv``.
"""

from __future__ import annotations

import csv
from importlib import import_module
from pathlib import Path

from highlight_pipeline.datasets.folder import clip_grid, interval_labels
from highlight_pipeline.datasets.synthetic.spec import RECIPES, SynthSpec, VideoPlan
from highlight_pipeline.errors import ConfigError


def synthesize(
    spec: SynthSpec, out_dir: str | Path, progress: bool = True, jobs: int = 1
) -> list[VideoPlan]:
    """Write the videos of ``spec.recipe`` and the folder-dataset tables.

    ``jobs`` > 1 writes the embedded recipe's videos in that many processes; each video is
    seeded on its own, so the files are the same bytes however many write them.
    """
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    if spec.recipe not in RECIPES:
        raise ConfigError(f"unknown synth recipe {spec.recipe!r}; known: {', '.join(RECIPES)}")
    module, function = RECIPES[spec.recipe].split(":")
    write_videos = getattr(import_module(module), function)  # holdout, camcorder: one at a time
    plans = write_videos(spec, out / "videos", progress, jobs)
    write_tables(out, plans, spec.clip_seconds)
    return plans


def write_tables(out: Path, plans: list[VideoPlan], clip_seconds: float) -> None:
    """videos.csv, highlights.csv and clip_labels.csv of a generated dataset (folder format)."""
    with open(out / "videos.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "path", "category", "split"])
        for p in plans:
            writer.writerow([p.video_id, f"videos/{p.filename}", p.category_name, p.split])
    with open(out / "highlights.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "start", "end"])
        for p in plans:
            for s, e in p.highlights:
                writer.writerow([p.video_id, f"{s:.3f}", f"{e:.3f}"])
    with open(out / "clip_labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "clip", "start", "end", "label"])
        for p in plans:
            starts, ends = clip_grid(p.duration, clip_seconds)
            labels = interval_labels(starts, ends, p.highlights)
            for i, (s, e, lab) in enumerate(zip(starts, ends, labels, strict=True)):
                writer.writerow([p.video_id, i, f"{s:.3f}", f"{e:.3f}", lab])
