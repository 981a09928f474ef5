"""The image classifier every method trains: normalise -> backbone -> bottleneck -> head.

It takes float images in [0, 1] (the normalisation lives inside), so attacks, ONNX export and
other tools all see the same pixel-space model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.models.backbones import get_backbone_spec
from engine.models.weights import load_into, resolve_pretrained


class ImageClassifier(nn.Module):
    """`forward(x01) -> logits`; `features(x01) -> [N, feature_dim]` (after the bottleneck)."""

    mean: torch.Tensor  # buffers, [1, 3, 1, 1]: the backbone's input normalisation
    std: torch.Tensor

    def __init__(
        self,
        backbone: nn.Module,
        backbone_dim: int,
        num_classes: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        stages: list[nn.Module] | None = None,
        bottleneck_dim: int = 0,
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.backbone = backbone
        self._stages = stages or [backbone]
        if bottleneck_dim > 0:
            self.bottleneck: nn.Module = nn.Sequential(
                nn.Linear(backbone_dim, bottleneck_dim), nn.BatchNorm1d(bottleneck_dim), nn.ReLU(inplace=True)
            )
            self.feature_dim = bottleneck_dim
        else:
            self.bottleneck = nn.Identity()
            self.feature_dim = backbone_dim
        self.backbone_dim = backbone_dim
        self.head = nn.Linear(self.feature_dim, num_classes)
        self.num_classes = num_classes
        self.pretrained = False  # set by build_model when the backbone's weights were loaded

    @property
    def stages(self) -> list[nn.Module]:
        return list(self._stages)

    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone((x - self.mean) / self.std)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(self.backbone_features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def new_parameters(self) -> list[nn.Parameter]:
        """Parameters created for this task (bottleneck and head), trained at the full rate."""
        return list(self.bottleneck.parameters()) + list(self.head.parameters())


def build_model(
    backbone: str, num_classes: int, weights: str = "random", bottleneck_dim: int = 0, **_: Any
) -> ImageClassifier:
    """Build a classifier on a registered backbone; `weights` as in `resolve_pretrained`."""
    spec = get_backbone_spec(backbone)
    full, extract = spec.build()
    state = resolve_pretrained(spec, weights)
    if state is not None:
        load_into(full, state, weights if weights not in ("auto", "pretrained", "imagenet") else str(spec.weights_file))
    bb = extract(full)
    model = ImageClassifier(bb.module, bb.dim, num_classes, spec.mean, spec.std, bb.stages, bottleneck_dim)
    model.pretrained = state is not None
    return model
