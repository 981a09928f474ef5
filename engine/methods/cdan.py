"""CDAN: conditional domain-adversarial training, optionally with entropy conditioning (CDAN+E).

Long, Cao, Wang & Jordan, "Conditional Adversarial Domain Adaptation", NeurIPS 2018. The
discriminator sees the multilinear map f ⊗ softmax(g) of features and (detached) predictions,
so it aligns class-conditional rather than marginal distributions. When f ⊗ g is too wide the
randomised map (R_f f) ⊙ (R_g g)/√d stands in for it. CDAN+E weights each sample by
1 + exp(−H(g)), so confident predictions shape the alignment most. Gradient reversal, λ(p)
and BatchNorm choices are DANN's.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch.nn import functional as F

from engine.methods.adaptation import AdaptationMethod
from engine.methods.base import Batch, MethodContext, StepResult, register
from engine.methods.da_losses import entropy
from engine.methods.dann import AdversarialConfig, discriminator_width
from engine.methods.regularisers import with_regularisers
from engine.models.classifier import ImageClassifier
from engine.models.domain_discriminator import (
    DomainDiscriminator,
    GradientReversal,
    conditioning_map,
    domain_adversarial_loss,
)


class CDANConfig(AdversarialConfig):
    entropy_conditioning: bool = Field(
        True, description="CDAN+E: weight samples by 1 + exp(−entropy) so confident predictions count more."
    )
    randomized: Literal["auto", "always", "never"] = Field(
        "auto", description="Random projection of f ⊗ g: 'auto' uses it when features x classes exceeds 4096."
    )
    random_dim: int = Field(1024, ge=16, le=16384, description="Output width of the random projection.")


def _domain_weights(w: torch.Tensor) -> torch.Tensor:
    """Normalise weights within one domain so they average to 1."""
    return w * (w.numel() / w.sum().clamp_min(1e-8))


@register
class CDAN(AdaptationMethod[CDANConfig]):
    name = "cdan"
    label = "CDAN (conditional adversarial)"
    summary = "Long et al. 2018: the discriminator sees features ⊗ predictions, aligning classes rather than whole domains; +E weights by confidence."
    Config = CDANConfig

    def __init__(self, model: ImageClassifier, config: CDANConfig, ctx: MethodContext) -> None:
        super().__init__(model, config, ctx)
        randomized = {"auto": None, "always": True, "never": False}[config.randomized]
        self.conditioning = conditioning_map(
            model.feature_dim, ctx.num_classes, randomized, random_dim=config.random_dim
        )
        self.grl = GradientReversal(0.0)
        width = discriminator_width(config, self.conditioning.out_dim)
        self.discriminator = DomainDiscriminator(
            self.conditioning.out_dim, width, config.disc_depth, config.disc_dropout
        )

    def condition(self, f: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """The discriminator's input T(f, softmax(g)), predictions detached as in the paper."""
        return self.conditioning(f, F.softmax(logits.detach().float(), dim=1).to(f.dtype))

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        lam = self.ramp(batch.progress)
        self.grl.set_coeff(lam)
        f_s, f_t, logits_s, logits_t = self.forward_both(batch)
        cls = self.classification_loss(logits_s, batch.y_source)
        n = f_s.shape[0]
        h = self.condition(torch.cat([f_s, f_t], 0), torch.cat([logits_s, logits_t], 0))
        d = self.discriminator(self.grl(h))
        w_s = w_t = None
        if cfg.entropy_conditioning:
            with torch.no_grad():
                w = 1.0 + torch.exp(-entropy(torch.cat([logits_s, logits_t], 0)))
            w_s, w_t = _domain_weights(w[:n]), _domain_weights(w[n:])
        transfer, acc = domain_adversarial_loss(d[:n], d[n:], w_s, w_t)
        loss = cls + cfg.transfer_weight * transfer
        metrics = {
            "loss/cls": float(cls.detach()),
            "loss/transfer": float(transfer.detach()),
            "domain_acc": acc,
            "lambda": lam,
        }
        loss = with_regularisers(loss, metrics, cfg, logits_t, lam)
        return StepResult(loss, logits_s, metrics)
