"""3D-ResNet-34 (Hara et al.), the architecture behind ``resnet-34-kinetics.pth``.

Follows the 2017 release of kenshohara/3D-ResNets-PyTorch (``models/resnet.py``, ``resnet34``
with ``--resnet_shortcut A``): BasicBlocks [3, 4, 6, 3]; stem conv 7x7x7, stride (1, 2, 2),
padding 3, no bias; BN; ReLU; max-pool 3x3x3 stride 2 padding 1; parameter-free type-A
shortcuts (strided identity + zero channels); ``AvgPool3d((1, 4, 4), stride=1)`` for 16x112x112
input; fc 512 -> 400.  Parameter names equal the published keys (after ``module.``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NAME = "r3d34"
LAYERS = (3, 4, 6, 3)
WIDTHS = (64, 128, 256, 512)


def _conv3x3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class ShortcutA(nn.Module):
    """Type-A shortcut: ``avg_pool3d(kernel 1, stride)`` then zero channels appended."""

    def __init__(self, planes: int, stride: int) -> None:
        super().__init__()
        self.planes = planes
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        out = F.avg_pool3d(x, kernel_size=1, stride=self.stride)
        pad = out.new_zeros(
            (out.size(0), self.planes - out.size(1), out.size(2), out.size(3), out.size(4))
        )
        return torch.cat([out, pad], dim=1)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3x3(planes, planes)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + residual
        return self.relu(out)


class ResNet3D34(nn.Module):
    """3D-ResNet-34 with type-A shortcuts; ``extract`` returns the 512-d pooled vector."""

    backbone_name = NAME
    feature_dim = 512

    def __init__(
        self, sample_size: int = 112, sample_duration: int = 16, num_classes: int = 400
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv3d(
            3, 64, kernel_size=7, stride=(1, 2, 2), padding=(3, 3, 3), bias=False
        )
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=(3, 3, 3), stride=2, padding=1)
        self.layer1 = self._make_layer(WIDTHS[0], LAYERS[0], stride=1)
        self.layer2 = self._make_layer(WIDTHS[1], LAYERS[1], stride=2)
        self.layer3 = self._make_layer(WIDTHS[2], LAYERS[2], stride=2)
        self.layer4 = self._make_layer(WIDTHS[3], LAYERS[3], stride=2)
        last_duration = int(math.ceil(sample_duration / 16))
        last_size = int(math.ceil(sample_size / 32))
        self.avgpool = nn.AvgPool3d((last_duration, last_size, last_size), stride=1)
        self.fc = nn.Linear(512 * BasicBlock.expansion, num_classes)

        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample: nn.Module | None = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = ShortcutA(planes * BasicBlock.expansion, stride)
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * BasicBlock.expansion
        layers += [BasicBlock(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x: Tensor) -> Tensor:
        """Output of the reference ``avgpool`` (B, 512, t, h, w); 1x1x1 for 16x112x112 input."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (B, 400), as the reference ``forward``."""
        x = self.features(x)
        return self.fc(x.view(x.size(0), -1))

    @torch.no_grad()
    def extract(self, x: Tensor) -> Tensor:
        """(B, 3, 16, 112, 112) mean-subtracted 0..255 RGB -> (B, 512) pooled features.

        For the reference input size this is exactly the reference ``avgpool`` output viewed as
        (B, 512); larger inputs leave several pooled positions, which are averaged.
        """
        x = self.features(x)
        return x.flatten(2).mean(dim=2)
