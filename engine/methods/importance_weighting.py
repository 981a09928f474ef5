"""Importance weighting: instance-based transfer, the source images that look like the target count more.

Covariate-shift correction (Shimodaira 2000; Sugiyama et al. 2007, "Direct importance
estimation"; Bickel et al. 2007 for the domain-classifier estimate used here). Under covariate
shift the target risk is the source risk weighted by the density ratio w(x) = p_t(x) / p_s(x).
A domain classifier c(x) = P(target | x) gives it without estimating either density:
w(x) = c(x) / (1 − c(x)) · n_s / n_t. Deep Embedded Validation (engine.advisor.scores) weights
the source validation risk by the same ratio, from a logistic domain classifier on a trained
model's features.

Here the domain classifier is a small MLP on the backbone's features, trained every step on
DETACHED features (no gradient reversal: the features are not made alike, the source is
re-weighted), and the classification loss of each source image is multiplied by its clipped,
batch-normalised ratio. The weights ramp in with λ(p) from uniform, since the classifier is
untrained at first. Clipping bounds the variance a few near-target source images would
otherwise bring (Cortes et al. 2010); normalising to mean 1 keeps the loss scale of fine-tuning.
"""

from __future__ import annotations

import torch
from pydantic import Field

from engine.core.config import weight
from engine.methods.adaptation import AdaptationConfig, AdaptationMethod
from engine.methods.base import Batch, MethodContext, StepResult
from engine.methods.regularisers import with_regularisers
from engine.models.classifier import ImageClassifier
from engine.models.domain_discriminator import DomainDiscriminator, domain_adversarial_loss


def density_ratio(p_target: torch.Tensor, prior_ratio: float = 1.0, clip: float = 10.0) -> torch.Tensor:
    """Importance weights p_t(x)/p_s(x) from a domain classifier's P(target | x), clipped and
    normalised to mean 1.

    `prior_ratio` is n_source / n_target of the images the classifier was trained on (it
    removes the class prior of the domain classifier); weights are clipped to [1/clip, clip]
    BEFORE normalising, so one image near the target cannot take the whole batch's weight.
    """
    p = p_target.double().clamp(1e-6, 1 - 1e-6)
    w = (p / (1 - p)) * prior_ratio
    w = w.clamp(1.0 / clip, clip)
    return (w / w.mean()).to(p_target.dtype)


class ImportanceWeightingConfig(AdaptationConfig):
    clip: float = Field(
        10.0,
        gt=1,
        le=1000,
        description="Largest importance weight (and 1/clip the smallest) before normalising to mean 1: "
        "lower is steadier, higher corrects a larger shift.",
    )
    transfer_weight: float = weight(
        1.0, "Weight of the domain classifier's loss (it trains only the classifier, on detached features)."
    )
    disc_hidden: int = Field(256, ge=8, le=4096, description="Width of the domain classifier's hidden layer.")


class ImportanceWeighting(
    AdaptationMethod[ImportanceWeightingConfig],
    name="importance_weighting",
    label="Importance weighting (instance-based)",
):
    summary = "Weight each source image by p_target/p_source from a domain classifier (clipped, normalised)."

    def __init__(self, model: ImageClassifier, config: ImportanceWeightingConfig, ctx: MethodContext) -> None:
        super().__init__(model, config, ctx)
        self.discriminator = DomainDiscriminator(model.feature_dim, config.disc_hidden, 1, 0.0)

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        lam = self.ramp(batch.progress)
        f_s, f_t, logits_s, logits_t = self.forward_both(batch)
        d = self.discriminator(torch.cat([f_s, f_t], 0).detach())
        d_s = d[: f_s.shape[0]]
        disc, acc = domain_adversarial_loss(d_s, d[f_s.shape[0] :])
        with torch.no_grad():  # the discriminator's logit is that of SOURCE: P(target) = sigmoid(-logit)
            w = density_ratio(torch.sigmoid(-d_s.float()), 1.0, cfg.clip)
            w = (1.0 - lam) + lam * w
        ce = torch.nn.functional.cross_entropy(
            logits_s, batch.y_source, reduction="none", label_smoothing=self.ctx.label_smoothing
        )
        cls = (w.to(ce.dtype) * ce).mean()
        loss = cls + cfg.transfer_weight * disc
        metrics = {
            "loss/cls": float(cls.detach()),
            "loss/transfer": float(disc.detach()),
            "domain_acc": acc,
            "lambda": lam,
            "weight_max": float(w.max()),
        }
        loss = with_regularisers(loss, metrics, cfg, logits_t, lam)
        return StepResult(loss, logits_s, metrics)
