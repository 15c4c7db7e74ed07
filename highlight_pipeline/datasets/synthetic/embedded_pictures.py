"""The embedded recipe's pictures: hue-family scenes with a smooth texture, distractors
that move throughout, and the category's geometric event object during highlights, drawn
over the scene, which goes on unchanged (docs/synthetic.md, "Generative model").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from highlight_pipeline.datasets.synthetic.spec import SynthSpec, VideoPlan

# Event object colour (RGB) and background hue family per category; each event colour is
# far in hue from its own category's backgrounds.
EVENT_COLOURS = np.array(
    [[230, 40, 40], [30, 220, 230], [220, 40, 220], [240, 220, 30], [40, 200, 60], [250, 140, 20]],
    dtype=np.float32,
)
BASE_HUES = [0.58, 0.08, 0.33, 0.75, 0.92, 0.45]


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
