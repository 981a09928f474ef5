"""`tiny_cnn`: a student backbone for distillation, small and fast enough to ship on a CPU.

Four 3×3 convolutions (16-32-64-64 channels at width 1) with one BatchNorm each and max-pooling
after the first two: about 61k weights, a tenth of `small_cnn`'s 620k. A width multiplier scales
every layer's channels; `tiny_cnn_x0.5` and `tiny_cnn_x2` are registered too, and
`tiny_cnn_spec(width)` makes others. `tiny_cnn_fc` swaps global pooling for small_cnn's kind
of flatten head (127k weights, a fifth of small_cnn's), which keeps where the strokes are.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from engine.models.backbones import Backbone, BackboneSpec, GridPool, register

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
    """conv-pool, conv-pool, conv, conv, then a head; `width` scales the channels.

    head "gap" (`tiny_cnn`): global average pooling, so Grad-CAM's exact form (CAM) applies.
    head "flatten" (`tiny_cnn_fc`): the last map pooled to 4x4 and mapped through a `hidden`-wide
    layer with dropout, as `small_cnn`'s head (keeps where the strokes are; about 2x the weights,
    still under a quarter of small_cnn's).
    """

    def __init__(self, width: float = 1.0, head: str = "gap", hidden: int = 64) -> None:
        super().__init__()
        if not 0 < width <= 8:
            raise ValueError(f"width multiplier {width} is out of range (0, 8]")
        c1, c2, c3, c4 = (scaled(c, width) for c in BASE_CHANNELS)
        self.block1 = _block(3, c1, pool=True)
        self.block2 = _block(c1, c2, pool=True)
        self.block3 = _block(c2, c3, pool=False)
        self.block4 = _block(c3, c4, pool=False)
        self.pool: nn.Module
        self.fc: nn.Module = nn.Identity()
        if head == "gap":
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.dim = c4
        elif head == "flatten":
            width_hidden = scaled(hidden, width)
            self.pool = GridPool(4)
            self.fc = nn.Sequential(nn.Linear(c4 * 16, width_hidden), nn.ReLU(inplace=True), nn.Dropout(0.5))
            self.dim = width_hidden
        else:
            raise ValueError(f"unknown head {head!r}: use 'gap' or 'flatten'")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.block4(self.block3(self.block2(self.block1(x))))), 1))


def _builder(width: float, head: str = "gap") -> Callable[[], tuple[nn.Module, Callable[[nn.Module], Backbone]]]:
    def build() -> tuple[nn.Module, Callable[[nn.Module], Backbone]]:
        net = TinyCNN(width, head)
        return net, lambda m: Backbone(m, net.dim, [m.block1, m.block2, m.block3, m.block4])

    return build


def spec_name(width: float, head: str = "gap") -> str:
    base = "tiny_cnn" if head == "gap" else "tiny_cnn_fc"
    return base if width == 1.0 else f"{base}_x{width:g}"


def tiny_cnn_spec(width: float = 1.0, head: str = "gap") -> BackboneSpec:
    """The backbone spec of a TinyCNN of this width and head (32×32 inputs, the demo's normalisation)."""
    n = sum(p.numel() for p in TinyCNN(width, head).parameters())
    kind = "global pooling" if head == "gap" else "flatten head"
    return BackboneSpec(
        spec_name(width, head),
        f"Tiny 4-layer CNN for 32x32 images, {kind}, width ×{width:g} ({n / 1000:.0f}k weights): a distillation student.",
        _builder(width, head),
        32,
        (0.5, 0.5, 0.5),
        (0.25, 0.25, 0.25),
    )


for _width in WIDTHS:
    register(tiny_cnn_spec(_width))
    register(tiny_cnn_spec(_width, "flatten"))
