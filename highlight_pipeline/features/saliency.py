"""Video saliency maps for pld: TASED-Net (published weights) or spectral residual (none).

Maps are stored at a reduced rate (``saliency.fps`` maps per second) and resolution
(``saliency.height`` x ``saliency.width``) as float16 in the saliency shards
(``maps`` [T, H, W], ``start`` = the map's time, ``end`` = start + 1/fps).

* ``spectral``: the spectral residual of Hou & Zhang (CVPR 2007) on each grey frame at the
  stored resolution: log amplitude spectrum minus its 3x3 local mean, back to the image
  domain with the original phase, squared, Gaussian-blurred (sigma = 3 % of the width),
  divided by the frame's maximum.
* ``tased``: for each map time, the 32 native-rate frames ending at the nearest frame
  (frames before 31 use TASED's time-reversed windows), at 224x384 in [-1, 1]; the raw
  network output in (0, 1) is area-downsampled to the stored resolution. The reference
  post-processing (Gaussian blur sigma 7 at 384 px, max normalisation) is
  :func:`smoothed`; pld's threshold applies to the raw map.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter, uniform_filter

from highlight_pipeline.features.backbones.tased import WINDOW, window_indices
from highlight_pipeline.features.neural import NetworkRunner, check_finite
from highlight_pipeline.features.prefetch import prefetch
from highlight_pipeline.features.weight_free import WeightFreeMaps, WindowFeatures, map_grid
from highlight_pipeline.video.decode import END_TOLERANCE, iter_frame_batches

TASED_SIZE = (224, 384)  # H, W


def spectral_residual(grey: np.ndarray) -> np.ndarray:
    """``[B, H, W]`` grey frames -> ``[B, H, W]`` saliency in [0, 1]."""
    spectrum = np.fft.fft2(grey.astype(np.float64), axes=(1, 2))
    # log(1 + |F|) (grey levels 0..255 make |F| >> 1 where it matters): exact spectral
    # zeros (flat frames, periodic patterns) stay finite instead of dominating the local mean.
    log_amplitude = np.log1p(np.abs(spectrum))
    residual = log_amplitude - uniform_filter(log_amplitude, size=(1, 3, 3), mode="wrap")
    back = np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)), axes=(1, 2))
    sigma = 0.03 * grey.shape[2]
    saliency = gaussian_filter(np.abs(back) ** 2, sigma=(0, sigma, sigma))
    peak = saliency.reshape(len(saliency), -1).max(axis=1)
    return saliency / np.where(peak > 0, peak, 1.0)[:, None, None]


def smoothed(maps: np.ndarray, sigma_at_384: float = 7.0) -> np.ndarray:
    """TASED's reference post-processing, scaled to the stored resolution."""
    sigma = sigma_at_384 * maps.shape[-1] / TASED_SIZE[1]
    out = gaussian_filter(np.asarray(maps, np.float32), sigma=(0, sigma, sigma))
    peak = out.reshape(len(out), -1).max(axis=1)
    return out / np.where(peak > 0, peak, 1.0)[:, None, None]


class SpectralResidualSaliency(WeightFreeMaps):
    name = "spectral"

    def extract(self, path: str | Path, row: Any) -> WindowFeatures:
        s = self.slice
        maps, times = [], []
        for t, frames in iter_frame_batches(
            path, s["fps"], s["width"], s["height"], 32, float(row.duration)
        ):
            maps.append(
                spectral_residual(frames.astype(np.float32).mean(axis=-1)).astype(np.float16)
            )
            times.append(t)
        return self.on_grid(maps, times)

    def describe(self) -> dict:
        return {"weights": "weight-free", "maps": "spectral residual, max-normalised"}


def tased_windows(
    path: str | Path, native_fps: float, duration: float, out_fps: float, batch: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(windows uint8 [B, 32, 224, 384, 3], map times [B])`` for maps every 1/out_fps s,
    in time order.

    A map at frame t >= 31 uses the 32 frames ending at t (ready when frame t is decoded);
    t < 31 uses TASED's time-reversed window t+31 .. t (ready at frame t+31), so windows
    that are ready early wait (at most 31 frames) until the earlier maps are out.
    """
    n_frames = max(1, int(np.floor(duration * native_fps + 1e-6)))
    targets = sorted(
        {
            min(n_frames - 1, int(round(k * native_fps / out_fps)))
            for k in range(max(1, int(np.ceil(duration * out_fps - 1e-9))))
        }
    )
    forward = {t for t in targets if t >= WINDOW - 1}
    reversed_at = {t + WINDOW - 1: t for t in targets if t < WINDOW - 1}
    ready: dict[int, np.ndarray] = {}
    position = 0  # next target (in time order) to hand out
    head: list[np.ndarray] = []  # frames 0 .. 2*WINDOW-2, for the time-reversed windows
    ring: deque[np.ndarray] = deque(maxlen=WINDOW)
    windows: list[np.ndarray] = []
    times: list[float] = []
    index = -1

    def release() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        nonlocal position
        while position < len(targets) and targets[position] in ready:
            windows.append(ready.pop(targets[position]))
            times.append(targets[position] / native_fps)
            position += 1
            if len(windows) == batch:
                yield np.stack(windows), np.asarray(times)
                windows.clear()
                times.clear()

    for _, frames in iter_frame_batches(
        path, native_fps, TASED_SIZE[1], TASED_SIZE[0], 16, duration
    ):
        for frame in frames:
            index += 1
            ring.append(frame)
            if len(head) < 2 * WINDOW - 1:
                head.append(frame)
            if index in forward:
                ready[index] = np.stack(ring)
            if index in reversed_at:
                target = reversed_at[index]
                ready[target] = np.stack([head[i] for i in window_indices(target, len(head))])
            yield from release()
    # A video shorter than TASED's window: mirrored/clamped windows from the head, for the
    # frames that were decoded. Targets past the last decoded frame (a stream that ended
    # early) get no map: no window is made up from other frames.
    for target in targets[position:]:
        if target not in ready and head and target <= index:
            last = min(target, len(head) - 1)
            ready[target] = np.stack([head[i] for i in window_indices(last, len(head))])
    yield from release()
    if windows:
        yield np.stack(windows), np.asarray(times)


class TasedSaliency(NetworkRunner):
    name = "tased"
    modality = "saliency"
    dim = 0

    def __init__(
        self,
        feature_slice: dict,
        weights_dir: str | Path = "weights",
        weights: str = "published",
        device: str = "auto",
        amp: bool = False,
        batch_size: int = 4,
        cuda: dict | None = None,
    ) -> None:
        super().__init__("tased", weights_dir, weights, device, amp, batch_size, cuda)
        self.slice = feature_slice

    def extract(self, path: str | Path, row: Any) -> WindowFeatures:
        s = self.slice
        maps, times = [], []
        batches = tased_windows(
            path, float(row.fps), float(row.duration), s["fps"], self.batch_size
        )
        for windows, t in prefetch(batches, depth=2):
            x = torch.from_numpy(windows).to(self.device).permute(0, 4, 1, 2, 3).float()
            x = x.mul(2.0).sub(255.0).div(255.0)
            raw = self._forward(x)
            small = F.interpolate(raw[:, None], size=(s["height"], s["width"]), mode="area")[:, 0]
            small = check_finite(small.cpu().numpy(), path, self.name, self.amp)  # NaN stays NaN
            maps.append(small.astype(np.float16))
            times.append(t)
        if not maps:
            raise ValueError("no frames decoded")
        times = np.concatenate(times)
        end = float(times[-1]) + 1.0 / s["fps"]
        partial = end < float(row.duration) - END_TOLERANCE
        return WindowFeatures(
            np.concatenate(maps),
            map_grid(times, s["fps"]),
            extent=end if partial else None,
            partial=partial,
        )

    def describe(self) -> dict:
        return {
            "weights": self.weights,
            **self._device_info(),
            "amp": self.amp,
            "maps": "raw TASED-Net output, area-downsampled; smoothed() gives the reference",
        }
