"""Weight-free saliency that sees colour and motion: the phase spectrum of the quaternion
Fourier transform (PQFT) of Guo, Ma & Zhang (CVPR 2008; Guo & Zhang, IEEE TIP 19(1), 2010).

Each stored map is computed from four channels of the frame at its time, at the stored
resolution (``saliency.height`` x ``saliency.width``), as in the paper (r, g, b in 0..255):

* intensity ``I = (r + g + b) / 3``;
* the two colour-opponent channels ``RG = R - G`` and ``BY = B - Y``, with the broadly
  tuned colours ``R = r - (g + b)/2``, ``G = g - (r + b)/2``, ``B = b - (r + g)/2`` and
  ``Y = (r + g)/2 - |r - g|/2 - b``, negative values set to 0 (as in the authors' own
  code, ``PQFT.m``; Itti et al. 1998 clip all four);
* motion ``M = |I(t) - I(t - lag)|``, the absolute intensity difference to the frame
  :data:`MOTION_LAG` seconds earlier (the authors' code takes the frame two frames before,
  0.07-0.08 s at 25-30 fps, and its grey level; 0.1 s is one frame of pld's 10 fps frame
  cache). The first map of a video has no earlier frame and takes ``M = 0``.

The quaternion frame ``q = M + RG mu1 + BY mu2 + I mu3`` is split into its symplectic
parts ``f1 = M + RG i`` and ``f2 = BY + I i``, each transformed by an ordinary complex 2-D
FFT (``F1``, ``F2``); the phase spectrum keeps every frequency's direction and sets its
quaternion modulus ``sqrt(|F1|^2 + |F2|^2)`` to one. Back in the image domain the map is
``|q1'|^2 + |q2'|^2``, Gaussian-blurred and divided by the frame's maximum: the same blur
(sigma = 3 % of the width) and normalisation as the spectral residual of
``features/saliency.py``, so the two maps differ only in what they see.

Why: the spectral residual sees one grey channel, so it marks the edges of everything and
a background's texture; an object whose colour differs from its surroundings, or that
moves, stands out in the opponent-colour and motion channels (docs/architecture.md,
pld, has the measurement that chose the default).

Decoding streams at ``saliency.fps x m`` frames per second, ``m = max(1, round(1 / (fps x
MOTION_LAG)))``; every m-th frame is a map time (``k / saliency.fps``, the spectral maps'
grid) and the frame just before it is the motion reference, carried across batches, so
memory is one decode batch whatever the video's length. Deterministic: numpy's FFT in
float64 on the decoded frames, nothing drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from highlight_pipeline.features.weight_free import WeightFreeMaps, WindowFeatures
from highlight_pipeline.video.decode import iter_frame_batches

MOTION_LAG = 0.1  # seconds between a map's frame and its motion reference
BLUR = 0.03  # Gaussian sigma as a share of the map width (as the spectral residual's)
DECODE_BATCH = 40


def opponent_channels(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[B, H, W, 3]`` RGB (0..255) -> intensity, RG, BY, each ``[B, H, W]`` float64."""
    rgb = np.asarray(frames, np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    red = r - (g + b) / 2
    green = g - (r + b) / 2
    blue = b - (r + g) / 2
    yellow = np.maximum((r + g) / 2 - np.abs(r - g) / 2 - b, 0.0)  # as the authors' code
    return (r + g + b) / 3, red - green, blue - yellow


def pqft_saliency(frames: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """PQFT saliency of ``[B, H, W, 3]`` RGB frames -> ``[B, H, W]`` in [0, 1].

    ``previous`` (``[B, H, W, 3]``, or None: no motion) holds each frame's motion reference,
    the frame :data:`MOTION_LAG` seconds earlier."""
    intensity, rg, by = opponent_channels(frames)
    if previous is None:
        motion = np.zeros_like(intensity)
    else:
        motion = np.abs(intensity - opponent_channels(previous)[0])
    f1 = np.fft.fft2(motion + 1j * rg, axes=(1, 2))
    f2 = np.fft.fft2(by + 1j * intensity, axes=(1, 2))
    modulus = np.sqrt(np.abs(f1) ** 2 + np.abs(f2) ** 2)
    modulus = np.where(modulus > 0, modulus, 1.0)  # a zero frequency stays zero
    q1 = np.fft.ifft2(f1 / modulus, axes=(1, 2))
    q2 = np.fft.ifft2(f2 / modulus, axes=(1, 2))
    sigma = BLUR * frames.shape[2]
    saliency = gaussian_filter(np.abs(q1) ** 2 + np.abs(q2) ** 2, sigma=(0, sigma, sigma))
    peak = saliency.reshape(len(saliency), -1).max(axis=1)
    return saliency / np.where(peak > 0, peak, 1.0)[:, None, None]


def decode_step(fps: float) -> int:
    """Decoded frames per map: the map rate times this is the decoding rate."""
    return max(1, int(round(1.0 / (fps * MOTION_LAG))))


class PQFTSaliency(WeightFreeMaps):
    name = "pqft"

    def extract(self, path: str | Path, row: Any) -> WindowFeatures:
        s = self.slice
        step = decode_step(s["fps"])
        maps, times = [], []
        index = 0  # of the next decoded frame
        last: np.ndarray | None = None  # the decoded frame before this batch
        batches = iter_frame_batches(
            path, s["fps"] * step, s["width"], s["height"], DECODE_BATCH, float(row.duration)
        )
        for t, frames in batches:
            positions = np.arange(index, index + len(frames))
            chosen = np.flatnonzero(positions % step == 0)
            if len(chosen):
                # each map frame's motion reference: the decoded frame before it (the
                # first frame of the video is its own: no motion)
                before = frames if last is None else np.concatenate([last[None], frames])
                offset = len(before) - len(frames)
                reference = before[np.maximum(chosen - 1 + offset, 0)]
                maps.append(pqft_saliency(frames[chosen], reference).astype(np.float16))
                times.append(t[chosen])
            index += len(frames)
            last = frames[-1]
        return self.on_grid(maps, times)

    def describe(self) -> dict:
        return {
            "weights": "weight-free",
            "maps": "PQFT (intensity, RG, BY, motion), max-normalised",
            "motion_lag_s": MOTION_LAG,
        }
