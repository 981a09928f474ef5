"""DAN: deep adaptation network, multi-kernel MMD between source and target features.

Long, Cao, Wang & Jordan, "Learning Transferable Features with Deep Adaptation Networks",
ICML 2015. The MK-MMD (a sum of Gaussian kernels whose bandwidths are multiples of the mean
pairwise distance) between the two feature batches is added to the classification loss;
optionally also between the softmax outputs (the paper adapts every task-specific layer).
"""

from __future__ import annotations

import torch
from pydantic import Field, field_validator
from torch.nn import functional as F

from engine.methods.adaptation import AdaptationConfig, AdaptationMethod, DomainOutputs
from engine.methods.da_losses import DEFAULT_KERNEL_MULTIPLIERS, mk_mmd


class DANConfig(AdaptationConfig):
    kernel_multipliers: list[float] = Field(
        list(DEFAULT_KERNEL_MULTIPLIERS),
        min_length=1,
        max_length=16,
        description="Gaussian kernel bandwidths as multiples of the mean pairwise squared distance.",
    )
    align_outputs: bool = Field(
        False, description="Also match the softmax outputs of the two domains (as DAN does for its last layer)."
    )

    @field_validator("kernel_multipliers")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(m <= 0 for m in v):
            raise ValueError(f"every multiplier must be > 0, got {v}")
        return v


class DAN(AdaptationMethod[DANConfig], name="dan", label="DAN (multi-kernel MMD)"):
    """Long et al. 2015: minimise the multi-kernel maximum mean discrepancy between source and target features."""

    def transfer_loss(self, out: DomainOutputs, lam: float) -> tuple[torch.Tensor, dict[str, float]]:
        multipliers = self.config.kernel_multipliers
        transfer = mk_mmd(out.f_s, out.f_t, multipliers)
        if self.config.align_outputs:
            transfer = transfer + mk_mmd(F.softmax(out.logits_s, 1), F.softmax(out.logits_t, 1), multipliers)
        return transfer, {}
