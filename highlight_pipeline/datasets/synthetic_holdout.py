"""The holdout synthetic dataset (recipe ``holdout``): a second dataset made another way.

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
flags: a seed gives the same bytes on the same FFmpeg build.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from scipy import fft
from scipy.ndimage import gaussian_filter
from tqdm import tqdm

from highlight_pipeline.datasets.synthetic import SynthSpec, VideoPlan
from highlight_pipeline.errors import ConfigError

CATEGORY_NAMES = ("fireworks", "race", "concert", "goal")
SCENES = ("night", "track", "stage", "field")  # the setting of each category
# (container extension, FFmpeg muxer, video encoder, audio encoder), cycled per video.
FORMATS = (
    ("mp4", "mp4", "libx264", "aac"),
    ("webm", "webm", "libvpx-vp9", "libopus"),
    ("mkv", "matroska", "mpeg4", "vorbis"),
)
STANDARD_RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000)
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
VORBIS_MIN_RATE = 32000  # keeps Vorbis's priming (1024 samples) under 32 ms
NOISE_COLOURS = ("white", "pink", "brown", "band")
CAMERAS = ("static", "pan", "zoom", "handheld")
VISUAL_DISTRACTORS = ("bird", "ball", "flash", "passer")
SOUND_DISTRACTORS = ("slam", "shout", "gust", "horn")
SALT = 40_961  # keeps these draws apart from the embedded recipe's (seed, category, video)
MARGIN = 0.15  # background drawn this far (in frame widths / heights) beyond the view
OUTSIDE_SHARE = 0.85  # share of distractors kept outside the highlights
GRAIN_PAD = 24  # sensor grain: frames take random windows of a few larger noise fields


@dataclass
class Occurrence:
    """One event or distractor: its kind, its time span and what was drawn for it."""

    kind: str
    start: float
    end: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class HoldoutVideo:
    """Everything drawn for one video before it is rendered."""

    video_id: str
    category: int
    index: int
    seed: int
    duration: float
    highlights: list[tuple[float, float]]
    split: str
    extension: str
    muxer: str
    video_codec: str
    audio_codec: str
    width: int
    height: int
    fps: Fraction
    variable_frame_rate: bool
    quality: float  # 0 (best) .. 1 (worst) compression, mapped per codec
    gop_seconds: float
    sample_rate: int
    channels: int  # as encoded
    dual_mono: bool  # a mono draw written as two equal channels (Vorbis)
    noise: str
    noise_dbfs: float
    grain: float  # sensor noise (grey levels, standard deviation)
    scene: str
    layout: dict[str, Any]
    camera: str
    camera_params: dict[str, Any]
    events: list[Occurrence]
    visual_distractors: list[Occurrence]
    sound_distractors: list[Occurrence]

    @property
    def filename(self) -> str:
        return f"{self.video_id}.{self.extension}"

    def as_plan(self) -> VideoPlan:
        """The plan synthesize() writes the tables from (fps: the exact, possibly
        k x 1000/1001 rate as a float; the nominal one for the variable-rate video)."""
        return VideoPlan(
            video_id=self.video_id,
            category=self.category,
            duration=self.duration,
            highlights=list(self.highlights),
            split=self.split,
            category_name=CATEGORY_NAMES[self.category],
            filename=self.filename,
            fps=float(self.fps),  # type: ignore[arg-type]
            width=self.width,
            height=self.height,
            sample_rate=self.sample_rate,
            container=self.extension,
        )


# ------------------------------------------------------------------------------ planning


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31))


def plan_holdout(spec: SynthSpec) -> list[HoldoutVideo]:
    """Draw every video of the dataset (no rendering)."""
    if spec.categories > len(CATEGORY_NAMES):
        raise ConfigError(
            f"synth.categories: the holdout recipe has {len(CATEGORY_NAMES)} categories "
            f"({', '.join(CATEGORY_NAMES)}), not {spec.categories}"
        )
    per = spec.videos_per_category
    vfr_index = int(np.random.default_rng([spec.seed, SALT, 1]).integers(per))
    videos = []
    for c in range(spec.categories):
        n_test = max(1, int(round(per * spec.test_fraction)))
        order = np.random.default_rng([spec.seed, SALT, 2, c]).permutation(per)
        test = set(order[:n_test].tolist())
        for v in range(per):
            split = "test" if v in test else "train"
            videos.append(_plan_video(spec, c, v, split, c == 0 and v == vfr_index))
    return videos


def _plan_video(spec: SynthSpec, c: int, v: int, split: str, vfr: bool) -> HoldoutVideo:
    rng = np.random.default_rng([spec.seed, c, v, SALT])
    duration = round(_u(rng, spec.min_seconds, spec.max_seconds), 2)
    highlights = _plan_highlights(rng, duration)
    extension, muxer, video_codec, audio_codec = FORMATS[(c + v) % len(FORMATS)]
    height = 4 * max(8, int(round(spec.height * _u(rng, 0.75, 1.25) / 4)))
    nominal_aspect = spec.width / spec.height
    other = 16 / 9 if abs(nominal_aspect - 4 / 3) < abs(nominal_aspect - 16 / 9) else 4 / 3
    aspect = nominal_aspect if rng.random() < 0.5 else other
    width = 2 * max(16, int(round(height * aspect / 2)))
    low, high = max(1, round(0.75 * spec.fps)), max(1, round(1.25 * spec.fps))
    fps = Fraction(int(rng.integers(low, high + 1)))
    if rng.random() < 0.25:
        fps = fps * Fraction(1000, 1001)
    rates = [r for r in STANDARD_RATES if spec.sample_rate / 1.5 <= r <= spec.sample_rate * 1.5]
    sample_rate = int(rng.choice(rates)) if rates else spec.sample_rate
    if audio_codec == "libopus" and sample_rate not in OPUS_RATES:
        sample_rate = 48000
    if audio_codec == "vorbis":  # Matroska counts Vorbis's 1024-sample priming in its duration
        sample_rate = max(sample_rate, VORBIS_MIN_RATE)
    channels = int(rng.integers(1, 3))
    dual_mono = audio_codec == "vorbis" and channels == 1
    scene = SCENES[c]
    layout = _plan_layout(rng, scene)
    camera = CAMERAS[int(rng.choice(4, p=[0.3, 0.25, 0.2, 0.25]))]
    noise_dbfs = _u(rng, -45, -20)
    # this video's event loudness (dBFS RMS over the sound's active part), varied per occurrence
    event_db = max(noise_dbfs + 8, _u(rng, -30, -12))
    events: list[Occurrence] = []
    for s, e in highlights:
        events += EVENT_PLANNERS[c](rng, s, e, layout, event_db)
    return HoldoutVideo(
        video_id=f"{CATEGORY_NAMES[c]}_{v:02d}",
        category=c,
        index=v,
        seed=spec.seed,
        duration=duration,
        highlights=highlights,
        split=split,
        extension=extension,
        muxer=muxer,
        video_codec=video_codec,
        audio_codec=audio_codec,
        width=width,
        height=height,
        fps=fps,
        variable_frame_rate=vfr,
        quality=_u(rng, 0, 1),
        gop_seconds=_u(rng, 1, 5),
        sample_rate=sample_rate,
        channels=2 if dual_mono else channels,
        dual_mono=dual_mono,
        noise=NOISE_COLOURS[int(rng.integers(4))],
        noise_dbfs=noise_dbfs,
        grain=_u(rng, 1.0, 4.0),
        scene=scene,
        layout=layout,
        camera=camera,
        camera_params=_plan_camera(rng, camera),
        events=events,
        visual_distractors=_plan_visual_distractors(rng, duration, highlights),
        sound_distractors=_plan_sound_distractors(rng, duration, highlights, noise_dbfs),
    )


def _plan_highlights(rng: np.random.Generator, duration: float) -> list[tuple[float, float]]:
    """1-3 segments of 2-6 s covering about 10-30 % of the video, 1.5 s apart at least."""
    edge, gap = 0.5, 1.5
    cover = _u(rng, 0.10, 0.30) * duration
    n = max(1, min(int(rng.integers(1, 4)), int(cover // 2.0)))
    lengths = np.clip(cover * rng.dirichlet(np.full(n, 3.0)), 2.0, 6.0)
    while n > 1 and duration - lengths.sum() < 2 * edge + (n - 1) * gap:
        n -= 1
        lengths = lengths[:n]
    lengths[0] = min(lengths[0], duration - 2 * edge)
    spare = (duration - lengths.sum() - 2 * edge - (n - 1) * gap) * rng.dirichlet(np.ones(n + 1))
    segments = []
    t = edge + spare[0]
    for k in range(n):
        start = round(float(t), 2)
        end = round(float(t + lengths[k]), 2)
        segments.append((start, end))
        t += lengths[k] + gap + spare[k + 1]
    return segments


def _plan_layout(rng: np.random.Generator, scene: str) -> dict[str, Any]:
    """Where the scene's parts lie (view coordinates: u across, v down, both 0-1)."""
    if scene == "night":
        return {"horizon": _u(rng, 0.72, 0.88)}
    if scene == "track":
        top = _u(rng, 0.48, 0.6)
        return {
            "horizon": _u(rng, 0.2, 0.34),
            "track_top": top,
            "track_bottom": top + _u(rng, 0.25, 0.34),
            "direction": 1 if rng.random() < 0.5 else -1,
        }
    if scene == "stage":  # idle lights sweep slowly all the time, highlights or not
        idle = [
            _plan_beam(rng, _u(rng, 0, 1), _u(rng, 25, 70), _u(rng, 3, 8))
            for _ in range(int(rng.integers(1, 4)))
        ]
        return {"truss": _u(rng, 0.05, 0.14), "crowd": _u(rng, 0.68, 0.82), "idle_beams": idle}
    goal_top = _u(rng, 0.38, 0.5)
    depth = _u(rng, 0.08, 0.14)
    near = _u(rng, 0.03, 0.08)
    left = rng.random() < 0.5
    return {
        "stands": _u(rng, 0.15, 0.28),
        "goal_top": goal_top,
        "goal_bottom": goal_top + _u(rng, 0.15, 0.22),
        "goal_u": (near, near + depth) if left else (1 - near - depth, 1 - near),
        "goal_left": left,
        "team_hue": (team := _u(rng, 0, 1)),
        "joggers": [  # other players moving about all the time, highlights or not
            {
                "u": _u(rng, 0.15, 0.85),
                "v": _u(rng, goal_top, 0.9),
                "amp": (_u(rng, 0.05, 0.25), _u(rng, 0.02, 0.1)),
                "period": _u(rng, 3, 10),
                "phase": _u(rng, 0, 2 * math.pi),
                "size": _u(rng, 0.06, 0.09),
                "hue": (team + _u(rng, 0.3, 0.7)) % 1.0,
            }
            for _ in range(int(rng.integers(2, 6)))
        ],
    }


def _plan_camera(rng: np.random.Generator, camera: str) -> dict[str, Any]:
    if camera == "pan":
        return {
            "amp_u": _u(rng, 0.04, 0.1),
            "amp_v": _u(rng, 0.0, 0.03),
            "period": _u(rng, 20, 60),
            "phase": _u(rng, 0, 2 * math.pi),
        }
    if camera == "zoom":
        return {"amount": _u(rng, 0.06, 0.15), "period": _u(rng, 12, 40), "phase": _u(rng, 0, 6)}
    if camera == "handheld":
        return {
            "freqs": rng.uniform(0.5, 4.0, size=(2, 3)).tolist(),
            "amps": rng.uniform(0.004, 0.02, size=(2, 3)).tolist(),
            "phases": rng.uniform(0, 2 * math.pi, size=(2, 3)).tolist(),
        }
    return {}


def _hue_near(rng: np.random.Generator, centres: tuple[float, ...], spread: float) -> float:
    return (float(rng.choice(centres)) + _u(rng, -spread, spread)) % 1.0


def _plan_fireworks(rng, s, e, layout, event_db) -> list[Occurrence]:
    """Rockets launched every 0.3-1.2 s; each bursts after 0.25-0.6 s of rise."""
    out = []
    t = s + _u(rng, 0.0, 0.25)
    while True:
        rise = _u(rng, 0.25, 0.6)
        if t + rise > e - 0.4 and out:
            break
        x = _u(rng, 0.12, 0.88)
        hue = _u(rng, 0, 1)
        out.append(
            Occurrence(
                "burst",
                t,
                e,
                {
                    "burst": t + rise,
                    "x": x,
                    "y": _u(rng, 0.08, layout["horizon"] - 0.3),
                    "launch_x": x + _u(rng, -0.08, 0.08),
                    "radius": _u(rng, 0.15, 0.4),
                    "hue": hue,
                    "hue2": (hue + _u(rng, -0.2, 0.2)) % 1.0 if rng.random() < 0.4 else hue,
                    "particles": int(rng.integers(60, 160)),
                    "life": _u(rng, 1.0, 1.9),
                    "gravity": _u(rng, 0.03, 0.1),
                    "delay": _u(rng, 0.0, 0.15),
                    "boom_hz": _u(rng, 45, 95),
                    "boom_decay": _u(rng, 0.15, 0.4),
                    "crackle_rate": _u(rng, 30, 120),
                    "crackle_level": _u(rng, 0.4, 1.0),
                    "gain_db": event_db + _u(rng, -4, 3),
                    "pan": _u(rng, -0.7, 0.7),
                    "seed": _seed(rng),
                },
            )
        )
        t += _u(rng, 0.3, 1.2)
    return out


def _plan_race(rng, s, e, layout, event_db) -> list[Occurrence]:
    """Vehicles crossing the frame in 0.45-1.2 s, one after another, sometimes close."""
    out = []
    t = s + _u(rng, 0.0, 0.2)
    while True:
        cross = _u(rng, 0.45, 1.2)
        if t + cross > e and out:
            break
        cross = min(cross, e - t)
        lane = _u(rng, 0.15, 0.85)
        direction = layout["direction"] * (-1 if rng.random() < 0.2 else 1)
        out.append(
            Occurrence(
                "car",
                t,
                t + cross,
                {
                    "v": layout["track_top"]
                    + lane * (layout["track_bottom"] - layout["track_top"]),
                    "size": _u(rng, 0.08, 0.13) * (0.7 + 0.6 * lane),
                    "direction": direction,
                    "hue": _u(rng, 0, 1),
                    "sat": _u(rng, 0.6, 1.0),
                    "val": _u(rng, 0.6, 1.0),
                    "f0": _u(rng, 60, 140),
                    "rise": _u(rng, 1.6, 2.8),
                    "gain_db": event_db + _u(rng, -4, 3),
                    "seed": _seed(rng),
                },
            )
        )
        t += cross * _u(rng, 0.6, 1.4) + _u(rng, 0.1, 0.8)
    return out


def _plan_beam(rng: np.random.Generator, hue: float, level: float, period: float) -> dict:
    """A stage light hanging from the truss, swinging its beam (angles from the vertical)."""
    return {
        "u": _u(rng, 0.08, 0.92),
        "angle": _u(rng, -0.5, 0.5),
        "swing": _u(rng, 0.2, 0.6),
        "period": period,
        "phase": _u(rng, 0, 2 * math.pi),
        "width": _u(rng, 0.05, 0.12),
        "hue": hue,
        "level": level,
    }


def _plan_concert(rng, s, e, layout, event_db) -> list[Occurrence]:
    """One light show over the whole highlight, plus chord hits every 0.7-2 s."""
    family = (0.83, 0.62, 0.5, 0.1, 0.95)  # magenta, blue, cyan, amber, pink
    beams = [
        _plan_beam(rng, _hue_near(rng, family, 0.03), _u(rng, 80, 180), _u(rng, 1.0, 3.5))
        for _ in range(int(rng.integers(3, 7)))
    ]
    strobes = []
    for _ in range(int(rng.integers(0, 3))):
        length = min(_u(rng, 0.4, 1.2), e - s)
        a = _u(rng, s, e - length)
        strobes.append((a, a + length, _u(rng, 6, 12), _u(rng, 40, 100)))
    arms = [
        {
            "u": _u(rng, 0, 1),
            "length": _u(rng, 0.05, 0.12),
            "freq": _u(rng, 1.5, 3.0),
            "phase": _u(rng, 0, 2 * math.pi),
        }
        for _ in range(int(rng.integers(8, 21)))
    ]
    out = [
        Occurrence(
            "show",
            s,
            e,
            {
                "beams": beams,
                "strobes": strobes,
                "arms": arms,
                "wash_hue": _hue_near(rng, family, 0.03),
                "wash_level": _u(rng, 20, 60),
                "cheer_db": event_db + _u(rng, -8, -2),
                "seed": _seed(rng),
            },
        )
    ]
    t = s + _u(rng, 0.0, 0.15)
    while t < e - 0.3:
        out.append(
            Occurrence(
                "chord",
                t,
                e,
                {
                    "root": 82.4 * 2 ** (int(rng.integers(0, 18)) / 12),  # E2 .. A3
                    "third": 5 / 4 if rng.random() < 0.6 else 6 / 5,
                    "decay": _u(rng, 0.5, 1.2),
                    "gain_db": event_db + _u(rng, -4, 3),
                    "pan": _u(rng, -0.4, 0.4),
                    "seed": _seed(rng),
                },
            )
        )
        t += _u(rng, 0.7, 2.0)
    return out


def _plan_goal(rng, s, e, layout, event_db) -> list[Occurrence]:
    """An attack, the shot into the net (35-55 % into the highlight), the celebration."""
    goal_time = s + (e - s) * _u(rng, 0.35, 0.55)
    flight = min(_u(rng, 0.35, 0.7), 0.6 * (goal_time - s))
    u0, u1 = layout["goal_u"]
    mouth_u = u1 if layout["goal_left"] else u0
    toward = -1 if layout["goal_left"] else 1
    field_top = layout["stands"] + 0.12
    start_u = mouth_u - toward * _u(rng, 0.45, 0.75)
    waypoints = [(start_u, _u(rng, field_top, 0.92))]
    for k in range(int(rng.integers(1, 4))):
        frac = (k + 1) / 4
        waypoints.append((start_u + (mouth_u - start_u) * frac * 0.7, _u(rng, field_top, 0.92)))
    target = (
        (u0 + u1) / 2 + toward * _u(rng, 0.0, 0.3) * (u1 - u0),
        _u(rng, layout["goal_top"] + 0.03, layout["goal_bottom"] - 0.03),
    )
    whistle, t = [], goal_time + _u(rng, 0.15, 0.5)
    for _ in range(int(rng.integers(1, 4))):
        length = _u(rng, 0.2, 0.5)
        if t + length > e:
            break
        whistle.append((t, t + length))
        t += length + _u(rng, 0.1, 0.25)
    players = [
        {
            "offset": (_u(rng, -0.15, 0.15), _u(rng, -0.12, 0.12)),
            "lag": _u(rng, 0.1, 0.5),
            "size": _u(rng, 0.06, 0.09),
            "hop": _u(rng, 2.0, 3.5),
        }
        for _ in range(int(rng.integers(2, 5)))
    ]
    return [
        Occurrence(
            "goal",
            s,
            e,
            {
                "goal_time": goal_time,
                "shot_time": goal_time - flight,
                "waypoints": waypoints,
                "target": target,
                "arc": _u(rng, 0.05, 0.2),
                "ball": _u(rng, 0.018, 0.03),
                "players": players,
                "whistle": whistle,
                "whistle_hz": _u(rng, 2600, 3600),
                "trill_hz": _u(rng, 20, 35),
                "whistle_db": event_db + _u(rng, -3, 3),
                "roar_db": event_db + _u(rng, -6, 0),
                "kick_db": event_db + _u(rng, -10, -4),
                "confetti": int(rng.integers(60, 150)),
                "seed": _seed(rng),
            },
        )
    ]


EVENT_PLANNERS: tuple[Callable[..., list[Occurrence]], ...] = (
    _plan_fireworks,
    _plan_race,
    _plan_concert,
    _plan_goal,
)


def _distractor_start(
    rng: np.random.Generator, duration: float, length: float, highlights: list
) -> float:
    """A start time; with probability OUTSIDE_SHARE the span avoids every highlight."""
    latest = max(0.0, duration - length)
    if rng.random() < OUTSIDE_SHARE:
        for _ in range(100):
            start = _u(rng, 0, latest)
            if all(start + length <= s or start >= e for s, e in highlights):
                return start
    return _u(rng, 0, latest)


def _plan_visual_distractors(rng, duration, highlights) -> list[Occurrence]:
    """About one fast mover per 5 s: birds, bouncing balls, bursts of 1-4 camera flashes,
    passers-by close to the lens."""
    lengths = {"bird": (0.7, 2.2), "ball": (0.5, 1.5), "flash": (0.12, 0.25), "passer": (1.2, 3)}
    out = []
    for _ in range(1 + int(rng.poisson(duration / 5))):
        kind = VISUAL_DISTRACTORS[int(rng.integers(len(VISUAL_DISTRACTORS)))]
        flashes = int(rng.integers(1, 5))
        length = _u(rng, *lengths[kind]) * (flashes if kind == "flash" else 1)
        start = _distractor_start(rng, duration, length, highlights)
        out.append(
            Occurrence(
                kind,
                start,
                start + length,
                {
                    "from_left": bool(rng.random() < 0.5),
                    "v": _u(rng, 0.1, 0.7),
                    "v_end": _u(rng, 0.1, 0.7),
                    "size": _u(rng, 0.02, 0.045),
                    "hue": _u(rng, 0, 1),
                    "light": bool(rng.random() < 0.3),
                    "bounces": int(rng.integers(1, 4)),
                    "flap_hz": _u(rng, 4, 8),
                    "strength": _u(rng, 60, 160),
                    "flashes": flashes,
                    "centre": (_u(rng, 0, 1), _u(rng, 0, 1)),
                    "spread": _u(rng, 0.3, 0.8),
                    "body": (_u(rng, 0.12, 0.25), _u(rng, 0.4, 0.7)),
                },
            )
        )
    return sorted(out, key=lambda o: o.start)


def _plan_sound_distractors(rng, duration, highlights, noise_dbfs) -> list[Occurrence]:
    """About one loud sound per 5 s: door slams, shouts, wind gusts, passing horns, in the
    events' loudness range (-30 to -10 dBFS, above the noise)."""
    lengths = {"slam": (0.4, 0.6), "shout": (0.6, 2.5), "gust": (2.0, 5.0), "horn": (1.0, 3.0)}
    out = []
    for _ in range(1 + int(rng.poisson(duration / 5))):
        kind = SOUND_DISTRACTORS[int(rng.integers(len(SOUND_DISTRACTORS)))]
        length = _u(rng, *lengths[kind])
        start = _distractor_start(rng, duration, length, highlights)
        out.append(
            Occurrence(
                kind,
                start,
                start + length,
                {
                    "gain_db": max(noise_dbfs + 6, _u(rng, -30, -10)),
                    "pan": _u(rng, -0.9, 0.9),
                    "f0": _u(rng, 110, 320),
                    "formants": (_u(rng, 550, 900), _u(rng, 1000, 1700), _u(rng, 2300, 3000)),
                    "syllables": int(rng.integers(1, 5)),
                    "horn_hz": _u(rng, 330, 520),
                    "seed": _seed(rng),
                },
            )
        )
    return sorted(out, key=lambda o: o.start)


# ------------------------------------------------------------------------------ pictures


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32) * 255


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Smooth random texture with unit standard deviation."""
    out = gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return out / (out.std() + 1e-6)


def _blend(region: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    region += alpha[..., None] * (colour - region)


def _box(img: np.ndarray, x0: float, y0: float, x1: float, y1: float):
    h, w = img.shape[:2]
    a, b = max(0, int(math.floor(x0))), min(w, int(math.ceil(x1)))
    c, d = max(0, int(math.floor(y0))), min(h, int(math.ceil(y1)))
    return (c, d, a, b) if a < b and c < d else None


def _ellipse(img, x, y, rx, ry, colour, alpha=1.0, soft=1.0) -> None:
    """Blend an anti-aliased ellipse (centre and radii in pixels) into ``img``."""
    box = _box(img, x - rx - soft, y - ry - soft, x + rx + soft, y + ry + soft)
    if box is None or rx <= 0 or ry <= 0:
        return
    c, d, a, b = box
    yy, xx = np.ogrid[c:d, a:b]
    dist = np.sqrt(((xx + 0.5 - x) / rx) ** 2 + ((yy + 0.5 - y) / ry) ** 2)
    cover = np.clip((1 - dist) * min(rx, ry) / soft + 0.5, 0, 1) * alpha
    _blend(img[c:d, a:b], cover.astype(np.float32), np.asarray(colour, np.float32))


def _rect(img, x0, y0, x1, y1, colour, alpha=1.0) -> None:
    box = _box(img, x0, y0, x1, y1)
    if box is None:
        return
    c, d, a, b = box
    region = img[c:d, a:b]
    region += alpha * (np.asarray(colour, np.float32) - region)


def _splat(img, xs, ys, colours, sigma=0.8) -> None:
    """Add glowing points (pixel positions, RGB intensities) to ``img``: bilinear splats
    blurred by a Gaussian, scaled so that a point's peak keeps about its intensity."""
    h, w = img.shape[:2]
    keep = (xs > -2) & (xs < w + 1) & (ys > -2) & (ys < h + 1)
    if not keep.any():
        return
    xs, ys, colours = xs[keep] - 0.5, ys[keep] - 0.5, colours[keep]
    pad = int(math.ceil(3 * sigma)) + 2
    x0, y0 = max(0, int(xs.min()) - pad), max(0, int(ys.min()) - pad)
    x1, y1 = min(w, int(xs.max()) + pad + 2), min(h, int(ys.max()) + pad + 2)
    if x0 >= x1 or y0 >= y1:
        return
    buffer = np.zeros((y1 - y0 + 2, x1 - x0 + 2, 3), np.float32)
    ix, iy = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = (xs - ix)[:, None], (ys - iy)[:, None]
    for dy, dx, weight in (
        (0, 0, (1 - fx) * (1 - fy)),
        (0, 1, fx * (1 - fy)),
        (1, 0, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        bx, by = ix + dx - x0, iy + dy - y0
        ok = (bx >= 0) & (bx < x1 - x0) & (by >= 0) & (by < y1 - y0)
        np.add.at(buffer, (by[ok], bx[ok]), (colours * weight)[ok])
    buffer = gaussian_filter(buffer, (sigma, sigma, 0), truncate=3.0) * (2 * math.pi * sigma**2)
    img[y0:y1, x0:x1] += buffer[: y1 - y0, : x1 - x0]


def _canvas_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """View coordinates (v per row, u per column) of the background canvas's pixels."""
    hc, wc = int(round(height * (1 + 2 * MARGIN))), int(round(width * (1 + 2 * MARGIN)))
    v = ((np.arange(hc) + 0.5) / height - MARGIN).astype(np.float32)
    u = ((np.arange(wc) + 0.5) / width - MARGIN).astype(np.float32)
    return v, u


def _vertical_gradient(v: np.ndarray, wc: int, top, bottom, power: float) -> np.ndarray:
    g = np.clip(v, 0, 1)[:, None, None] ** power
    return np.broadcast_to(top * (1 - g) + bottom * g, (v.size, wc, 3)).astype(np.float32)


def _night(rng, height, width, layout) -> np.ndarray:
    """Night sky gradient with haze and stars over a city skyline with lit windows."""
    v, u = _canvas_grid(height, width)
    hc, wc = v.size, u.size
    horizon = layout["horizon"]
    top = _hsv(_u(rng, 0.55, 0.8), _u(rng, 0.5, 0.9), _u(rng, 0.02, 0.09))
    glow_hue = _u(rng, 0.02, 0.12) if rng.random() < 0.5 else _u(rng, 0.55, 0.75)
    low = _hsv(glow_hue, _u(rng, 0.3, 0.8), _u(rng, 0.12, 0.3))
    img = _vertical_gradient(v / horizon, wc, top, low, _u(rng, 1.0, 2.5)).copy()
    haze = _smooth_field(rng, (hc, wc), hc / 8)
    img += (haze * _u(rng, 2, 6))[..., None] * (low / max(1.0, float(low.max())))
    n_stars = int(hc * wc * _u(rng, 0.0005, 0.003))
    sy = rng.integers(0, max(1, int((horizon + MARGIN) * height * 0.8)), n_stars)
    sx = rng.integers(0, wc, n_stars)
    img[sy, sx] += rng.uniform(40, 180, size=(n_stars, 1)).astype(np.float32)
    base = int((horizon + MARGIN) * height)
    dark = _hsv(_u(rng, 0, 1), _u(rng, 0, 0.5), _u(rng, 0.01, 0.06))
    img[base:] = dark
    window = _hsv(_u(rng, 0.1, 0.16), _u(rng, 0.3, 0.7), _u(rng, 0.5, 0.9))
    x = 0
    while x < wc:
        bw = int(_u(rng, 0.03, 0.12) * width) + 2
        bh = int(_u(rng, 0.03, 0.25) * height)
        top_y = max(0, base - bh)
        img[top_y:base, x : x + bw] = dark
        lit = _u(rng, 0.05, 0.3)
        for wy in range(top_y + 2, base - 2, 4):
            for wx in range(x + 1, x + bw - 1, 3):
                if rng.random() < lit:
                    img[wy : wy + 2, wx : wx + 1] = window
        x += bw
    return np.clip(img, 0, 255)


def _track(rng, height, width, layout) -> np.ndarray:
    """Sky with clouds, a tree line, grass, kerbs and an asphalt track with lane marks."""
    v, u = _canvas_grid(height, width)
    hc, wc = v.size, u.size
    rows = lambda a: int(round((a + MARGIN) * height))  # noqa: E731
    sky_top = _hsv(_u(rng, 0.52, 0.62), _u(rng, 0.1, 0.6), _u(rng, 0.55, 0.95))
    sky_low = sky_top * 0.6 + 255 * 0.3
    img = _vertical_gradient(v / layout["horizon"], wc, sky_top, sky_low, 1.0).copy()
    clouds = np.clip((_smooth_field(rng, (hc, wc), hc / 10) - 0.3) * 2, 0, 1)
    _blend(img, clouds * _u(rng, 0.3, 0.8), np.full(3, _u(rng, 200, 245), np.float32))
    fine = _smooth_field(rng, (hc, wc), 0.8)
    h0, h1 = rows(layout["horizon"]), rows(layout["horizon"] + _u(rng, 0.04, 0.1))
    trees = _hsv(_u(rng, 0.2, 0.4), _u(rng, 0.3, 0.7), _u(rng, 0.1, 0.3))
    img[h0:h1] = trees + 12 * fine[h0:h1, :, None]
    t0, t1 = rows(layout["track_top"]), rows(layout["track_bottom"])
    grass = _hsv(_u(rng, 0.2, 0.35), _u(rng, 0.35, 0.75), _u(rng, 0.3, 0.6))
    img[h1:] = grass + 8 * _smooth_field(rng, (hc, wc), 2.0)[h1:, :, None]
    grey = _u(rng, 50, 115)
    asphalt = np.array([grey, grey, grey * _u(rng, 0.95, 1.1)], np.float32)
    img[t0:t1] = asphalt + 8 * fine[t0:t1, :, None]
    kerb = max(2, int(_u(rng, 0.015, 0.03) * height))
    stripe = max(2, int(_u(rng, 0.02, 0.05) * width))
    red = (np.arange(wc) // stripe) % 2 == 0
    for y in (t0 - kerb, t1):
        img[y : y + kerb] = np.where(red[None, :, None], _hsv(0.0, 0.85, 0.8), 235.0)
    for k in range(1, int(rng.integers(2, 4))):
        y = t0 + (t1 - t0) * k // int(rng.integers(2, 4) + 1)
        dash = (np.arange(wc) % max(6, int(0.12 * width))) < max(3, int(0.06 * width))
        img[y : y + max(1, height // 90), dash] = 230
    return np.clip(img, 0, 255)


def _stage(rng, height, width, layout) -> np.ndarray:
    """A dark stage: backdrop, dim static spots, a truss, speaker stacks, a crowd silhouette."""
    v, u = _canvas_grid(height, width)
    hc, wc = v.size, u.size
    rows = lambda a: int(round((a + MARGIN) * height))  # noqa: E731
    back = _hsv(_u(rng, 0, 1), _u(rng, 0.3, 0.9), _u(rng, 0.03, 0.1))
    img = _vertical_gradient(v, wc, back * 0.5, back, 1.0).copy()
    img += (4 * _smooth_field(rng, (hc, wc), hc / 12))[..., None]
    for _ in range(int(rng.integers(2, 5))):  # dim static spots on the backdrop
        spot = np.zeros_like(img)
        _ellipse(
            spot,
            _u(rng, 0, wc),
            _u(rng, 0, hc * 0.7),
            _u(rng, 0.1, 0.25) * width,
            _u(rng, 0.1, 0.3) * height,
            _hsv(_u(rng, 0, 1), 0.6, 1.0),
            1.0,
            soft=20,
        )
        img += spot * _u(rng, 0.04, 0.15)
    truss = rows(layout["truss"])
    thick = max(3, int(_u(rng, 0.015, 0.03) * height))
    metal = np.full(3, _u(rng, 40, 90), np.float32)
    img[truss : truss + 1] = metal
    img[truss + thick : truss + thick + 1] = metal
    step = max(4, int(0.03 * width))
    img[truss : truss + thick, ::step] = metal
    for _ in range(int(rng.integers(4, 9))):  # lamps hanging from the truss
        _ellipse(img, _u(rng, 0, wc), truss + thick + 2, 2.5, 2.5, metal * 0.6)
    stack = int(_u(rng, 0.06, 0.12) * width)
    crowd = rows(layout["crowd"])
    for x in (int(MARGIN * width), int((1 + MARGIN) * width) - stack):
        img[rows(layout["crowd"] - 0.35) : crowd, x : x + stack] = _u(rng, 8, 20)
    shade = _hsv(_u(rng, 0, 1), 0.3, _u(rng, 0.01, 0.05))
    img[crowd + int(0.04 * height) :] = shade
    for x in np.sort(rng.uniform(0, wc, int(wc / (0.05 * height)) + 1)):
        r = _u(rng, 0.025, 0.045) * height
        y = crowd + _u(rng, -0.02, 0.03) * height
        _ellipse(img, x, y, r, r * 1.15, shade)
        _ellipse(img, x, y + 2.2 * r, 2.2 * r, 1.6 * r, shade)
    return np.clip(img, 0, 255)


def _field(rng, height, width, layout) -> np.ndarray:
    """Stands with a crowd, advertising boards, striped grass with lines, a goal with a net."""
    v, u = _canvas_grid(height, width)
    hc, wc = v.size, u.size
    rows = lambda a: int(round((a + MARGIN) * height))  # noqa: E731
    cols = lambda a: int(round((a + MARGIN) * width))  # noqa: E731
    stands = rows(layout["stands"])
    boards = stands + max(3, int(_u(rng, 0.03, 0.05) * height))
    grass = _hsv(_u(rng, 0.24, 0.36), _u(rng, 0.4, 0.8), _u(rng, 0.3, 0.6))
    angle = _u(rng, -0.6, 0.6)
    period = _u(rng, 0.06, 0.15)
    stripes = (
        np.sin(2 * math.pi * (u[None, :] * math.cos(angle) + v[:, None] * math.sin(angle)) / period)
        > 0
    )
    contrast = _u(rng, 0.04, 0.12)
    img = grass * (1 + contrast * (2 * stripes[..., None] - 1))
    img = img + 5 * _smooth_field(rng, (hc, wc), 0.8)[..., None]
    base = _hsv(_u(rng, 0, 1), _u(rng, 0, 0.4), _u(rng, 0.1, 0.25))
    crowd = rng.uniform(0, 255, size=(stands, wc, 3)).astype(np.float32) * _u(rng, 0.3, 0.6)
    img[:stands] = gaussian_filter(base + crowd, (0.6, 0.6, 0))
    img[:stands:4] *= 0.6  # seat rows
    x = 0
    while x < wc:
        bw = int(_u(rng, 0.1, 0.3) * width) + 1
        img[stands:boards, x : x + bw] = _hsv(_u(rng, 0, 1), _u(rng, 0.5, 1), _u(rng, 0.5, 1))
        x += bw
    line = np.full(3, 235, np.float32)
    thin = max(1, height // 100)
    touch = boards + int(0.03 * height)
    img[touch : touch + thin] = line
    u0, u1 = layout["goal_u"]
    g_top, g_bottom = rows(layout["goal_top"]), rows(layout["goal_bottom"])
    box_top, box_bottom = rows(layout["goal_top"] - 0.12), rows(layout["goal_bottom"] + 0.12)
    box_u = u1 + 0.22 if layout["goal_left"] else u0 - 0.22
    bx = cols(box_u)
    img[box_top : box_top + thin, min(bx, cols(u0)) : max(bx, cols(u1))] = line
    img[box_bottom : box_bottom + thin, min(bx, cols(u0)) : max(bx, cols(u1))] = line
    img[box_top:box_bottom, bx : bx + thin] = line
    a, b = cols(u0), cols(u1)
    net = np.zeros((g_bottom - g_top, b - a), bool)
    spacing = max(3, int(0.025 * height))
    net[::spacing] = True
    net[:, ::spacing] = True
    region = img[g_top:g_bottom, a:b]
    region[net] = region[net] * 0.4 + 0.6 * 220
    post = max(2, height // 60)
    img[g_top : g_top + post, a:b] = 250
    img[g_top:g_bottom, a : a + post] = 250
    img[g_top:g_bottom, b - post : b] = 250
    return np.clip(img, 0, 255)


BACKGROUNDS = {"night": _night, "track": _track, "stage": _stage, "field": _field}


class _Picture:
    """Draws one video's frames: background under a moving camera, events, distractors."""

    def __init__(self, video: HoldoutVideo) -> None:
        self.video = video
        self.rng = np.random.default_rng([video.seed, video.category, video.index, SALT, 2])
        h, w = video.height, video.width
        self.canvas = BACKGROUNDS[video.scene](self.rng, h, w, video.layout).astype(np.float32)
        self.out_u = ((np.arange(w) + 0.5) / w - 0.5).astype(np.float32)
        self.out_v = ((np.arange(h) + 0.5) / h - 0.5).astype(np.float32)
        self.yy, self.xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
        self.grain = [
            self.rng.standard_normal((h + GRAIN_PAD, w + GRAIN_PAD, 3), dtype=np.float32)
            * np.float32(video.grain)
            for _ in range(4)
        ]
        self.particles = {
            id(o): self._particles(o) for o in video.events if o.kind in ("burst", "goal")
        }

    # camera ------------------------------------------------------------------------
    def camera(self, t: float) -> tuple[float, float, float]:
        """(pan across, pan down, zoom) at time t: the view's centre offset and scale."""
        p, kind = self.video.camera_params, self.video.camera
        if kind == "pan":
            angle = 2 * math.pi * t / p["period"] + p["phase"]
            return p["amp_u"] * math.sin(angle), p["amp_v"] * math.sin(0.7 * angle), 1.0
        if kind == "zoom":
            z = 1 + p["amount"] * (0.5 - 0.5 * math.cos(2 * math.pi * t / p["period"] + p["phase"]))
            return 0.0, 0.0, z
        if kind == "handheld":
            offsets = [
                sum(a * math.sin(2 * math.pi * f * t + ph) for f, a, ph in zip(*axis, strict=True))
                for axis in zip(p["freqs"], p["amps"], p["phases"], strict=True)
            ]
            return offsets[0], offsets[1], 1.0
        return 0.0, 0.0, 1.0

    def _view(self, cu: float, cv: float, z: float) -> np.ndarray:
        """The background under the camera, sampled bilinearly from the canvas (a blend of
        four shifted slices when the camera does not zoom, a gather when it does)."""
        h, w = self.video.height, self.video.width
        hc, wc = self.canvas.shape[:2]
        x = (0.5 + cu + self.out_u / np.float32(z) + MARGIN) * w - 0.5
        y = (0.5 + cv + self.out_v / np.float32(z) + MARGIN) * h - 0.5
        if z == 1.0:
            x0, y0 = (
                min(max(int(x[0] // 1), 0), wc - w - 1),
                min(max(int(y[0] // 1), 0), hc - h - 1),
            )
            fx, fy = min(max(float(x[0]) - x0, 0.0), 1.0), min(max(float(y[0]) - y0, 0.0), 1.0)
            rows = self.canvas[y0 : y0 + h + 1, x0 : x0 + w + 1]
            if fx < 1e-4 and fy < 1e-4:
                return rows[:h, :w].copy()
            upper = rows[:h, :w] * np.float32(1 - fx) + rows[:h, 1:] * np.float32(fx)
            lower = rows[1:, :w] * np.float32(1 - fx) + rows[1:, 1:] * np.float32(fx)
            upper *= np.float32(1 - fy)
            upper += lower * np.float32(fy)
            return upper
        x0 = np.clip(np.floor(x).astype(np.intp), 0, wc - 2)
        y0 = np.clip(np.floor(y).astype(np.intp), 0, hc - 2)
        fx = np.clip(x - x0, 0, 1).astype(np.float32)[None, :, None]
        fy = np.clip(y - y0, 0, 1).astype(np.float32)[:, None, None]
        rows = self.canvas[y0]
        rows += (self.canvas[y0 + 1] - rows) * fy
        out = np.take(rows, x0, axis=1)
        out += (np.take(rows, x0 + 1, axis=1) - out) * fx
        return out

    def to_screen(self, u, v, cam):
        """Pixel position of view coordinates (u, v) (floats or arrays) under the camera."""
        cu, cv, z = cam
        x = ((np.asarray(u) - 0.5 - cu) * z + 0.5) * self.video.width
        y = ((np.asarray(v) - 0.5 - cv) * z + 0.5) * self.video.height
        if x.ndim == 0:  # Python floats keep float32 arithmetic float32
            return float(x), float(y)
        return x, y

    def size(self, s: float, cam) -> float:
        return s * self.video.height * cam[2]

    # frame --------------------------------------------------------------------------
    def frame(self, t: float) -> np.ndarray:
        """The picture at time t: float32 RGB in [0, 255], ``[height, width, 3]``."""
        cam = self.camera(t)
        img = self._view(*cam)
        self._scene_life(img, t, cam)
        for occ in self.video.events:
            if occ.start <= t < occ.end:
                DRAW_EVENT[occ.kind](self, img, occ, t, cam)
        for occ in self.video.visual_distractors:
            if occ.start <= t < occ.end:
                DRAW_DISTRACTOR[occ.kind](self, img, occ, t, cam)
        # sensor grain: a random window of a random field of the bank (cheaper than fresh noise)
        bank = self.grain[int(self.rng.integers(len(self.grain)))]
        dy, dx = self.rng.integers(0, GRAIN_PAD, size=2)
        img += bank[dy : dy + img.shape[0], dx : dx + img.shape[1]]
        return np.clip(img, 0, 255, out=img)

    # events -------------------------------------------------------------------------
    def _particles(self, occ: Occurrence) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(occ.params["seed"])
        if occ.kind == "goal":
            n = occ.params["confetti"]
            return {
                "u": rng.uniform(0, 1, n),
                "v": rng.uniform(-0.1, 0.2, n),
                "fall": rng.uniform(0.03, 0.1, n),
                "colour": np.stack([_hsv(h, 0.8, 1.0) for h in rng.uniform(0, 1, n)]),
            }
        n = occ.params["particles"]
        mix = rng.random(n) < 0.5
        colours = np.where(
            mix[:, None], _hsv(occ.params["hue"], 0.8, 1.0), _hsv(occ.params["hue2"], 0.6, 1.0)
        )
        return {
            "angle": rng.uniform(0, 2 * math.pi, n),
            "speed": rng.uniform(0.05, 1.0, n) ** 0.4,
            "colour": colours * rng.uniform(0.6, 1.0, (n, 1)),
            "twinkle": rng.uniform(0, 1, n),
        }

    def _draw_burst(self, img, occ, t, cam) -> None:
        p = occ.params
        if t < p["burst"]:  # the rocket rising, with a short trail
            frac = (t - occ.start) / (p["burst"] - occ.start)
            lag = np.array([0.0, 0.04, 0.08, 0.12])
            f = np.clip(frac - lag, 0, 1)
            eased = 1 - (1 - f) ** 2
            u = p["launch_x"] + (p["x"] - p["launch_x"]) * eased
            v = self.video.layout["horizon"] + (p["y"] - self.video.layout["horizon"]) * eased
            xs, ys = self.to_screen(u, v, cam)
            colour = np.outer([1.0, 0.6, 0.35, 0.2], [255, 200, 140]).astype(np.float32)
            _splat(img, xs, ys, colour, sigma=0.7)
            return
        age = t - p["burst"]
        if age > p["life"]:
            return
        parts = self.particles[id(occ)]
        fade = (1 - age / p["life"]) ** 1.3
        if age < 0.25:  # the sky lights up around the burst
            x, y = self.to_screen(p["x"], p["y"], cam)
            r = self.size(p["radius"] * 1.5, cam)
            light = np.exp(-(((self.xx - x) ** 2 + (self.yy - y) ** 2) / (2 * r * r)))
            img += (light * 45 * (1 - age / 0.25))[..., None] * (parts["colour"][0] / 255)
        xs, ys, cs = [], [], []
        for lag, weight in ((0.0, 1.0), (0.04, 0.5), (0.08, 0.25)):
            a = max(0.0, age - lag)
            reach = p["radius"] * (1 - math.exp(-a / 0.22)) * parts["speed"]
            u = p["x"] + reach * np.cos(parts["angle"]) * self.video.height / self.video.width
            v = p["y"] + reach * np.sin(parts["angle"]) + p["gravity"] * a * a
            x, y = self.to_screen(u, v, cam)
            on = np.ones_like(x)
            if age > 0.5 * p["life"]:  # late particles crackle: they blink
                on = (((age * 9 + parts["twinkle"]) % 1.0) < 0.6).astype(np.float32)
            core = np.clip(1.5 - age / 0.15, 1.0, 1.5)  # white-hot at first
            xs.append(x)
            ys.append(y)
            cs.append(np.minimum(parts["colour"] * core, 255) * (fade * weight * on)[:, None])
        _splat(img, np.concatenate(xs), np.concatenate(ys), np.concatenate(cs), sigma=0.8)

    def _draw_car(self, img, occ, t, cam) -> None:
        p = occ.params
        frac = (t - occ.start) / (occ.end - occ.start)
        length = p["size"] * 2.6 * self.video.height / self.video.width  # in u
        if p["direction"] > 0:
            u = -length + frac * (1 + 2 * length)
        else:
            u = 1 + length - frac * (1 + 2 * length)
        x, y = self.to_screen(u, p["v"], cam)
        size = self.size(p["size"], cam)
        body = _hsv(p["hue"], p["sat"], p["val"])
        half = 1.3 * size
        for ghost, alpha in ((1.2, 0.2), (0.6, 0.35), (0.0, 1.0)):  # motion blur behind
            gx = x - p["direction"] * ghost * size
            _rect(img, gx - half, y - 0.45 * size, gx + half, y + 0.1 * size, body, alpha)
            _rect(
                img,
                gx - 0.6 * half,
                y - 0.85 * size,
                gx + 0.5 * half,
                y - 0.4 * size,
                body * 0.7,
                alpha,
            )
            if alpha == 1.0:
                _rect(
                    img,
                    gx - 0.45 * half,
                    y - 0.78 * size,
                    gx + 0.35 * half,
                    y - 0.48 * size,
                    (40, 50, 60),
                )
                for side in (-0.7, 0.7):
                    _ellipse(
                        img,
                        gx + side * half,
                        y + 0.12 * size,
                        0.28 * size,
                        0.28 * size,
                        (15, 15, 15),
                    )

    def _depth(self, cam) -> tuple[np.ndarray, float]:
        """Per pixel, 0 at the truss to 1 at the crowd line (how far light has travelled)."""
        _, truss_y = self.to_screen(0.0, self.video.layout["truss"], cam)
        _, crowd_y = self.to_screen(0.0, self.video.layout["crowd"], cam)
        return np.clip((self.yy - truss_y) / max(1.0, crowd_y - truss_y), 0, 1), crowd_y

    def _beams(self, beams: list[dict], t: float, cam, depth: np.ndarray) -> np.ndarray:
        """Additive light of swinging stage beams: cones from lamps on the truss."""
        light = np.zeros((*depth.shape, 3), np.float32)
        for beam in beams:
            ox, oy = self.to_screen(beam["u"], self.video.layout["truss"] + 0.03, cam)
            angle = beam["angle"] + beam["swing"] * math.sin(
                2 * math.pi * t / beam["period"] + beam["phase"]
            )
            dx, dy = self.xx - ox, self.yy - oy
            along = dx * math.sin(angle) + dy * math.cos(angle)
            across = dx * math.cos(angle) - dy * math.sin(angle)
            # 1 on the beam's axis, 0 at its half-width (an angle), nothing behind the lamp
            spread = np.maximum(along * math.tan(beam["width"]), 1e-3)
            cone = np.clip(1 - np.abs(across) / spread, 0, None)
            cone *= cone * (1 - 0.6 * depth)
            light += cone[..., None] * (_hsv(beam["hue"], 0.8, 1.0) * (beam["level"] / 255))
        return light

    def _scene_life(self, img, t, cam) -> None:
        """What moves in the scene whatever happens: idle stage lights, jogging players."""
        layout = self.video.layout
        if "idle_beams" in layout:
            img += self._beams(layout["idle_beams"], t, cam, self._depth(cam)[0])
        for k, jog in enumerate(layout.get("joggers", [])):
            angle = 2 * math.pi * t / jog["period"] + jog["phase"]
            u = jog["u"] + jog["amp"][0] * math.sin(angle)
            v = jog["v"] + jog["amp"][1] * math.sin(0.5 * angle + k)
            self._player(img, u, v, jog["size"], _hsv(jog["hue"], 0.7, 0.85), cam)

    def _player(self, img, u, v, size, colour, cam) -> None:
        x, y = self.to_screen(u, v, cam)
        size = self.size(size, cam)
        _rect(img, x - 0.18 * size, y - size, x + 0.18 * size, y - 0.3 * size, colour)
        _rect(img, x - 0.15 * size, y - 0.3 * size, x + 0.15 * size, y, colour * 0.3)
        _ellipse(img, x, y - 1.15 * size, 0.15 * size, 0.15 * size, (200, 160, 130))

    def _draw_show(self, img, occ, t, cam) -> None:
        p = occ.params
        ramp = min(1.0, (t - occ.start) / 0.15, (occ.end - t) / 0.15)
        layout = self.video.layout
        depth, crowd_y = self._depth(cam)
        light = self._beams(p["beams"], t, cam, depth)
        hits = [o.start for o in self.video.events if o.kind == "chord" and o.start <= t]
        pulse = math.exp(-(t - max(hits)) / 0.3) if hits else 0.0
        wash = p["wash_level"] * (0.6 + 0.4 * pulse)
        stage = (1 - depth) * (self.yy < crowd_y)
        light += (stage * wash)[..., None] * (_hsv(p["wash_hue"], 0.7, 1.0) / 255)
        for a, b, rate, level in p["strobes"]:
            if a <= t < b and ((t - a) * rate) % 1.0 < 0.35:
                light += (stage * level)[..., None]
        img += light * ramp
        arm_colour = np.full(3, 8.0, np.float32)
        for arm in p["arms"]:
            up = math.sin(2 * math.pi * arm["freq"] * t + arm["phase"])
            if up > 0.2:
                x, y = self.to_screen(arm["u"], layout["crowd"], cam)
                reach = self.size(arm["length"] * up, cam)
                width = max(1.0, self.size(0.012, cam))
                _rect(img, x - width, y - reach, x + width, y, arm_colour)

    def _draw_goal(self, img, occ, t, cam) -> None:
        p = occ.params
        layout = self.video.layout
        ball_u, ball_v = self._ball_position(occ, t)
        if t >= p["goal_time"]:  # net shakes, confetti in the stands
            since = t - p["goal_time"]
            u0, u1 = layout["goal_u"]
            x0, y0 = self.to_screen(u0, layout["goal_top"], cam)
            x1, y1 = self.to_screen(u1, layout["goal_bottom"], cam)
            box = _box(img, x0, y0, x1, y1)
            if box is not None and since < 1.2:
                c, d, a, b = box
                spacing = max(3.0, self.size(0.025, cam))
                shake = 2.5 * math.exp(-since / 0.4) * math.sin(2 * math.pi * 6 * since)
                xx = self.xx[c:d, a:b] + shake * np.sin(self.yy[c:d, a:b] / spacing * 2)
                lines = (xx % spacing < 1.0) | (self.yy[c:d, a:b] % spacing < 1.0)
                img[c:d, a:b] += (lines * 60 * math.exp(-since / 0.6))[..., None]
            conf = self.particles[id(occ)]
            cu = conf["u"] + 0.02 * np.sin(6 * since + 10 * conf["u"])
            cvv = conf["v"] + conf["fall"] * since
            keep = cvv < layout["stands"]
            xs, ys = self.to_screen(cu[keep], cvv[keep], cam)
            ix, iy = xs.astype(int), ys.astype(int)
            ok = (ix >= 0) & (ix < img.shape[1] - 1) & (iy >= 0) & (iy < img.shape[0] - 1)
            for dx, dy in ((0, 0), (1, 0), (0, 1)):
                img[iy[ok] + dy, ix[ok] + dx] = conf["colour"][keep][ok]
        team = _hsv(layout["team_hue"], 0.8, 0.9)
        for k, player in enumerate(p["players"]):
            lag_u, lag_v = self._ball_position(occ, max(occ.start, t - player["lag"]))
            pu = min(max(lag_u + player["offset"][0], -0.1), 1.1)
            pv = min(max(lag_v + player["offset"][1], layout["stands"] + 0.1), 0.98)
            if t >= p["goal_time"]:  # celebrating: hop
                pv -= 0.04 * abs(math.sin(math.pi * player["hop"] * t + k))
            self._player(img, pu, pv, player["size"], team, cam)
        x, y = self.to_screen(ball_u, ball_v, cam)
        r = self.size(p["ball"], cam)
        _ellipse(img, x, y, r, r, (245, 245, 240))
        _ellipse(img, x + 0.3 * r, y - 0.2 * r, 0.35 * r, 0.35 * r, (30, 30, 30))

    @staticmethod
    def _ball_position(occ: Occurrence, t: float) -> tuple[float, float]:
        """The ball: passed between waypoints, shot on an arc, then dropping in the net."""
        p = occ.params
        points = p["waypoints"]
        if t < p["shot_time"]:
            span = max(1e-3, p["shot_time"] - occ.start)
            frac = min(max((t - occ.start) / span, 0.0), 1.0) * (len(points) - 1)
            k = min(int(frac), len(points) - 2)
            f = frac - k
            (ua, va), (ub, vb) = points[k], points[k + 1]
            return ua + (ub - ua) * f, va + (vb - va) * f
        (ua, va), (ub, vb) = points[-1], p["target"]
        if t < p["goal_time"]:
            f = (t - p["shot_time"]) / (p["goal_time"] - p["shot_time"])
            return ua + (ub - ua) * f, va + (vb - va) * f - p["arc"] * 4 * f * (1 - f)
        return ub, vb + min(0.06, 0.15 * (t - p["goal_time"]))

    # distractors --------------------------------------------------------------------
    def _crossing(self, occ: Occurrence, t: float) -> tuple[float, float]:
        p = occ.params
        frac = (t - occ.start) / (occ.end - occ.start)
        u = -0.1 + 1.2 * frac if p["from_left"] else 1.1 - 1.2 * frac
        return u, p["v"] + (p["v_end"] - p["v"]) * frac

    def _draw_bird(self, img, occ, t, cam) -> None:
        p = occ.params
        u, v = self._crossing(occ, t)
        v += 0.02 * math.sin(2 * math.pi * 1.3 * t)
        x, y = self.to_screen(u, v, cam)
        size = self.size(p["size"], cam)
        colour = (235, 235, 230) if p["light"] else (25, 22, 20)
        flap = math.sin(2 * math.pi * p["flap_hz"] * t)
        _ellipse(img, x, y, size, 0.35 * size, colour)
        _ellipse(img, x, y - 0.6 * size * flap, 0.45 * size, 0.7 * size * abs(flap) + 0.5, colour)

    def _draw_ball(self, img, occ, t, cam) -> None:
        p = occ.params
        u, v = self._crossing(occ, t)
        frac = (t - occ.start) / (occ.end - occ.start)
        v = 0.5 * (p["v"] + p["v_end"]) + 0.25 - 0.3 * abs(math.sin(math.pi * p["bounces"] * frac))
        x, y = self.to_screen(u, v, cam)
        r = self.size(p["size"], cam)
        _ellipse(img, x, y, r, r, _hsv(p["hue"], 0.8, 0.95))

    def _draw_flash(self, img, occ, t, cam) -> None:
        """1-4 camera flashes in a row, each lit for about 70 ms (one or two frames)."""
        p = occ.params
        slot = (occ.end - occ.start) / p["flashes"]
        if (t - occ.start) % slot >= 0.07:
            return
        x, y = p["centre"][0] * img.shape[1], p["centre"][1] * img.shape[0]
        spread = p["spread"] * img.shape[1]
        light = np.exp(-(((self.xx - x) ** 2 + (self.yy - y) ** 2) / (2 * spread**2)))
        img += (light * p["strength"])[..., None]

    def _draw_passer(self, img, occ, t, cam) -> None:
        p = occ.params
        frac = (t - occ.start) / (occ.end - occ.start)
        h, w = img.shape[:2]
        rx, ry = p["body"][0] * h, p["body"][1] * h
        x = (-rx + frac * (w + 2 * rx)) if p["from_left"] else (w + rx - frac * (w + 2 * rx))
        colour = _hsv(p["hue"], 0.4, 0.12)
        _ellipse(img, x, h + 0.2 * ry, rx, ry, colour, alpha=0.9, soft=6.0)
        _ellipse(img, x, h - 0.85 * ry, 0.45 * rx, 0.35 * ry, colour, alpha=0.9, soft=5.0)


DRAW_EVENT = {
    "burst": _Picture._draw_burst,
    "car": _Picture._draw_car,
    "show": _Picture._draw_show,
    "chord": lambda *args: None,  # heard, and seen through the show's light pulses
    "goal": _Picture._draw_goal,
}
DRAW_DISTRACTOR = {
    "bird": _Picture._draw_bird,
    "ball": _Picture._draw_ball,
    "flash": _Picture._draw_flash,
    "passer": _Picture._draw_passer,
}


# ------------------------------------------------------------------------------ sound

# start (s), samples, pan (-1 left .. 1 right; a number or per sample), loudness (dBFS RMS
# over the sound's active part: its samples above 5 % of its peak)
Part = tuple[float, np.ndarray, Any, float]


def _spectral(x: np.ndarray, rate: int, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``x`` filtered by the amplitude response ``gain(frequency in Hz)`` (zero phase, FFT)."""
    n = x.shape[-1]
    return fft.irfft(fft.rfft(x) * gain(fft.rfftfreq(n, 1 / rate)), n)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.abs(x).max() + 1e-12)


def _noise_gain(colour: str, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    if colour == "pink":
        return lambda f: 1 / np.sqrt(np.maximum(f, 20.0))
    if colour == "brown":
        return lambda f: 1 / np.maximum(f, 20.0)
    if colour == "band":
        centre, octaves = math.exp(_u(rng, math.log(200), math.log(5000))), _u(rng, 0.5, 2.0)
        return lambda f: np.exp(-0.5 * (np.log2(np.maximum(f, 1.0) / centre) / octaves) ** 2)
    return np.ones_like


def _background_noise(video: HoldoutVideo, rng: np.random.Generator, n: int) -> np.ndarray:
    """The video's noise floor: one colour and level throughout, with a slow level drift."""
    rate = video.sample_rate
    gain = _noise_gain(video.noise, rng)
    common = _spectral(rng.standard_normal(n), rate, gain)
    if video.channels == 2 and not video.dual_mono:
        corr = _u(rng, 0.3, 0.9)
        sides = [_spectral(rng.standard_normal(n), rate, gain) for _ in range(2)]
        chans = np.stack([math.sqrt(corr) * common + math.sqrt(1 - corr) * s for s in sides])
    else:
        chans = common[None]
    chans /= chans.std(axis=1, keepdims=True) + 1e-12
    t = np.arange(n) / rate
    drift = sum(
        _u(rng, 0.3, 1.0) * np.sin(2 * math.pi * t / _u(rng, 7, 25) + _u(rng, 0, 6.3))
        for _ in range(2)
    )
    return chans * 10 ** ((video.noise_dbfs + drift) / 20)


def _times(seconds: float, rate: int) -> np.ndarray:
    return np.arange(max(1, int(seconds * rate))) / rate


def _saw(phase: np.ndarray, top_hz: float, rate: int, harmonics: int) -> np.ndarray:
    """Band-limited sawtooth-like wave: the first harmonics of ``phase`` below Nyquist."""
    count = max(1, min(harmonics, int(rate / 2.2 / max(top_hz, 1.0))))
    return sum(np.sin(h * phase) / h for h in range(1, count + 1))


def _sound_burst(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """A rising whistle, then the bang (pitch-gliding boom and crack) and a crackle tail."""
    p = occ.params
    rise = p["burst"] - occ.start
    t = _times(rise, rate)
    whistle = np.sin(2 * math.pi * np.cumsum(900 + 1600 * t / rise) / rate) * (t / rise)
    t = _times(1.8, rate)
    n = t.size
    f = p["boom_hz"] * (1 + 0.6 * np.exp(-t / 0.06))
    boom = np.sin(2 * math.pi * np.cumsum(f) / rate) * np.exp(-t / p["boom_decay"])
    crack = _spectral(rng.standard_normal(n), rate, lambda fr: 1 / (1 + (fr / 2500) ** 2))
    crack = _unit(crack * np.exp(-t / 0.035))
    clicks = int(rng.poisson(p["crackle_rate"] * 1.2))
    at = rng.uniform(0.15, 1.35, clicks)
    impulses = np.zeros(n)
    amp = rng.uniform(0.3, 1, clicks) * np.exp(-(at - 0.15) / 0.7) * rng.choice([-1, 1], clicks)
    np.add.at(impulses, np.minimum((at * rate).astype(int), n - 1), amp)
    k = max(8, int(0.004 * rate))
    kernel = _spectral(rng.standard_normal(k), rate, lambda fr: (fr > 2000).astype(float))
    crackle = np.convolve(impulses, kernel * np.hanning(k))[:n]
    bang = _unit(boom) + 0.8 * crack + p["crackle_level"] * _unit(crackle)
    return [
        (occ.start, _unit(whistle), p["pan"], p["gain_db"] - 14),
        (p["burst"] + p["delay"], _unit(bang), p["pan"], p["gain_db"]),
    ]


def _sound_car(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """Engine harmonics and combustion rumble rising in pitch, loudest as the car passes."""
    p = occ.params
    pad = 0.3
    length = occ.end - occ.start + 2 * pad
    t = _times(length, rate)
    f = p["f0"] * p["rise"] ** (t / length)
    phase = 2 * math.pi * np.cumsum(f) / rate
    harmonics = _unit(_saw(phase, float(f.max()), rate, 8))
    rumble = _spectral(rng.standard_normal(t.size), rate, lambda fr: 1 / (1 + (fr / 800) ** 2))
    rumble = _unit(rumble) * (0.6 + 0.4 * np.sin(phase))
    wave = np.tanh(1.8 * (harmonics + 0.5 * rumble))
    envelope = np.exp(-(((t - length / 2) / (0.3 * length)) ** 2))
    pan = 0.9 * p["direction"] * np.clip((t - length / 2) / (length / 2), -1, 1)
    return [(occ.start - pad, _unit(wave * envelope), pan, p["gain_db"])]


def _sound_show(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """The crowd's cheer: broadband voices with vowel-like formants, swelling and waving."""
    p = occ.params
    length = occ.end - occ.start
    t = _times(length, rate)

    def formants(fr: np.ndarray) -> np.ndarray:
        bands = sum(
            np.exp(-0.5 * ((fr - c) / w) ** 2)
            for c, w in ((550, 200), (1100, 300), (2400, 500), (3300, 600))
        )
        return 0.3 * ((fr > 250) & (fr < 6000)) + bands

    cheer = _spectral(rng.standard_normal(t.size), rate, formants)
    wave = 1 + sum(
        0.15 * np.sin(2 * math.pi * _u(rng, 0.5, 3.0) * t + _u(rng, 0, 6.3)) for _ in range(3)
    )
    envelope = np.minimum(1, t / 0.4) * np.minimum(1, (length - t) / 0.3)
    return [(occ.start, _unit(cheer * wave * envelope), 0.0, p["cheer_db"])]


def _sound_chord(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """A loud, distorted chord struck once (root, third, fifth, octave, slightly detuned)."""
    p = occ.params
    t = _times(min(occ.end - occ.start, 4 * p["decay"]), rate)
    wave = np.zeros(t.size)
    for ratio in (1, p["third"], 1.5, 2):
        for detune in (0.997, 1.003):
            f = p["root"] * ratio * detune
            wave += _saw(2 * math.pi * f * t + _u(rng, 0, 6.3), f, rate, 6)
    envelope = np.minimum(1, t / 0.008) * np.exp(-t / p["decay"])
    return [(occ.start, _unit(np.tanh(2.5 * _unit(wave)) * envelope), p["pan"], p["gain_db"])]


def _sound_goal(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """Crowd murmur surging to a roar at the goal, the kick, the referee's pea whistle."""
    p = occ.params
    length = occ.end - occ.start
    t = _times(length, rate)
    roar = _spectral(
        rng.standard_normal(t.size),
        rate,
        lambda fr: np.exp(-0.5 * (np.log2(np.maximum(fr, 1.0) / 900) / 1.2) ** 2),
    )
    goal = p["goal_time"] - occ.start
    build = 0.25 + 0.15 * np.clip(t / max(goal, 1e-3), 0, 1)
    surge = np.where(t >= goal, 0.75 * (1 - np.exp(-np.maximum(t - goal, 0) / 0.25)), 0.0)
    sway = 1 + 0.15 * np.sin(2 * math.pi * _u(rng, 0.4, 1.0) * t + _u(rng, 0, 6.3))
    envelope = (build + surge) * sway * np.minimum(1, t / 0.2) * np.minimum(1, (length - t) / 0.3)
    parts: list[Part] = [(occ.start, _unit(roar * envelope), 0.0, p["roar_db"])]
    tk = _times(0.2, rate)
    kick = _spectral(rng.standard_normal(tk.size), rate, lambda fr: 1 / (1 + (fr / 300) ** 2))
    kick = _unit(kick) * np.exp(-tk / 0.03) + np.sin(2 * math.pi * 110 * tk) * np.exp(-tk / 0.06)
    parts.append((p["shot_time"], _unit(kick), 0.0, p["kick_db"]))
    for a, b in p["whistle"]:
        tw = _times(b - a, rate)
        trill = np.sin(2 * math.pi * p["trill_hz"] * tw)
        phase = 2 * math.pi * np.cumsum(p["whistle_hz"] * (1 + 0.035 * trill)) / rate
        tone = (np.sin(phase) + 0.3 * np.sin(2 * phase)) * (0.65 + 0.35 * trill)
        breath = _spectral(rng.standard_normal(tw.size), rate, lambda fr: (fr > 4000) * 1.0)
        fade = np.minimum(1, np.minimum(tw, (b - a) - tw) / 0.015)
        parts.append((a, _unit((tone + 0.1 * _unit(breath)) * fade), 0.2, p["whistle_db"]))
    return parts


def _sound_slam(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """A door slam: a low thump, the door's resonance and a click."""
    p = occ.params
    t = _times(occ.end - occ.start, rate)
    thump = _spectral(rng.standard_normal(t.size), rate, lambda fr: 1 / (1 + (fr / 250) ** 4))
    body = np.sin(2 * math.pi * p["f0"] / 2 * t) * np.exp(-t / 0.15)
    click = rng.standard_normal(t.size) * np.exp(-t / 0.004)
    wave = _unit(thump) * np.exp(-t / 0.06) + 0.7 * body + 0.5 * _unit(click)
    return [(occ.start, _unit(wave), p["pan"], p["gain_db"])]


def _sound_shout(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """A shout: a glottal buzz with vibrato through three vowel formants, 1-3 syllables."""
    p = occ.params
    n_syl = p["syllables"]
    seg = (occ.end - occ.start) / n_syl
    t = _times(0.85 * seg, rate)
    contour = 1 + 0.25 * np.sin(math.pi * t / t[-1]) + 0.05 * np.sin(2 * math.pi * 5.5 * t)
    f = p["f0"] * contour
    voiced = _saw(2 * math.pi * np.cumsum(f) / rate, float(f.max()), rate, 25)
    source = voiced + 0.3 * rng.standard_normal(t.size)

    def vowel(fr: np.ndarray) -> np.ndarray:
        return sum(
            np.exp(-0.5 * ((fr - c) / w) ** 2) / (k + 1)
            for k, (c, w) in enumerate(zip(p["formants"], (90, 130, 180), strict=True))
        )

    syllable = (
        _spectral(source, rate, vowel) * np.minimum(1, t / 0.03) * np.minimum(1, (t[-1] - t) / 0.08)
    )
    return [(occ.start + k * seg, _unit(syllable), p["pan"], p["gain_db"]) for k in range(n_syl)]


def _sound_gust(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """A wind gust: deep rumbling noise swelling and fading, with flutter."""
    p = occ.params
    length = occ.end - occ.start
    t = _times(length, rate)
    wind = _spectral(rng.standard_normal(t.size), rate, lambda fr: 1 / np.maximum(fr, 30) ** 1.2)
    wind *= 1 - (fr := _u(rng, 0.2, 0.4)) + fr * np.sin(2 * math.pi * _u(rng, 1, 3) * t)
    envelope = np.sin(math.pi * t / length) ** 2
    return [(occ.start, _unit(wind * envelope), p["pan"], p["gain_db"])]


def _sound_horn(occ: Occurrence, rate: int, rng: np.random.Generator) -> list[Part]:
    """A horn passing by: two square-ish tones whose pitch drops (Doppler) as it passes."""
    p = occ.params
    length = occ.end - occ.start
    t = _times(length, rate)
    doppler = 1 - 0.04 * np.tanh((t - length / 2) / (0.15 * length))
    wave = sum(
        np.tanh(3 * np.sin(2 * math.pi * np.cumsum(p["horn_hz"] * ratio * doppler) / rate))
        for ratio in (1.0, 1.26)
    )
    envelope = np.exp(-(((t - length / 2) / (0.35 * length)) ** 2))
    envelope *= np.minimum(1, np.minimum(t, length - t) / 0.02)
    pan = np.clip(p["pan"] * (2 * t / length - 1) * 1.5, -1, 1)
    return [(occ.start, _unit(wave * envelope), pan, p["gain_db"])]


EVENT_SOUNDS: dict[str, Callable[[Occurrence, int, np.random.Generator], list[Part]]] = {
    "burst": _sound_burst,
    "car": _sound_car,
    "show": _sound_show,
    "chord": _sound_chord,
    "goal": _sound_goal,
    "slam": _sound_slam,
    "shout": _sound_shout,
    "gust": _sound_gust,
    "horn": _sound_horn,
}


def _mix(buffer: np.ndarray, rate: int, part: Part) -> None:
    """Add one sound at its time, level and (possibly moving) stereo position."""
    t0, wave, pan, gain_db = part
    start = int(round(t0 * rate))
    a, b = max(0, start), min(buffer.shape[1], start + wave.size)
    if b <= a:
        return
    peak = np.abs(wave).max()
    active = wave[np.abs(wave) > 0.05 * peak]
    level = 10 ** (gain_db / 20) / (np.sqrt(np.mean(active**2)) + 1e-12) if peak > 0 else 0.0
    seg = wave[a - start : b - start] * level
    if buffer.shape[0] == 1:
        buffer[0, a:b] += seg
        return
    pan = np.asarray(pan)[a - start : b - start] if np.ndim(pan) else pan
    angle = (np.clip(pan, -1, 1) + 1) * math.pi / 4  # equal power
    buffer[0, a:b] += seg * np.cos(angle)
    buffer[1, a:b] += seg * np.sin(angle)


def _inside(highlights: list[tuple[float, float]], n: int, rate: int) -> np.ndarray:
    """1 inside the highlights (15 ms fades at their edges), 0 elsewhere."""
    window = np.zeros(n)
    fade = max(1, int(0.015 * rate))
    for s, e in highlights:
        a, b = int(round(s * rate)), min(n, int(round(e * rate)))
        k = np.arange(b - a)
        window[a:b] = np.minimum(1, np.minimum(k + 1, b - a - k) / fade)
    return window


def audio_samples(video: HoldoutVideo) -> int:
    """Samples of the sound track: the duration's, except that AAC (which decodes whole
    1024-sample frames) gets the nearest whole number of frames, so that the decoded sound
    is within half an AAC frame of the duration rather than up to a whole frame over it."""
    n = int(round(video.duration * video.sample_rate))
    if video.audio_codec == "aac":
        n = max(1, int(round(n / 1024))) * 1024
    return n


def render_sound(video: HoldoutVideo) -> np.ndarray:
    """The video's sound, ``[channels, samples]`` float32: noise + events + distractors.

    Event sounds are confined to the highlights; nothing about the noise depends on them.
    The whole track is scaled down (once, uniformly) if it would clip.
    """
    rate = video.sample_rate
    rng = np.random.default_rng([video.seed, video.category, video.index, SALT, 3])
    n = audio_samples(video)
    noise = _background_noise(video, rng, n)
    events = np.zeros_like(noise)
    for occ in video.events:
        for part in EVENT_SOUNDS[occ.kind](occ, rate, np.random.default_rng(occ.params["seed"])):
            _mix(events, rate, part)
    events *= _inside(video.highlights, n, rate)
    distractors = np.zeros_like(noise)
    for occ in video.sound_distractors:
        for part in EVENT_SOUNDS[occ.kind](occ, rate, np.random.default_rng(occ.params["seed"])):
            _mix(distractors, rate, part)
    out = noise + events + distractors
    peak = float(np.abs(out).max())
    if peak > 0.98:
        out *= 0.98 / peak
    if video.dual_mono:
        out = np.repeat(out, 2, axis=0)
    return out.astype(np.float32)


# ------------------------------------------------------------------------------ writing


def to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """Float RGB ``[H, W, 3]`` (0-255) -> planar YUV 4:2:0 ``[H * 3 / 2, W]`` uint8 (BT.601,
    limited range; the matrix of synthetic.rgb_to_yuv420p). Chroma is computed from the
    2x2-averaged RGB (the same, as the matrix is linear). Done here rather than by swscale
    so that the bytes depend on nothing but the frames."""
    h, w = rgb.shape[:2]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    quad = 0.25 * (rgb[0::2, 0::2] + rgb[1::2, 0::2] + rgb[0::2, 1::2] + rgb[1::2, 1::2])
    r, g, b = quad[..., 0], quad[..., 1], quad[..., 2]
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    planes = [y, u.reshape(h // 4, w), v.reshape(h // 4, w)]
    return np.clip(np.rint(np.concatenate(planes)), 0, 255).astype(np.uint8)


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
        # One x264 thread, no lookahead or macroblock tree: reproducible bytes (see synthetic.py).
        return {
            "preset": "veryfast",
            "crf": f"{18 + 10 * q:.0f}",
            "x264-params": "threads=1:rc-lookahead=0:mbtree=0",
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
    tmp = path.with_name(f".{path.stem}.part.{video.extension}")
    with av.open(
        str(tmp), "w", format=video.muxer, container_options={"fflags": "+bitexact"}
    ) as out:
        vstream = out.add_stream(video.video_codec, rate=video.fps)
        vstream.width, vstream.height, vstream.pix_fmt = video.width, video.height, "yuv420p"
        vstream.codec_context.thread_count = 1
        vstream.codec_context.gop_size = max(1, int(round(video.gop_seconds * float(video.fps))))
        if video.variable_frame_rate:
            vstream.codec_context.time_base = time_base
            vstream.time_base = time_base
        vstream.options = _video_options(video)
        astream = out.add_stream(video.audio_codec, rate=rate, layout=layout)
        astream.options = _audio_options(video)
        written = 0

        def sound_until(seconds: float) -> None:
            nonlocal written
            end = min(sound.shape[1], int(math.ceil(seconds * rate)))
            while written < end:
                block = np.ascontiguousarray(sound[:, written : written + 1024])
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
                frame.sample_rate, frame.pts = rate, written
                frame.time_base = Fraction(1, rate)
                out.mux(astream.encode(frame))
                written += block.shape[1]

        for t, stamp in zip(times, stamps, strict=True):
            sound_until(float(t) + 0.2)
            frame = av.VideoFrame.from_ndarray(to_yuv420p(picture.frame(float(t))), "yuv420p")
            frame.pts, frame.time_base = int(stamp), time_base
            out.mux(vstream.encode(frame))
        out.mux(vstream.encode(None))
        sound_until(video.duration + 1)
        out.mux(astream.encode(None))
    tmp.replace(path)


def write_holdout_videos(
    spec: SynthSpec, videos_dir: Path, progress: bool = True
) -> list[VideoPlan]:
    """Write every video of the holdout dataset into ``videos_dir``; return their plans."""
    videos = plan_holdout(spec)
    videos_dir = Path(videos_dir)
    videos_dir.mkdir(parents=True, exist_ok=True)
    for video in tqdm(videos, desc="synth holdout", unit="video", disable=not progress):
        write_holdout_video(videos_dir / video.filename, video)
    return [video.as_plan() for video in videos]
