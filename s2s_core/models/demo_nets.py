"""Demo-sized members of the five classifier families of the paper (Sec. 3.3), for 64 px inputs on a CPU.

The paper fine-tunes autoencoders on LeNet-5, AlexNet, VGG-16-BN, ResNet-50 and Inception v3. The demo zoo
trains its own classifiers on 64 x 64 images with 10 classes, so each family is rebuilt here with the
structural elements that set it apart, at a size a 2-core machine trains in minutes (each < 1.5 M parameters):

- LeNet-5: two 5x5 convolution + pooling blocks and fully connected layers 120-84 (``lenet.LeNet5``).
- AlexNet: a large-stride first convolution, overlapping 3x3/2 max-pools, no batch norm, dropout FC layers.
- VGG-BN: stacks of 3x3 convolution + BN + ReLU separated by 2x2 max-pools, FC head with dropout.
- ResNet: a 7x7/2 stem, bottleneck residual blocks (1x1-3x3-1x1, expansion 4) with BN and projection shortcuts.
- Inception: a BN stem, Inception v3 "A" modules (parallel 1x1 / 1x1-3x3 / 1x1-3x3-3x3 (factored 5x5) /
  avgpool-1x1 branches), a grid-reduction module and factored 1x3 / 3x1 branches.

All take normalised images ``(B, 3, H, W)`` (any ``H, W >= 32``; 64 by design) and return logits
``(B, num_classes)``. The registry (``classifiers.py``) wraps them with the resize + normalisation step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from s2s_core.models.lenet import LeNet5

DEMO_INPUT_SIZE = 64
DEMO_NUM_CLASSES = 10


def _conv_bn(cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv (no bias) + BN (+ ReLU), 'same' padding for odd kernels."""
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride=stride, padding=(k[0] // 2, k[1] // 2), bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class AlexNetDemo(nn.Module):
    """AlexNet-style: conv7x7/2 -> pool -> conv5x5 -> pool -> 3 x conv3x3 -> pool -> dropout FC x 2 -> FC.

    64 px: 32 -> 15 -> 7 -> 3 spatial, 64 x 3 x 3 features into the head. No batch norm, like AlexNet.
    """

    def __init__(self, num_classes: int = DEMO_NUM_CLASSES, widths: Sequence[int] = (24, 48, 96, 96, 64),
                 hidden: int = 384, dropout: float = 0.5) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, 7, stride=2, padding=3), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
        )
        self.pool = nn.AdaptiveAvgPool2d((3, 3))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(c5 * 9, hidden), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )
        # He init for the ReLU convolutions: without BN, PyTorch's default init shrinks the signal ~2x per layer
        # and training from scratch stalls at chance for many steps.
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, num_classes)``."""
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class VGGDemo(nn.Module):
    """VGG-BN-style: per stage ``depth`` x (conv3x3 + BN + ReLU), then maxpool 2x2; FC head with dropout.

    Default 5 stages (like VGG-16's) 64 -> 2 px, widths 12-24-48-96-128, depths 1-1-2-2-2.
    """

    def __init__(self, num_classes: int = DEMO_NUM_CLASSES, widths: Sequence[int] = (12, 24, 48, 96, 128),
                 depths: Sequence[int] = (1, 1, 2, 2, 2), hidden: int = 256, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for width, depth in zip(widths, depths, strict=True):
            for _ in range(depth):
                layers.append(_conv_bn(cin, width, 3))
                cin = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(cin * 4, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, num_classes)``."""
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 (width) -> 3x3 (width, stride) -> 1x1 (4 x width), BN after each, identity or
    1x1-projection shortcut, ReLU after the sum. ``(B, cin, H, W) -> (B, 4 width, H / stride, W / stride)``."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.body = nn.Sequential(
            _conv_bn(cin, width, 1),
            _conv_bn(width, width, 3, stride=stride),
            _conv_bn(width, cout, 1, relu=False),
        )
        nn.init.zeros_(self.body[2][1].weight)  # zero-init the last BN: each block starts as the identity
        self.shortcut = (
            nn.Identity() if stride == 1 and cin == cout else _conv_bn(cin, cout, 1, stride=stride, relu=False)
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNetDemo(nn.Module):
    """ResNet-style: stem conv7x7/2 + BN + ReLU + maxpool 3x3/2, four stages of bottlenecks (the first block of
    stages 2-4 has stride 2), global average pool, FC. 64 px: 32 -> 16 -> 16 -> 8 -> 4 -> 2 spatial."""

    def __init__(self, num_classes: int = DEMO_NUM_CLASSES, stem: int = 32, widths: Sequence[int] = (16, 32, 64, 96),
                 blocks: Sequence[int] = (1, 2, 2, 1)) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(3, stem, 7, stride=2), nn.MaxPool2d(3, stride=2, padding=1))
        stages: list[nn.Module] = []
        cin = stem
        for i, (width, n) in enumerate(zip(widths, blocks, strict=True)):
            for j in range(n):
                stages.append(Bottleneck(cin, width, stride=2 if (i > 0 and j == 0) else 1))
                cin = width * Bottleneck.expansion
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, num_classes)``."""
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))


class InceptionA(nn.Module):
    """Inception v3 module A: concat of 1x1 | 1x1-3x3 | 1x1-3x3-3x3 (a factored 5x5) | avgpool3x3-1x1.
    ``(B, cin, H, W) -> (B, b1 + b3 + b5 + bp, H, W)``."""

    def __init__(self, cin: int, b1: int, b3: tuple[int, int], b5: tuple[int, int], bp: int) -> None:
        super().__init__()
        self.branch1 = _conv_bn(cin, b1, 1)
        self.branch3 = nn.Sequential(_conv_bn(cin, b3[0], 1), _conv_bn(b3[0], b3[1], 3))
        self.branch5 = nn.Sequential(_conv_bn(cin, b5[0], 1), _conv_bn(b5[0], b5[1], 3), _conv_bn(b5[1], b5[1], 3))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), _conv_bn(cin, bp, 1))
        self.out_channels = b1 + b3[1] + b5[1] + bp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], 1)


class InceptionReduction(nn.Module):
    """Grid reduction (Inception v3 module B): concat of 3x3/2 | 1x1-3x3-3x3/2 | maxpool 3x3/2, halving H and W.
    ``(B, cin, H, W) -> (B, b3 + b33 + cin, H/2, W/2)``."""

    def __init__(self, cin: int, b3: int, b33: tuple[int, int]) -> None:
        super().__init__()
        self.branch3 = _conv_bn(cin, b3, 3, stride=2)
        self.branch33 = nn.Sequential(_conv_bn(cin, b33[0], 1), _conv_bn(b33[0], b33[1], 3),
                                      _conv_bn(b33[1], b33[1], 3, stride=2))
        self.branch_pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.out_channels = b3 + b33[1] + cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch3(x), self.branch33(x), self.branch_pool(x)], 1)


class InceptionC(nn.Module):
    """Inception v3 module with asymmetric factorisation (Szegedy et al. 2016, Fig. 6/7): concat of 1x1 |
    1x1-(1x3 | 3x1) | 1x1-3x3-(1x3 | 3x1) | avgpool-1x1. ``(B, cin, H, W) -> (B, b1 + 2 b3 + 2 b33 + bp, H, W)``."""

    def __init__(self, cin: int, b1: int, b3: int, b33: int, bp: int) -> None:
        super().__init__()
        self.branch1 = _conv_bn(cin, b1, 1)
        self.branch3 = _conv_bn(cin, b3, 1)
        self.branch3_a, self.branch3_b = _conv_bn(b3, b3, (1, 3)), _conv_bn(b3, b3, (3, 1))
        self.branch33 = nn.Sequential(_conv_bn(cin, b33, 1), _conv_bn(b33, b33, 3))
        self.branch33_a, self.branch33_b = _conv_bn(b33, b33, (1, 3)), _conv_bn(b33, b33, (3, 1))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), _conv_bn(cin, bp, 1))
        self.out_channels = b1 + 2 * b3 + 2 * b33 + bp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3, b33 = self.branch3(x), self.branch33(x)
        return torch.cat([self.branch1(x), self.branch3_a(b3), self.branch3_b(b3),
                          self.branch33_a(b33), self.branch33_b(b33), self.branch_pool(x)], 1)


class InceptionDemo(nn.Module):
    """Inception-v3-style: stem (conv3x3/2, conv3x3, maxpool) -> 2 x module A at 16 px -> reduction -> module A at
    8 px -> reduction -> module C at 4 px -> global average pool -> dropout -> FC."""

    def __init__(self, num_classes: int = DEMO_NUM_CLASSES, dropout: float = 0.2) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(3, 24, 3, stride=2), _conv_bn(24, 32, 3), nn.MaxPool2d(3, stride=2, padding=1))
        a1 = InceptionA(32, 16, (16, 24), (8, 12), 12)           # 64 channels
        a2 = InceptionA(a1.out_channels, 24, (24, 32), (12, 16), 16)  # 88
        r1 = InceptionReduction(a2.out_channels, 48, (24, 32))  # 168
        a3 = InceptionA(r1.out_channels, 48, (32, 64), (16, 32), 32)  # 176
        r2 = InceptionReduction(a3.out_channels, 96, (32, 48))  # 320
        c1 = InceptionC(r2.out_channels, 64, 48, 48, 48)        # 304
        self.blocks = nn.Sequential(a1, a2, r1, a3, r2, c1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c1.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, num_classes)``."""
        return self.fc(self.dropout(torch.flatten(self.pool(self.blocks(self.stem(x))), 1)))


#: registry name -> (network constructor ``f(num_classes) -> nn.Module``, family, description)
DEMO_ENTRIES: dict[str, tuple[Callable[[int], nn.Module], str, str]] = {
    "lenet5_demo": (lambda n: LeNet5(num_classes=n), "LeNet",
                    "LeNet-5 (conv5x5-pool x 2, FC 120-84), 64 px, demo-sized"),
    "alexnet_demo": (lambda n: AlexNetDemo(num_classes=n), "AlexNet",
                     "AlexNet-style (7x7/2 stem, overlapping max-pools, no BN, dropout FC), 64 px, demo-sized"),
    "vgg_demo": (lambda n: VGGDemo(num_classes=n), "VGG",
                 "VGG-BN-style (3x3 conv + BN stacks, max-pools), 64 px, demo-sized"),
    "resnet_demo": (lambda n: ResNetDemo(num_classes=n), "ResNet",
                    "ResNet-style (7x7/2 stem, bottleneck residual blocks with BN), 64 px, demo-sized"),
    "inception_demo": (lambda n: InceptionDemo(num_classes=n), "Inception",
                       "Inception-v3-style (parallel 1x1/3x3/factored-5x5/pool branches, BN), 64 px, demo-sized"),
}
