"""Robust transfer: DANN with adversarial training of the source classifier, in one method.

The classifier learns the source labels on PGD (or FGSM-RS, with `attack_steps = 1`) adversarial
source images while the gradient reversal layer aligns clean source and target features (as
DANN). The result is a model adapted to the target domain and hardened against perturbations
(the "adversarial transfer learning" of the product brief). With no target, use pgd_at instead.

Ganin & Lempitsky, ICML 2015 (DANN) + Madry et al., ICLR 2018 (PGD adversarial training).
"""

from __future__ import annotations

from pydantic import Field

from engine.core.config import share
from engine.methods.adversarial import RobustConfig, RobustMethod
from engine.methods.base import Batch, MethodContext, StepResult, batch_accuracy
from engine.methods.dann import DANN, DANNConfig
from engine.models.classifier import ImageClassifier


class DannATConfig(DANNConfig, RobustConfig):
    attack_steps: int = Field(
        3, ge=1, le=100, description="PGD steps on the source images while training (1: FGSM from a random start)."
    )
    clean_weight: float = share(0.5, "Share of the clean source loss in the classification loss.")


class DannAT(
    DANN[DannATConfig], RobustMethod[DannATConfig], name="dann_at", label="Robust DANN (adversarial transfer)"
):
    """DANN's domain alignment plus adversarial training of the source classifier: adapted and hardened in one run."""

    Config = DannATConfig  # said here too: its two bases declare different config classes
    kind = "robustness"
    uses_target = True

    def __init__(self, model: ImageClassifier, config: DannATConfig, ctx: MethodContext) -> None:
        DANN.__init__(self, model, config, ctx)

    def lr_multiplier(self, progress: float) -> float | None:
        return DANN.lr_multiplier(self, progress)

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        lam = self.ramp(batch.progress)
        x_adv = self.adversarial(batch.x_source, batch.y_source)
        out = self.forward_both(batch)
        logits_adv = self.model(x_adv)
        w = cfg.clean_weight
        adv = self.classification_loss(logits_adv, batch.y_source)
        cls = (1 - w) * adv + w * self.classification_loss(out.logits_s, batch.y_source)
        transfer, extra = self.transfer_loss(out, lam)
        metrics = {"loss/cls": float(cls.detach()), "loss/adv": float(adv.detach())}
        metrics |= {"loss/transfer": float(transfer.detach()), **extra, "lambda": lam}
        metrics["adv_acc"] = batch_accuracy(logits_adv, batch.y_source)
        return StepResult(cls + cfg.transfer_weight * transfer, out.logits_s, metrics)
