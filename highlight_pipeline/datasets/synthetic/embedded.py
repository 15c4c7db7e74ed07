"""The embedded recipe (`hlp synth`): the default dataset, made deterministically from a seed.

Generative model, version 2 (also in docs/synthetic.md):

* C categories, V videos each, durations uniform in [min_seconds, max_seconds]. Per video
  a file format as real footage varies it: frame rate, frame size and shape, sample rate,
  codec and container (H.264/AAC in .mp4 or MPEG-4/FLAC in .mkv), sensor noise and
  recording level (:mod:`.embedded_plan`).
* Each video is a sequence of *scenes* (3-8 s). A scene has a background colour drawn
  from its category's hue family (varied in hue, saturation and value) with a smooth
  random texture and tint, plus 1-2 *distractor* objects (random colour, shape, size
  and bouncing motion) that move during the whole video, highlights included, fast
  objects crossing the frame and camera flashes at random times.
* Background sound per scene, at a random level: band-limited noise anywhere in the
  spectrum, a hum with harmonics, or amplitude-modulated broadband noise; plus
  *distractor sounds* (tones of random pitch, 0.5-2 s, and bangs, often louder than any
  highlight) at random times.
* 1-3 *highlight* segments of 4-8 s per video, starting on whole seconds. During a
  highlight the category's *event object* (fixed shape, colour and motion per category;
  its colour is far in hue from the category's backgrounds) fills a large part of the
  frame and the category's *event sound* (a fixed tone pattern, chirp or noise burst)
  plays. Nothing else changes: version 1 also dimmed the background and ducked the
  ambience during highlights, cues real footage does not have.

So highlights recur across the videos of a category, visually and aurally (the premise
of avph), are salient and move (pld), and differ from the rest of their video (chd),
while "something moves" or "it is loud" alone does not find them.

Its parts: :mod:`.embedded_plan` (which videos, highlights, splits, formats),
:mod:`.embedded_pictures` and :mod:`.embedded_sound`; this module renders and encodes each
video (:mod:`.encoding`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from highlight_pipeline.datasets.synthetic.embedded_pictures import _Renderer
from highlight_pipeline.datasets.synthetic.embedded_plan import plan_videos
from highlight_pipeline.datasets.synthetic.embedded_sound import render_audio
from highlight_pipeline.datasets.synthetic.encoding import (
    X264_REPRODUCIBLE,
    VideoFile,
    rgb_to_yuv420p,
)
from highlight_pipeline.datasets.synthetic.spec import SynthSpec, VideoPlan

BLOCK = 1024  # audio samples per encoded frame


def write_video(path: Path, spec: SynthSpec, plan: VideoPlan) -> None:
    """Render one video (picture, then sound, from one generator) and encode it: H.264 and
    AAC in .mp4, MPEG-4 Part 2 and FLAC in .mkv."""
    rng = np.random.default_rng([spec.seed, plan.category, int(plan.video_id[-2:]), 1])
    renderer = _Renderer(spec, plan, rng)
    audio = render_audio(spec, plan, rng)
    video_codec, audio_codec = ("libx264", "aac") if plan.container == "mp4" else ("mpeg4", "flac")
    if video_codec == "libx264":
        options = {"preset": "veryfast", "crf": "20", "x264-params": X264_REPRODUCIBLE}
    else:
        options = {"qscale": "3"}
    with VideoFile(path) as out:
        out.add_picture(video_codec, plan.fps, plan.width, plan.height, options)
        out.add_sound(audio_codec, plan.sample_rate, "mono")
        for i in range(int(plan.duration * plan.fps)):
            out.put_picture(rgb_to_yuv420p(renderer.frame(i / plan.fps)))
        out.end_picture()
        sample_format = "fltp" if audio_codec == "aac" else "s16"
        for start in range(0, audio.size, BLOCK):
            chunk = audio[start : start + BLOCK][None, :]
            if sample_format == "s16":
                chunk = np.rint(chunk * 32767).astype(np.int16)
            out.put_sound(chunk, start, sample_format)
        out.end_sound()


def write_embedded_videos(
    spec: SynthSpec, videos_dir: Path, progress: bool = True, jobs: int = 1
) -> list[VideoPlan]:
    """Write every video of the embedded dataset into ``videos_dir``; return their plans.
    ``jobs`` > 1 writes them in that many processes: each video is seeded on its own, so
    the files are the same bytes however many write them."""
    plans = plan_videos(spec)
    paths = [Path(videos_dir) / plan.filename for plan in plans]
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:
            done = pool.map(write_video, paths, [spec] * len(plans), plans)
            for _ in tqdm(done, total=len(plans), desc="synth", disable=not progress):
                pass
    else:
        for path, plan in tqdm(
            zip(paths, plans, strict=True), total=len(plans), desc="synth", disable=not progress
        ):
            write_video(path, spec, plan)
    return plans
