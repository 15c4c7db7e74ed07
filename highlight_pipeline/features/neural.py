"""Extraction with the published networks: one code path for every visual backbone,
window-aligned audio for Cnn14.

Frames are decoded (PyAV, resampled by timestamp; ``fps: null`` keeps the video's own
rate) straight to the resize size with swscale, centre-cropped, stacked into windows of
``window`` frames every ``stride`` frames, and batched; a background thread decodes ahead
while the model computes. A video shorter than one window is loop-padded (the frame
indices repeat, as the reference 3D-ResNet code's LoopPadding does) and flagged ``short``.

A stream that ends before the duration the file claims ends its windows there: frames are
not held past the decoded picture (``video.decode``), and audio windows past the decoded
sound are not made of zeros; the result records the decoded extent and ``partial``. A hole
that damaged packets left inside a stream makes missing (NaN) the windows over it where it
is longer than one window (the picture); an audio window with missing samples is missing,
the network never sees them.

Every batch the network returns is checked for finite values before anything else is done
with it: a NaN or an infinity (mixed precision overflowing, a damaged checkpoint) stops
the job with one line naming the video and the backbone (:class:`NumericsError`), instead
of reaching the shard as a window that looks missing. On CUDA, ``amp`` runs the networks
under float16 autocast; the steps that cannot take it (Cnn14's spectrogram and log-mel)
run in float32 inside it (``backbones/cnn14.py``).

A forward pass takes ``batch_size`` windows, fewer where they would not fit: on the CPU
``BATCH_BYTES`` of input, on CUDA a share of the device's free memory
(:func:`visual_batch`). The CPU inference fast paths of I3D and TASED-Net run on the CPU
only, unless ``config.cuda.cpu_fast_paths`` asks for them on CUDA (``backbones/fast_paths.py``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from highlight_pipeline.errors import NumericsError
from highlight_pipeline.features.backbones import build, checkpoint_path, get_spec, load_checkpoint
from highlight_pipeline.features.backbones.fast_paths import (
    fast_paths_for,
    fast_paths_on,
    use_fast_paths,
)
from highlight_pipeline.features.backbones.registry import sha256_of
from highlight_pipeline.features.extractors import get_extractor
from highlight_pipeline.features.prefetch import prefetch
from highlight_pipeline.features.weight_free import WindowFeatures
from highlight_pipeline.features.windows import long_gaps, mark_gaps, nan_runs, window_grid
from highlight_pipeline.video.decode import StreamExtent, iter_audio_chunks, iter_frame_batches

log = logging.getLogger(__name__)

#: At most this many bytes of float32 network input per forward pass: a batch holds fewer
#: than ``batch_size`` windows where the windows are long or large (I3D at 224x224: two
#: 16-frame windows of 9.6 MB, one 64-frame window of 38.5 MB; r3d34's and c3d's 16 x 112 x
#: 112 windows of 2.4 MB keep their 8), so the activations, the decoded batches waiting in
#: the decode-ahead queue and the peak memory are bounded by bytes, not by a count of
#: windows (benchmarks/extract_peer.py: I3D's peak RSS 0.90 GiB with 6 windows of 16
#: frames, 0.61 with 2). ``None``: ``batch_size`` windows whatever their size.
BATCH_BYTES: int | None = 24 * 2**20

#: On CUDA the bound is the device's memory instead: at most this share of the memory free
#: on the device when a video starts (``torch.cuda.mem_get_info``, after the network's
#: weights are loaded; other jobs on the same GPU already hold theirs) ...
CUDA_FREE_FRACTION = 0.5
#: ... taking each window to cost this many times its float32 input: the activations alive
#: at once in inference. I3D at 16 x 224 x 224 holds at most 2.7 times its input in one
#: activation (Conv3d_1a's output, 64 x 8 x 112 x 112) and a few are alive at a time; 16
#: leaves room for cuDNN's workspaces and the allocator's rounding. With the 80 GB of an
#: H100 free, that is far above any ``batch_size``: there ``batch_size`` decides.
CUDA_WINDOW_COST = 16


@dataclass(frozen=True)
class VisualInputSpec:
    """How frames become one backbone's input. Defaults: the reference preprocessing."""

    fps: float | None  # None: the video's own frame rate
    window: int  # frames per window
    stride: int  # frames between window starts
    resize_short: int | None  # short side after resizing (aspect kept) ...
    resize: tuple[int, int] | None  # ... or a fixed (height, width)
    crop: int  # centre crop, square
    mean: tuple[float, float, float]  # on 0..255 values, in channel_order
    std: tuple[float, float, float]
    channel_order: str = "RGB"


# The reference preprocessing of each visual backbone (by its name in backbones/registry.py;
# paper_settings.py reads this table's literals).
REFERENCE_VISUAL = {
    "r3d34": VisualInputSpec(
        None, 16, 16, 112, None, 112, (114.7748, 107.7354, 99.4750), (1, 1, 1)
    ),
    "c3d": VisualInputSpec(None, 16, 16, None, (128, 171), 112, (102.0, 98.0, 90.0), (1, 1, 1)),
    "i3d": VisualInputSpec(
        None, 16, 16, 256, None, 224, (127.5, 127.5, 127.5), (127.5, 127.5, 127.5)
    ),
    # HERO's extractor (Moment-DETR's features): 32 frames per 2 s clip (16 fps here, HERO
    # samples 32 of 30 fps' 60), short side 224, centre 224, (x/255 - 0.45) / 0.225.
    "slowfast_r50": VisualInputSpec(
        16.0, 32, 32, 224, None, 224, (114.75, 114.75, 114.75), (57.375, 57.375, 57.375)
    ),
    # one frame per 2 s clip (Moment-DETR's 0.5 fps), 224 short side, centre 224, CLIP's
    # mean and std (OpenAI clip.py's Normalize, times 255)
    "clip_vit_b32": VisualInputSpec(
        0.5,
        1,
        1,
        224,
        None,
        224,
        (122.7709383, 116.7460125, 104.0937362),
        (68.5005327, 66.6321579, 70.3231631),
    ),
}


def visual_input_spec(backbone: str, overrides: dict | None = None) -> VisualInputSpec:
    spec = REFERENCE_VISUAL[backbone]
    overrides = dict(overrides or {})
    for key in ("mean", "std", "resize"):
        if overrides.get(key) is not None:
            overrides[key] = tuple(overrides[key])
    return replace(spec, **overrides)


def resolve_device(device: str, cuda: dict | None = None) -> torch.device:
    """The job's device: a free GPU slot of this machine or of the devices the scheduler
    made visible (``highlight_pipeline.gpu_slots``, held for the life of the process, with
    ``cuda``, config.cuda, applied on a GPU), or the CPU."""
    from highlight_pipeline.gpu_slots import lease_for_process

    return torch.device(lease_for_process(device, cuda).device)


def check_finite(values: np.ndarray, path: str | Path, backbone: str, amp: bool) -> np.ndarray:
    """``values`` (one batch of network output) if every value is finite; otherwise a
    :class:`NumericsError` naming the video, the backbone and how many values are not."""
    finite = np.isfinite(values)
    if finite.all():
        return values
    bad = int(values.size - finite.sum())
    hint = (
        "; mixed precision overflowed: set features.amp: false"
        if amp
        else "; check the checkpoint and the input"
    )
    raise NumericsError(
        f"{path}: {backbone} gave {bad} non-finite value(s) (NaN or infinity) in a batch of "
        f"{values.shape[0]} window(s){' under float16 autocast' if amp else ''}{hint}"
    )


def load_backbone(name: str, weights_dir: str | Path, weights: str, device: torch.device):
    """The network in eval mode, and what its weights are (file sha256 or ``random-init``)."""
    model = build(name)
    if weights == "random":
        origin = "random-init"
    else:
        path = checkpoint_path(name, weights_dir)
        load_checkpoint(model, path)
        origin = f"{get_spec(name).filename} sha256:{sha256_of(path)}"
    return model.to(device).eval(), origin


def decode_size(spec: VisualInputSpec, width: int, height: int) -> tuple[int, int]:
    """(width, height) to decode to, so that only the centre crop remains to be done."""
    if spec.resize is not None:
        return spec.resize[1], spec.resize[0]
    short = spec.resize_short or spec.crop
    if width <= height:
        return short, int(short * height / width)
    return int(short * width / height), short


def _crop(frames: np.ndarray, size: int) -> np.ndarray:
    h, w = frames.shape[1:3]
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return frames[:, top : top + size, left : left + size]


def iter_visual_windows(
    path: str | Path,
    spec: VisualInputSpec,
    fps: float,
    width: int,
    height: int,
    duration: float,
    batch: int,
    extent: StreamExtent | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """Yield ``(windows uint8 [B, T, crop, crop, 3], [B, 2] start/end seconds, short)``;
    ``extent`` receives how far the picture decoded (windows end there)."""
    rate = spec.fps or fps
    out_w, out_h = decode_size(spec, width, height)
    ring: deque[np.ndarray] = deque(maxlen=spec.window)
    seen: list[np.ndarray] = []  # frames of a possibly short video (at most one window)
    windows: list[np.ndarray] = []
    times: list[tuple[float, float]] = []
    index = -1
    for _, frames in iter_frame_batches(path, rate, out_w, out_h, 32, duration, extent):
        for frame in _crop(frames, spec.crop):
            index += 1
            ring.append(frame)
            if len(seen) < spec.window:
                seen.append(frame)
            start = index - spec.window + 1
            if start >= 0 and start % spec.stride == 0:
                windows.append(np.stack(ring))
                times.append((start / rate, (index + 1) / rate))
                if len(windows) == batch:
                    yield np.stack(windows), np.asarray(times), False
                    windows, times = [], []
    if index < 0:
        raise ValueError("no frames decoded")
    if index + 1 < spec.window:  # shorter than one window: loop padding
        looped = np.stack([seen[i % len(seen)] for i in range(spec.window)])
        yield looped[None], np.asarray([(0.0, (index + 1) / rate)]), True
        return
    if windows:
        yield np.stack(windows), np.asarray(times), False


def visual_batch(
    spec: VisualInputSpec, batch_size: int, device: torch.device | str | None = None
) -> int:
    """Windows per forward pass: ``batch_size``, fewer where they would not fit the bound.

    On the CPU (``device`` None or a CPU) the bound is ``BATCH_BYTES`` of input; on CUDA
    it is ``CUDA_FREE_FRACTION`` of the device's free memory at ``CUDA_WINDOW_COST`` times
    each window's input (:func:`cuda_batch_bytes`); never more than ``batch_size``."""
    window_bytes = 3 * spec.window * spec.crop * spec.crop * 4
    if device is not None and torch.device(device).type == "cuda":
        return max(1, min(batch_size, cuda_batch_bytes(device) // window_bytes))
    if BATCH_BYTES is None:
        return batch_size
    return max(1, min(batch_size, BATCH_BYTES // window_bytes))


def cuda_batch_bytes(device: torch.device | str) -> int:
    """Bytes of float32 network input one forward pass may take on a CUDA ``device``:
    ``CUDA_FREE_FRACTION`` of its free memory over ``CUDA_WINDOW_COST``."""
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return int(free * CUDA_FREE_FRACTION) // CUDA_WINDOW_COST


def to_model_input(
    windows: np.ndarray, spec: VisualInputSpec, device: torch.device
) -> torch.Tensor:
    """uint8 ``[B, T, H, W, 3]`` RGB -> float ``[B, 3, T, H, W]`` normalised as the reference."""
    x = torch.from_numpy(windows).to(device, non_blocking=True).permute(0, 4, 1, 2, 3).float()
    if spec.channel_order.upper() == "BGR":
        x = x.flip(1)
    mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1, 1)
    std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1, 1)
    return ((x - mean) / std).contiguous()


class NetworkRunner:
    """A published network in eval mode on a device, run in batches (mixed precision on CUDA)."""

    def __init__(
        self,
        name: str,
        weights_dir: str | Path,
        weights: str,
        device: str,
        amp: bool = False,
        batch_size: int = 8,
        cuda: dict | None = None,
    ) -> None:
        self.device = resolve_device(device, cuda)
        self.amp = amp and self.device.type == "cuda"
        self.batch_size = batch_size
        self.model, self.weights = load_backbone(name, weights_dir, weights, self.device)
        # the CPU fast paths (I3D, TASED-Net): on on the CPU, on CUDA only when config.cuda
        # asks (backbones/fast_paths.py)
        self.fast_paths = fast_paths_for(self.device, cuda)
        use_fast_paths(self.model, self.fast_paths)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cuda", enabled=self.amp):
            return self.model.extract(x).float()

    def _run(self, x: torch.Tensor, path: str | Path) -> np.ndarray:
        """One batch through the network, checked for finite values (``path``: the video)."""
        return check_finite(self._forward(x).cpu().numpy(), path, self.name, self.amp)

    def _device_info(self) -> dict:
        """The device for ``describe``: its torch name, and on a GPU also the GPU's name and
        the CUDA settings of the lease (on the CPU only ``device``, as before)."""
        info: dict = {"device": str(self.device)}
        if self.device.type == "cuda":
            from highlight_pipeline.gpu_slots import current_lease

            lease = current_lease()
            record = lease.record() if lease is not None else {}
            info["device_name"] = record.get("name")
            info["cuda"] = record.get("cuda")
            if fast_paths_on(self.model) is not None:
                info["fast_paths"] = self.fast_paths
        return info


class NeuralExtractor(NetworkRunner):
    """A published network applied to a video's windows (visual) or audio windows (cnn14):
    the backbone and modality of the extractor's registry entry (features/extractors.py)."""

    def __init__(
        self,
        feature_slice: dict,
        weights_dir: str | Path = "weights",
        weights: str = "published",
        device: str = "auto",
        amp: bool = False,
        batch_size: int = 8,
        cuda: dict | None = None,
    ) -> None:
        self.name = feature_slice["extractor"]
        registered = get_extractor(self.name)
        backbone = registered.backbone
        if backbone is None or registered.modality not in ("visual", "audio"):
            raise ValueError(f"{self.name} is not a visual or audio network")
        self.modality = registered.modality
        self.dim = get_spec(backbone).feature_dim
        super().__init__(backbone, weights_dir, weights, device, amp, batch_size, cuda)
        self.slice = feature_slice
        if self.modality == "visual":
            self.spec = visual_input_spec(backbone, feature_slice.get("options"))

    def extract(self, path: str | Path, row) -> WindowFeatures:
        if self.modality == "audio":
            return self._extract_audio(path, float(row.duration))
        return self._extract_visual(
            path,
            row,
            lambda windows, p: self._run(to_model_input(windows, self.spec, self.device), p),
        )

    def _extract_visual(self, path: str | Path, row, run) -> WindowFeatures:
        """The video's windows (``self.spec``), each batch through ``run(windows uint8
        [B, T, H, W, 3], path) -> [B, dim]``."""
        feats, grids, short = [], [], False
        extent = StreamExtent(float(row.duration))
        batches = iter_visual_windows(
            path,
            self.spec,
            float(row.fps),
            int(row.width),
            int(row.height),
            float(row.duration),
            visual_batch(self.spec, self.batch_size, self.device),
            extent,
        )
        for windows, times, is_short in prefetch(batches, depth=2):
            feats.append(run(windows, path))
            grids.append(times)
            short = short or is_short
        feats, grid = np.concatenate(feats), np.concatenate(grids)
        gaps = mark_gaps(feats, grid, extent.gaps, float(grid[0, 1] - grid[0, 0]))
        return WindowFeatures(feats, grid, short, extent.seconds, extent.partial, gaps)

    def _extract_audio(self, path: str | Path, duration: float) -> WindowFeatures:
        rate = 32000
        grid = window_grid(duration, self.slice["window_seconds"], self.slice["stride_seconds"])
        extent = StreamExtent(duration)
        feats = []
        for batch in prefetch(iter_audio_windows(path, rate, grid, self.batch_size, extent), 2):
            missing = np.isnan(batch).any(axis=1)  # windows over a hole: missing
            out = self._run(torch.from_numpy(np.nan_to_num(batch, nan=0.0)).to(self.device), path)
            out[missing] = np.nan
            feats.append(out)
        if extent.seconds <= 0:
            raise ValueError("no audio decoded")
        windows = np.concatenate(feats)
        grid = grid[: len(windows)].copy()  # a partial sound: the windows it fills
        if extent.partial and grid[-1, 1] > extent.seconds:
            grid[-1, 1] = extent.seconds  # the one window of a sound shorter than a window
        short = extent.covered() < self.slice["window_seconds"]
        gaps = long_gaps(extent.gaps, self.slice["window_seconds"])
        return WindowFeatures(windows, grid, short, extent.seconds, extent.partial, gaps)

    def describe(self) -> dict:
        info = {"weights": self.weights, **self._device_info(), "amp": self.amp}
        if self.modality == "visual":
            info["input"] = asdict(self.spec)
        return info


def iter_audio_windows(
    path: str | Path,
    rate: int,
    grid: np.ndarray,
    batch: int,
    extent: StreamExtent | None = None,
) -> Iterator[np.ndarray]:
    """Yield float32 ``[B, samples]`` audio windows on ``grid`` (zero-padded past the end).

    With ``extent`` (its ``claimed`` duration set), it receives the decoded sound's length
    and its holes (``gaps``: missing, NaN samples, which the windows over them hold);
    a partial sound (``StreamExtent.partial``) yields only the leading windows it fills
    (one zero-padded window if it fills none), not windows of zeros past its end."""
    length = int(round((grid[0, 1] - grid[0, 0]) * rate))
    starts = np.round(grid[:, 0] * rate).astype(np.int64)
    buffer = np.zeros(0, np.float32)
    offset = 0  # absolute index of buffer[0]
    next_window = 0
    out: list[np.ndarray] = []

    def ready(final: bool) -> Iterator[np.ndarray]:
        nonlocal next_window, out
        ended = final and extent is not None and extent.partial
        while next_window < len(starts):
            a = starts[next_window] - offset
            if a + length > len(buffer) and (not final or (ended and next_window > 0)):
                return
            window = np.zeros(length, np.float32)
            piece = buffer[max(a, 0) : a + length]
            window[: len(piece)] = piece
            out.append(window)
            next_window += 1
            if len(out) == batch:
                yield np.stack(out)
                out = []

    runs: list[list[int]] = []
    for chunk in iter_audio_chunks(path, rate):
        nan_runs(chunk, offset + len(buffer), runs)
        buffer = np.concatenate([buffer, chunk])
        if extent is not None:
            extent.seconds = (offset + len(buffer)) / rate
            extent.gaps = [(a / rate, b / rate) for a, b in runs]
        yield from ready(final=False)
        if next_window < len(starts):
            drop = min(int(starts[next_window] - offset), len(buffer))
            if drop > 0:
                buffer, offset = buffer[drop:], offset + drop
    yield from ready(final=True)
    if out:
        yield np.stack(out)
