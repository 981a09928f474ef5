"""PGD adversarial training (Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards Deep Learning
Models Resistant to Adversarial Attacks", ICLR 2018).

min_θ E[max_{‖δ‖≤ε} L(f_θ(x+δ), y)]: every step trains on PGD examples (7 steps of 2.5·ε/7 from
a random start by default, as in Madry's CIFAR recipe). The robust baseline others compare with.
"""

from __future__ import annotations

import torch

from engine.core.config import share
from engine.methods.adversarial import RobustConfig, RobustMethod
from engine.methods.base import Batch, StepResult, batch_accuracy


class PGDATConfig(RobustConfig):
    clean_weight: float = share(0.0, "Share of the clean loss mixed in (0: adversarial only, as Madry).")


class PGDAT(RobustMethod[PGDATConfig], name="pgd_at", label="PGD adversarial training (Madry)"):
    """Madry et al. 2018: train on PGD adversarial examples; the standard robust baseline."""

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        x, y = batch.x_source, batch.y_source
        x_adv = self.adversarial(x, y)
        w = cfg.clean_weight
        if w > 0:  # one pass over clean and adversarial images: shared BatchNorm statistics
            logits_all = self.model(torch.cat([x, x_adv]))
            clean, logits_adv = logits_all[: len(x)], logits_all[len(x) :]
            adv_loss = self.classification_loss(logits_adv, y)
            loss = (1 - w) * adv_loss + w * self.classification_loss(clean, y)
        else:
            logits_adv = self.model(x_adv)
            adv_loss = loss = self.classification_loss(logits_adv, y)
            clean = self.clean_logits(x)
        return StepResult(
            loss, clean.detach(), {"loss/adv": float(adv_loss.detach()), "adv_acc": batch_accuracy(logits_adv, y)}
        )
