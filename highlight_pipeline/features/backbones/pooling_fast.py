"""Max-pooling by shifted maxima: the values of ``F.max_pool3d`` in inference, faster on CPU.

A 3D max-pool is separable: the maximum over a ``kt x kh x kw`` box is the maximum along time
of the maxima along height of the maxima along width. Along one dimension, a kernel of ``k``
with stride ``s`` is ``k - 1`` elementwise ``torch.maximum`` calls over strided views of the
input, written straight into the output; only the few border positions whose window reaches
into the padding are reduced one by one. Maxima are exact, so the result equals the kernel's
(``torch.equal``: the same values; where a tie is between 0.0 and -0.0 the sign of the zero
may differ, and NaN propagates as in the kernel). PyTorch's CPU ``max_pool3d`` kernel is
5-10x slower in inference; its backward is cheaper than autograd through these views, so
training keeps the kernel.

The padding value matters: ``F.max_pool3d``'s own ``padding`` never wins a maximum (it acts
as -inf), while a network that pads with ``F.pad`` first (TensorFlow's "same" padding, as
I3D does) pools over zeros. :func:`max_pool_padded` takes the value.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

NEG_INF = float("-inf")


def _along(x: Tensor, dim: int, k: int, s: int, front: int, back: int, value: float) -> Tensor:
    """Max-pool along one dimension of ``x`` padded by ``front``/``back`` copies of
    ``value``: ``out[i] = max(xp[i*s], ..., xp[i*s + k - 1])`` with ``xp`` the padded input."""
    n = x.shape[dim]
    if k == 1 and s == 1 and front == 0 and back == 0:
        return x
    count = (n + front + back - k) // s + 1
    if count < 1:
        raise ValueError(f"pooling window {k} larger than the padded size {n + front + back}")
    shape = list(x.shape)
    shape[dim] = count
    out = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=_format_of(x))
    lo = min(-(-front // s), count)  # first output whose window lies inside x
    hi = max(lo, min(count, (n + front - k) // s + 1))  # one past the last such output
    if hi > lo:
        inner = out.narrow(dim, lo, hi - lo)
        views = [_strided(x, dim, lo * s + j - front, hi - lo, s) for j in range(k)]
        if k == 1:
            inner.copy_(views[0])
        else:
            torch.maximum(views[0], views[1], out=inner)
            for view in views[2:]:
                torch.maximum(inner, view, out=inner)
    for i in [*range(lo), *range(hi, count)]:
        start, stop = i * s - front, i * s - front + k
        first, last = max(start, 0), min(stop, n)
        cell = out.narrow(dim, i, 1)
        if last <= first:  # the window lies in the padding alone
            cell.fill_(value)
            continue
        cell.copy_(torch.amax(x.narrow(dim, first, last - first), dim=dim, keepdim=True))
        if value != NEG_INF and (start < 0 or stop > n):
            cell.clamp_(min=value)
    return out


def _strided(x: Tensor, dim: int, start: int, count: int, step: int) -> Tensor:
    index = [slice(None)] * x.dim()
    index[dim] = slice(start, start + (count - 1) * step + 1, step)
    return x[tuple(index)]


def _format_of(x: Tensor) -> torch.memory_format:
    """Keep a channels-last 5D input channels-last (what the convolutions that follow want)."""
    if (
        x.dim() == 5
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last_3d)
    ):
        return torch.channels_last_3d
    return torch.contiguous_format


def max_pool_padded(
    x: Tensor,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[tuple[int, int]],
    value: float = NEG_INF,
) -> Tensor:
    """``F.max_pool3d(F.pad(x, padding, value=value), kernel, stride)`` for ``x`` of shape
    (N, C, T, H, W); ``padding`` is ``(front, back)`` for T, H and W in that order (note:
    the reverse of ``F.pad``'s order). Without gradients only (see the module docstring)."""
    if x.dim() != 5 or len(kernel) != 3 or len(stride) != 3 or len(padding) != 3:
        raise ValueError("max_pool_padded pools (N, C, T, H, W) tensors over T, H and W")
    for offset, (k, s, (front, back)) in enumerate(zip(kernel, stride, padding, strict=True)):
        x = _along(x, 2 + offset, int(k), int(s), int(front), int(back), value)
    return x


def max_pool_333(x: Tensor) -> Tensor:
    """``F.max_pool3d(x, 3, stride=1, padding=1)`` (PyTorch's padding: never the maximum)."""
    return max_pool_padded(x, (3, 3, 3), (1, 1, 1), ((1, 1),) * 3)
