"""TRADES (Zhang, Yu, Jiao, Xing, El Ghaoui & Jordan, "Theoretically Principled Trade-off
between Robustness and Accuracy", ICML 2019).

loss = CE(f(x), y) + β · KL(f(x) ‖ f(x')), with x' maximising that KL inside the ε-ball (10 steps
of ε/4 from x + 0.001·N(0, 1)). β trades clean accuracy for robustness (paper: 6).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from engine.core.config import weight
from engine.methods.adversarial import RobustConfig, RobustMethod
from engine.methods.base import Batch, StepResult, batch_accuracy


class TradesConfig(RobustConfig):
    beta: float = weight(6.0, "Weight of the robustness (KL) term; higher is more robust, less accurate.")
    attack_steps: int = Field(10, ge=1, le=100, description="Gradient steps of the inner KL maximisation.")


class Trades(RobustMethod[TradesConfig], name="trades", label="TRADES"):
    """Zhang et al. 2019: clean cross-entropy plus β·KL between clean and adversarial predictions."""

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        x, y = batch.x_source, batch.y_source
        with torch.no_grad():
            p_clean = F.softmax(self.clean_logits(x), 1)

        def kl_to_clean(logits: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
            return F.kl_div(F.log_softmax(logits, 1), p_clean, reduction="sum")

        x_adv = self.adversarial(x, y, loss_fn=kl_to_clean, init_delta=0.001 * torch.randn_like(x))
        logits_all = self.model(torch.cat([x, x_adv]))
        logits, logits_adv = logits_all[: len(x)], logits_all[len(x) :]
        natural = self.classification_loss(logits, y)
        robust = F.kl_div(F.log_softmax(logits_adv, 1), F.softmax(logits, 1), reduction="batchmean")
        loss = natural + cfg.beta * robust
        return StepResult(
            loss,
            logits.detach(),
            {
                "loss/cls": float(natural.detach()),
                "loss/robust": float(robust.detach()),
                "adv_acc": batch_accuracy(logits_adv, y),
            },
        )
