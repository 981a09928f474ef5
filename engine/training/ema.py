"""Weight averaging (EMA) with warm-up, as timm's ModelEmaV3 and TensorFlow's
ExponentialMovingAverage(num_updates=...) do.

A plain EMA with decay 0.99 keeps 0.99^t of the initial weights after t steps: 33% after a
110-step run, so a short run's averaged model stays near its random initialisation (source
validation loss 0.41-0.46 against 0.085 without averaging, near-uniform target predictions).
With warm-up the decay of update t is min(decay, (1 + t) / (10 + t)): the average follows the
weights closely at first and settles on `decay` after a few hundred steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel


def warmup_decay(decay: float, updates: int) -> float:
    """The decay used for update number `updates` (0-based): grows towards `decay`."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


def _warmup_ema_fn(decay: float) -> Callable[[Sequence[Tensor], Sequence[Tensor], Tensor | int], None]:
    @torch.no_grad()
    def update(averaged: Sequence[Tensor], current: Sequence[Tensor], num_averaged: Tensor | int) -> None:
        d = warmup_decay(decay, int(num_averaged))
        for avg, cur in zip(averaged, current, strict=True):
            if avg.is_floating_point():
                avg.lerp_(cur, 1.0 - d)
            else:  # integer buffers (BatchNorm's num_batches_tracked): take the current value
                avg.copy_(cur)

    return update


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    """An averaged copy of `model` (weights and buffers) updated with warm-up."""
    return AveragedModel(model, multi_avg_fn=_warmup_ema_fn(decay), use_buffers=True)
