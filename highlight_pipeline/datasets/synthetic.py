"""`hlp synth`: the embedded synthetic dataset, generated deterministically from a seed.

Generative model, version 2 (also in docs/synthetic.md):

* C categories, V videos each, durations uniform in [min_seconds, max_seconds]. Per video
  a file format as real footage varies it: frame rate, frame size and shape, sample rate,
  codec and container (H.264/AAC in .mp4 or MPEG-4/FLAC in .mkv), sensor noise and
  recording level (:func:`_plan_format`).
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
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from tqdm import tqdm

from highlight_pipeline.datasets.folder import clip_grid, interval_labels

CATEGORY_NAMES = ["orbit", "slide", "bounce", "pulse", "spin", "zigzag"]
# Event object colour (RGB) and background hue family per category; each event colour is
# far in hue from its own category's backgrounds.
EVENT_COLOURS = np.array(
    [[230, 40, 40], [30, 220, 230], [220, 40, 220], [240, 220, 30], [40, 200, 60], [250, 140, 20]],
    dtype=np.float32,
)
BASE_HUES = [0.58, 0.08, 0.33, 0.75, 0.92, 0.45]


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


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, dtype=np.float32) * 255


def scene_colour(category: int, rng: np.random.Generator) -> np.ndarray:
    """A background colour of one category: its hue family, varied in hue, saturation, value."""
    hue = (BASE_HUES[category] + rng.uniform(-0.1, 0.1)) % 1.0
    return _hsv_to_rgb(hue, float(rng.uniform(0.15, 0.7)), float(rng.uniform(0.3, 0.8)))


def plan_videos(spec: SynthSpec) -> list[VideoPlan]:
    plans: list[VideoPlan] = []
    rng = np.random.default_rng([spec.seed, 7919])
    for c in range(spec.categories):
        n_test = max(1, int(round(spec.videos_per_category * spec.test_fraction)))
        test_idx = set(rng.permutation(spec.videos_per_category)[:n_test].tolist())
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


def _in_segments(t: float, segments: list[tuple[float, float]]) -> bool:
    return any(s <= t < e for s, e in segments)


class _Renderer:
    """Draws one video's frames; all randomness comes from the plan's generator."""

    def __init__(self, spec: SynthSpec, plan: VideoPlan, rng: np.random.Generator) -> None:
        self.spec, self.plan, self.rng = spec, plan, rng
        h, w = plan.height, plan.width
        self.yy, self.xx = np.mgrid[0:h, 0:w].astype(np.float32)
        self.yy /= h
        self.xx /= w
        self.scenes: list[tuple[float, np.ndarray]] = []  # (start time, background image)
        t = 0.0
        while t < plan.duration:
            colour = scene_colour(plan.category, rng)
            fx, fy, phase = rng.uniform(1, 4), rng.uniform(1, 4), rng.uniform(0, 6.3)
            texture = 0.5 + 0.5 * np.sin(2 * np.pi * (fx * self.xx + fy * self.yy) + phase)
            tint = rng.uniform(-40, 40, size=3).astype(np.float32)
            image = (
                colour[None, None, :] * (0.75 + 0.5 * texture[..., None])
                + tint * texture[..., None]
            )
            self.scenes.append((t, np.clip(image, 0, 255).astype(np.float32)))
            t += float(rng.uniform(3, 8))
        self.distractors = [self._distractor() for _ in range(int(rng.integers(1, 3)))]
        self.noise_level = float(rng.uniform(2, 10))  # sensor noise differs per camera
        # Fast things that cross the frame now and then (a ball, a bird) and camera flashes,
        # at random times: mostly outside the highlights, by chance also inside.
        self.crossings = [self._crossing(plan.duration) for _ in range(int(rng.integers(2, 6)))]
        self.flashes = rng.uniform(0, plan.duration, size=int(rng.integers(0, 4)))

    def _crossing(self, duration: float) -> dict[str, Any]:
        r = self.rng
        return {
            "start": float(r.uniform(0, duration)),
            "length": float(r.uniform(0.4, 1.5)),
            "colour": r.uniform(40, 255, size=3).astype(np.float32),
            "shape": int(r.integers(6)),
            "size": float(r.uniform(0.05, 0.12)),
            "y": float(r.uniform(0.2, 0.8)),
            "direction": float(r.choice([-1.0, 1.0])),
        }

    def _distractor(self) -> dict[str, Any]:
        r = self.rng
        return {
            "colour": r.uniform(60, 255, size=3).astype(np.float32),
            "shape": int(r.integers(3)),
            "size": float(r.uniform(0.06, 0.14)),
            "pos": r.uniform(0.2, 0.8, size=2),
            "vel": r.uniform(-0.35, 0.35, size=2),
            "period": float(r.uniform(4, 12)),
        }

    def _mask(
        self, shape: int, cx: float, cy: float, size: float, angle: float = 0.0
    ) -> np.ndarray:
        aspect = self.plan.width / self.plan.height
        dx, dy = (self.xx - cx) * aspect, self.yy - cy
        if angle:
            dx, dy = (
                dx * np.cos(angle) - dy * np.sin(angle),
                dx * np.sin(angle) + dy * np.cos(angle),
            )
        if shape == 0:  # disc
            return dx**2 + dy**2 < size**2
        if shape == 1:  # square
            return (np.abs(dx) < size) & (np.abs(dy) < size)
        if shape == 2:  # triangle
            return (dy < size) & (dy > -size) & (np.abs(dx) < (size - dy) / 2)
        if shape == 3:  # ring
            r2 = dx**2 + dy**2
            return (r2 < size**2) & (r2 > (0.55 * size) ** 2)
        if shape == 4:  # cross
            return ((np.abs(dx) < size) & (np.abs(dy) < size / 3)) | (
                (np.abs(dy) < size) & (np.abs(dx) < size / 3)
            )
        return (np.abs(dx) + np.abs(dy)) < size  # diamond

    def _event(self, t: float) -> tuple[np.ndarray, float]:
        """Mask of the category's event object at time t (characteristic shape and motion)."""
        c = self.plan.category
        size = 0.28
        if c == 0:  # orbit: disc circling the centre
            cx, cy = 0.5 + 0.22 * np.cos(2 * np.pi * t / 2), 0.5 + 0.22 * np.sin(2 * np.pi * t / 2)
            return self._mask(0, cx, cy, size), 0.0
        if c == 1:  # slide: square sweeping left-right
            return self._mask(1, 0.5 + 0.3 * np.sin(2 * np.pi * t / 1.5), 0.5, size * 0.85), 0.0
        if c == 2:  # bounce: triangle bouncing vertically
            return self._mask(2, 0.5, 0.3 + 0.4 * abs(np.sin(np.pi * t / 1.2)), size * 1.1), 0.0
        if c == 3:  # pulse: ring growing and shrinking in place
            return self._mask(3, 0.5, 0.5, size * (0.8 + 0.4 * np.sin(2 * np.pi * t)), 0.0), 0.0
        if c == 4:  # spin: rotating cross
            return self._mask(4, 0.5, 0.5, size * 1.2, angle=2 * np.pi * t / 1.5), 0.0
        cx = 0.5 + 0.3 * np.sin(2 * np.pi * t / 2.0)  # zigzag: diamond on a zigzag path
        return self._mask(5, cx, 0.5 + 0.2 * np.sign(np.sin(2 * np.pi * t)), size), 0.0

    def frame(self, t: float) -> np.ndarray:
        scene = max((s for s in self.scenes if s[0] <= t), key=lambda s: s[0])[1]
        image = scene.copy()
        for d in self.distractors:
            pos = d["pos"] + d["vel"] * t
            pos = 0.1 + np.abs(((pos - 0.1) % 1.6) - 0.8)  # bounce inside [0.1, 0.9]
            image[self._mask(d["shape"], pos[0], pos[1], d["size"])] = d["colour"]
        for c in self.crossings:
            progress = (t - c["start"]) / c["length"]
            if 0 <= progress < 1:
                x = progress if c["direction"] > 0 else 1 - progress
                image[self._mask(c["shape"], x, c["y"], c["size"])] = c["colour"]
        if _in_segments(t, self.plan.highlights):
            mask, _ = self._event(t)
            image[mask] = EVENT_COLOURS[self.plan.category]
        if np.any(np.abs(self.flashes - t) < 0.1):
            image = image * 0.5 + 127
        noise = self.rng.normal(0, self.noise_level, size=image.shape).astype(np.float32)
        return np.clip(image + noise, 0, 255).astype(np.uint8)


def _band_noise(rng: np.random.Generator, n: int, rate: int, low: float, high: float) -> np.ndarray:
    """White noise shaped to ``[low, high]`` Hz with soft edges, unit variance."""
    spectrum = np.fft.rfft(rng.normal(size=n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum *= 1 / (1 + ((freqs - np.clip(freqs, low, high)) / 200.0) ** 2)
    out = np.fft.irfft(spectrum, n)
    return out / (np.std(out) + 1e-9)


def _ambience(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """One scene's background: band noise with random band, hum or rumble, random level."""
    kind = int(rng.integers(3))
    t = np.arange(n) / rate
    if kind == 0:  # band-limited noise anywhere in the spectrum
        centre = float(np.exp(rng.uniform(np.log(150), np.log(6000))))
        width = float(rng.uniform(0.2, 1.0)) * centre
        sound = _band_noise(rng, n, rate, max(20.0, centre - width), min(rate / 2, centre + width))
    elif kind == 1:  # hum: a low tone with harmonics plus a little broadband noise
        f0 = float(rng.uniform(50, 400))
        sound = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3)) + 0.3 * rng.normal(
            size=n
        )
    else:  # amplitude-modulated broadband noise (crowd-like)
        sound = _band_noise(rng, n, rate, 100, rate / 2) * (
            1 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.3, 3) * t)
        )
    return 10 ** (rng.uniform(-30, -18) / 20) * sound / (np.std(sound) + 1e-9)


def event_sound(category: int, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """The category's characteristic sound, ``n`` samples long."""
    t = np.arange(n) / rate
    if category == 0:  # pulsed 660 Hz tone with its octave, 4 pulses per second
        gate = (np.sin(2 * np.pi * 4 * t) > 0).astype(np.float64)
        return gate * (np.sin(2 * np.pi * 660 * t) + 0.5 * np.sin(2 * np.pi * 1320 * t))
    if category == 1:  # rising chirp 500 -> 2500 Hz every 0.5 s
        phase_t = t % 0.5
        return np.sin(2 * np.pi * (500 * phase_t + 2000 * phase_t**2))
    if category == 2:  # noise bursts band-limited to 3-4 kHz
        burst = _band_noise(rng, n, rate, 3000, 4000)
        return burst * (np.sin(2 * np.pi * 3 * t) > -0.3)
    if category == 3:  # alternating 880 / 1320 Hz
        f = np.where((t % 0.5) < 0.25, 880, 1320)
        return np.sin(2 * np.pi * np.cumsum(f) / rate)
    if category == 4:  # 150 Hz square-wave buzz
        return np.sign(np.sin(2 * np.pi * 150 * t)) * 0.6
    return np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 6 * t)  # tremolo 440 Hz


def render_audio(spec: SynthSpec, plan: VideoPlan, rng: np.random.Generator) -> np.ndarray:
    rate = plan.sample_rate
    n = int(plan.duration * rate)
    audio = np.zeros(n)
    t = 0.0
    while t < plan.duration:  # background noise scenes
        length = float(rng.uniform(3, 8))
        a, b = int(t * rate), min(n, int((t + length) * rate))
        if b > a:
            audio[a:b] += _ambience(rng, b - a, rate)
        t += length
    for _ in range(int(rng.integers(2, 6))):  # distractor tones, sometimes loud
        start, length = rng.uniform(0, plan.duration), rng.uniform(0.5, 2.0)
        a, b = int(start * rate), min(n, int((start + length) * rate))
        if b > a:
            tt = np.arange(b - a) / rate
            level = 10 ** (rng.uniform(-16, -4) / 20)
            audio[a:b] += level * np.sin(2 * np.pi * rng.uniform(200, 4000) * tt)
    for _ in range(int(rng.integers(1, 4))):  # bangs (a door, a clap): loud, short, broadband
        a = int(rng.uniform(0, plan.duration) * rate)
        b = min(n, a + int(0.4 * rate))
        if b > a:
            decay = np.exp(-np.arange(b - a) / (0.06 * rate))
            audio[a:b] += 10 ** (rng.uniform(-10, -2) / 20) * decay * rng.normal(size=b - a)
    gain = 10 ** (rng.uniform(-10, 6) / 20)  # the recording level differs per video
    for s, e in plan.highlights:  # the event sounds over the ambience, which goes on
        a, b = int(s * rate), min(n, int(e * rate))
        level = 10 ** (rng.uniform(-12, -8) / 20)
        audio[a:b] += level * event_sound(plan.category, b - a, rate, rng)
    return np.clip(gain * audio, -1, 1).astype(np.float32)


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 ``[H, W, 3]`` -> planar YUV 4:2:0 ``[H * 3 / 2, W]`` (BT.601, limited range).

    Done here rather than by swscale inside the encoder, so that the bytes written depend on
    nothing but the frames: the dataset must be byte-reproducible for a seed.
    """
    x = rgb.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    h, w = y.shape

    def down(c: np.ndarray) -> np.ndarray:
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = [y, down(u).reshape(h // 4, w), down(v).reshape(h // 4, w)]
    return np.clip(np.rint(np.concatenate(planes)), 0, 255).astype(np.uint8)


def write_video(path: Path, spec: SynthSpec, plan: VideoPlan) -> None:
    rng = np.random.default_rng([spec.seed, plan.category, int(plan.video_id[-2:]), 1])
    renderer = _Renderer(spec, plan, rng)
    audio = render_audio(spec, plan, rng)
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
    video_codec, audio_codec = ("libx264", "aac") if plan.container == "mp4" else ("mpeg4", "flac")
    # bitexact: no muxer version string or random segment id (Matroska) in the file
    with av.open(str(tmp), "w", container_options={"fflags": "+bitexact"}) as container:
        vstream = container.add_stream(video_codec, rate=plan.fps)
        vstream.width, vstream.height, vstream.pix_fmt = plan.width, plan.height, "yuv420p"
        # Byte-reproducible encoding: one encoder thread (set on the codec context; the
        # "threads" option alone is overridden) and, for x264, no lookahead/macroblock tree,
        # with which the bytes still varied now and then between runs (about 1 run in 15).
        vstream.codec_context.thread_count = 1
        if video_codec == "libx264":
            vstream.options = {
                "preset": "veryfast",
                "crf": "20",
                "x264-params": "threads=1:rc-lookahead=0:mbtree=0",
            }
        else:
            vstream.options = {"qscale": "3"}
        astream = container.add_stream(audio_codec, rate=plan.sample_rate, layout="mono")
        for i in range(int(plan.duration * plan.fps)):
            yuv = rgb_to_yuv420p(renderer.frame(i / plan.fps))
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            container.mux(vstream.encode(frame))
        container.mux(vstream.encode(None))
        block = 1024
        sample_format = "fltp" if audio_codec == "aac" else "s16"
        for start in range(0, audio.size, block):
            chunk = audio[start : start + block][None, :]
            if sample_format == "s16":
                chunk = np.rint(chunk * 32767).astype(np.int16)
            aframe = av.AudioFrame.from_ndarray(chunk, format=sample_format, layout="mono")
            aframe.sample_rate = plan.sample_rate
            aframe.pts = start
            container.mux(astream.encode(aframe))
        container.mux(astream.encode(None))
    tmp.replace(path)


def synthesize(
    spec: SynthSpec, out_dir: str | Path, progress: bool = True, jobs: int = 1
) -> list[VideoPlan]:
    """Write the videos of ``spec.recipe`` and the folder-dataset tables.

    Recipes: ``embedded`` (this module) and ``holdout`` (:mod:`.synthetic_holdout`, a second
    dataset made another way, used only to measure). ``jobs`` > 1 writes the embedded
    recipe's videos in that many processes; each video is seeded on its own, so the files
    are the same bytes however many write them.
    """
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    if spec.recipe == "holdout":
        from highlight_pipeline.datasets.synthetic_holdout import write_holdout_videos

        plans = write_holdout_videos(spec, out / "videos", progress)
    else:
        plans = plan_videos(spec)
        paths = [out / "videos" / plan.filename for plan in plans]
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
