"""Target-prediction regularisers that combine with any adaptation loss: MCC and entropy.

An alignment loss (DANN's discriminator, CDAN's, CORAL's covariances, DAN's MMD) makes source
and target features alike, but says nothing about where the classifier's boundaries fall in
the target domain. Two losses on the unlabelled target predictions do:

- minimum class confusion (Jin, Wang, Long & Wang, ECCV 2020): certainty-weighted target
  predictions should not spread over pairs of classes. The MCC paper itself reports it as a
  regulariser on top of DANN and CDAN, where it adds several points on Office-31/Office-Home;
  issue 21's reference measured DANN+MCC 58 % against DANN 41 % on a mild digit shift;
- entropy minimisation (Grandvalet & Bengio, NIPS 2004; used with DANN/CDAN by Long et al.):
  confident target predictions push the boundaries out of dense target regions.

Both are weighted by the config's `mcc_weight` and `entropy_weight` (0: off, then the method
is exactly the plain one) and ramp up with the method's λ(p), like its own transfer loss, so the
near-random predictions of the first steps are not made confident.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from engine.methods.da_losses import entropy, mcc_loss

if TYPE_CHECKING:  # adaptation.py imports this module: its base training step adds the regularisers
    from engine.methods.adaptation import AdaptationConfig

MCC_TEMPERATURE = 2.5  # the MCC paper's temperature, used by the `mcc` method's default too


def target_regularisers(
    config: AdaptationConfig, logits_t: torch.Tensor, lam: float, temperature: float = MCC_TEMPERATURE
) -> tuple[torch.Tensor | None, dict[str, float]]:
    """λ · (mcc_weight · MCC + entropy_weight · mean entropy) on target logits, and its metrics.

    Returns (None, {}) when both weights are 0, so the caller's loss stays bit-for-bit the plain
    method's.
    """
    total: torch.Tensor | None = None
    metrics: dict[str, float] = {}
    if config.mcc_weight > 0:
        mcc = mcc_loss(logits_t, temperature)
        total = config.mcc_weight * mcc
        metrics["loss/mcc"] = float(mcc.detach())
    if config.entropy_weight > 0:
        ent = entropy(logits_t).mean()
        term = config.entropy_weight * ent
        total = term if total is None else total + term
        metrics["loss/entropy"] = float(ent.detach())
    return (None if total is None else lam * total), metrics


def with_regularisers(
    loss: torch.Tensor, metrics: dict[str, float], config: AdaptationConfig, logits_t: torch.Tensor, lam: float
) -> torch.Tensor:
    """`loss` plus the configured regularisers; their values are added to `metrics` in place.

    MCC uses the config's own `temperature` where it has one (the `mcc` method's), else the paper's 2.5.
    """
    temperature = float(getattr(config, "temperature", MCC_TEMPERATURE))
    extra, more = target_regularisers(config, logits_t, lam, temperature)
    metrics.update(more)
    return loss if extra is None else loss + extra
