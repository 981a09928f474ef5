"""`tiny_cnn`: a student backbone for distillation, small and fast enough to ship on a CPU.

Four 3×3 convolutions (16-32-64-64 channels at width 1) with one BatchNorm each and max-pooling
after the first two: about 60k weights, a fifth of `small_cnn`'s 290k, and about 5M
multiply-adds at 32×32 against small_cnn's 38M. A width multiplier scales every layer's channels;
`tiny_cnn_x0.5` and `tiny_cnn_x2` are registered too, and `tiny_cnn_spec(width)` makes others.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from engine.models.backbones import Backbone, BackboneSpec, register

BASE_CHANNELS = (16, 32, 64, 64)
WIDTHS = (0.5, 1.0, 2.0)


def scaled(channels: int, width: float) -> int:
    """Channels times the width multiplier, rounded to a multiple of 4 and at least 8."""
    return max(8, round(channels * width / 4) * 4)


def _block(cin: int, cout: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class TinyCNN(nn.Module):
    """conv-pool, conv-pool, conv, conv, global average pooling; `width` scales the channels."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        if not 0 < width <= 8:
            raise ValueError(f"width multiplier {width} is out of range (0, 8]")
        c1, c2, c3, c4 = (scaled(c, width) for c in BASE_CHANNELS)
        self.block1 = _block(3, c1, pool=True)
        self.block2 = _block(c1, c2, pool=True)
        self.block3 = _block(c2, c3, pool=False)
        self.block4 = _block(c3, c4, pool=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dim = c4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.block4(self.block3(self.block2(self.block1(x))))), 1)


def _builder(width: float) -> Callable[[], tuple[nn.Module, Callable[[nn.Module], Backbone]]]:
    def build() -> tuple[nn.Module, Callable[[nn.Module], Backbone]]:
        net = TinyCNN(width)
        return net, lambda m: Backbone(m, net.dim, [m.block1, m.block2, m.block3, m.block4])

    return build


def spec_name(width: float) -> str:
    return "tiny_cnn" if width == 1.0 else f"tiny_cnn_x{width:g}"


def tiny_cnn_spec(width: float = 1.0) -> BackboneSpec:
    """The backbone spec of a TinyCNN of this width (32×32 inputs, the demo's normalisation)."""
    n = sum(p.numel() for p in TinyCNN(width).parameters())
    return BackboneSpec(
        spec_name(width),
        f"Tiny 4-layer CNN for 32x32 images, width ×{width:g} ({n / 1000:.0f}k weights): a distillation student.",
        _builder(width),
        32,
        (0.5, 0.5, 0.5),
        (0.25, 0.25, 0.25),
    )


for _width in WIDTHS:
    register(tiny_cnn_spec(_width))
