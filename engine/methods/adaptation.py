"""The base class and shared settings of the domain-adaptation methods: a target batch every
step, the transfer-weight ramp λ(p), shared or per-domain BatchNorm, Ganin's lr annealing and
target BatchNorm statistics (AdaBN).

A feature-level method writes only its `transfer_loss` on the two domains' features and logits;
the base's `training_step` adds it to the source classification loss with the configured weight
and ramp, the optional regularisers (MCC, entropy) and the standard metrics.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, TypeVar

import torch
from pydantic import Field

from engine.core.config import weight
from engine.core.errors import UserError
from engine.methods.base import Batch, Method, MethodConfig, StepResult
from engine.methods.regularisers import with_regularisers
from engine.models.domain_discriminator import dann_lambda, dann_lr_factor, forward_domains


class AdaptationConfig(MethodConfig):
    """Settings shared by the domain-adaptation methods."""

    transfer_weight: float = weight(1.0, "Weight of the transfer (alignment) loss against the classification loss.")
    ramp_up: bool = Field(
        True,
        description="Grow the transfer weight from 0 to its value with λ(p) = 2/(1+exp(−γp)) − 1 over the run (Ganin 2016), so early noisy features are not aligned.",
    )
    gamma: float = Field(
        10.0, gt=0, le=100, description="Steepness γ of the λ(p) ramp; p is the progress over the whole run."
    )
    bn_mode: Literal["shared", "per_domain"] = Field(
        "shared",
        description="BatchNorm in the backbone: 'shared' normalises source and target together in one pass (TLLib's choice); 'per_domain' uses each domain's own batch statistics.",
    )
    anneal_lr: bool = Field(False, description="Replace the trainer's schedule by Ganin's annealing lr·1/(1+10p)^0.75.")
    target_bn: bool = Field(
        True,
        description="AdaBN (Li 2016): after every epoch, set the BatchNorm statistics to those of the target images, so the model normalises target images as target images; source accuracy is measured with source statistics.",
    )
    mcc_weight: float = weight(
        0.0,
        "Add minimum class confusion (Jin 2020) on the target predictions with this weight, on top of the method's own loss (0: off); DANN+MCC is DANN with mcc_weight 1.",
    )
    entropy_weight: float = weight(
        0.0,
        "Add the mean entropy of the target predictions (Grandvalet & Bengio 2004) with this weight, so the classifier's boundaries avoid dense target regions (0: off).",
    )


AC = TypeVar("AC", bound=AdaptationConfig)


class DomainOutputs(NamedTuple):
    """Features and logits of one source and one target batch (unpacks as a 4-tuple)."""

    f_s: torch.Tensor
    f_t: torch.Tensor
    logits_s: torch.Tensor
    logits_t: torch.Tensor


class AdaptationMethod(Method[AC]):
    """Base of the domain-adaptation methods: needs a target batch every step."""

    uses_target = True
    kind = "domain adaptation"
    Config = AdaptationConfig
    # An adaptation loss moves the features every step, and the target accuracy of one epoch's
    # weights swings by ±10 points against the next on the demo; an average over the last
    # ~100 steps is steadier and 5 points better (DANN, 3 seeds).
    default_ema = 0.99
    # Adversarial methods ramp λ(p) inside a gradient reversal layer; the others scale their loss by it.
    ramp_in_loss: bool = True

    def target_bn(self) -> bool:
        return self.config.target_bn

    def lr_multiplier(self, progress: float) -> float | None:
        return dann_lr_factor(progress) if self.config.anneal_lr else None

    def ramp(self, progress: float) -> float:
        """λ(p) when ramping up, else 1: computed once per step from the batch's run progress."""
        cfg = self.config
        return dann_lambda(progress, cfg.gamma) if cfg.ramp_up else 1.0

    def target_of(self, batch: Batch) -> torch.Tensor:
        if batch.x_target is None:
            raise UserError(
                f"method '{self.name}' adapts to a target domain: set the target folder (unlabelled target images)."
            )
        return batch.x_target

    def forward_both(self, batch: Batch) -> DomainOutputs:
        """(f_s, f_t, logits_s, logits_t) with the configured BatchNorm choice."""
        return DomainOutputs(*forward_domains(self.model, batch.x_source, self.target_of(batch), self.config.bn_mode))

    def transfer_loss(self, out: DomainOutputs, lam: float) -> tuple[torch.Tensor, dict[str, float]]:
        """The method's alignment loss on both domains, and any metrics of its own."""
        raise NotImplementedError(f"{type(self).__name__} writes transfer_loss or its own training_step")

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        lam = self.ramp(batch.progress)
        out = self.forward_both(batch)
        cls = self.classification_loss(out.logits_s, batch.y_source)
        transfer, extra = self.transfer_loss(out, lam)
        weight = cfg.transfer_weight * (lam if self.ramp_in_loss else 1.0)
        metrics = {"loss/cls": float(cls.detach()), "loss/transfer": float(transfer.detach()), **extra, "lambda": lam}
        loss = with_regularisers(cls + weight * transfer, metrics, cfg, out.logits_t, lam)
        return StepResult(loss, out.logits_s, metrics)
