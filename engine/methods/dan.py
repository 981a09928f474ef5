"""DAN: deep adaptation network, multi-kernel MMD between source and target features.

Long, Cao, Wang & Jordan, "Learning Transferable Features with Deep Adaptation Networks",
ICML 2015. The MK-MMD (a sum of Gaussian kernels whose bandwidths are multiples of the mean
pairwise distance) between the two feature batches is added to the classification loss;
optionally also between the softmax outputs (the paper adapts every task-specific layer).
"""

from __future__ import annotations

from pydantic import Field, field_validator
from torch.nn import functional as F

from engine.methods.adaptation import AdaptationConfig, AdaptationMethod
from engine.methods.base import Batch, StepResult, register
from engine.methods.da_losses import DEFAULT_KERNEL_MULTIPLIERS, mk_mmd
from engine.methods.regularisers import with_regularisers


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


@register
class DAN(AdaptationMethod[DANConfig]):
    name = "dan"
    label = "DAN (multi-kernel MMD)"
    summary = "Long et al. 2015: minimise the multi-kernel maximum mean discrepancy between source and target features."
    Config = DANConfig

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        lam = self.ramp(batch.progress)
        f_s, f_t, logits_s, logits_t = self.forward_both(batch)
        cls = self.classification_loss(logits_s, batch.y_source)
        transfer = mk_mmd(f_s, f_t, cfg.kernel_multipliers)
        if cfg.align_outputs:
            transfer = transfer + mk_mmd(F.softmax(logits_s, 1), F.softmax(logits_t, 1), cfg.kernel_multipliers)
        loss = cls + lam * cfg.transfer_weight * transfer
        metrics = {"loss/cls": float(cls.detach()), "loss/transfer": float(transfer.detach()), "lambda": lam}
        loss = with_regularisers(loss, metrics, cfg, logits_t, lam)
        return StepResult(loss, logits_s, metrics)
