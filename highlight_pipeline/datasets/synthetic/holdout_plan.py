"""The holdout recipe's plans: everything drawn for each video before it is rendered.

Which videos, categories, highlights, splits and file formats; each video's scene layout,
camera, noise, events (:class:`Occurrence`, one planner per category) and distractors
(docs/synthetic.md, "The holdout dataset"). Every video draws from its own generators,
seeded by (seed, category, video index) and salted apart from the embedded recipe's
(:data:`SALT`), so one setting does not reshuffle unrelated videos.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from highlight_pipeline.datasets.synthetic.spec import (
    SynthSpec,
    VideoPlan,
    draw_test_videos,
    plan_of,
)
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
OUTSIDE_SHARE = 0.85  # share of distractors kept outside the highlights


@dataclass(frozen=True)
class Distractors:
    """How hard a recipe's distractors are (the holdout recipe's own, or ``LOUD``'s)."""

    period: float = 5.0  # seconds per visual and per sound distractor, on average
    # sound distractors drawn this many dB (low, high) over the video's event level;
    # None: in the events' own range (-30 to -10 dBFS)
    above_event_db: tuple[float, float] | None = None
    size: float = 1.0  # visual distractors' size, times the holdout's
    shake: float = 1.0  # handheld cameras' shake, times the holdout's


#: ``holdout-loud``, a development variant (docs/synthetic.md): twice the distractors,
#: sounds 0-8 dB louder than the video's events, larger movers near the lens and a shakier
#: hand. Only the distractors and the shake differ from the holdout recipe's draws.
LOUD = Distractors(period=2.5, above_event_db=(0.0, 8.0), size=1.6, shake=3.0)


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
        return plan_of(self, CATEGORY_NAMES[self.category])


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31))


def plan_holdout(spec: SynthSpec, distractors: Distractors = Distractors()) -> list[HoldoutVideo]:
    """Draw every video of the dataset (no rendering); ``distractors``: how hard they are."""
    if spec.categories > len(CATEGORY_NAMES):
        raise ConfigError(
            f"synth.categories: the holdout recipe has {len(CATEGORY_NAMES)} categories "
            f"({', '.join(CATEGORY_NAMES)}), not {spec.categories}"
        )
    per = spec.videos_per_category
    vfr_index = int(np.random.default_rng([spec.seed, SALT, 1]).integers(per))
    videos = []
    for c in range(spec.categories):
        test = draw_test_videos(np.random.default_rng([spec.seed, SALT, 2, c]), spec)
        for v in range(per):
            split = "test" if v in test else "train"
            vfr = c == 0 and v == vfr_index
            videos.append(_plan_video(spec, c, v, split, vfr, distractors))
    return videos


def _plan_video(
    spec: SynthSpec, c: int, v: int, split: str, vfr: bool, distractors: Distractors
) -> HoldoutVideo:
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
        camera_params=_plan_camera(rng, camera, distractors.shake),
        events=events,
        visual_distractors=_plan_visual_distractors(rng, duration, highlights, distractors),
        sound_distractors=_plan_sound_distractors(
            rng, duration, highlights, noise_dbfs, event_db, distractors
        ),
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


def _plan_camera(rng: np.random.Generator, camera: str, shake: float = 1.0) -> dict[str, Any]:
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
            "amps": (shake * rng.uniform(0.004, 0.02, size=(2, 3))).tolist(),
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


def _plan_visual_distractors(rng, duration, highlights, distractors) -> list[Occurrence]:
    """About one fast mover per 5 s (``distractors.period``): birds, bouncing balls, bursts
    of 1-4 camera flashes, passers-by close to the lens."""
    lengths = {"bird": (0.7, 2.2), "ball": (0.5, 1.5), "flash": (0.12, 0.25), "passer": (1.2, 3)}
    out = []
    grow = distractors.size
    for _ in range(1 + int(rng.poisson(duration / distractors.period))):
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
                    "size": grow * _u(rng, 0.02, 0.045),
                    "hue": _u(rng, 0, 1),
                    "light": bool(rng.random() < 0.3),
                    "bounces": int(rng.integers(1, 4)),
                    "flap_hz": _u(rng, 4, 8),
                    "strength": _u(rng, 60, 160),
                    "flashes": flashes,
                    "centre": (_u(rng, 0, 1), _u(rng, 0, 1)),
                    "spread": _u(rng, 0.3, 0.8),
                    "body": (grow * _u(rng, 0.12, 0.25), min(0.95, grow * _u(rng, 0.4, 0.7))),
                },
            )
        )
    return sorted(out, key=lambda o: o.start)


def _plan_sound_distractors(
    rng, duration, highlights, noise_dbfs, event_db, distractors
) -> list[Occurrence]:
    """About one loud sound per 5 s (``distractors.period``): door slams, shouts, wind
    gusts, passing horns, in the events' loudness range (-30 to -10 dBFS, above the noise),
    or ``distractors.above_event_db`` over this video's event level."""
    lengths = {"slam": (0.4, 0.6), "shout": (0.6, 2.5), "gust": (2.0, 5.0), "horn": (1.0, 3.0)}
    out = []
    above = distractors.above_event_db
    for _ in range(1 + int(rng.poisson(duration / distractors.period))):
        kind = SOUND_DISTRACTORS[int(rng.integers(len(SOUND_DISTRACTORS)))]
        length = _u(rng, *lengths[kind])
        start = _distractor_start(rng, duration, length, highlights)
        out.append(
            Occurrence(
                kind,
                start,
                start + length,
                {
                    "gain_db": max(noise_dbfs + 6, _u(rng, -30, -10))
                    if above is None
                    else min(-3.0, event_db + _u(rng, *above)),
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
