"""Backbone registry: feature extractors mapping normalised images [N,3,H,W] to vectors [N,D].

Each entry knows its default input size, its normalisation, how to split itself into stages
(for freezing the first N) and which pretrained weights file it expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from engine.core.registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Backbone:
    """A built feature extractor: `module(x) -> [N, dim]`, with its ordered stages."""

    module: nn.Module
    dim: int
    stages: list[nn.Module]


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    summary: str
    build: Callable[[], tuple[nn.Module, Callable[[nn.Module], Backbone]]]
    input_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    weights_url: str | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def weights_file(self) -> str | None:
        return self.weights_url.rsplit("/", 1)[-1] if self.weights_url else None

    @property
    def has_pretrained(self) -> bool:
        return self.weights_url is not None


BACKBONES: Registry[BackboneSpec] = Registry("backbone")


def register(spec: BackboneSpec) -> BackboneSpec:
    return BACKBONES.add(spec.name, spec)


def get_backbone_spec(name: str) -> BackboneSpec:
    return BACKBONES.get(name)


def list_backbones() -> list[str]:
    return BACKBONES.names()


# ----------------------------------------------------------------------------- small CNN
SmallHead = Literal["flatten", "gap"]


def _conv_block(cin: int, cout: int, convs: int = 2) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(convs):
        layers += [nn.Conv2d(cin if k == 0 else cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)]
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class GridPool(nn.Module):
    """The feature map resampled to `size` x `size`, in a form ONNX can export at any input size.

    A map whose sides are multiples of `size` is average-pooled exactly (what AdaptiveAvgPool2d
    does there; the identity at 32 px); any other is resampled bilinearly. ONNX has no adaptive
    pooling for sizes that do not divide evenly (an 8 or 28 px model would not export)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if h % self.size == 0 and w % self.size == 0:
            kernel = (h // self.size, w // self.size)
            return x if kernel == (1, 1) else nn.functional.avg_pool2d(x, kernel)
        return nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)


class SmallCNN(nn.Module):
    """Three conv blocks (conv-BN-ReLU x `convs`, then 2x2 max pooling) and a head.

    Heads: "gap" averages the last feature map over the whole image (one vector per channel);
    "flatten" keeps the 4x4 layout (the last map at 32 px; other sizes are average-pooled to
    4x4) and maps it through a fully connected `hidden`-wide layer, ReLU and dropout, as the
    classic digit-adaptation nets (Ganin's, TLLib's LeNet) do. Global pooling mixes the textured
    background of a target image into every channel, and throws away where a stroke is, which
    the digit's identity depends on; see the README's *Domain adaptation* for the measurement.
    """

    def __init__(
        self,
        channels: tuple[int, int, int] = (32, 64, 128),
        convs: int = 1,
        head: SmallHead = "flatten",
        hidden: int = 256,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if head not in ("flatten", "gap"):
            raise ValueError(f"unknown head {head!r}: use 'flatten' or 'gap'")
        c1, c2, c3 = channels
        self.block1 = _conv_block(3, c1, convs)
        self.block2 = _conv_block(c1, c2, convs)
        self.block3 = _conv_block(c2, c3, convs)
        self.head_kind = head
        self.pool: nn.Module
        if head == "gap":
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc: nn.Module = nn.Identity()
            self.dim = c3
        else:
            self.pool = GridPool(4)  # the identity at 32 px; any input size gives 4x4
            self.fc = nn.Sequential(nn.Linear(c3 * 16, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
            self.dim = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.block3(self.block2(self.block1(x)))), 1))


def _small_cnn(
    convs: int = 1, head: SmallHead = "flatten"
) -> Callable[[], tuple[nn.Module, Callable[[nn.Module], Backbone]]]:
    def build() -> tuple[nn.Module, Callable[[nn.Module], Backbone]]:
        net = SmallCNN(convs=convs, head=head)
        return net, lambda m: Backbone(m, m.dim, [m.block1, m.block2, m.block3, m.fc])

    return build


# ----------------------------------------------------------------------------- torchvision
class _Pooled(nn.Module):
    """torchvision trunk + global pooling + flatten (drops the ImageNet classifier)."""

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.trunk(x)), 1)


def _resnet(arch: str, dim: int) -> Callable[[], tuple[nn.Module, Callable[[nn.Module], Backbone]]]:
    def build() -> tuple[nn.Module, Callable[[nn.Module], Backbone]]:
        import torchvision

        full = getattr(torchvision.models, arch)(weights=None)

        def extract(m: nn.Module) -> Backbone:
            assert isinstance(m, torchvision.models.ResNet)
            stem = nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool)
            trunk = nn.Sequential(stem, m.layer1, m.layer2, m.layer3, m.layer4)
            return Backbone(_Pooled(trunk), dim, list(trunk))

        return full, extract

    return build


def _features_net(arch: str, dim: int) -> Callable[[], tuple[nn.Module, Callable[[nn.Module], Backbone]]]:
    """MobileNet / EfficientNet: `features` is a Sequential of blocks; each block is a stage."""

    def build() -> tuple[nn.Module, Callable[[nn.Module], Backbone]]:
        import torchvision

        full = getattr(torchvision.models, arch)(weights=None)
        return full, lambda m: Backbone(_Pooled(m.features), dim, list(m.features))

    return build


_TV = "https://download.pytorch.org/models/"
# Demo-scale networks, trained from scratch on 32 px images centred at 0.5.
for _name, _build, _summary in (
    ("small_cnn", _small_cnn(), "Small CNN for 32x32 images (3 conv blocks, flatten -> 256 -> dropout head); trains in seconds on a CPU."),
    ("small_cnn_gap", _small_cnn(convs=2, head="gap"), "The former small_cnn: two convs per block and global average pooling (128 features); position-free, for self-ensembling and objects small or anywhere in the frame."),
):  # fmt: skip
    register(BackboneSpec(_name, _summary, _build, 32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))
# torchvision's ImageNet networks at 224 px: (builder, feature width, weights file, summary).
for _arch, _make, _dim, _file, _summary in (
    ("resnet18", _resnet, 512, "resnet18-f37072fd.pth", "ResNet-18 (11.7M weights), ImageNet-pretrained."),
    ("resnet50", _resnet, 2048, "resnet50-0676ba61.pth", "ResNet-50 (25.6M weights), ImageNet-pretrained."),
    ("mobilenet_v3_small", _features_net, 576, "mobilenet_v3_small-047dcff4.pth", "MobileNetV3-Small (2.5M weights), fast on CPUs and phones."),
    ("efficientnet_b0", _features_net, 1280, "efficientnet_b0_rwightman-7f5810bc.pth", "EfficientNet-B0 (5.3M weights), accurate for its size."),
):  # fmt: skip
    register(BackboneSpec(_arch, _summary, _make(_arch, _dim), 224, weights_url=_TV + _file))

from engine.models import tiny  # noqa: E402,F401  (registers tiny_cnn; keep last)
