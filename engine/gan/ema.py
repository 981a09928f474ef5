"""An exponential moving average of the generator, used for sampling, scoring and export.

GAN generators oscillate from step to step; averaging their weights (Yazici et al. 2019,
"The unusual effectiveness of averaging in GAN training") gives visibly cleaner samples and
lower FID at no training cost. The decay warms up (engine.training.ema.warmup_decay) so a
short run's average is not stuck near the random start. BatchNorm statistics are copied.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from engine.training.ema import warmup_decay


class GeneratorEma:
    """`self.model` is the averaged copy; `update(g)` after each generator step."""

    def __init__(self, generator: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(generator).requires_grad_(False).eval()

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        d = warmup_decay(self.decay, self.updates)
        for avg, cur in zip(self.model.parameters(), generator.parameters(), strict=True):
            avg.lerp_(cur.detach(), 1.0 - d)
        for avg_b, cur_b in zip(self.model.buffers(), generator.buffers(), strict=True):
            avg_b.copy_(cur_b)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])
