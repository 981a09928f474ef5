"""Pieces shared by domain-adaptation methods: the gradient reversal layer and its schedule,
the domain discriminator, CDAN's (randomised) multilinear conditioning, and a two-domain
forward pass with a documented BatchNorm choice.

References: Ganin & Lempitsky, "Unsupervised Domain Adaptation by Backpropagation", ICML 2015
(and Ganin et al., JMLR 2016); Long et al., "Conditional Adversarial Domain Adaptation",
NeurIPS 2018.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

if TYPE_CHECKING:
    from engine.models.classifier import ImageClassifier

BNMode = Literal["shared", "per_domain"]


# ----------------------------------------------------------------------------- schedules
def dann_lambda(progress: float, gamma: float = 10.0, max_value: float = 1.0) -> float:
    """Ganin's coefficient λ(p) = 2 / (1 + exp(−γ·p)) − 1, scaled by `max_value`.

    `progress` p runs from 0 to 1 over the WHOLE run; it is clamped to [0, 1].
    """
    p = min(max(float(progress), 0.0), 1.0)
    return float(max_value) * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


def dann_lr_factor(progress: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """Ganin's learning-rate annealing factor 1 / (1 + α·p)^β (multiplies the base rate)."""
    p = min(max(float(progress), 0.0), 1.0)
    return 1.0 / (1.0 + alpha * p) ** beta


# ----------------------------------------------------------------------------- reversal
class _GradientReverse(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by −coeff."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = float(coeff)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.neg() * ctx.coeff, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Pass `x` through unchanged; its gradient comes back flipped and scaled by `coeff`."""
    return _GradientReverse.apply(x, coeff)


class GradientReversal(nn.Module):
    """Gradient reversal layer whose coefficient is SET once per step (never self-advancing).

    The method computes λ from the batch's run progress and calls `set_coeff`; calling the
    layer twice in one step (source and target separately) therefore uses the same λ.
    """

    def __init__(self, coeff: float = 1.0) -> None:
        super().__init__()
        self.coeff = float(coeff)

    def set_coeff(self, coeff: float) -> None:
        self.coeff = float(coeff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.coeff)

    def extra_repr(self) -> str:
        return f"coeff={self.coeff:.4f}"


# ----------------------------------------------------------------------------- discriminator
class DomainDiscriminator(nn.Module):
    """MLP `in_dim -> hidden (x depth) -> 1` giving a logit that the input is from the SOURCE.

    Linear -> BatchNorm -> ReLU (-> Dropout) blocks, as in Ganin 2016 / TLLib. With BatchNorm
    the discriminator sees source and target in one batch, so its statistics are shared.
    """

    def __init__(
        self, in_dim: int, hidden: int = 1024, depth: int = 2, dropout: float = 0.5, batch_norm: bool = True
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(max(depth, 1)):
            layers.append(nn.Linear(width, hidden))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.ReLU(inplace=True))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def domain_adversarial_loss(
    logit_s: torch.Tensor,
    logit_t: torch.Tensor,
    weight_s: torch.Tensor | None = None,
    weight_t: torch.Tensor | None = None,
) -> tuple[torch.Tensor, float]:
    """Binary cross-entropy of the discriminator (source = 1, target = 0) and its accuracy.

    Optional per-sample weights (CDAN+E) are used as given; the loss averages both domains.
    Computed from logits (`binary_cross_entropy_with_logits`) so it never takes log(0).
    """
    bce = nn.functional.binary_cross_entropy_with_logits
    ls = bce(logit_s, torch.ones_like(logit_s), weight=weight_s, reduction="mean")
    lt = bce(logit_t, torch.zeros_like(logit_t), weight=weight_t, reduction="mean")
    with torch.no_grad():
        correct = (logit_s > 0).float().sum() + (logit_t <= 0).float().sum()
        acc = float(correct / (logit_s.numel() + logit_t.numel()))
    return 0.5 * (ls + lt), acc


# ----------------------------------------------------------------------------- CDAN conditioning
class MultiLinearMap(nn.Module):
    """CDAN's multilinear map T(f, g) = f ⊗ g, flattened to [N, feature_dim x num_classes]."""

    out_dim: int

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.out_dim = feature_dim * num_classes

    def forward(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(1)


class RandomizedMultiLinearMap(nn.Module):
    """CDAN's randomised map T(f, g) = (R_f f) ⊙ (R_g g) / sqrt(d), with fixed Gaussian R_f, R_g.

    Used when f ⊗ g would be too wide; the matrices are buffers (saved, never trained).
    """

    rf: torch.Tensor
    rg: torch.Tensor

    out_dim: int

    def __init__(self, feature_dim: int, num_classes: int, out_dim: int = 1024) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.register_buffer("rf", torch.randn(feature_dim, out_dim))
        self.register_buffer("rg", torch.randn(num_classes, out_dim))

    def forward(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return (f @ self.rf) * (g @ self.rg) / math.sqrt(float(self.out_dim))


def conditioning_map(
    feature_dim: int, num_classes: int, randomized: bool | None = None, max_dim: int = 4096, random_dim: int = 1024
) -> MultiLinearMap | RandomizedMultiLinearMap:
    """The full multilinear map, or the randomised one when asked or when d_f x C > max_dim."""
    if randomized is None:
        randomized = feature_dim * num_classes > max_dim
    if randomized:
        return RandomizedMultiLinearMap(feature_dim, num_classes, random_dim)
    return MultiLinearMap(feature_dim, num_classes)


# ----------------------------------------------------------------------------- two-domain forward
def forward_domains(
    model: ImageClassifier, x_source: torch.Tensor, x_target: torch.Tensor, bn_mode: BNMode = "shared"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features and logits of source and target: (f_s, f_t, logits_s, logits_t).

    bn_mode "shared": one forward pass over the concatenated batch, so BatchNorm normalises
    source and target with the same batch statistics (the TLLib / DANN-reference choice; the
    running statistics used at test time then describe both domains together).
    "per_domain": two passes, each domain normalised by its own batch statistics (closer to
    AdaBN during training; the running statistics end up a mix of the two).
    """
    n = x_source.shape[0]
    if bn_mode == "shared":
        f = model.features(torch.cat([x_source, x_target], 0))
        logits = model.head(f)
        return f[:n], f[n:], logits[:n], logits[n:]
    f_s = model.features(x_source)
    f_t = model.features(x_target)
    return f_s, f_t, model.head(f_s), model.head(f_t)
