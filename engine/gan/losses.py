"""GAN losses on raw discriminator scores (no sigmoid inside the networks).

- hinge (Lim & Ye 2017; Miyato et al. 2018): D minimises relu(1 - D(x)) + relu(1 + D(G(z))),
  G minimises -D(G(z)). The margin stops D from pushing confident scores ever further, which
  with spectral norm is the usual stable pairing.
- non-saturating (Goodfellow et al. 2014): D minimises softplus(-D(x)) + softplus(D(G(z)))
  (binary cross-entropy with logits), G minimises softplus(-D(G(z))), whose gradient does not
  vanish when D rejects the fakes early in training.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch.nn import functional as F

LossName = Literal["hinge", "nonsaturating"]
LOSSES: tuple[str, ...] = ("hinge", "nonsaturating")


def d_loss(name: LossName, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss from its scores on real and fake images (mean over each batch)."""
    if name == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if name == "nonsaturating":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    raise ValueError(f"unknown GAN loss {name!r}; use one of {LOSSES}")


def g_loss(name: LossName, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss from the discriminator's scores on its images."""
    if name == "hinge":
        return -fake.mean()
    if name == "nonsaturating":
        return F.softplus(-fake).mean()
    raise ValueError(f"unknown GAN loss {name!r}; use one of {LOSSES}")
