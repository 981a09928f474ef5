"""MCC: minimum class confusion on the unlabelled target.

Jin, Wang, Long & Wang, "Minimum Class Confusion for Versatile Domain Adaptation", ECCV 2020.
Temperature-scaled (T = 2.5) target predictions, weighted by their certainty, should not
confuse classes with each other; the off-diagonal mass of the class-confusion matrix is the
loss. It needs no discriminator and no feature statistics.
"""

from __future__ import annotations

from pydantic import Field

from engine.methods.adaptation import AdaptationConfig, AdaptationMethod
from engine.methods.base import Batch, StepResult, register
from engine.methods.da_losses import entropy, mcc_loss
from engine.methods.regularisers import with_regularisers


class MCCConfig(AdaptationConfig):
    temperature: float = Field(
        2.5, gt=0, le=100, description="Softmax temperature of the class-confusion estimate (2.5 in the paper)."
    )


@register
class MCC(AdaptationMethod[MCCConfig]):
    name = "mcc"
    label = "MCC (minimum class confusion)"
    summary = "Jin et al. 2020: penalise target predictions that confuse classes with each other."
    Config = MCCConfig

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        lam = self.ramp(batch.progress)
        _, _, logits_s, logits_t = self.forward_both(batch)
        cls = self.classification_loss(logits_s, batch.y_source)
        transfer = mcc_loss(logits_t, cfg.temperature)
        loss = cls + lam * cfg.transfer_weight * transfer
        metrics = {
            "loss/cls": float(cls.detach()),
            "loss/transfer": float(transfer.detach()),
            "lambda": lam,
            "target_entropy": float(entropy(logits_t.detach()).mean()),
        }
        loss = with_regularisers(loss, metrics, cfg, logits_t, lam)
        return StepResult(loss, logits_s, metrics)
