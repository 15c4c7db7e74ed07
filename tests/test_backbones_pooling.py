"""Max-pooling by shifted maxima equals PyTorch's max_pool3d, value for value."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from highlight_pipeline.features.backbones.pooling_fast import max_pool_333, max_pool_padded

NEG_INF = float("-inf")


def reference(x: torch.Tensor, kernel, stride, padding, value: float) -> torch.Tensor:
    (t0, t1), (h0, h1), (w0, w1) = padding
    return F.max_pool3d(F.pad(x, (w0, w1, h0, h1, t0, t1), value=value), kernel, stride)


def signed(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Values of both signs, so that a zero padding wins at some borders and loses at others."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# I3D's pools with "same" padding at the sizes a 224x224, 16- or 9-frame window reaches, and
# odd sizes, strides 1 to 3, kernels 1 to 3 and paddings up to a whole window.
CASES = [
    ((2, 4, 8, 112, 112), (1, 3, 3), (1, 2, 2), ((0, 0), (0, 1), (0, 1))),
    ((1, 3, 5, 57, 57), (1, 3, 3), (1, 2, 2), ((0, 0), (1, 1), (1, 1))),
    ((2, 5, 8, 28, 28), (3, 3, 3), (2, 2, 2), ((0, 1), (0, 1), (0, 1))),
    ((1, 6, 5, 15, 15), (3, 3, 3), (2, 2, 2), ((1, 1), (1, 1), (1, 1))),
    ((2, 3, 7, 9, 11), (3, 3, 3), (1, 1, 1), ((1, 1), (1, 1), (1, 1))),
    ((1, 4, 4, 14, 14), (2, 2, 2), (2, 2, 2), ((0, 0), (0, 0), (0, 0))),
    ((1, 4, 3, 7, 13), (2, 2, 2), (2, 2, 2), ((0, 1), (0, 1), (0, 1))),
    ((1, 2, 1, 1, 2), (3, 3, 3), (2, 2, 2), ((1, 1), (1, 1), (1, 0))),
    ((1, 2, 6, 10, 17), (3, 2, 3), (3, 1, 2), ((2, 0), (0, 1), (2, 2))),
    ((1, 2, 4, 5, 6), (2, 1, 2), (1, 3, 1), ((1, 1), (0, 0), (0, 0))),
    ((1, 2, 3, 4, 5), (2, 2, 2), (1, 1, 1), ((2, 0), (0, 2), (1, 1))),  # windows in padding
]


@pytest.mark.parametrize(("shape", "kernel", "stride", "padding"), CASES)
@pytest.mark.parametrize("value", [0.0, NEG_INF, 0.25])
def test_equals_padded_max_pool3d(shape, kernel, stride, padding, value) -> None:
    x = signed(shape, seed=sum(shape))
    expected = reference(x, kernel, stride, padding, value)
    got = max_pool_padded(x, kernel, stride, padding, value)
    assert got.shape == expected.shape
    assert torch.equal(got, expected)
    last = x.contiguous(memory_format=torch.channels_last_3d)
    got_last = max_pool_padded(last, kernel, stride, padding, value)
    assert torch.equal(got_last, expected)
    if got_last.shape[1] > 1 and got_last.shape[2:].numel() > 1:
        assert got_last.is_contiguous(memory_format=torch.channels_last_3d)


def test_zero_padding_is_not_minus_infinity() -> None:
    """The padding value matters where a border window holds only negative values."""
    x = -torch.rand((1, 1, 1, 4, 4)) - 0.5
    pads = ((0, 0), (0, 1), (0, 1))
    zero = max_pool_padded(x, (1, 3, 3), (1, 2, 2), pads, 0.0)
    inf = max_pool_padded(x, (1, 3, 3), (1, 2, 2), pads, NEG_INF)
    assert float(zero[0, 0, 0, -1, -1]) == 0.0
    assert float(inf[0, 0, 0, -1, -1]) < 0.0
    assert torch.equal(inf[..., :1, :1], zero[..., :1, :1])  # interior windows agree


@pytest.mark.parametrize("shape", [(2, 3, 4, 5, 6), (1, 8, 7, 9, 1), (1, 1, 1, 1, 1)])
def test_max_pool_333_equals_kernel(shape) -> None:
    x = signed(shape, seed=3)
    assert torch.equal(max_pool_333(x), F.max_pool3d(x, 3, stride=1, padding=1))


def test_nan_propagates_as_in_the_kernel() -> None:
    x = signed((1, 2, 5, 6, 7), seed=5)
    x[0, 1, 2, 3, 4] = float("nan")
    x[0, 0, 0, 0, 0] = float("nan")  # at a corner: reaches border windows too
    for kernel, stride in itertools.product([(3, 3, 3), (1, 3, 3)], [(1, 1, 1), (2, 2, 2)]):
        padding = ((kernel[0] // 2,) * 2, (1, 1), (1, 1))
        expected = reference(x, kernel, stride, padding, 0.0)
        got = max_pool_padded(x, kernel, stride, padding, 0.0)
        assert torch.equal(torch.isnan(got), torch.isnan(expected))
        assert torch.equal(got.nan_to_num(), expected.nan_to_num())


def test_rejects_other_shapes() -> None:
    with pytest.raises(ValueError):
        max_pool_padded(torch.zeros(2, 3, 4, 5), (3, 3, 3), (1, 1, 1), ((1, 1),) * 3)
    with pytest.raises(ValueError):  # a window larger than the padded input
        max_pool_padded(torch.zeros(1, 1, 2, 2, 2), (3, 3, 3), (1, 1, 1), ((0, 0),) * 3)
