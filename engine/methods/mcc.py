"""MCC: minimum class confusion on the unlabelled target.

Jin, Wang, Long & Wang, "Minimum Class Confusion for Versatile Domain Adaptation", ECCV 2020.
Temperature-scaled (T = 2.5) target predictions, weighted by their certainty, should not
confuse classes with each other; the off-diagonal mass of the class-confusion matrix is the
loss. It needs no discriminator and no feature statistics.
"""

from __future__ import annotations

import torch
from pydantic import Field

from engine.methods.adaptation import AdaptationConfig, AdaptationMethod, DomainOutputs
from engine.methods.da_losses import entropy, mcc_loss


class MCCConfig(AdaptationConfig):
    temperature: float = Field(
        2.5, gt=0, le=100, description="Softmax temperature of the class-confusion estimate (2.5 in the paper)."
    )


class MCC(AdaptationMethod[MCCConfig], name="mcc", label="MCC (minimum class confusion)"):
    """Jin et al. 2020: penalise target predictions that confuse classes with each other."""

    def transfer_loss(self, out: DomainOutputs, lam: float) -> tuple[torch.Tensor, dict[str, float]]:
        target_entropy = float(entropy(out.logits_t.detach()).mean())
        return mcc_loss(out.logits_t, self.config.temperature), {"target_entropy": target_entropy}
