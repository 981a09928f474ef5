"""Deep CORAL: align the second-order statistics of source and target features.

Sun & Saenko, "Deep CORAL: Correlation Alignment for Deep Domain Adaptation", ECCV 2016
workshops. The loss ‖C_s − C_t‖²_F / (4d²) between the feature covariances of the two batches
is added to the classification loss.
"""

from __future__ import annotations

from pydantic import Field

from engine.methods.adaptation import AdaptationConfig, AdaptationMethod
from engine.methods.base import Batch, StepResult, register
from engine.methods.da_losses import coral
from engine.methods.regularisers import with_regularisers


class CORALConfig(AdaptationConfig):
    transfer_weight: float = Field(
        1.0, ge=0, le=10_000, description="Weight of the CORAL loss against the classification loss."
    )


@register
class DeepCORAL(AdaptationMethod[CORALConfig]):
    name = "coral"
    label = "Deep CORAL"
    summary = "Sun & Saenko 2016: match the covariance of source and target features."
    Config = CORALConfig

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        lam = self.ramp(batch.progress)
        f_s, f_t, logits_s, logits_t = self.forward_both(batch)
        cls = self.classification_loss(logits_s, batch.y_source)
        transfer = coral(f_s, f_t)
        loss = cls + lam * cfg.transfer_weight * transfer
        metrics = {"loss/cls": float(cls.detach()), "loss/transfer": float(transfer.detach()), "lambda": lam}
        loss = with_regularisers(loss, metrics, cfg, logits_t, lam)
        return StepResult(loss, logits_s, metrics)
