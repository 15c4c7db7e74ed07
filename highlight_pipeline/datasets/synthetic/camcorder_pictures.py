"""The camcorder recipe's pictures: a scene plate seen by a hand-held camera, the events,
the non-event motion and light, and the camera's own rendering.

Each video's scene (a bowling alley, a pool hall, a kitchen) is painted once on a plate
twice the frame's width and 1.3 times its height. A frame samples the plate through the
camera (the operator's aim, hand shake, whip pans, zooms; bilinear), draws what moves in
the scene on it (the events, a running child), blurs it along a fast pan, draws what
passes close to the lens (out of focus), then applies the lighting (dimming, brightening,
flicker, flashes of others' cameras) and the camera's look (white balance, saturation,
contrast, vignette, grain). Events only add to the scene: the plate, the camera and the
lighting never depend on the highlights.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import uniform_filter1d

from highlight_pipeline.datasets.synthetic.camcorder_plan import CamcorderVideo, Cue

PLATE_WIDTH, PLATE_HEIGHT = 2.0, 1.3  # the plate's size, in frame widths and heights
SKIN = (224.0, 180.0, 150.0)
PIN_WHITE = (245.0, 243.0, 236.0)


def hsv(h: float, s: float, v: float) -> np.ndarray:
    """An HSV colour (0-1 each) as float RGB 0-255."""
    k = (np.array([5.0, 3.0, 1.0]) + 6 * (h % 1.0)) % 6
    return 255 * v * (1 - s * np.clip(np.minimum(k, 4 - k), 0, 1))


# ------------------------------------------------------------------------------- drawing


def _window(img: np.ndarray, u: float, v: float, reach: float):
    """The pixel box within ``reach`` of (u, v), clipped; None if outside the image."""
    h, w = img.shape[:2]
    x0, x1 = max(0, int(u - reach)), min(w, int(u + reach) + 2)
    y0, y1 = max(0, int(v - reach)), min(h, int(v + reach) + 2)
    if x0 >= x1 or y0 >= y1:
        return None
    xs = np.arange(x0, x1, dtype=np.float32) + 0.5 - u
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - v
    return (slice(y0, y1), slice(x0, x1)), xs, ys


def _cover(img, box, coverage, colour, alpha=1.0) -> None:
    part = img[box]
    part += (alpha * coverage)[..., None] * (np.asarray(colour, np.float32) - part)


def ellipse(img, u, v, ru, rv, colour, alpha=1.0, soft=1.0, angle=0.0) -> None:
    """A filled ellipse, anti-aliased over ``soft`` pixels, blended by ``alpha``."""
    ru, rv = max(ru, 0.3), max(rv, 0.3)
    found = _window(img, u, v, max(ru, rv) + 2 * soft + 1)
    if found is None:
        return
    box, xs, ys = found
    if angle:
        c, s = math.cos(angle), math.sin(angle)
        xs, ys = xs * c + ys * s, ys * c - xs * s
    d = np.sqrt((xs / ru) ** 2 + (ys / rv) ** 2)
    _cover(img, box, np.clip(0.5 - (d - 1) * min(ru, rv) / soft, 0, 1), colour, alpha)


def capsule(img, a, b, radius, colour, alpha=1.0, soft=1.0) -> None:
    """A segment from ``a`` to ``b`` with round ends, ``radius`` thick on each side."""
    (ua, va), (ub, vb) = a, b
    found = _window(
        img, (ua + ub) / 2, (va + vb) / 2, math.hypot(ub - ua, vb - va) / 2 + radius + 2 * soft + 1
    )
    if found is None:
        return
    box, xs, ys = found
    px, py = xs + (ua + ub) / 2 - ua, ys + (va + vb) / 2 - va
    dx, dy = ub - ua, vb - va
    along = np.clip((px * dx + py * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
    d = np.hypot(px - along * dx, py - along * dy)
    _cover(img, box, np.clip(0.5 - (d - radius) / soft, 0, 1), colour, alpha)


def rectangle(img, u0, v0, u1, v1, colour, alpha=1.0, soft=1.0) -> None:
    """An axis-aligned rectangle from (u0, v0) to (u1, v1)."""
    found = _window(img, (u0 + u1) / 2, (v0 + v1) / 2, max(u1 - u0, v1 - v0) / 2 + 2 * soft + 1)
    if found is None:
        return
    box, xs, ys = found
    dx = np.abs(xs) - (u1 - u0) / 2
    dy = np.abs(ys) - (v1 - v0) / 2
    coverage = np.clip(0.5 - dx / soft, 0, 1) * np.clip(0.5 - dy / soft, 0, 1)
    _cover(img, box, coverage, colour, alpha)


def glow(img, u, v, sigma, rgb) -> None:
    """Add light: a Gaussian spot of ``rgb`` (may exceed 255 in sum) and width ``sigma``."""
    found = _window(img, u, v, 3 * sigma + 1)
    if found is None:
        return
    box, xs, ys = found
    weight = np.exp(-(xs**2 + ys**2) / (2 * sigma * sigma))
    img[box] += weight[..., None] * np.asarray(rgb, np.float32)


def _smooth_field(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Random values on a coarse grid of ``cell`` pixels, bilinearly interpolated, 0-1."""
    gh, gw = int(h / cell) + 2, int(w / cell) + 2
    grid = rng.random((gh, gw))
    ys, xs = np.arange(h) / cell, np.arange(w) / cell
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


# -------------------------------------------------------------------------------- camera


class Camera:
    """Where the camera looks: the plate point at the frame's centre and the zoom."""

    def __init__(self, cx: float, cy: float, z: float, w: int, h: int) -> None:
        self.cx, self.cy, self.z, self.w, self.h = cx, cy, z, w, h

    def to_screen(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.cx) * self.z + self.w / 2, (y - self.cy) * self.z + self.h / 2

    def sample(self, layer: np.ndarray) -> np.ndarray:
        """The plate (or a texture of its size) as the frame sees it: bilinear, edges held."""
        ph, pw = layer.shape[:2]
        xs = self.cx + (np.arange(self.w) + 0.5 - self.w / 2) / self.z - 0.5
        ys = self.cy + (np.arange(self.h) + 0.5 - self.h / 2) / self.z - 0.5
        x0, y0 = np.floor(xs), np.floor(ys)
        fx, fy = (xs - x0).astype(np.float32), (ys - y0).astype(np.float32)
        xa, xb = np.clip(x0, 0, pw - 1).astype(int), np.clip(x0 + 1, 0, pw - 1).astype(int)
        ya, yb = np.clip(y0, 0, ph - 1).astype(int), np.clip(y0 + 1, 0, ph - 1).astype(int)
        extra = (1,) * (layer.ndim - 2)
        fy = fy.reshape((-1, 1) + extra)
        rows = layer[ya] * (1 - fy) + layer[yb] * fy
        fx = fx.reshape((1, -1) + extra)
        return rows[:, xa] * (1 - fx) + rows[:, xb] * fx


def _person(img, cam, feet_x, feet_y, height, clothes, stride, alpha=1.0, soft=1.0) -> None:
    """A standing or running figure in plate coordinates, ``height`` tall (plate pixels)."""
    z = cam.z
    hip = cam.to_screen(feet_x, feet_y - 0.5 * height)
    neck = cam.to_screen(feet_x, feet_y - 0.82 * height)
    for sign in (1, -1):
        foot = cam.to_screen(feet_x + sign * 0.18 * height * stride, feet_y)
        capsule(img, hip, foot, 0.05 * height * z, (50, 50, 60), alpha, soft)
        hand = cam.to_screen(feet_x - sign * 0.16 * height * stride, feet_y - 0.5 * height)
        capsule(img, neck, hand, 0.035 * height * z, clothes, alpha, soft)
    capsule(img, hip, neck, 0.11 * height * z, clothes, alpha, soft)
    head = cam.to_screen(feet_x, feet_y - 0.92 * height)
    ellipse(img, head[0], head[1], 0.08 * height * z, 0.09 * height * z, SKIN, alpha, soft)


# -------------------------------------------------------------------------------- scenes


class _Bowling:
    """A bowling alley seen from behind the approach: lanes in perspective, pins at the far
    end under coloured masking panels, a dark wall with neon signs."""

    def __init__(self, video: CamcorderVideo, pw: int, ph: int) -> None:
        sc = video.scene
        self.scene, self.pw, self.ph = sc, pw, ph
        self.deck = sc["pins_y"] * ph
        self.vx = pw / 2 + sc["vanish_x"] * video.width
        self.depth = sc["depth"]
        self.lane = sc["lane_width"] * video.width
        self.far = 1 / (1 + self.depth)
        self.layers: list = []

    def feet(self, height: float) -> tuple[float, float]:
        """Where a passing child's feet are (plate y) for a drawn ``height`` (0.75-0.95), and
        its size there: on the approach."""
        return height * self.ph, 1.0

    def project(self, a: float, d: float) -> tuple[float, float, float]:
        """Lane coordinates (``a`` across, in lane widths; ``d`` 0 near .. 1 at the pins) ->
        plate (x, y) and the perspective scale there."""
        inv = 1 / (1 + self.depth * d)
        y = self.deck + (self.ph - self.deck) * (inv - self.far) / (1 - self.far)
        return self.vx + a * self.lane * inv, y, inv

    def plate(self, rng: np.random.Generator) -> np.ndarray:
        sc, ph, pw = self.scene, self.ph, self.pw
        img = np.empty((ph, pw, 3), np.float32)
        img[:] = (
            np.asarray(sc["wall"], np.float32) * (0.6 + 0.4 * np.arange(ph) / ph)[:, None, None]
        )
        img *= (0.85 + 0.3 * _smooth_field(rng, ph, pw, ph / 6))[..., None]
        for hue, x, size in sc["neon"]:  # neon signs on the wall
            u, v = x * pw, self.deck * float(rng.uniform(0.15, 0.5))
            rectangle(img, u - size * pw / 2, v - 2, u + size * pw / 2, v + 2, hsv(hue, 0.7, 1))
            glow(img, u, v, size * pw / 3, 0.25 * hsv(hue, 0.8, 1))
        deck_h = 0.06 * ph
        for k in range(-4, 5):  # masking panels above each lane's pin deck, the decks
            left, right = self.project(k * GAP - 0.55, 1)[0], self.project(k * GAP + 0.55, 1)[0]
            top = self.deck - deck_h - 0.12 * ph
            hue = sc["masking"][k + 4]
            rectangle(img, left, top, right, self.deck - deck_h, hsv(hue, 0.6, 0.75), soft=0.7)
            for j in range(3):
                u = left + (j + 0.5) * (right - left) / 3
                ellipse(
                    img,
                    u,
                    top + 0.06 * ph,
                    0.1 * (right - left),
                    0.025 * ph,
                    hsv(hue + 0.5, 0.5, 0.95),
                )
            rectangle(img, left, self.deck - deck_h, right, self.deck, (205, 200, 190), soft=0.7)
        # the floor: lanes, gutters, boards; lit towards the pins
        rows = np.arange(int(self.deck), ph)
        inv = self.far + (rows + 0.5 - self.deck) / (ph - self.deck) * (1 - self.far)
        across = (np.arange(pw) + 0.5 - self.vx)[None, :] / (self.lane * inv[:, None])
        k = np.round(across / GAP)
        within = across - k * GAP
        boards = np.floor((within + 0.5) * 39)
        tone = 1 + 0.05 * ((boards % 2) - 0.5) + 0.04 * np.sin(boards * 12.9898 + k * 3.1)
        lit = 0.75 + 0.35 * (1 / inv - 1) / self.depth
        wood = np.asarray(sc["wood"], np.float32) * (tone * lit[:, None])[..., None]
        gutter = np.broadcast_to(np.asarray(sc["gutter"], np.float32), wood.shape)
        floor = np.where((np.abs(within) < 0.5)[..., None], wood, gutter)
        floor = np.where((np.abs(within) > 0.62)[..., None], 0.6 * wood + 0.4 * gutter, floor)
        img[rows[0] :] = floor
        still = Camera(pw / 2, ph / 2, 1.0, pw, ph)
        for k in (-3, -2, -1, 1, 2, 3):  # the other lanes' standing pins
            for a, d in PIN_RACK:
                self._pin(img, still, k * GAP + a, d, 0.0, 0.0, 0.0)
        return img

    def _pin(self, img, cam: Camera, a, d, dx, dy, angle) -> None:
        x, y, scale = self.project(a, d)
        u, v = cam.to_screen(x + dx, y + dy)
        h = PIN * self.lane * scale * cam.z
        c, s = math.cos(angle), math.sin(angle)
        mid = (u + s * h / 2, v - c * h / 2)  # the pin turns about its foot
        ellipse(img, mid[0], mid[1], h / 5, h / 2, PIN_WHITE, soft=0.6, angle=angle)
        neck = (u + s * 0.72 * h, v - c * 0.72 * h)
        ellipse(img, neck[0], neck[1], h / 7, h / 14, (200, 30, 30), soft=0.6, angle=angle)

    def draw(self, img, cam: Camera, t: float, cue: Cue | None) -> None:
        """The main lane's pins (standing, or flying after a strike) and the ball."""
        if cue is None or t < cue.params["hit"]:
            for a, d in PIN_RACK:
                self._pin(img, cam, a, d, 0.0, 0.0, 0.0)
        if cue is None:
            return
        p = cue.params
        if p["release"] <= t < p["hit"]:
            d = (t - p["release"]) / (p["hit"] - p["release"]) * 1.02 - 0.05
            x, y, scale = self.project(p["lane"] + p["hook"] * d * d, d)
            r = 0.1 * self.lane * scale
            u, v = cam.to_screen(x, y - r)
            ball = np.asarray(p["ball"], np.float32)
            ellipse(img, u, v, r * cam.z, r * cam.z, ball, soft=0.8)
            rz = r * cam.z
            ellipse(
                img,
                u - 0.3 * rz,
                v - 0.3 * rz,
                0.35 * rz,
                0.3 * rz,
                np.minimum(ball + 90, 255),
                alpha=0.6,
                soft=1.2,
            )
        if t >= p["hit"]:
            rng = np.random.default_rng(p["seed"])
            since = t - p["hit"]
            for i, (a, d) in enumerate(PIN_RACK):
                vx, vy, spin = rng.normal(0, 1.2), -rng.uniform(0.3, 1.4), rng.normal(0, 12)
                if i >= p["knocked"]:  # left standing, wobbling
                    self._pin(img, cam, a, d, 0.0, 0.0, 0.05 * math.sin(9 * since) / (1 + since))
                    continue
                if since >= 1.6:  # swept away
                    continue
                unit = PIN * self.lane * self.project(a, d)[2]
                fly = min(since, 0.9)
                dx = vx * unit * 3 * fly
                dy = min(unit * (vy * 4 * fly + 6 * fly * fly), 0.3 * unit)
                angle = math.copysign(math.pi / 2, vx) * min(1, since * 3) + spin * fly
                self._pin(img, cam, a, d, dx, dy, angle)


GAP = 1.25  # lane pitch, in lane widths
PIN = 0.36  # a pin's height, in lane widths (38 cm on a 105 cm lane)
PIN_RACK = tuple(  # (across, depth) of the ten pins, 30 cm apart, the head pin nearest
    (0.28 * (col - row / 2), 1.0 - 0.015 * (3 - row)) for row in range(4) for col in range(row + 1)
)


class _Diving:
    """A pool hall: tiled wall with high windows and a scoreboard, a diving tower on one
    side, the pool with lane ropes and moving light on the water."""

    def __init__(self, video: CamcorderVideo, pw: int, ph: int) -> None:
        sc, w, h = video.scene, video.width, video.height
        self.scene, self.pw, self.ph, self.w, self.h = sc, pw, ph, w, h
        self.water = sc["water_y"] * ph
        self.tower = pw / 2 + sc["side"] * sc["tower_x"] * w
        self.board_y = sc["board_y"] * ph
        self.tip = self.tower - sc["side"] * sc["board_len"] * w
        self.entry_y = self.water + 0.15 * (ph - self.water)
        self.layers: list = []

    def feet(self, height: float) -> tuple[float, float]:
        """On the pool's far deck, small with the distance."""
        return self.water - 0.008 * self.ph, 0.55

    def plate(self, rng: np.random.Generator) -> np.ndarray:
        sc, ph, pw, w = self.scene, self.ph, self.pw, self.w
        img = np.empty((ph, pw, 3), np.float32)
        img[:] = np.asarray(sc["tile"], np.float32)
        tile = w / 22
        yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
        grout = (np.abs((xx % tile) - tile / 2) > tile / 2 - 0.8) | (
            np.abs((yy % tile) - tile / 2) > tile / 2 - 0.8
        )
        img[grout] *= 0.82
        img *= (0.9 + 0.15 * _smooth_field(rng, ph, pw, tile * 3))[..., None]
        top, bottom = 0.05 * ph, 0.22 * ph
        for j in range(sc["windows"]):  # high windows
            u = (j + 0.5) / sc["windows"] * pw
            half = 0.3 * pw / sc["windows"]
            rectangle(img, u - half, top, u + half, bottom, (235, 242, 250))
            for m in (-0.33, 0.33):
                rectangle(img, u + m * half - 1, top, u + m * half + 1, bottom, (120, 125, 130))
        board = pw / 2 - 0.4 * self.scene["side"] * w  # a scoreboard across from the tower
        rectangle(img, board - 0.12 * w, 0.27 * ph, board + 0.12 * w, 0.36 * ph, (25, 25, 30))
        for j in range(6):
            u = board - 0.09 * w + j * 0.036 * w
            ellipse(img, u, 0.315 * ph, 0.012 * w, 0.02 * ph, hsv(0.08 * j, 0.8, 0.9), soft=0.7)
        # the pool: deeper colour to the far side, lane ropes converging
        rows = np.arange(int(self.water), ph)
        near = (rows - self.water) / (ph - self.water)
        water = np.asarray(sc["water"], np.float32) * (0.75 + 0.4 * near)[:, None, None]
        img[rows[0] :] = water
        img[rows[0] :] *= (0.92 + 0.16 * _smooth_field(rng, ph - rows[0], pw, w / 10))[..., None]
        vanish = (pw / 2, self.water - 0.8 * ph)
        for j, hue in enumerate(self.scene["ropes"]):
            base = pw / 2 + (j - 1.5) * 0.45 * w
            for k in range(40):
                f0, f1 = k / 40, (k + 1) / 40
                y0 = self.water + f0 * (ph - self.water)
                y1 = self.water + f1 * (ph - self.water)
                x0 = vanish[0] + (base - vanish[0]) * (y0 - vanish[1]) / (ph - vanish[1])
                x1 = vanish[0] + (base - vanish[0]) * (y1 - vanish[1]) / (ph - vanish[1])
                colour = hsv(hue, 0.8, 0.9) if k % 2 else (240, 240, 240)
                capsule(img, (x0, y0), (x1, y1), 0.4 + 2.5 * f0, colour, soft=0.7)
        rectangle(img, 0, self.water - 0.012 * ph, pw, self.water + 0.006 * ph, (215, 215, 210))
        # the tower and its board
        rectangle(
            img,
            self.tower - 0.03 * w,
            self.board_y,
            self.tower + 0.03 * w,
            self.water,
            (150, 150, 155),
        )
        for y in np.arange(self.board_y + 0.03 * ph, self.water, 0.04 * ph):
            rectangle(img, self.tower - 0.025 * w, y, self.tower + 0.025 * w, y + 1, (90, 90, 95))
        left, right = sorted((self.tower, self.tip))
        rectangle(img, left, self.board_y, right, self.board_y + 0.014 * ph, (240, 240, 235))
        # light playing on the water: two textures, mixed in turn over time
        for k in range(2):
            ridges = np.abs(np.sin(9 * _smooth_field(rng, ph, pw, w / 20)))
            tex = np.zeros((ph, pw), np.float32)
            tex[rows[0] :] = (1 - ridges[rows[0] :]) ** 4 * 22
            self.layers.append((tex, (lambda t, k=k: math.cos(2 * math.pi * 0.35 * t + k * 1.7))))
        return img

    def draw(self, img, cam: Camera, t: float, cue: Cue | None) -> None:
        if cue is None:
            return
        p, h, w = cue.params, self.h, self.w
        side = self.scene["side"]
        size = 0.15 * h
        entry_x = self.tip - side * p["reach"] * w
        if t < p["entry"]:
            if t < p["takeoff"]:  # bouncing at the tip
                x, y = (
                    self.tip,
                    self.board_y - 0.06 * size * abs(math.sin(math.pi * (t - p["takeoff"]) / 0.45)),
                )
                angle, tuck = 0.0, 1.0
            else:
                f = (t - p["takeoff"]) / (p["entry"] - p["takeoff"])
                x = self.tip + (entry_x - self.tip) * f
                y = (
                    self.board_y
                    + (self.entry_y - self.board_y) * f * f
                    - 4 * p["rise"] * h * f * (1 - f)
                )
                turns = max(1, int(p["turns"]))
                angle = -side * (math.pi + 2 * math.pi * (turns - 1)) * f
                tuck = 1 - (0.45 if turns > 1 else 0.2) * math.sin(math.pi * f) ** 2
            alpha = float(np.clip((self.entry_y - y) / (0.3 * size) + 0.5, 0, 1))
            self._diver(img, cam, x, y, size, angle, tuck, p["suit"], alpha)
            return
        since = t - p["entry"]
        fade = float(np.clip((cue.end - t) / 0.3, 0, 1))
        u, v = cam.to_screen(entry_x, self.entry_y)
        z = cam.z
        white = (245, 248, 250)
        grow = 1 - math.exp(-since / 0.5)
        ellipse(
            img,
            u,
            v,
            (0.02 + 0.1 * grow) * w * z,
            (0.006 + 0.03 * grow) * w * z,
            white,
            alpha=0.75 * math.exp(-since / 1.5) * fade,
            soft=1.5,
        )
        if since < 0.6:  # the column of water
            tall = 0.25 * h * math.sin(math.pi * since / 0.6)
            ellipse(
                img, u, v - tall / 2 * z, 0.018 * w * z, tall / 2 * z, white, alpha=0.8, soft=1.2
            )
        rng = np.random.default_rng(p["seed"])
        for _ in range(p["spray"]):
            vx, vy = rng.normal(0, 0.15) * w, -rng.uniform(0.3, 0.9) * h
            r = 0.006 * w * rng.uniform(0.6, 1.4)
            px, py = entry_x + vx * since, self.entry_y + vy * since + 1.1 * h * since * since
            if py <= self.entry_y + 2 and since < 1.6:
                su, sv = cam.to_screen(px, py)
                ellipse(
                    img, su, sv, r * z, r * z, white, alpha=0.9 * (1 - since / 1.6) * fade, soft=0.8
                )

    def _diver(self, img, cam, x, y, size, angle, tuck, suit, alpha) -> None:
        """The diver: (x, y) the feet when upright; turning about the hips."""
        hip = (x, y - 0.5 * size)
        up = (math.sin(angle), -math.cos(angle))

        def at(f: float, bend: float = 0.0) -> tuple[float, float]:
            return cam.to_screen(
                hip[0] + up[0] * f * size - up[1] * bend * size,
                hip[1] + up[1] * f * size + up[0] * bend * size,
            )

        z = cam.z
        capsule(img, at(0), at(-0.5 * tuck, 0.2 * (1 - tuck)), 0.05 * size * z, SKIN, alpha, 0.8)
        capsule(img, at(0), at(0.32), 0.08 * size * z, suit, alpha, 0.8)
        capsule(
            img,
            at(0.32),
            at(0.55 * tuck + 0.1, 0.15 * (1 - tuck)),
            0.03 * size * z,
            SKIN,
            alpha,
            0.8,
        )
        head = at(0.42)
        ellipse(img, head[0], head[1], 0.075 * size * z, 0.075 * size * z, SKIN, alpha, 0.8)


class _Flambe:
    """A kitchen: upper cabinets, a tiled backsplash, a hood over the hob, a counter with a
    pan on the front burner, sometimes a window."""

    def __init__(self, video: CamcorderVideo, pw: int, ph: int) -> None:
        sc, w, h = video.scene, video.width, video.height
        self.scene, self.pw, self.ph, self.w, self.h = sc, pw, ph, w, h
        self.top, self.counter = sc["cabinet_y"] * ph, sc["counter_y"] * ph
        self.stove = pw / 2 + sc["stove_x"] * w
        self.pan = (self.stove + 0.05 * w, self.counter + 0.015 * ph)
        self.layers: list = []

    def feet(self, height: float) -> tuple[float, float]:
        """In front of the counter, near the camera."""
        return min(float(self.ph), (height + 0.08) * self.ph), 1.3

    def plate(self, rng: np.random.Generator) -> np.ndarray:
        sc, ph, pw, w = self.scene, self.ph, self.pw, self.w
        img = np.empty((ph, pw, 3), np.float32)
        img[:] = np.asarray(sc["splash"], np.float32)
        row_h = 0.035 * ph  # subway tiles, every other row offset
        yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
        row = np.floor(yy / row_h)
        shifted = xx + (row % 2) * row_h
        grout = ((yy % row_h) < 1) | ((shifted % (2 * row_h)) < 1)
        img[grout] = img[grout] * 0.6 + 0.4 * 235
        img *= (0.9 + 0.15 * _smooth_field(rng, ph, pw, w / 8))[..., None]
        if sc["window"]:
            u = self.stove + (0.45 if rng.random() < 0.5 else -0.45) * w
            rectangle(
                img,
                u - 0.15 * w,
                self.top + 0.05 * ph,
                u + 0.15 * w,
                self.counter - 0.08 * ph,
                (250, 250, 250),
            )
            rectangle(
                img,
                u - 0.14 * w,
                self.top + 0.06 * ph,
                u + 0.14 * w,
                self.counter - 0.09 * ph,
                (170, 205, 235),
            )
            rectangle(
                img, u - 1, self.top + 0.05 * ph, u + 1, self.counter - 0.08 * ph, (250, 250, 250)
            )
        cabinet = np.asarray(sc["cabinet"], np.float32)
        rectangle(img, 0, 0, pw, self.top, cabinet, soft=0.7)
        door = 0.18 * w
        for k in range(int(pw / door) + 1):
            u0 = k * door
            rectangle(img, u0 + 3, 0.1 * self.top, u0 + door - 3, self.top - 3, 0.85 * cabinet)
            rectangle(img, u0 + door - 9, self.top - 14, u0 + door - 7, self.top - 6, (60, 60, 60))
        hood = (200, 203, 208)
        rectangle(
            img, self.stove - 0.2 * w, self.top, self.stove + 0.2 * w, self.top + 0.1 * ph, hood
        )
        rectangle(
            img,
            self.stove - 0.22 * w,
            self.top + 0.1 * ph,
            self.stove + 0.22 * w,
            self.top + 0.13 * ph,
            (170, 172, 178),
        )
        stone = np.asarray(sc["stone"], np.float32)
        rectangle(img, 0, self.counter, pw, self.counter + 0.05 * ph, stone, soft=0.7)
        speck = (
            (rng.random((ph, pw)) < 0.05) & (yy >= self.counter) & (yy < self.counter + 0.05 * ph)
        )
        img[speck] *= 1.35
        rectangle(img, 0, self.counter + 0.05 * ph, pw, ph, 0.8 * cabinet, soft=0.7)
        for k in range(int(pw / door) + 1):
            u0 = k * door
            rectangle(img, u0 + 3, self.counter + 0.08 * ph, u0 + door - 3, ph, 0.7 * cabinet)
        rectangle(
            img,
            self.stove - 0.17 * w,
            self.counter - 0.012 * ph,
            self.stove + 0.17 * w,
            self.counter + 0.05 * ph,
            (32, 32, 35),
            soft=0.7,
        )
        for k in (-1, 1):
            ellipse(
                img,
                self.stove + k * 0.09 * w,
                self.counter + 0.005 * ph,
                0.05 * w,
                0.01 * ph,
                (55, 55, 58),
            )
        return img

    def draw(self, img, cam: Camera, t: float, cue: Cue | None) -> None:
        x, y = self.pan
        w, h = self.w, self.h
        shake = 0.0
        if cue is not None and t < cue.params["ignite"] + 0.6:
            shake = 0.012 * w * math.sin(2 * math.pi * cue.params["shake_hz"] * (t - cue.start))
        z = cam.z
        u, v = cam.to_screen(x + shake, y)
        end = cam.to_screen(x + shake + 0.2 * w, y + 0.01 * h)
        capsule(img, (u + 0.08 * w * z, v), end, 0.008 * w * z, (25, 25, 25))
        ellipse(img, u, v, 0.09 * w * z, 0.03 * h * z, (20, 20, 22), soft=0.8)
        ellipse(img, u, v - 0.004 * h * z, 0.075 * w * z, 0.02 * h * z, (120, 70, 35), soft=0.8)
        if cue is None or t < cue.params["ignite"]:
            return
        p = cue.params
        since = t - p["ignite"]
        size = min(1.0, since / 0.15) * math.exp(
            -max(0.0, since - 0.4) / max(0.5, 0.5 * (cue.end - p["ignite"]))
        )
        size *= float(np.clip((cue.end - t) / 0.25, 0, 1))
        tall = p["height"] * h * size
        if tall < 1:
            return
        blobs = 14
        for k in range(blobs):
            f = (k + 0.5) / blobs
            sway = (
                0.15
                * tall
                * f
                * math.sin(2 * math.pi * p["flicker_hz"] * t * (0.6 + 0.1 * k) + 1.7 * k)
            )
            bu, bv = cam.to_screen(x + p["lean"] * f * tall + sway, y - f * tall)
            sigma = (tall * 0.18 * (1 - 0.6 * f) + 1) * z
            if f < 0.15:
                colour = np.array([80.0, 110.0, 255.0])
            elif f < 0.55:
                colour = np.array([255.0, 215.0, 120.0])
            else:
                colour = np.array([255.0, 120.0, 30.0])
            flick = 0.8 + 0.2 * math.sin(2 * math.pi * p["flicker_hz"] * t + k)
            glow(img, bu, bv, sigma, colour * 0.3 * (1 - 0.5 * f) * flick)
        gu, gv = cam.to_screen(x, y - 0.5 * tall)
        glow(img, gu, gv, 0.25 * w * z, np.array([40.0, 22.0, 6.0]) * size)  # its light around


SCENES = (_Bowling, _Diving, _Flambe)


# ------------------------------------------------------------------------------ renderer


def _profile(cue: Cue, t: float, rise: float, fall: float) -> float:
    """0 outside the cue, 1 inside, with raised-cosine ramps of ``rise`` and ``fall`` of its
    length at each end."""
    if not cue.start <= t < cue.end:
        return 0.0
    f = (t - cue.start) / (cue.end - cue.start)
    if f < rise:
        return 0.5 - 0.5 * math.cos(math.pi * f / rise)
    if f > 1 - fall:
        return 0.5 - 0.5 * math.cos(math.pi * (1 - f) / fall)
    return 1.0


class CamcorderPicture:
    """Renders the frames of one video: ``frame(t, index)`` is float RGB ``[H, W, 3]``."""

    def __init__(self, video: CamcorderVideo) -> None:
        self.video = video
        w, h = video.width, video.height
        self.pw, self.ph = 2 * round(PLATE_WIDTH * w / 2), 2 * round(PLATE_HEIGHT * h / 2)
        self.scene = SCENES[video.category](video, self.pw, self.ph)
        self.plate = self.scene.plate(np.random.default_rng([video.scene["seed"], 3]))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx + 0.5) / w - 0.5) ** 2 + ((yy + 0.5) / h - 0.5) ** 2
        self.vignette = (1 - video.look["vignette"] * r2 / 0.5)[..., None]
        self.lights = [m for m in video.motions if m.kind == "lights"]

    def camera(self, t: float) -> Camera:
        v, sh = self.video, self.video.shake
        w, h = v.width, v.height
        amp = sh["amplitude"] * w
        dx = sum(math.sin(2 * math.pi * f * t + sh["phase"][k]) for k, f in enumerate(sh["hz"]))
        dy = sum(math.sin(2 * math.pi * f * t + sh["phase"][k + 3]) for k, f in enumerate(sh["hz"]))
        cx = self.pw / 2 + sh["frame"][0] * w + amp * dx / 2
        cy = self.ph / 2 + sh["frame"][1] * h + 0.7 * amp * dy / 2
        z = sh["zoom"]
        for m in v.motions:
            if m.kind == "whip":
                cx += m.params["direction"] * m.params["reach"] * w * _profile(m, t, 0.3, 0.3)
            elif m.kind == "zoom":
                z *= 1 + (m.params["zoom"] - 1) * _profile(m, t, 0.4, 0.4)
        return Camera(cx, cy, z, w, h)

    def frame(self, t: float, index: int) -> np.ndarray:
        v = self.video
        w = v.width
        cam = self.camera(t)
        img = cam.sample(self.plate).astype(np.float32)
        for tex, weight in self.scene.layers:
            img += (weight(t) * cam.sample(tex))[..., None]
        event = next((e for e in v.events if e.start <= t < e.end), None)
        self.scene.draw(img, cam, t, event)
        for m in v.motions:
            if m.kind == "runner" and m.start <= t < m.end:
                self._runner(img, cam, m, t)
        # a fast pan smears the picture along its direction (half-frame shutter)
        before = self.camera(t - 1 / float(v.fps))
        smear = abs(cam.cx - before.cx) * cam.z * 0.5
        if smear >= 2:
            img = uniform_filter1d(img, size=min(int(round(smear)), w // 2), axis=1, mode="nearest")
        for m in v.motions:
            if m.kind == "passer" and m.start <= t < m.end:
                self._passer(img, m, t)
        img *= self._light(t)
        look = v.look
        img *= np.asarray(look["balance"], np.float32)
        grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
        img = grey[..., None] + look["saturation"] * (img - grey[..., None])
        img = (img - 128) * look["contrast"] + 128
        img = img * self.vignette + look["lift"] * (1 - img / 255)
        rng = np.random.default_rng([look["seed"], index])
        img += rng.normal(0, look["grain"], size=img.shape).astype(np.float32)
        return np.clip(img, 0, 255)

    def _light(self, t: float) -> np.ndarray:
        """Per-channel gain of the room's light and the flashes."""
        gain = np.ones(3, np.float32)
        for m in self.lights:
            level = _profile(m, t, 0.15, 0.2)
            if not level:
                continue
            p = m.params
            tint = 1 + (np.asarray(p["tint"], np.float32) - 1) * level
            if p["mode"] == "dim":
                gain *= (1 - (1 - p["gain"]) * level) * tint
            elif p["mode"] == "bright":
                gain *= (1 + (1 / p["gain"] - 1) * level) * tint
            elif p["mode"] == "flicker":
                on = math.sin(2 * math.pi * 8.3 * (t - m.start)) > 0
                gain *= 1 - (1 - p["gain"]) * level * on
            else:  # flashes of other people's cameras
                rng = np.random.default_rng(p["seed"])
                for at in m.start + rng.uniform(0, m.end - m.start, size=int(rng.integers(1, 4))):
                    if t >= at:
                        gain *= 1 + 1.5 * math.exp(-(t - at) / 0.06)
        return gain

    def _runner(self, img, cam: Camera, m: Cue, t: float) -> None:
        """A child running across the scene, mid-distance."""
        p = m.params
        f = (t - m.start) / (m.end - m.start)
        reach = 0.8 * self.video.width
        x = self.pw / 2 + p["direction"] * reach * (2 * f - 1)
        y, scale = self.scene.feet(p["height"])
        size = 0.28 * self.video.height * scale
        stride = math.sin(2 * math.pi * 3 * (t - m.start))
        bob = 0.03 * size * abs(stride)
        _person(img, cam, x, y - bob, size, p["clothes"], stride)

    def _passer(self, img, m: Cue, t: float) -> None:
        """Someone walking past close to the lens: large, dark, out of focus."""
        w, h = self.video.width, self.video.height
        p = m.params
        f = (t - m.start) / (m.end - m.start)
        u = w / 2 + p["direction"] * 0.85 * w * (2 * f - 1)
        size = p["size"] * h
        clothes = 0.55 * np.asarray(p["clothes"], np.float32)
        soft = 0.06 * w
        bob = 0.02 * size * math.sin(2 * math.pi * 2 * (t - m.start))
        ellipse(img, u, h - 0.3 * size + bob, 0.24 * size, 0.5 * size, clothes, soft=soft)
        ellipse(
            img,
            u,
            h - 0.92 * size + bob,
            0.14 * size,
            0.16 * size,
            0.55 * np.asarray(SKIN),
            soft=soft,
        )
