"""Projector and predictor MLPs, and the exponential moving average BYOL's target network follows."""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """Linear -> BatchNorm -> ReLU -> Linear: SimCLR's projection head and BYOL's projector/predictor."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim),
    )


class Encoder(nn.Module):
    """Normalise [0, 1] images, run the backbone, project: `forward(x) -> (features, projection)`."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self, backbone: nn.Module, dim: int, mean: tuple[float, ...], std: tuple[float, ...], hidden: int, out: int
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.backbone = backbone
        self.projector = mlp(dim, hidden, out)

    def train(self, mode: bool = True) -> Encoder:
        """Train mode, but with dropout off: a backbone whose head drops units (small_cnn's
        flatten head) would give the two views of an image independent masks, a difference
        between them the contrastive loss must explain away."""
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.Dropout):
                module.eval()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return h, self.projector(h)


def ema_momentum(step: int, total: int, base: float) -> float:
    """BYOL's schedule: tau rises from `base` to 1 along a cosine over the run."""
    if total <= 0:
        return base
    return 1 - (1 - base) * (math.cos(math.pi * min(step, total) / total) + 1) / 2


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target <- tau * target + (1 - tau) * online, for parameters; buffers are copied."""
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.mul_(tau).add_(o.detach(), alpha=1 - tau)
    for tb, ob in zip(target.buffers(), online.buffers(), strict=True):
        tb.copy_(ob)
