"""How well does a weight-free visual descriptor find a category's recurring event? (issue 24)

The visual counterpart of ``benchmarks/audio_recurrence.py``: for each candidate way of
turning the decoded frames (``decode``'s 8 fps at 128x96, as ``colormotion`` reads them)
into per-frame rows, on each development dataset: the rows averaged into windows (1 s
every 0.5 s) minus the video's median window (as ``colormotion``), pooled onto the
dataset's clips, the recurrence of every clip against all clips of its video's *true*
category (``pseudo.recurrence``), and the AP of those scores against the ground truth,
beside a random ranking's. What avph's visual pseudo-highlights can at best be with that
descriptor; chd and hpcl read the same features.

The candidates ask one question: does motion that the camera makes (pans, shake) or that
the light makes (a flash, an exposure change) hide the motion of the event? ``colormotion``
counts a pixel as moving when it changed since the frame before; a pan moves every pixel.
``compensated`` first finds the frame's global shift by phase correlation (Kuglin &
Hines 1975; camera-motion compensation as in improved dense trajectories, Wang & Schmid
2013) and compares each pixel with the one the camera carried there; ``gain`` divides out
the change of the frame's mean brightness first.

Development data only (the embedded and holdout recipes at seeds no table reports, e.g.
the ``ours-*`` folders of ``benchmarks/avph_dev.py --keep``); never a reported dataset.

Measured (issue 24, Intel Xeon; embedded seeds 1 and 2, holdout seeds 1 and 2; a random
ranking 0.400, 0.376, 0.281, 0.265): ``colormotion`` version 2 0.740, 0.616, 0.641,
0.431; ``compensated`` 0.713, 0.590, 0.640, 0.427; ``gain`` 0.740, 0.602, 0.674, 0.537;
both 0.714, 0.573, 0.672, 0.516; an additive offset instead of a gain 0.740, 0.602,
0.667, 0.466; a gain per channel 0.740, 0.602, 0.674, 0.508; the median of the pixels'
ratios as the gain (robust to an object that changes the mean) 0.740, 0.601, 0.680, 0.534.
On holdout seeds 3 and 4 (random 0.268, 0.261): version 2 0.658, 0.452; gain 0.700, 0.487;
median gain 0.677, 0.498. The gain went on to
``benchmarks/avph_dev.py`` and became ``colormotion`` version 3 (weight_free.py has the
end-to-end figures); the screen's "version 2" row reproduces the pipeline's version-2
windows exactly, its "gain" row version 3's to 3e-8.

    python benchmarks/visual_recurrence.py /tmp/hlp-avph-dev-*/ours-*/results
"""

from __future__ import annotations

import argparse
from pathlib import Path

from highlight_pipeline.numerics import pin_numerics

pin_numerics(1)  # as the features jobs: before numpy loads

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from audio_recurrence import random_ap, recurrence_ap  # noqa: E402  (this folder: a script)

from highlight_pipeline.features.pooling import pool_windows  # noqa: E402
from highlight_pipeline.features.weight_free import (  # noqa: E402
    MOTION_GRID,
    MOVING_LEVELS,
    _histograms,
    colour_codes,
    colour_histograms,
)
from highlight_pipeline.features.windows import frame_ranges, range_means, window_grid  # noqa: E402
from highlight_pipeline.video.decode import iter_frame_batches  # noqa: E402

FPS, WIDTH, HEIGHT = 8.0, 128, 96
WINDOW, STRIDE = 1.0, 0.5


def frames_of(path: str, duration: float, cache: Path) -> np.ndarray:
    out = cache / (Path(path).name + ".npy")
    if not out.is_file():
        batches = [f for _, f in iter_frame_batches(path, FPS, WIDTH, HEIGHT, 64, duration)]
        np.save(out, np.concatenate(batches))
    return np.load(out)


def global_shifts(frames: np.ndarray) -> np.ndarray:
    """``[T, 2]`` integer (dy, dx) that carries frame t-1 onto frame t (0 for the first), by
    phase correlation of the grey frames under a Hann window."""
    grey = frames.astype(np.float32).mean(axis=-1)
    h, w = grey.shape[1:]
    taper = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    spectra = np.fft.rfft2((grey - grey.mean(axis=(1, 2), keepdims=True)) * taper)
    cross = spectra[1:] * np.conj(spectra[:-1])
    cross /= np.abs(cross) + 1e-9
    corr = np.fft.irfft2(cross, s=(h, w))
    peak = corr.reshape(len(corr), -1).argmax(axis=1)
    dy, dx = np.unravel_index(peak, (h, w))
    dy = np.where(dy > h // 2, dy - h, dy)
    dx = np.where(dx > w // 2, dx - w, dx)
    return np.concatenate([[[0, 0]], np.stack([dy, dx], 1)]).astype(int)


def carried(before: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """``before`` moved by (dy, dx), and the mask of pixels it covers."""
    h, w = before.shape[:2]
    out = np.zeros_like(before)
    valid = np.zeros((h, w), bool)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = before[ys, xs]
    valid[yd, xd] = True
    return out, valid


def motion_rows(frames: np.ndarray, compensate: bool, gain: bool | str) -> np.ndarray:
    """Moving-pixel histograms and grid motion, with the camera's shift and/or the light's
    gain taken out of the difference."""
    current = frames.astype(np.float32)
    before = np.concatenate([current[:1], current[:-1]])
    valid = np.ones(current.shape[:3], bool)
    if compensate:
        shifts = global_shifts(frames)
        for t, (dy, dx) in enumerate(shifts):
            if t and (dy or dx):
                before[t], valid[t] = carried(before[t], dy, dx)
    if gain == "offset":
        level = current.mean(axis=(1, 2), keepdims=True)
        before = before - np.concatenate([level[:1], level[:-1]]) + level
    elif gain == "rgb":
        level = current.mean(axis=(1, 2), keepdims=True) + 1.0
        before = before * (level / np.concatenate([level[:1], level[:-1]]))
    elif gain == "median":
        ratio = (current.mean(axis=-1) + 1.0) / (before.mean(axis=-1) + 1.0)
        g = np.median(ratio.reshape(len(ratio), -1), axis=1).astype(np.float32)
        before = before * g[:, None, None, None]
    elif gain:
        level = current.mean(axis=(1, 2, 3)) + 1.0
        before = before * (level / np.concatenate([level[:1], level[:-1]]))[:, None, None, None]
    diff = np.abs(current - before).max(axis=-1)
    moving = (diff > MOVING_LEVELS) & valid
    codes = colour_codes(frames)
    hist = _histograms(codes, moving.reshape(len(frames), -1))
    grey_diff = np.where(valid, np.abs(current.mean(axis=-1) - before.mean(axis=-1)), 0.0) / 255.0
    b, h, w = grey_diff.shape
    g = MOTION_GRID
    cells = grey_diff[:, : h // g * g, : w // g * g].reshape(b, g, h // g, g, w // g)
    return np.concatenate(
        [hist, colour_histograms(frames, codes), cells.mean(axis=(2, 4)).reshape(b, -1)], 1
    )


CANDIDATES = {
    "version 2 (no gain)": lambda f: motion_rows(f, False, False),
    "compensated": lambda f: motion_rows(f, True, False),
    "gain (version 3)": lambda f: motion_rows(f, False, True),
    "compensated+gain": lambda f: motion_rows(f, True, True),
    "offset": lambda f: motion_rows(f, False, "offset"),
    "gain per channel": lambda f: motion_rows(f, False, "rgb"),
    "median gain": lambda f: motion_rows(f, False, "median"),
}


def evaluate(manifest, clips, frames, fn, protocol="youtube-map") -> float:
    videos, pooled = [], []
    for video_id, group in clips.groupby("video_id", sort=False):
        rows = fn(frames[video_id])
        grid = window_grid(len(rows) / FPS, WINDOW, STRIDE)
        lo, hi = frame_ranges(grid, FPS, len(rows))
        windows = range_means(rows, lo, hi)
        windows -= np.median(windows, axis=0, keepdims=True)
        starts, ends = group["start"].to_numpy(float), group["end"].to_numpy(float)
        videos.append(video_id)
        pooled.append(pool_windows(windows, grid[:, 0], grid[:, 1], starts, ends))
    return recurrence_ap(manifest, clips, videos, pooled, protocol)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="+", help="results folders of dev runs")
    parser.add_argument("--only", nargs="*", help="candidates to run (default: all)")
    args = parser.parse_args()
    sets = {}
    for results in args.results:
        (folder,) = [p.parent for p in results.glob("*/clips.csv")]
        cache = folder / ".visual_recurrence_cache"
        cache.mkdir(exist_ok=True)
        manifest = pd.read_csv(folder / "manifest.csv")
        clips = pd.read_csv(folder / "clips.csv")
        frames = {r.video_id: frames_of(r.path, r.duration, cache) for r in manifest.itertuples()}
        sets[results.parent.name] = (manifest, clips, frames)
    names = args.only or list(CANDIDATES)
    print(f"{'candidate':26s}" + "".join(f"{n:>24s}" for n in sets))
    print(
        f"{'random ranking':26s}" + "".join(f"{random_ap(m, c):24.3f}" for m, c, _ in sets.values())
    )
    for name in names:
        values = [evaluate(m, c, f, CANDIDATES[name]) for m, c, f in sets.values()]
        print(f"{name:26s}" + "".join(f"{v:24.3f}" for v in values), flush=True)


if __name__ == "__main__":
    main()
