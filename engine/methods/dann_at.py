"""Robust transfer: DANN with adversarial training of the source classifier, in one method.

The classifier learns the source labels on PGD (or FGSM-RS, with `attack_steps = 1`) adversarial
source images while the gradient reversal layer aligns clean source and target features (as
DANN). The result is a model adapted to the target domain and hardened against perturbations
(the "adversarial transfer learning" of the product brief). With no target, use pgd_at instead.

Ganin & Lempitsky, ICML 2015 (DANN) + Madry et al., ICLR 2018 (PGD adversarial training).
"""

from __future__ import annotations

import torch
from pydantic import Field

from engine.methods.adversarial import RobustConfig, RobustMethod
from engine.methods.base import Batch, MethodContext, StepResult, register
from engine.methods.dann import DANN, DANNConfig
from engine.models.classifier import ImageClassifier
from engine.models.domain_discriminator import domain_adversarial_loss


class DannATConfig(DANNConfig, RobustConfig):
    attack_steps: int = Field(
        3, ge=1, le=100, description="PGD steps on the source images while training (1: FGSM from a random start)."
    )
    clean_weight: float = Field(
        0.5, ge=0, le=1, description="Share of the clean source loss in the classification loss."
    )


@register
class DannAT(DANN[DannATConfig], RobustMethod[DannATConfig]):
    name = "dann_at"
    label = "Robust DANN (adversarial transfer)"
    summary = (
        "DANN's domain alignment plus adversarial training of the source classifier: adapted and hardened in one run."
    )
    Config = DannATConfig
    kind = "robustness"
    uses_target = True

    def __init__(self, model: ImageClassifier, config: DannATConfig, ctx: MethodContext) -> None:
        DANN.__init__(self, model, config, ctx)

    def lr_multiplier(self, progress: float) -> float | None:
        return DANN.lr_multiplier(self, progress)

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        lam = self.ramp(batch.progress)
        self.grl.set_coeff(lam)
        x_adv = self.adversarial(batch.x_source, batch.y_source)
        f_s, f_t, logits_s, _ = self.forward_both(batch)
        logits_adv = self.model(x_adv)
        w = cfg.clean_weight
        adv = self.classification_loss(logits_adv, batch.y_source)
        cls = (1 - w) * adv + w * self.classification_loss(logits_s, batch.y_source)
        d = self.discriminator(self.grl(torch.cat([f_s, f_t], 0)))
        transfer, acc = domain_adversarial_loss(d[: f_s.shape[0]], d[f_s.shape[0] :])
        loss = cls + cfg.transfer_weight * transfer
        adv_acc = float((logits_adv.detach().argmax(1) == batch.y_source).float().mean())
        metrics = {
            "loss/cls": float(cls.detach()),
            "loss/adv": float(adv.detach()),
            "loss/transfer": float(transfer.detach()),
            "domain_acc": acc,
            "lambda": lam,
            "adv_acc": adv_acc,
        }
        return StepResult(loss, logits_s, metrics)
