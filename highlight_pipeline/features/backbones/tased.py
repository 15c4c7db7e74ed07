"""TASED-Net (Min & Corso, ICCV 2019), the ``TASED_v2`` model behind ``TASED_updated.pt``.

Layer names and the forward pass follow MichiganCOG/TASED-Net ``model.py``: an S3D encoder
(``base1`` .. ``base4``; separable convolutions = spatial (1,k,k) then temporal (k,1,1) conv, BN
eps 1e-3; inception ``Mixed`` blocks) and a decoder (``convtsp1`` .. ``convtsp4``) of transposed
convolutions and ``MaxUnpool3d`` layers that reuse max-pool indices taken from auxiliary pools
on the encoder features, ending in a sigmoid.  Input (B, 3, 32, 224, 384) in [-1, 1]; output the
saliency map of the window's last frame, (B, 224, 384) in (0, 1).

:func:`saliency_windows` runs a whole video the way the authors' ``run_example.py`` does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .pooling_fast import max_pool_333

NAME = "tased"
WINDOW = 32


def _bn(channels: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=1e-3, momentum=0.001, affine=True)


class BasicConv3d(nn.Module):
    def __init__(
        self, in_planes: int, out_planes: int, kernel_size: int, stride: int, padding: int = 0
    ) -> None:
        super().__init__()
        self.conv = nn.Conv3d(
            in_planes, out_planes, kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn = _bn(out_planes)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


class SepConv3d(nn.Module):
    """Spatial (1,k,k) conv + BN + ReLU, then temporal (k,1,1) conv + BN + ReLU."""

    def __init__(
        self, in_planes: int, out_planes: int, kernel_size: int, stride: int, padding: int = 0
    ) -> None:
        super().__init__()
        k, s, p = kernel_size, stride, padding
        self.conv_s = nn.Conv3d(
            in_planes, out_planes, (1, k, k), stride=(1, s, s), padding=(0, p, p), bias=False
        )
        self.bn_s = _bn(out_planes)
        self.relu_s = nn.ReLU()
        self.conv_t = nn.Conv3d(
            out_planes, out_planes, (k, 1, 1), stride=(s, 1, 1), padding=(p, 0, 0), bias=False
        )
        self.bn_t = _bn(out_planes)
        self.relu_t = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu_s(self.bn_s(self.conv_s(x)))
        return self.relu_t(self.bn_t(self.conv_t(x)))


class Mixed(nn.Module):
    """S3D inception block; ``out`` = (b0, b1 reduce, b1, b2 reduce, b2, b3 pool-proj)."""

    def __init__(self, in_planes: int, out: Sequence[int]) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv3d(in_planes, out[0], 1, 1))
        self.branch1 = nn.Sequential(
            BasicConv3d(in_planes, out[1], 1, 1), SepConv3d(out[1], out[2], 3, 1, padding=1)
        )
        self.branch2 = nn.Sequential(
            BasicConv3d(in_planes, out[3], 1, 1), SepConv3d(out[3], out[4], 3, 1, padding=1)
        )
        self.branch3 = nn.Sequential(
            nn.MaxPool3d(kernel_size=(3, 3, 3), stride=1, padding=1),
            BasicConv3d(in_planes, out[5], 1, 1),
        )

    #: the CPU fast path (``backbones/fast_paths.py``): the pool by shifted maxima
    fast = True

    def forward(self, x: Tensor) -> Tensor:
        if not self.fast or (torch.is_grad_enabled() and x.requires_grad):
            pooled = self.branch3(x)
        else:  # the same values, faster on a CPU (max_pool_333); also in a frozen encoder
            pooled = self.branch3[1](max_pool_333(x))
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), pooled), dim=1)


class TASEDv2(nn.Module):
    """TASED-Net; ``extract`` returns the saliency map of the last frame of each window."""

    backbone_name = NAME
    feature_dim = 224 * 384

    def __init__(self) -> None:
        super().__init__()
        self.base1 = nn.Sequential(
            SepConv3d(3, 64, 7, 2, padding=3),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            BasicConv3d(64, 64, 1, 1),
            SepConv3d(64, 192, 3, 1, padding=1),
        )
        self.maxp2 = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.maxm2 = nn.MaxPool3d(kernel_size=(4, 1, 1), stride=(4, 1, 1), padding=(0, 0, 0))
        self.maxt2 = nn.MaxPool3d(
            kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), return_indices=True
        )
        self.base2 = nn.Sequential(
            Mixed(192, (64, 96, 128, 16, 32, 32)),
            Mixed(256, (128, 128, 192, 32, 96, 64)),
        )
        self.maxp3 = nn.MaxPool3d(kernel_size=(3, 3, 3), stride=(2, 2, 2), padding=(1, 1, 1))
        self.maxm3 = nn.MaxPool3d(kernel_size=(4, 1, 1), stride=(4, 1, 1), padding=(0, 0, 0))
        self.maxt3 = nn.MaxPool3d(
            kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), return_indices=True
        )
        self.base3 = nn.Sequential(
            Mixed(480, (192, 96, 208, 16, 48, 64)),
            Mixed(512, (160, 112, 224, 24, 64, 64)),
            Mixed(512, (128, 128, 256, 24, 64, 64)),
            Mixed(512, (112, 144, 288, 32, 64, 64)),
            Mixed(528, (256, 160, 320, 32, 128, 128)),
        )
        self.maxt4 = nn.MaxPool3d(kernel_size=(2, 1, 1), stride=(2, 1, 1), padding=(0, 0, 0))
        self.maxp4 = nn.MaxPool3d(
            kernel_size=(1, 2, 2), stride=(1, 2, 2), padding=(0, 0, 0), return_indices=True
        )
        self.base4 = nn.Sequential(
            Mixed(832, (256, 160, 320, 32, 128, 128)),
            Mixed(832, (384, 192, 384, 48, 128, 128)),
        )
        self.convtsp1 = nn.Sequential(
            nn.Conv3d(1024, 1024, kernel_size=1, stride=1, bias=False),
            _bn(1024),
            nn.ReLU(),
            nn.ConvTranspose3d(1024, 832, (1, 3, 3), stride=1, padding=(0, 1, 1), bias=False),
            _bn(832),
            nn.ReLU(),
        )
        self.unpool1 = nn.MaxUnpool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2), padding=(0, 0, 0))
        self.convtsp2 = nn.Sequential(
            nn.ConvTranspose3d(832, 480, (1, 3, 3), stride=1, padding=(0, 1, 1), bias=False),
            _bn(480),
            nn.ReLU(),
        )
        self.unpool2 = nn.MaxUnpool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.convtsp3 = nn.Sequential(
            nn.ConvTranspose3d(480, 192, (1, 3, 3), stride=1, padding=(0, 1, 1), bias=False),
            _bn(192),
            nn.ReLU(),
        )
        self.unpool3 = nn.MaxUnpool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.convtsp4 = nn.Sequential(
            nn.ConvTranspose3d(192, 64, (1, 4, 4), stride=(1, 2, 2), padding=(0, 1, 1), bias=False),
            _bn(64),
            nn.ReLU(),
            nn.Conv3d(64, 64, kernel_size=(2, 1, 1), stride=(2, 1, 1), bias=False),
            _bn(64),
            nn.ReLU(),
            nn.ConvTranspose3d(64, 4, kernel_size=1, stride=1, bias=False),
            _bn(4),
            nn.ReLU(),
            nn.Conv3d(4, 4, kernel_size=(2, 1, 1), stride=(2, 1, 1), bias=False),
            _bn(4),
            nn.ReLU(),
            nn.ConvTranspose3d(4, 4, (1, 4, 4), stride=(1, 2, 2), padding=(0, 1, 1), bias=False),
            nn.Conv3d(4, 1, kernel_size=1, stride=1, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, 32, H, W) -> (B, H, W), exactly the reference forward."""
        y3 = self.base1(x)
        y = self.maxp2(y3)
        y3 = self.maxm2(y3)
        _, i2 = self.maxt2(y3)
        y2 = self.base2(y)
        y = self.maxp3(y2)
        y2 = self.maxm3(y2)
        _, i1 = self.maxt3(y2)
        y1 = self.base3(y)
        y = self.maxt4(y1)
        y, i0 = self.maxp4(y)
        y0 = self.base4(y)

        z = self.convtsp1(y0)
        z = self.unpool1(z, i0)
        z = self.convtsp2(z)
        z = self.unpool2(z, i1, y2.size())
        z = self.convtsp3(z)
        z = self.unpool3(z, i2, y3.size())
        z = self.convtsp4(z)
        return z.view(z.size(0), z.size(3), z.size(4))

    @torch.no_grad()
    def extract(self, x: Tensor) -> Tensor:
        """(B, 3, 32, 224, 384) in [-1, 1] -> (B, 224, 384) saliency of the last frame."""
        return self.forward(x)


# ----------------------------------------------------------------------------------------------
# Whole videos
# ----------------------------------------------------------------------------------------------


@dataclass
class SaliencyFrame:
    """Saliency of one video frame.

    ``raw`` is the network output (float32, (224, 384), values in (0, 1)).  ``smoothed`` is the
    authors' post-processing of it (see :func:`postprocess_saliency`) when it was requested.
    """

    index: int
    raw: np.ndarray
    smoothed: np.ndarray | None = None


def window_indices(index: int, num_frames: int, window: int = WINDOW) -> list[int]:
    """Frame indices of the window whose saliency map is assigned to frame ``index``.

    * ``index >= window - 1``: the ``window`` frames ending at ``index`` (sliding by one frame).
    * earlier frames, as in ``run_example.py``: the time-reversed window
      ``index + window - 1, ..., index + 1, index`` (its last frame is ``index``).
    * videos too short for that (fewer than ``2 * window - 1`` frames; the reference skips them):
      frames before 0 are mirrored (``-t -> t``) and indices past the end clamped.
    """
    if index >= window - 1:
        return list(range(index - window + 1, index + 1))
    if index + window - 1 < num_frames:
        return list(range(index + window - 1, index - 1, -1))
    return [min(abs(t), num_frames - 1) for t in range(index - window + 1, index + 1)]


def postprocess_saliency(smap: np.ndarray, sigma: float = 7.0, quantize: bool = True) -> np.ndarray:
    """``run_example.py`` post-processing: quantise to 1/255 steps (floor), Gaussian blur
    (``scipy.ndimage.gaussian_filter``, sigma 7) and divide by the maximum (result in [0, 1])."""
    from scipy.ndimage import gaussian_filter

    out = np.asarray(smap, dtype=np.float64)
    if quantize:
        out = np.floor(out * 255.0) / 255.0
    if sigma > 0:
        out = gaussian_filter(out, sigma=sigma)
    peak = float(out.max()) if out.size else 0.0
    if peak > 0:
        out = out / peak
    return out.astype(np.float32)


def saliency_windows(
    model: TASEDv2,
    frames: Iterable[np.ndarray | Tensor],
    *,
    preprocessed: bool = False,
    postprocess: bool = False,
    sigma: float = 7.0,
    batch_size: int = 1,
    device: str | torch.device | None = None,
) -> Iterator[SaliencyFrame]:
    """Saliency map of every frame of a video, in frame order.

    ``frames`` yields uint8 RGB frames (H, W, 3) (resized and scaled with
    :func:`highlight_pipeline.features.backbones.preprocess.tased_frame`), or, with
    ``preprocessed=True``, tensors (3, 224, 384) already in [-1, 1].  The 32-frame window slides
    one frame at a time; frames 0..30 use time-reversed windows (:func:`window_indices`).
    Only the frames needed are kept in memory (at most 63 while the first 31 maps are computed,
    32 afterwards).  With ``postprocess=True`` each result also carries ``smoothed``.
    The model is used as given; call ``model.eval()`` first.
    """
    from .preprocess import tased_frame

    if device is None:
        device = next(model.parameters()).device

    def prepare(frame: np.ndarray | Tensor) -> Tensor:
        if preprocessed:
            return torch.as_tensor(frame, dtype=torch.float32)
        return tased_frame(np.asarray(frame))

    pending: list[tuple[int, list[Tensor]]] = []

    def flush() -> Iterator[SaliencyFrame]:
        if not pending:
            return
        clips = torch.stack([torch.stack(w, dim=1) for _, w in pending]).to(device)
        maps = model.extract(clips).float().cpu().numpy()
        for (idx, _), smap in zip(pending, maps, strict=True):
            smoothed = postprocess_saliency(smap, sigma=sigma) if postprocess else None
            yield SaliencyFrame(index=idx, raw=smap, smoothed=smoothed)
        pending.clear()

    def schedule(idx: int, window: list[Tensor]) -> Iterator[SaliencyFrame]:
        pending.append((idx, window))
        if len(pending) >= max(1, batch_size):
            yield from flush()

    iterator = iter(frames)
    head: list[Tensor] = []
    for frame in iterator:
        head.append(prepare(frame))
        if len(head) >= 2 * WINDOW - 1:
            break
    n_head = len(head)
    if n_head < 2 * WINDOW - 1:
        # Short video: every window can be formed from the frames read.
        for idx in range(n_head):
            yield from schedule(idx, [head[i] for i in window_indices(idx, n_head)])
        yield from flush()
        return

    for idx in range(WINDOW - 1):
        yield from schedule(idx, [head[i] for i in window_indices(idx, n_head)])
    buffer: deque[Tensor] = deque(head[:WINDOW], maxlen=WINDOW)
    later: deque[Tensor] = deque(head[WINDOW:])
    del head
    idx = WINDOW - 1
    yield from schedule(idx, list(buffer))
    while True:
        if later:
            frame = later.popleft()
        else:
            nxt = next(iterator, None)
            if nxt is None:
                break
            frame = prepare(nxt)
        buffer.append(frame)
        idx += 1
        yield from schedule(idx, list(buffer))
    yield from flush()
