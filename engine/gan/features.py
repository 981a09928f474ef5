"""Feature extractors for the scores: a run's classifier, or a fixed randomly initialised CNN.

Nothing is downloaded. A trained classifier's features (a run of this app) are the most
meaningful: they separate what the task cares about. Without one, a CNN with fixed random
weights (seed 0, always the same network) still embeds colour, texture and shape statistics
well enough to rank generators (random-feature FID/KID track Inception ones closely on small
images; Naeem et al. 2020 §5). Either way the numbers are comparable with each other, computed
with the same features, and not with published Inception FIDs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

RANDOM_CNN = "random-cnn"
NOTE = (
    "Scores use the features of {features}; they are comparable with other scores on the same features, "
    "not with published Inception FID/KID values."
)


class RandomCNN(nn.Module):
    """A fixed random CNN: 4 conv + ReLU stages; the mean of each and the last one pooled to 2x2 (960 dims)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        chans = [3, 64, 128, 128, 160]
        convs: list[nn.Conv2d] = []
        with torch.random.fork_rng(devices=[]), torch.no_grad():  # the caller's random stream stays untouched
            for i in range(4):
                conv = nn.Conv2d(chans[i], chans[i + 1], 3, 1, 1)
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / (chans[i] * 9)) ** 0.5)
                assert conv.bias is not None
                conv.bias.zero_()
                convs.append(conv)
        self.convs = nn.ModuleList(convs)
        self.eval().requires_grad_(False)

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        x = (x01 - 0.5) / 0.25
        parts = []
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            parts.append(F.adaptive_avg_pool2d(x, 2 if i == 3 else 1).flatten(1))
            if i < 3:
                x = F.avg_pool2d(x, 2)
        return torch.cat(parts, 1)


Extractor = Callable[[torch.Tensor], np.ndarray]


def make_extractor(features: str | Path | None = None, batch: int = 256) -> tuple[Extractor, str]:
    """(images in [0, 1] [N, 3, H, W] -> features [N, D], its description).

    `features` None or 'random-cnn': the fixed random CNN; otherwise a training run directory
    whose classifier's features are used (images resized to its input size).
    """
    net: nn.Module
    if features is None or str(features) == RANDOM_CNN:
        net, size, name = RandomCNN(0), 0, "a fixed random CNN (seed 0)"
    else:
        from engine.core.runs import load_run_model

        model, info = load_run_model(features)
        net, size, name = _Features(model), int(info["input_size"]), f"the classifier of run {Path(features).name}"

    @torch.no_grad()
    def extract(images01: torch.Tensor) -> np.ndarray:
        out = []
        for i in range(0, len(images01), batch):
            x = images01[i : i + batch].float()
            if size and x.shape[-1] != size:
                x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            out.append(net(x).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 1))

    return extract, name


class _Features(nn.Module):
    """A run's ImageClassifier seen through its `features` (after the bottleneck)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model: Any = model.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model.features(x)
        return out
