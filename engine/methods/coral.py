"""Deep CORAL: align the second-order statistics of source and target features.

Sun & Saenko, "Deep CORAL: Correlation Alignment for Deep Domain Adaptation", ECCV 2016
workshops. The loss ‖C_s − C_t‖²_F / (4d²) between the feature covariances of the two batches
is added to the classification loss.
"""

from __future__ import annotations

import torch

from engine.core.config import weight
from engine.methods.adaptation import AdaptationConfig, AdaptationMethod, DomainOutputs
from engine.methods.da_losses import coral


class CORALConfig(AdaptationConfig):
    transfer_weight: float = weight(1.0, "Weight of the CORAL loss against the classification loss.", le=10_000)


class DeepCORAL(AdaptationMethod[CORALConfig], name="coral", label="Deep CORAL"):
    """Sun & Saenko 2016: match the covariance of source and target features."""

    def transfer_loss(self, out: DomainOutputs, lam: float) -> tuple[torch.Tensor, dict[str, float]]:
        return coral(out.f_s, out.f_t), {}
