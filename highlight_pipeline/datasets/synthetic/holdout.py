"""The holdout recipe (``synth: {recipe: holdout}``): a second dataset made another way.

It exists only to *measure* the weight-free default on videos that were not the ones it was
designed and tuned on (the embedded recipe, :mod:`.synthetic`): nothing may be tuned on it.
Where the embedded recipe draws geometric event objects (one fixed shape, colour, motion
and tone pattern per category) over hue-family backgrounds, this one imitates what a folder
of a user's own videos holds and varies: scenes, events, sounds, distractors and file
formats of other kinds. Generative model (also in docs/synthetic.md, "The holdout dataset"):

* Up to 4 categories (``spec.categories`` takes the first N): ``fireworks`` (rockets rise
  and burst into expanding, falling, fading particles; a bang then crackle), ``race``
  (vehicles rush across a track; an engine roar that rises in pitch), ``concert`` (coloured
  stage-light beams sweep, strobe and wash over a crowd silhouette whose arms go up; a
  cheer and loud chord hits) and ``goal`` (players and a ball attack, the ball flies into
  the net, which shakes, confetti falls in the stands; a crowd roar and a referee's pea
  whistle). Each category keeps its traits; position, size, colour within the family,
  timing and level are drawn per video and per occurrence.
* Every video draws from its own generators, seeded by (seed, category, video index), so one
  setting does not reshuffle unrelated videos. Durations are uniform in
  [min_seconds, max_seconds] (to 0.01 s); 1-3 non-overlapping highlights of 2-6 s (not on
  whole seconds) cover about 10-30 % of the video; the event plays exactly inside them.
* Scene: the category's setting (night sky with a skyline, race track, stage, football
  field) with its own random palette, layout and texture, and scene life that ignores the
  highlights (idle stage lights sweep, other players jog); a static camera, a slow pan, a
  slow zoom or a hand-held shake. The background and the noise never change with the
  highlights: event light only adds to the picture, event sound only adds to the noise.
* Picture format per video, around the spec's nominal values: height = nominal height x
  U(0.75, 1.25) (a multiple of 4), aspect the nominal one or the other of 4:3 / 16:9 (even
  width); an integer frame rate in [0.75, 1.25] x nominal fps, a quarter of them the NTSC
  k x 1000/1001 variant; one video of the dataset (in the first category) has a variable
  frame rate (irregular timestamps on a millisecond clock, with jitter and stalls).
* Sound per video: background noise of a random colour (white, pink, brown or a band) at
  -45 to -20 dBFS RMS with a slow level drift; a sample rate among the standard rates
  within a factor 1.5 of the nominal one (for 32 kHz: 22050, 32000, 44100, 48000); mono or
  stereo (sources panned, moving ones move). Loudness is RMS over a sound's active part
  (its samples above 5 % of its peak): events -30 to -12 dBFS per video, at least 8 dB
  above the noise, varied per occurrence.
* Distractors, mostly outside the highlights (15 % anywhere, so some overlap them), about
  one of each sort per 5 s: fast movers (a bird, a ball bouncing across, a burst of camera
  flashes, a passer-by close to the lens) and loud sounds at -30 to -10 dBFS (a door slam,
  a shout with vowel formants, a wind gust, a passing horn with Doppler), so that "loud"
  alone or "moves fast" alone does not find the highlights.
* Codec and container cycle with (category + video index) mod 3: H.264/AAC in .mp4,
  VP9/Opus in .webm, MPEG-4 Part 2/Vorbis in .mkv. Fallbacks (FFmpeg under PyAV 18): Opus
  codes only 8/12/16/24/48 kHz, so a .webm video is 48 kHz unless its drawn rate is one of
  those; the native Vorbis encoder is experimental and stereo only, so a mono .mkv video is
  dual mono, and as Matroska counts its 1024-sample priming in the duration, .mkv videos
  get at least 32 kHz (under 32 ms); AAC decodes whole 1024-sample frames, so an .mp4
  video's sound has the nearest whole number of them; VP9 uses libvpx's realtime mode.

Frames are converted to YUV 4:2:0 in numpy and encoded with one codec thread and bit-exact
flags (:mod:`.encoding`): a seed gives the same bytes on the same FFmpeg build. Its parts:
:mod:`.holdout_plan` (what is drawn for each video), :mod:`.holdout_pictures` and
:mod:`.holdout_sound`; this module times, renders and encodes each video.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from highlight_pipeline.datasets.synthetic.encoding import (
    X264_REPRODUCIBLE,
    VideoFile,
    float_rgb_to_yuv420p,
    write_each,
)
from highlight_pipeline.datasets.synthetic.holdout_pictures import _Picture
from highlight_pipeline.datasets.synthetic.holdout_plan import (
    LOUD,
    SALT,
    HoldoutVideo,
    _u,
    plan_holdout,
)
from highlight_pipeline.datasets.synthetic.holdout_sound import render_sound
from highlight_pipeline.datasets.synthetic.spec import SynthSpec, VideoPlan


def frame_times(video: HoldoutVideo) -> tuple[np.ndarray, np.ndarray, Fraction]:
    """Presentation times (s), timestamps and time base of the video's frames.

    Constant rate: frame i at i / fps. Variable rate: a millisecond clock; intervals of
    0.7-1.3 frame periods, one in eight a stall of 1.6-3 periods.
    """
    if not video.variable_frame_rate:
        pts = np.arange(max(1, int(round(video.duration * float(video.fps)))))
        return pts / float(video.fps), pts, 1 / video.fps
    rng = np.random.default_rng([video.seed, video.category, video.index, SALT, 4])
    step = 1000 / float(video.fps)
    stamps = [0]
    while True:
        gap = step * (_u(rng, 0.7, 1.3) if rng.random() < 0.875 else _u(rng, 1.6, 3.0))
        nxt = stamps[-1] + max(5, int(round(gap)))
        if nxt > video.duration * 1000 - step / 2:
            break
        stamps.append(nxt)
    pts = np.array(stamps)
    return pts / 1000, pts, Fraction(1, 1000)


def _video_options(video: HoldoutVideo) -> dict[str, str]:
    q = video.quality
    if video.video_codec == "libx264":
        return {
            "preset": "veryfast",
            "crf": f"{18 + 10 * q:.0f}",
            "x264-params": X264_REPRODUCIBLE,
            "flags": "+bitexact",
        }
    if video.video_codec == "libvpx-vp9":
        return {
            "deadline": "realtime",
            "cpu-used": "8",
            "crf": f"{28 + 14 * q:.0f}",
            "b": "0",
            "row-mt": "0",
            "tile-columns": "0",
            "flags": "+bitexact",
        }
    return {"flags": "+qscale+bitexact", "global_quality": str(int((2 + 6 * q) * 118))}


def _audio_options(video: HoldoutVideo) -> dict[str, str]:
    if video.audio_codec == "vorbis":  # FFmpeg's native Vorbis encoder is "experimental"
        return {"strict": "experimental", "flags": "+bitexact"}
    rate = 64 if video.audio_codec == "libopus" else 96
    return {"b": f"{rate * video.channels}k", "flags": "+bitexact"}


def write_holdout_video(path: Path, video: HoldoutVideo) -> None:
    """Render and encode one video, muxing picture and sound in time order."""
    picture = _Picture(video)
    sound = render_sound(video)
    times, stamps, time_base = frame_times(video)
    rate, layout = video.sample_rate, ("stereo" if video.channels == 2 else "mono")
    with VideoFile(path, video.muxer) as out:
        out.add_picture(
            video.video_codec,
            video.fps,
            video.width,
            video.height,
            _video_options(video),
            gop_size=max(1, int(round(video.gop_seconds * float(video.fps)))),
            time_base=time_base if video.variable_frame_rate else None,
        )
        out.add_sound(video.audio_codec, rate, layout, _audio_options(video))
        written = 0

        def sound_until(seconds: float) -> None:
            nonlocal written
            end = min(sound.shape[1], int(math.ceil(seconds * rate)))
            while written < end:
                block = np.ascontiguousarray(sound[:, written : written + 1024])
                out.put_sound(block, written, time_base=Fraction(1, rate))
                written += block.shape[1]

        for t, stamp in zip(times, stamps, strict=True):
            sound_until(float(t) + 0.2)
            out.put_picture(float_rgb_to_yuv420p(picture.frame(float(t))), int(stamp), time_base)
        out.end_picture()
        sound_until(video.duration + 1)
        out.end_sound()


def write_holdout_videos(
    spec: SynthSpec, videos_dir: Path, progress: bool = True, jobs: int = 1
) -> list[VideoPlan]:
    """Write every video of the holdout dataset into ``videos_dir``; return their plans."""
    return write_each(
        plan_holdout(spec), videos_dir, write_holdout_video, "synth holdout", progress
    )


def write_loud_holdout_videos(
    spec: SynthSpec, videos_dir: Path, progress: bool = True, jobs: int = 1
) -> list[VideoPlan]:
    """The ``holdout-loud`` development variant: the holdout recipe with harder distractors
    (:data:`~.holdout_plan.LOUD`), for developing against loud and fast non-events without
    looking at the camcorder recipe, which only measures."""
    return write_each(
        plan_holdout(spec, LOUD), videos_dir, write_holdout_video, "synth holdout-loud", progress
    )
