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

from engine.methods.adaptation import AdaptationMethod, DomainOutputs
from engine.methods.base import MethodContext
from engine.methods.da_losses import entropy
from engine.methods.dann import AdversarialConfig, discriminator_width
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


class CDAN(AdaptationMethod[CDANConfig], name="cdan", label="CDAN (conditional adversarial)"):
    """Long et al. 2018: the discriminator sees features ⊗ predictions, aligning classes rather than whole domains; +E weights by confidence."""

    ramp_in_loss = False  # λ(p) scales the reversed gradient instead

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

    def transfer_loss(self, out: DomainOutputs, lam: float) -> tuple[torch.Tensor, dict[str, float]]:
        self.grl.set_coeff(lam)
        n = out.f_s.shape[0]
        logits = torch.cat([out.logits_s, out.logits_t], 0)
        d = self.discriminator(self.grl(self.condition(torch.cat([out.f_s, out.f_t], 0), logits)))
        w_s = w_t = None
        if self.config.entropy_conditioning:
            with torch.no_grad():
                w = 1.0 + torch.exp(-entropy(logits))
            w_s, w_t = _domain_weights(w[:n]), _domain_weights(w[n:])
        transfer, acc = domain_adversarial_loss(d[:n], d[n:], w_s, w_t)
        return transfer, {"domain_acc": acc}
