"""Turn decoded frames / audio into the input tensors each backbone was trained with.

Visual helpers take uint8 RGB frames shaped (T, H, W, 3) (numpy array or tensor) and return the
model input (1, 3, T, h, w) float32; stack several windows with ``torch.cat(..., dim=0)``.
Resizing is bilinear with torch (antialiased where the reference used PIL, not where it used
``cv2.resize``) and rounded back to 0..255 like the 8-bit images the references resized, so
values can differ from the references' image libraries by one grey level at some pixels.

Reference conventions (see ``registry.py``):

* r3d34 - short side to 112, centre crop 112, 0..255 minus ActivityNet mean, no std.
* c3d   - 128x171, centre crop 112, 0..255 minus a per-channel mean; ``mean`` and
  ``channel_order`` are parameters (default RGB, Sports-1M mean ~ (102, 98, 90)).
* i3d   - short side to 256, centre crop 224, scaled to [-1, 1].
* tased - 224x384 (no crop), ``(2x - 255) / 255`` in [-1, 1].
* cnn14 - mono float waveform at 32 kHz.
* slowfast_r50 - short side to 224 (bicubic), centre crop 224, x/255 then (x - 0.45) / 0.225;
  32-frame windows (the model takes the slow pathway's 8 frames out of them).
* clip_vit_b32 - short side to 224 (bicubic), centre crop 224, x/255 then CLIP's mean/std;
  any number of frames per window (the model averages their embeddings).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .registry import BACKBONES, CLIP_MEAN_255, CLIP_STD_255

R3D_MEAN: tuple[float, float, float] = BACKBONES["r3d34"].preprocessing.mean  # type: ignore[assignment]
C3D_MEAN_RGB: tuple[float, float, float] = BACKBONES["c3d"].preprocessing.mean  # type: ignore[assignment]
CNN14_SAMPLE_RATE = 32000


def _frames_tensor(frames: np.ndarray | Tensor) -> Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float32 in 0..255."""
    x = torch.as_tensor(np.asarray(frames) if not isinstance(frames, Tensor) else frames)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected frames shaped (T, H, W, 3), got {tuple(x.shape)}")
    return x.permute(0, 3, 1, 2).to(torch.float32)


def _resize(x: Tensor, size: tuple[int, int], antialias: bool) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    return y.round().clamp(0.0, 255.0)


def _resize_bicubic(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic, antialiased when shrinking (as PIL's, which CLIP's ``Resize`` uses), rounded
    back to 0..255."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    y = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)
    return y.round().clamp(0.0, 255.0)


def _short_side_size(height: int, width: int, short: int) -> tuple[int, int]:
    if width <= height:
        return int(short * height / width), short
    return short, int(short * width / height)


def _center_crop(x: Tensor, size: int | tuple[int, int]) -> Tensor:
    th, tw = (size, size) if isinstance(size, int) else size
    h, w = x.shape[-2:]
    if th > h or tw > w:
        raise ValueError(f"crop {th}x{tw} larger than frame {h}x{w}")
    top = int(round((h - th) / 2.0))
    left = int(round((w - tw) / 2.0))
    return x[..., top : top + th, left : left + tw]


def _to_input(x: Tensor) -> Tensor:
    """(T, 3, H, W) -> (1, 3, T, H, W), contiguous."""
    return x.permute(1, 0, 2, 3).unsqueeze(0).contiguous()


def _subtract(x: Tensor, mean: Sequence[float], std: Sequence[float] | None = None) -> Tensor:
    m = torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1)
    x = x - m
    if std is not None:
        x = x / torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1)
    return x


def r3d34_input(
    frames: np.ndarray | Tensor,
    size: int = 112,
    mean: Sequence[float] = R3D_MEAN,
) -> Tensor:
    """Hara et al.: short side to ``size``, centre crop, 0..255 RGB minus ``mean`` (no std)."""
    x = _frames_tensor(frames)
    x = _resize(x, _short_side_size(x.shape[-2], x.shape[-1], size), antialias=True)
    return _to_input(_subtract(_center_crop(x, size), mean))


def c3d_input(
    frames: np.ndarray | Tensor,
    mean: Sequence[float] = C3D_MEAN_RGB,
    channel_order: str = "RGB",
    resize: tuple[int, int] = (128, 171),
    crop: int = 112,
) -> Tensor:
    """C3D: resize to ``resize`` (H, W), centre crop ``crop``, 0..255 minus ``mean``.

    ``channel_order`` is the channel order fed to the network ("RGB" or "BGR"; input frames are
    always RGB) and ``mean`` is given in that order.  The default is RGB minus the Sports-1M
    per-channel mean (R 102, G 98, B 90); the Caffe original used BGR (pass
    ``channel_order="BGR", mean=(90, 98, 102)``); the DavideA demo used RGB with ``mean=(0, 0,
    0)`` after resizing to 112x200 and cropping the centre.
    """
    order = channel_order.upper()
    if order not in ("RGB", "BGR"):
        raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {channel_order!r}")
    x = _frames_tensor(frames)
    if order == "BGR":
        x = x.flip(1)
    x = _center_crop(_resize(x, resize, antialias=True), crop)
    return _to_input(_subtract(x, mean))


def i3d_input(frames: np.ndarray | Tensor, resize_short: int = 256, crop: int = 224) -> Tensor:
    """I3D: short side to ``resize_short``, centre crop ``crop``, scaled to [-1, 1] (x/255*2-1).

    piergiaj's Charades scripts resize the short side to 226 instead; pass ``resize_short=226``
    to follow them.  Use at least 9 frames per window.
    """
    x = _frames_tensor(frames)
    x = _resize(x, _short_side_size(x.shape[-2], x.shape[-1], resize_short), antialias=True)
    x = _center_crop(x, crop)
    return _to_input(x / 255.0 * 2.0 - 1.0)


def tased_frame(frame: np.ndarray | Tensor, size: tuple[int, int] = (224, 384)) -> Tensor:
    """One RGB uint8 frame (H, W, 3) -> (3, 224, 384) in [-1, 1] as in ``run_example.py``
    (``cv2.resize`` to 384x224, bilinear without antialiasing, then ``(2x - 255) / 255``)."""
    x = _resize(_frames_tensor(frame), size, antialias=False)[0]
    return x.mul(2.0).sub(255.0).div(255.0)


def tased_input(frames: np.ndarray | Tensor, size: tuple[int, int] = (224, 384)) -> Tensor:
    """TASED-Net window: (T=32, H, W, 3) uint8 RGB -> (1, 3, 32, 224, 384) in [-1, 1]."""
    x = _resize(_frames_tensor(frames), size, antialias=False)
    return _to_input(x.mul(2.0).sub(255.0).div(255.0))


def cnn14_input(waveform: np.ndarray | Tensor, sample_rate: int = CNN14_SAMPLE_RATE) -> Tensor:
    """Audio -> (1, samples) float32 mono at 32 kHz for Cnn14.

    Accepts (samples,), (channels, samples) or (samples, channels) with channels <= 8; integer
    PCM is scaled to [-1, 1]; channels are averaged; other rates are resampled with
    ``librosa.resample`` (as ``librosa.load(sr=32000)`` in the panns_inference examples).
    """
    audio = np.asarray(waveform.cpu() if isinstance(waveform, Tensor) else waveform)
    if np.issubdtype(audio.dtype, np.integer):
        audio = audio.astype(np.float32) / float(np.iinfo(audio.dtype).max + 1)
    audio = audio.astype(np.float32, copy=False)
    if audio.ndim == 2:
        channel_axis = 0 if audio.shape[0] <= 8 and audio.shape[0] < audio.shape[1] else 1
        audio = audio.mean(axis=channel_axis)
    if audio.ndim != 1:
        raise ValueError(f"expected a mono or multi-channel waveform, got shape {audio.shape}")
    if sample_rate != CNN14_SAMPLE_RATE:
        import librosa

        audio = librosa.resample(audio, orig_sr=sample_rate, target_sr=CNN14_SAMPLE_RATE)
    return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).unsqueeze(0)


SLOWFAST_MEAN: tuple[float, float, float] = BACKBONES["slowfast_r50"].preprocessing.mean  # type: ignore[assignment]
SLOWFAST_STD: tuple[float, float, float] = BACKBONES["slowfast_r50"].preprocessing.std  # type: ignore[assignment]


def slowfast_input(frames: np.ndarray | Tensor, resize_short: int = 224, crop: int = 224) -> Tensor:
    """SlowFast (HERO's extractor, as Moment-DETR used it): short side to ``resize_short``
    (bicubic, like ffmpeg's ``scale`` filter), centre crop ``crop``, x/255 then
    (x - 0.45) / 0.225.  Give 32 frames per window; ``extract`` takes the slow pathway's 8."""
    x = _frames_tensor(frames)
    x = _resize_bicubic(x, _short_side_size(x.shape[-2], x.shape[-1], resize_short))
    return _to_input(_subtract(_center_crop(x, crop), SLOWFAST_MEAN, SLOWFAST_STD))


def clip_input(frames: np.ndarray | Tensor, size: int = 224) -> Tensor:
    """CLIP (``clip/clip.py`` ``_transform``): short side to ``size`` (bicubic), centre crop
    ``size``, x/255 then CLIP's mean/std; (T, H, W, 3) or one (H, W, 3) frame ->
    (1, 3, T, 224, 224).  ``extract`` averages the frames' embeddings."""
    x = _frames_tensor(frames)
    x = _resize_bicubic(x, _short_side_size(x.shape[-2], x.shape[-1], size))
    return _to_input(_subtract(_center_crop(x, size), CLIP_MEAN_255, CLIP_STD_255))


PREPROCESSORS = {
    "r3d34": r3d34_input,
    "c3d": c3d_input,
    "i3d": i3d_input,
    "tased": tased_input,
    "cnn14": cnn14_input,
    "slowfast_r50": slowfast_input,
    "clip_vit_b32": clip_input,
}
