"""C3D (Tran et al. 2015) as ported to PyTorch by DavideA (``c3d.pickle``, Sports-1M, 487 classes).

Same layers, names and forward as DavideA/c3d-pytorch ``C3D_model.py``: 3x3x3 convolutions with
bias and padding 1, max-pools (1,2,2) after conv1 and (2,2,2) after conv2, conv3b, conv4b and
conv5b (the last one with padding (0,1,1)), then ``view(-1, 8192)`` and fc6/fc7/fc8.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

NAME = "c3d"


class C3D(nn.Module):
    """C3D; ``extract`` returns relu(fc6) (4096-d); dropout is inactive in eval mode."""

    backbone_name = NAME
    feature_dim = 4096

    def __init__(self, num_classes: int = 487) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, 64, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.pool1 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
        self.conv2 = nn.Conv3d(64, 128, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.pool2 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.conv3a = nn.Conv3d(128, 256, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.conv3b = nn.Conv3d(256, 256, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.pool3 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.conv4a = nn.Conv3d(256, 512, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.conv4b = nn.Conv3d(512, 512, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.pool4 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.conv5a = nn.Conv3d(512, 512, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.conv5b = nn.Conv3d(512, 512, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.pool5 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 1, 1))
        self.fc6 = nn.Linear(8192, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, num_classes)
        self.dropout = nn.Dropout(p=0.5)
        self.relu = nn.ReLU()

    def conv_features(self, x: Tensor) -> Tensor:
        """pool5 output flattened exactly like the reference: ``view(-1, 8192)``."""
        h = self.pool1(self.relu(self.conv1(x)))
        h = self.pool2(self.relu(self.conv2(h)))
        h = self.pool3(self.relu(self.conv3b(self.relu(self.conv3a(h)))))
        h = self.pool4(self.relu(self.conv4b(self.relu(self.conv4a(h)))))
        h = self.pool5(self.relu(self.conv5b(self.relu(self.conv5a(h)))))
        return h.reshape(-1, 8192)  # the reference's view(-1, 8192), for any memory layout

    def forward(self, x: Tensor) -> Tensor:
        """Class probabilities (softmax over fc8), as the reference ``forward``."""
        h = self.dropout(self.relu(self.fc6(self.conv_features(x))))
        h = self.dropout(self.relu(self.fc7(h)))
        return torch.softmax(self.fc8(h), dim=1)

    @torch.no_grad()
    def extract(self, x: Tensor) -> Tensor:
        """(B, 3, 16, 112, 112) -> (B, 4096) = relu(fc6) (then dropout, a no-op in eval mode)."""
        return self.dropout(self.relu(self.fc6(self.conv_features(x))))
