"""SlowFast R50 8x8, Kinetics-400, as published in the PyTorchVideo model zoo.

``SLOWFAST_8x8_R50.pyth`` is a ``torch.save`` dict whose ``model_state`` entry is the
state_dict of ``pytorchvideo.models.slowfast.create_slowfast(model_depth=50,
slowfast_fusion_conv_kernel_size=(7, 1, 1))`` (``pytorchvideo/models/hub/slowfast.py``,
``slowfast_r50``).  This module rebuilds that network with the same module names, so the
state_dict keys are the published ones (``blocks.0.multipathway_blocks.0.conv.weight`` ...
``blocks.6.proj.bias``):

* ``blocks.0``: one stem per pathway (``conv`` 1x7x7 slow / 5x7x7 fast, stride (1, 2, 2),
  padding k//2, no bias; ``norm`` BN eps 1e-5; ReLU; max-pool (1, 3, 3) stride (1, 2, 2)
  padding (0, 1, 1)), 64 and 8 channels, then the fast-to-slow fusion;
* ``blocks.1`` .. ``blocks.4``: ResNet-50 stages (3, 4, 6, 3 bottlenecks) per pathway; the
  slow pathway's ``conv_a`` is 1x1x1 in res2/res3 and 3x1x1 in res4/res5, the fast one's
  3x1x1 everywhere; ``conv_b`` 1x3x3 with the spatial stride (1, 2, 2, 2); ``conv_c`` 1x1x1;
  a 1x1x1 ``branch1_conv`` + ``branch1_norm`` shortcut in each stage's first block;
* fusion after the stem and after res2, res3 and res4 (``multipathway_fusion``):
  ``conv_fast_to_slow`` 7x1x1, stride (4, 1, 1) (alpha = 4), padding (3, 0, 0), channels
  x2, no bias; BN; ReLU; concatenated to the slow pathway's channels; none after res5;
* ``blocks.5``: average pools (8, 7, 7) and (32, 7, 7) (no parameters) and concatenation;
* ``blocks.6``: dropout 0.5 and ``proj`` Linear(2304, 400).

``extract`` returns the 2304-d concatenation of the globally average-pooled slow (2048) and
fast (256) pathway outputs: the head's input (before dropout and ``proj``), the feature of
HERO_Video_Feature_Extractor (``slowfast/extract_feature``) that Moment-DETR used.  For the
reference 32x224x224 window it is exactly ``blocks.5``'s output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

NAME = "slowfast_r50"
ALPHA = 4  # frame-rate ratio fast / slow
BETA_INV = 8  # channel ratio slow / fast
FUSION_RATIO = 2  # channels of the fusion conv: fast channels x 2
FUSION_KERNEL = 7
STAGE_DEPTHS = (3, 4, 6, 3)
# conv_a temporal kernel per stage (res2..res5): slow, fast.
TEMPORAL_KERNELS = ((1, 1, 3, 3), (3, 3, 3, 3))
SPATIAL_STRIDES = (1, 2, 2, 2)
STEM_TEMPORAL_KERNELS = (1, 5)


def slow_indices(frames: int, alpha: int = ALPHA) -> Tensor:
    """The slow pathway's frames of a ``frames``-frame window, as PySlowFast's and HERO's
    ``pack_pathway_output``: ``linspace(0, frames - 1, frames // alpha).long()``."""
    if frames < alpha:
        raise ValueError(f"a SlowFast window needs at least {alpha} frames, got {frames}")
    return torch.linspace(0, frames - 1, frames // alpha).long()


def _bn(channels: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=1e-5, momentum=0.1)


class ResNetBasicStem(nn.Module):
    def __init__(self, dim_out: int, temporal_kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(
            3,
            dim_out,
            kernel_size=(temporal_kernel, 7, 7),
            stride=(1, 2, 2),
            padding=(temporal_kernel // 2, 3, 3),
            bias=False,
        )
        self.norm = _bn(dim_out)
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.activation(self.norm(self.conv(x))))


class FuseFastToSlow(nn.Module):
    def __init__(self, fast_channels: int) -> None:
        super().__init__()
        self.conv_fast_to_slow = nn.Conv3d(
            fast_channels,
            fast_channels * FUSION_RATIO,
            kernel_size=(FUSION_KERNEL, 1, 1),
            stride=(ALPHA, 1, 1),
            padding=(FUSION_KERNEL // 2, 0, 0),
            bias=False,
        )
        self.norm = _bn(fast_channels * FUSION_RATIO)
        self.activation = nn.ReLU()

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        fuse = self.activation(self.norm(self.conv_fast_to_slow(x[1])))
        return [torch.cat([x[0], fuse], 1), x[1]]


class BottleneckBlock(nn.Module):
    def __init__(
        self, dim_in: int, dim_inner: int, dim_out: int, temporal_kernel: int, stride: int
    ) -> None:
        super().__init__()
        self.conv_a = nn.Conv3d(
            dim_in,
            dim_inner,
            kernel_size=(temporal_kernel, 1, 1),
            padding=(temporal_kernel // 2, 0, 0),
            bias=False,
        )
        self.norm_a = _bn(dim_inner)
        self.act_a = nn.ReLU()
        self.conv_b = nn.Conv3d(
            dim_inner,
            dim_inner,
            kernel_size=(1, 3, 3),
            stride=(1, stride, stride),
            padding=(0, 1, 1),
            bias=False,
        )
        self.norm_b = _bn(dim_inner)
        self.act_b = nn.ReLU()
        self.conv_c = nn.Conv3d(dim_inner, dim_out, kernel_size=(1, 1, 1), bias=False)
        self.norm_c = _bn(dim_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act_a(self.norm_a(self.conv_a(x)))
        x = self.act_b(self.norm_b(self.conv_b(x)))
        return self.norm_c(self.conv_c(x))


class ResBlock(nn.Module):
    def __init__(
        self, dim_in: int, dim_inner: int, dim_out: int, temporal_kernel: int, stride: int
    ) -> None:
        super().__init__()
        if dim_in != dim_out or stride != 1:
            self.branch1_conv: nn.Module | None = nn.Conv3d(
                dim_in, dim_out, kernel_size=(1, 1, 1), stride=(1, stride, stride), bias=False
            )
            self.branch1_norm: nn.Module | None = _bn(dim_out)
        else:
            self.branch1_conv = None
            self.branch1_norm = None
        self.branch2 = BottleneckBlock(dim_in, dim_inner, dim_out, temporal_kernel, stride)
        self.activation = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x
        if self.branch1_conv is not None and self.branch1_norm is not None:
            shortcut = self.branch1_norm(self.branch1_conv(x))
        return self.activation(shortcut + self.branch2(x))


class ResStage(nn.Module):
    def __init__(
        self,
        depth: int,
        dim_in: int,
        dim_inner: int,
        dim_out: int,
        temporal_kernel: int,
        stride: int,
    ) -> None:
        super().__init__()
        self.res_blocks = nn.ModuleList(
            ResBlock(
                dim_in if i == 0 else dim_out,
                dim_inner,
                dim_out,
                temporal_kernel,
                stride if i == 0 else 1,
            )
            for i in range(depth)
        )

    def forward(self, x: Tensor) -> Tensor:
        for block in self.res_blocks:
            x = block(x)
        return x


class MultiPathWayWithFuse(nn.Module):
    def __init__(self, blocks: Sequence[nn.Module], fusion: nn.Module) -> None:
        super().__init__()
        self.multipathway_blocks = nn.ModuleList(blocks)
        self.multipathway_fusion = fusion

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        out = [block(x[i]) for i, block in enumerate(self.multipathway_blocks)]
        return self.multipathway_fusion(out)


class PoolConcatPathway(nn.Module):
    """The reference's fixed-size average pools (for 32x224x224 input) and concatenation."""

    def __init__(self, kernels: Sequence[tuple[int, int, int]]) -> None:
        super().__init__()
        self.pool = nn.ModuleList(nn.AvgPool3d(k, stride=(1, 1, 1)) for k in kernels)

    def forward(self, x: list[Tensor]) -> Tensor:
        return torch.cat([pool(x[i]) for i, pool in enumerate(self.pool)], 1)


class ResNetBasicHead(nn.Module):
    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(in_features, num_classes)
        self.output_pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(self.dropout(x).permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        return self.output_pool(x).flatten(1)


class _Identity(nn.Module):
    def forward(self, x: list[Tensor]) -> list[Tensor]:
        return x


class SlowFastR50(nn.Module):
    """SlowFast R50 8x8 with PyTorchVideo's module names; ``extract`` gives 2304-d features."""

    backbone_name = NAME
    feature_dim = 2048 + 2048 // BETA_INV

    def __init__(self, num_classes: int = 400, frames: int = 32, crop: int = 224) -> None:
        super().__init__()
        slow_width, fast_width = 64, 64 // BETA_INV
        blocks: list[nn.Module] = [
            MultiPathWayWithFuse(
                [
                    ResNetBasicStem(slow_width, STEM_TEMPORAL_KERNELS[0]),
                    ResNetBasicStem(fast_width, STEM_TEMPORAL_KERNELS[1]),
                ],
                FuseFastToSlow(fast_width),
            )
        ]
        dim_in, dim_out = slow_width, slow_width * 4
        for stage, depth in enumerate(STAGE_DEPTHS):
            slow_in = dim_in + dim_in * FUSION_RATIO // BETA_INV
            pathways = [
                ResStage(
                    depth,
                    slow_in,
                    dim_out // 4,
                    dim_out,
                    TEMPORAL_KERNELS[0][stage],
                    SPATIAL_STRIDES[stage],
                ),
                ResStage(
                    depth,
                    dim_in // BETA_INV,
                    dim_out // 4 // BETA_INV,
                    dim_out // BETA_INV,
                    TEMPORAL_KERNELS[1][stage],
                    SPATIAL_STRIDES[stage],
                ),
            ]
            fusion: nn.Module = (
                FuseFastToSlow(dim_out // BETA_INV)
                if stage < len(STAGE_DEPTHS) - 1
                else _Identity()
            )
            blocks.append(MultiPathWayWithFuse(pathways, fusion))
            dim_in, dim_out = dim_out, dim_out * 2
        grid = crop // 32
        blocks.append(PoolConcatPathway([(frames // ALPHA, grid, grid), (frames, grid, grid)]))
        blocks.append(ResNetBasicHead(self.feature_dim, num_classes))
        self.blocks = nn.ModuleList(blocks)

    @staticmethod
    def pathways(x: Tensor | Sequence[Tensor]) -> list[Tensor]:
        """[slow, fast] from a (B, 3, T, H, W) window (slow frames: :func:`slow_indices`) or
        from an explicit ``[slow, fast]`` pair."""
        if isinstance(x, Tensor):
            return [x.index_select(2, slow_indices(x.shape[2]).to(x.device)), x]
        slow, fast = x
        return [slow, fast]

    def pathway_features(self, x: Tensor | Sequence[Tensor]) -> list[Tensor]:
        """Outputs of res5 for the slow and the fast pathway, (B, 2048, T/4, h, w) and
        (B, 256, T, h, w)."""
        out = self.pathways(x)
        for block in self.blocks[:5]:
            out = block(out)
        return out

    def forward(self, x: Tensor | Sequence[Tensor]) -> Tensor:
        """Class logits (B, 400) as the reference ``Net.forward`` (32x224x224 input)."""
        return self.blocks[6](self.blocks[5](self.pathway_features(x)))

    @torch.no_grad()
    def extract(self, x: Tensor | Sequence[Tensor]) -> Tensor:
        """(B, 3, 32, 224, 224) normalised RGB -> (B, 2304): the slow (2048) then the fast
        (256) pathway's res5 output averaged over time and space.

        Other sizes work too (at least 4 frames; for the reference 32x224x224 this equals
        the reference's ``AvgPool3d`` head input).
        """
        slow, fast = self.pathway_features(x)
        return torch.cat([slow.mean(dim=(2, 3, 4)), fast.mean(dim=(2, 3, 4))], dim=1)
