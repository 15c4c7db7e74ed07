"""The camcorder recipe's plans: everything drawn for each video before it is rendered.

Which videos, categories, highlights, splits and file formats; each video's scene, camera,
look, room, its events (:class:`Cue`, one planner per category) and its distractors, the
loud sounds and the fast motions that are not events (docs/synthetic.md, "The camcorder
dataset"). Every video draws from its own generators, seeded by (seed, category, video
index) and salted apart from the other recipes' (:data:`SALT`). Nothing here is shared
with the embedded or the holdout recipe but the spec, the plan type and the split rule.
"""

from __future__ import annotations

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

CATEGORY_NAMES = ("bowling", "diving", "flambe")
# (extension, FFmpeg muxer, video encoder, audio encoder), cycled with 2 x category + video:
# what camcorders, compact cameras and PCs wrote before H.264
FORMATS = (
    ("mpg", "mpeg", "mpeg2video", "mp2"),  # DVD camcorder: MPEG-2 program stream, MP2
    ("avi", "avi", "mjpeg", "pcm_s16le"),  # compact camera movie mode: Motion JPEG, PCM
    ("mov", "mov", "mpeg4", "pcm_s16be"),  # QuickTime: MPEG-4 Part 2, big-endian PCM
    ("wmv", "asf", "wmv2", "wmav2"),  # Windows Media 8
)
# frame rates cameras record at; a third of the videos take an NTSC k x 1000/1001 one
FRAME_RATES = tuple(
    Fraction(r)
    for r in (
        "8",
        "10",
        "12",
        "25/2",
        "15",
        "15000/1001",
        "20",
        "24000/1001",
        "24",
        "25",
        "30000/1001",
        "30",
    )
)
SAMPLE_RATES = (16000, 22050, 32000, 44100, 48000)  # all of them MP2 codes
ASPECTS = (4 / 3, 16 / 9, 3 / 2)
SOUND_DISTRACTORS = ("crowd", "babble", "whistle", "knock", "clap")
MOTION_DISTRACTORS = ("whip", "zoom", "passer", "runner", "lights")
SALT = 77_347  # keeps these draws apart from the other recipes' (seed, category, video)
OUTSIDE = 0.8  # share of distractors placed clear of the highlights (the rest anywhere)
LOUDEST = -14.0  # dBFS: the loudest a distractor is set
EDGE_GUARD = 0.4  # s: a duration stays this far from a clip count's rounding point
MIN_EVENT, MAX_EVENT = 2.5, 6.5  # s, a highlight's length


@dataclass
class Cue:
    """One event or distractor: its kind, its time span and what was drawn for it."""

    kind: str
    start: float
    end: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class CamcorderVideo:
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
    quality: float  # 0 (best) .. 1 (worst) compression, mapped per codec
    gop: int  # frames per group of pictures
    sample_rate: int
    channels: int
    scene: dict[str, Any]  # the category's layout and palette, and a texture seed
    look: dict[str, Any]  # the camera's colour rendering and grain
    shake: dict[str, Any]  # the hand-held camera's wobble
    room: dict[str, Any]  # room tone, mains hum and reverberation
    events: list[Cue]
    motions: list[Cue]  # non-event motion: whip pans, zooms, passers-by, lighting
    noises: list[Cue]  # non-event sounds: crowd, babble, whistles, knocks, claps

    @property
    def filename(self) -> str:
        return f"{self.video_id}.{self.extension}"

    def as_plan(self) -> VideoPlan:
        """The plan synthesize() writes the tables from (fps: the exact rate as a float)."""
        return plan_of(self, CATEGORY_NAMES[self.category])


def _uni(rng: np.random.Generator, low: float, high: float) -> float:
    return float(low + (high - low) * rng.random())


def _pick(rng: np.random.Generator, items: tuple | list) -> Any:
    return items[int(rng.integers(len(items)))]


def _new_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(1 << 30))


def plan_camcorder(spec: SynthSpec) -> list[CamcorderVideo]:
    """Draw every video of the dataset (no rendering)."""
    if spec.categories > len(CATEGORY_NAMES):
        raise ConfigError(
            f"synth.categories: the camcorder recipe has {len(CATEGORY_NAMES)} categories "
            f"({', '.join(CATEGORY_NAMES)}), not {spec.categories}"
        )
    videos = []
    for c in range(spec.categories):
        test = draw_test_videos(np.random.default_rng([spec.seed, SALT, 7, c]), spec)
        for v in range(spec.videos_per_category):
            videos.append(_plan_video(spec, c, v, "test" if v in test else "train"))
    return videos


def _duration(rng: np.random.Generator, spec: SynthSpec) -> float:
    """Uniform in [min_seconds, max_seconds] (to 0.01 s), kept EDGE_GUARD away from where
    the clip count rounds (half a clip past a whole clip): containers state durations a
    frame apart (an MPEG program stream ends at its last frame's start), and the clip grid
    of the reader, made from the stated duration, must be the one of clip_labels.csv."""
    clip = spec.clip_seconds
    duration = _uni(rng, spec.min_seconds, spec.max_seconds)
    if abs((duration / clip) % 1.0 - 0.5) * clip < EDGE_GUARD:
        shift = 2 * EDGE_GUARD
        duration += shift if duration + shift <= spec.max_seconds else -shift
    return round(duration, 2)


def _plan_highlights(
    rng: np.random.Generator, duration: float, clip: float
) -> list[tuple[float, float]]:
    """1-3 segments of 2.5-6.5 s, about 12-28 % of the video, at least 2 s apart, from 1 s
    after the start to before the last clip of the grid (whose end the container decides)."""
    n_clips = max(1, int(np.floor(duration / clip + 0.5)))
    first, last = 1.0, (n_clips - 1) * clip - 0.2
    room = last - first
    if room < MIN_EVENT:
        raise ConfigError(
            f"synth: a {duration:.2f} s video leaves no room for a {MIN_EVENT} s highlight "
            "(the camcorder recipe needs min_seconds of 6 or more)"
        )
    cover = _uni(rng, 0.12, 0.28) * duration
    n = int(np.clip(round(cover / _uni(rng, 3.5, 5.0)), 1, 3))
    lengths = [
        float(np.clip(cover / n * _uni(rng, 0.75, 1.25), MIN_EVENT, MAX_EVENT)) for _ in range(n)
    ]
    gap = 2.0
    while sum(lengths) + gap * (len(lengths) - 1) > room:
        if len(lengths) > 1:
            lengths.pop()
        else:
            lengths[0] = room
    spare = room - sum(lengths) - gap * (len(lengths) - 1)
    weights = rng.dirichlet(np.ones(len(lengths) + 1))
    out, t = [], first
    for k, length in enumerate(lengths):
        t += spare * float(weights[k])
        out.append((round(t, 2), round(t + length, 2)))
        t += length + gap
    return out


def _plan_video(spec: SynthSpec, c: int, v: int, split: str) -> CamcorderVideo:
    rng = np.random.default_rng([spec.seed, c, v, SALT])
    duration = _duration(rng, spec)
    highlights = _plan_highlights(rng, duration, spec.clip_seconds)
    extension, muxer, video_codec, audio_codec = FORMATS[(2 * c + v) % len(FORMATS)]
    height = 4 * max(10, int(round(spec.height * _uni(rng, 0.75, 1.3) / 4)))
    width = 4 * max(14, int(round(height * _pick(rng, ASPECTS) / 4)))
    fps = _frame_rate(rng, spec.fps, ntsc=(c + 2 * v) % 3 == 0)
    rates = [r for r in SAMPLE_RATES if spec.sample_rate / 2.2 <= r <= spec.sample_rate * 1.6]
    sample_rate = int(_pick(rng, rates or SAMPLE_RATES))
    channels = 1 + int(rng.random() < 0.5)
    scene = SCENE_PLANNERS[c](rng)
    look = {
        "contrast": _uni(rng, 0.85, 1.2),
        "saturation": _uni(rng, 0.65, 1.25),
        "balance": [_uni(rng, 0.88, 1.12) for _ in range(3)],
        "lift": _uni(rng, 0, 14),
        "vignette": _uni(rng, 0, 0.4),
        "grain": _uni(rng, 1.0, 3.5),
        "seed": _new_seed(rng),
    }
    shake = {
        "amplitude": _uni(rng, 0.002, 0.012),  # of the frame width
        "hz": [_uni(rng, 0.2, 3.0) for _ in range(3)],
        "phase": [_uni(rng, 0, 2 * np.pi) for _ in range(6)],
        "frame": (_uni(rng, -0.06, 0.06), _uni(rng, -0.04, 0.04)),  # the operator's aim
        "zoom": _uni(rng, 1.0, 1.15),
    }
    room = {
        "tone_db": _uni(rng, -54, -40),
        "tone_tilt": _uni(rng, 0.4, 1.6),  # spectral slope of the room tone
        "hum_hz": _pick(rng, (50.0, 60.0)),
        "hum_db": _uni(rng, -64, -48),
        "rt60": _uni(rng, *ROOM_RT60[c]),
        "wet": _uni(rng, 0.15, 0.45),
        "seed": _new_seed(rng),
    }
    # the video's event loudness (dBFS RMS of a sound's loudest 0.4 s)
    event_db = _uni(rng, -32, -18)
    events = [
        EVENT_PLANNERS[c](rng, s, e, scene, _event_level(rng, event_db, room["tone_db"]))
        for s, e in highlights
    ]
    return CamcorderVideo(
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
        quality=_uni(rng, 0, 1),
        gop=int(rng.integers(12, 16)) if video_codec == "mpeg2video" else int(rng.integers(10, 60)),
        sample_rate=sample_rate,
        channels=channels,
        scene=scene,
        look=look,
        shake=shake,
        room=room,
        events=events,
        motions=_plan_motions(rng, duration, highlights),
        noises=_plan_noises(rng, duration, highlights, event_db, room["tone_db"]),
    )


def _frame_rate(rng: np.random.Generator, nominal: float, ntsc: bool) -> Fraction:
    """A camera frame rate within [0.6, 1.25] x nominal (NTSC k x 1000/1001 or not, where
    the range has one), else the nearest integer rate to U(0.75, 1.25) x nominal."""
    near = [r for r in FRAME_RATES if 0.6 * nominal <= r <= 1.25 * nominal]
    kind = [r for r in near if (r.denominator == 1001) == ntsc] or near
    if kind:
        return _pick(rng, kind)
    return Fraction(max(1, int(round(nominal * _uni(rng, 0.75, 1.25)))))


def _event_level(rng: np.random.Generator, event_db: float, tone_db: float) -> float:
    """One occurrence's level: the video's, +-3 dB, and in 1 of 4 a quiet one, 5-10 dB
    lower (never under the room tone + 6 dB)."""
    level = event_db + _uni(rng, -3, 3)
    if rng.random() < 0.25:
        level -= _uni(rng, 5, 10)
    return max(level, tone_db + 6)


# ------------------------------------------------------------------------------- scenes

ROOM_RT60 = ((0.7, 1.3), (1.3, 2.2), (0.25, 0.55))  # s: alley, pool hall, kitchen


def _colour(rng: np.random.Generator, base: tuple, spread: float) -> list[float]:
    return [float(np.clip(x + rng.normal(0, spread), 0, 255)) for x in base]


def _scene_bowling(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "pins_y": _uni(rng, 0.40, 0.48),  # of the plate height: the pin deck's line
        "vanish_x": _uni(rng, -0.08, 0.08),  # of the frame width, from the plate centre
        "depth": _uni(rng, 2.0, 3.0),  # how far the pins are (perspective)
        "lane_width": _uni(rng, 0.40, 0.55),  # of the frame width, at the near end
        "wood": _colour(rng, (196, 150, 100), 14),
        "gutter": _colour(rng, (45, 45, 52), 8),
        "wall": _colour(rng, (30, 22, 60), 12),
        "masking": [_uni(rng, 0, 1) for _ in range(9)],  # hues of the lanes' panels
        "neon": [(_uni(rng, 0, 1), _uni(rng, 0, 1), _uni(rng, 0.05, 0.3)) for _ in range(5)],
        "seed": _new_seed(rng),
    }


def _scene_diving(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "water_y": _uni(rng, 0.52, 0.62),
        "side": 1 if rng.random() < 0.5 else -1,  # the tower's side
        "tower_x": _uni(rng, 0.18, 0.3),  # of the frame width, from the plate centre
        "board_y": _uni(rng, 0.3, 0.38),  # of the plate height
        "board_len": _uni(rng, 0.12, 0.2),
        "tile": _colour(rng, (205, 222, 228), 16),
        "water": _colour(rng, (40, 150, 190), 18),
        "windows": int(rng.integers(3, 7)),
        "ropes": [_uni(rng, 0, 1) for _ in range(4)],
        "seed": _new_seed(rng),
    }


def _scene_flambe(rng: np.random.Generator) -> dict[str, Any]:
    painted = rng.random() < 0.5
    return {
        "cabinet_y": _uni(rng, 0.24, 0.32),
        "counter_y": _uni(rng, 0.6, 0.68),
        "stove_x": _uni(rng, -0.12, 0.12),
        "cabinet": _colour(rng, (200, 205, 190) if painted else (150, 100, 60), 18),
        "splash": _colour(rng, _pick(rng, ((210, 90, 60), (60, 110, 160), (230, 225, 210))), 20),
        "stone": _colour(rng, (110, 105, 100), 20),
        "window": rng.random() < 0.6,
        "seed": _new_seed(rng),
    }


SCENE_PLANNERS = (_scene_bowling, _scene_diving, _scene_flambe)


# ------------------------------------------------------------------------------- events


def _event_bowling(rng, s, e, scene, level) -> Cue:
    """A strike: a ball rolls down the lane, hits the pins, they scatter; rolling rumble,
    then the pins' clatter."""
    length = e - s
    return Cue(
        "bowling",
        s,
        e,
        {
            "release": s + _uni(rng, 0.05, 0.25),
            "hit": s + length * _uni(rng, 0.35, 0.55),
            "lane": _uni(rng, -0.15, 0.15),  # where the ball starts, across the lane
            "hook": _uni(rng, -0.2, 0.2),
            "ball": _ball_colour(rng),
            "knocked": int(rng.integers(7, 11)),
            "rumble_hz": _uni(rng, 120, 260),
            "spin_hz": _uni(rng, 2.5, 5.0),
            "pin_hz": _uni(rng, 900, 1400),
            "level_db": level,
            "pan": _uni(rng, -0.4, 0.4),
            "seed": _new_seed(rng),
        },
    )


def _ball_colour(rng: np.random.Generator) -> list[float]:
    """A ball's colour: saturated blue, purple, red or green, darkish."""
    hue = _pick(rng, ((40, 60, 170), (110, 40, 140), (170, 30, 40), (30, 120, 70)))
    return _colour(rng, hue, 20)


def _event_diving(rng, s, e, scene, level) -> Cue:
    """A dive: the diver bounces on the board, somersaults and enters the water; the
    board's thud, the splash and bubbles."""
    length = e - s
    takeoff = s + length * _uni(rng, 0.12, 0.25)
    return Cue(
        "diving",
        s,
        e,
        {
            "takeoff": takeoff,
            "entry": takeoff + _uni(rng, 0.7, 1.1),
            "turns": _uni(rng, 1.0, 2.5),
            "rise": _uni(rng, 0.05, 0.12),  # of the frame height above the board
            "reach": _uni(rng, 0.05, 0.13),  # of the frame width, away from the tower
            "suit": _colour(rng, _pick(rng, ((200, 30, 40), (20, 30, 60), (240, 200, 30))), 20),
            "spray": int(rng.integers(40, 80)),
            "board_hz": _uni(rng, 70, 120),
            "level_db": level,
            "pan": _uni(rng, -0.5, 0.5),
            "seed": _new_seed(rng),
        },
    )


def _event_flambe(rng, s, e, scene, level) -> Cue:
    """A flambé: the cook shakes the pan, it catches fire, the flame flares and dies down;
    the ignition's whoomp, the roar and the sizzle."""
    length = e - s
    return Cue(
        "flambe",
        s,
        e,
        {
            "ignite": s + length * _uni(rng, 0.15, 0.3),
            "height": _uni(rng, 0.18, 0.35),  # of the frame height
            "lean": _uni(rng, -0.3, 0.3),
            "shake_hz": _uni(rng, 2.5, 4.5),
            "flicker_hz": _uni(rng, 6, 14),
            "roar_hz": (_uni(rng, 90, 200), _uni(rng, 900, 1800)),
            "level_db": level,
            "pan": _uni(rng, -0.3, 0.3),
            "seed": _new_seed(rng),
        },
    )


EVENT_PLANNERS = (_event_bowling, _event_diving, _event_flambe)


# -------------------------------------------------------------------------- distractors


def _place(rng, duration: float, length: float, highlights: list) -> float:
    """A start: clear of every highlight (0.3 s margin) with probability OUTSIDE."""
    latest = max(0.0, duration - length - 0.1)
    if rng.random() < OUTSIDE:
        for _ in range(60):
            start = _uni(rng, 0.1, latest)
            if all(start + length + 0.3 <= s or start >= e + 0.3 for s, e in highlights):
                return start
    return _uni(rng, 0.1, latest)


def _plan_noises(rng, duration, highlights, event_db, tone_db) -> list[Cue]:
    """About one loud non-event sound per 3-4.5 s, at the video's event level -8 to +8 dB
    (at most LOUDEST): about half are louder than the events, many more than the quiet ones."""
    lengths = {
        "crowd": (1.5, 4.0),
        "babble": (1.0, 3.5),
        "whistle": (0.4, 1.6),
        "knock": (0.4, 1.2),
        "clap": (1.0, 3.0),
    }
    out = []
    for _ in range(max(2, int(round(duration / _uni(rng, 3.0, 4.5))))):
        kind = _pick(rng, SOUND_DISTRACTORS)
        length = _uni(rng, *lengths[kind])
        start = _place(rng, duration, length, highlights)
        out.append(
            Cue(
                kind,
                start,
                start + length,
                {
                    "level_db": min(LOUDEST, max(tone_db + 6, event_db + _uni(rng, -8, 8))),
                    "pan": _uni(rng, -0.8, 0.8),
                    "seed": _new_seed(rng),
                },
            )
        )
    return sorted(out, key=lambda cue: cue.start)


def _plan_motions(rng, duration, highlights) -> list[Cue]:
    """About one non-event motion or lighting change per 3.5-5.5 s."""
    lengths = {
        "whip": (0.5, 1.1),
        "zoom": (1.0, 2.2),
        "passer": (0.6, 1.4),
        "runner": (1.2, 2.5),
        "lights": (0.8, 4.0),
    }
    out = []
    for _ in range(max(2, int(round(duration / _uni(rng, 3.5, 5.5))))):
        kind = _pick(rng, MOTION_DISTRACTORS)
        length = _uni(rng, *lengths[kind])
        start = _place(rng, duration, length, highlights)
        out.append(
            Cue(
                kind,
                start,
                start + length,
                {
                    "direction": 1 if rng.random() < 0.5 else -1,
                    "reach": _uni(rng, 0.25, 0.45),  # whip: of the frame width
                    "zoom": _uni(rng, 1.3, 1.8),
                    "size": _uni(rng, 0.5, 0.9),  # passer: of the frame height
                    "height": _uni(rng, 0.75, 0.95),  # runner: where its feet are
                    "clothes": [_uni(rng, 20, 235) for _ in range(3)],
                    "mode": _pick(rng, ("dim", "bright", "flicker", "flash")),
                    "gain": _uni(rng, 0.55, 0.8),
                    "tint": [_uni(rng, 0.85, 1.15) for _ in range(3)],
                    "seed": _new_seed(rng),
                },
            )
        )
    return sorted(out, key=lambda cue: cue.start)
