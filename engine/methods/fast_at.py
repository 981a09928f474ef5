"""Fast adversarial training: FGSM from a random start (Wong, Rice & Kolter, "Fast is better
than free: revisiting adversarial training", ICLR 2020).

One gradient step of size α = 1.25·ε from a uniform random point of the ε-ball, then a training
step on the result: about twice the cost of standard training. The random start is what keeps
plain FGSM training from "catastrophic overfitting"; watch `adv_acc` against the validation
PGD accuracy (`val/adv_acc`): if the first stays high while the second falls to 0, lower α.
"""

from __future__ import annotations

from pydantic import Field

from engine.methods.adversarial import RobustConfig, RobustMethod
from engine.methods.base import Batch, StepResult, batch_accuracy


class FastATConfig(RobustConfig):
    alpha_factor: float = Field(1.25, gt=0, le=4, description="FGSM step as a multiple of eps (Wong et al.: 1.25).")
    attack_steps: int = Field(1, ge=1, le=1, description="Fast adversarial training uses a single FGSM step.")


class FastAT(RobustMethod[FastATConfig], name="fast_at", label="Fast adversarial training (FGSM-RS)"):
    """Wong et al. 2020: train on FGSM examples from a random start; robust at about twice the cost of standard training."""

    def step_size(self, steps: int) -> float:
        return self.config.alpha_factor * self.config.eps

    def training_step(self, batch: Batch) -> StepResult:
        x_adv = self.adversarial(batch.x_source, batch.y_source, steps=1, random_start=True)
        logits_adv = self.model(x_adv)
        loss = self.classification_loss(logits_adv, batch.y_source)
        clean = self.clean_logits(batch.x_source)
        return StepResult(
            loss, clean, {"loss/adv": float(loss.detach()), "adv_acc": batch_accuracy(logits_adv, batch.y_source)}
        )
