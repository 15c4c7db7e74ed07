"""Weight-free saliency of what is new in a video: each frame's distance from the video's
background around it (temporal-median background subtraction; Cucchiara et al., IEEE
TPAMI 25(10), 2003, model the background as the median of recent frames).

Each stored map, at its time t and at the stored resolution (``saliency.height`` x
``saliency.width``), is computed from the frames of the map grid (``saliency.fps``):

* the background at t: the per-pixel median of the frames within :data:`WINDOW` seconds
  centred on t (fewer at the video's start and end: the window is cut there, never
  filled); an event shorter than half the window is not part of its own background;
* the distance of the frame from it in the opponent-colour space of ``features/pqft.py``
  (intensity, RG, BY): the Euclidean norm of the three differences per pixel;
* the same Gaussian blur (sigma = 3 % of the width) and division by the frame's maximum
  as the spectral residual and PQFT maps, so the three differ only in what they see. A
  frame equal to its background everywhere has an all-zero map.

Why: pld learns from the pixels a saliency map marks in highlight frames. The spectral
residual marks edges and background texture, which non-highlight frames have too, and
PQFT lies on the event object only a little more (docs/architecture.md, pld); what a
highlight adds to its scene (an object that appears, a thing that moves, a colour that
changes) is what differs from the scene's own median. Under camera motion the whole
frame differs from its background; the median window then marks the change of view.

Streaming: frames are decoded at the map rate in batches and kept only while a window
needs them (``2 x half + 1`` frames of the stored size, at most), so memory does not grow
with the video. Deterministic: numpy's median and arithmetic in float64 on the decoded
frames, nothing drawn.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from highlight_pipeline.features.pqft import BLUR, opponent_channels
from highlight_pipeline.features.weight_free import WeightFreeMaps, WindowFeatures
from highlight_pipeline.video.decode import iter_frame_batches

WINDOW = 20.0  # seconds of frames whose median is a map's background
DECODE_BATCH = 32


def novelty_map(frame: np.ndarray, window: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` RGB frame and the ``[N, H, W, 3]`` frames of its window -> ``[H, W]``
    in [0, 1]: the blurred opponent-colour distance from the window's median frame,
    max-normalised (all zero where the frame is its background)."""
    # the median of the uint8 frames, in float64 (the mean of the middle two where even)
    background = np.median(np.asarray(window), axis=0)
    here = opponent_channels(np.asarray(frame, np.float64)[None])
    there = opponent_channels(background[None])
    distance = np.sqrt(sum((a - b) ** 2 for a, b in zip(here, there, strict=True)))[0]
    sigma = BLUR * frame.shape[1]
    saliency = gaussian_filter(distance, sigma=sigma)
    peak = float(saliency.max())
    return saliency / peak if peak > 0 else np.zeros_like(saliency)


def half_window(fps: float) -> int:
    """Frames on each side of a map's own frame in its background window."""
    return max(1, int(round(WINDOW * fps / 2)))


class NoveltySaliency(WeightFreeMaps):
    name = "novelty"

    def extract(self, path: str | Path, row: Any) -> WindowFeatures:
        s = self.slice
        half = half_window(s["fps"])
        kept: deque[np.ndarray] = deque()  # frames first .. received - 1
        first = 0  # index of kept[0]
        received = 0
        maps, times = [], []

        def emit(upto: int) -> None:
            """Maps of the frames len(maps) .. upto - 1 (their windows are complete)."""
            nonlocal first
            frames = list(kept)
            for i in range(len(maps), upto):
                lo, hi = max(0, i - half), min(received, i + half + 1)
                window = np.stack(frames[lo - first : hi - first])
                maps.append(novelty_map(frames[i - first], window).astype(np.float16))
            while kept and first < len(maps) - half:  # no later window needs them
                kept.popleft()
                first += 1

        for t, frames in iter_frame_batches(
            path, s["fps"], s["width"], s["height"], DECODE_BATCH, float(row.duration)
        ):
            kept.extend(frames)
            received += len(frames)
            times.append(t)
            emit(max(len(maps), received - half))
        emit(received)
        return self.on_grid([np.stack(maps)] if maps else [], times)

    def describe(self) -> dict:
        return {
            "weights": "weight-free",
            "maps": "opponent-colour distance from the temporal-median background",
            "window_s": WINDOW,
        }
