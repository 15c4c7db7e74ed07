"""The holdout recipe's pictures: the category's setting under a moving camera, its events
and the fast distractors, with sensor grain (docs/synthetic.md, "The holdout dataset").

Event light only adds to the picture: the background is never dimmed. Nothing here is
shared with the embedded recipe's drawing (:mod:`.embedded_pictures`): the holdout data
are made another way on purpose.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
from scipy.ndimage import gaussian_filter

from highlight_pipeline.datasets.synthetic.holdout_plan import SALT, HoldoutVideo, Occurrence, _u

MARGIN = 0.15  # background drawn this far (in frame widths / heights) beyond the view
GRAIN_PAD = 24  # sensor grain: frames take random windows of a few larger noise fields


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
