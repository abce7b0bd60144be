"""LeNet-5 for RGB images of any size (Palacio et al., Sec. 3.3).

The paper adds "a version of LeNet-5 modified to take input images of size 224 x 224 pixels" as a lower
bound in accuracy. LeNet-5 proper is two 5x5 convolution + 2x2 pooling blocks followed by fully connected
layers of 120 and 84 units; at 224 px the second block leaves a 16 x 53 x 53 map, far more than the
16 x 5 x 5 = 400 inputs the 120-unit layer of LeNet takes. An adaptive average pool to 5 x 5 closes that gap,
so the same network works at 224 px (the registry's ``lenet5``) and at 64 px (``lenet5_demo``).
"""

from __future__ import annotations

import torch
from torch import nn

from s2s_core.errors import ConfigError

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class LeNet5(nn.Module):
    """conv5x5(6)-act-maxpool2 -> conv5x5(16)-act-maxpool2 -> adaptive avg pool 5x5 -> fc 120-84-num_classes.

    Input: normalised images ``(B, in_channels, H, W)`` with ``H, W >= 16``; output: logits ``(B, num_classes)``.
    ``activation`` is ``"relu"`` (default: trains quickly from scratch) or ``"tanh"`` (LeCun et al. 1998).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, activation: str = "relu") -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"unknown LeNet-5 activation {activation!r}: use one of {sorted(_ACTIVATIONS)}")
        act = _ACTIVATIONS[activation]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5),
            act(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5),
            act(),
            nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d((5, 5))
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),
            act(),
            nn.Linear(120, 84),
            act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` normalised images -> ``(B, num_classes)`` logits."""
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
