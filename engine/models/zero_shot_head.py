"""The zero-shot head: features -> attribute space -> a score for every class of the table.

It replaces the classifier's linear head, so the model (checkpoint, ONNX export, predict) scores
every class of the attribute table, the unseen ones included:

- **DAP** (direct attribute prediction, Lampert et al. 2009): `proj` holds one logistic attribute
  classifier per attribute; a class scores log prod_m p(a_m = s_zm | x) / p(a_m = s_zm), the
  product of the attribute posteriors over the attribute priors (`signatures` in [0, 1] are
  read as probabilities, so real-valued attributes work as soft ones).
- **ESZSL** (embarrassingly simple ZSL, Romera-Paredes & Torr 2015): `proj` is the matrix V
  solved in closed form (`eszsl_solve`); a class scores x^T V s_z.

Calibrated stacking (Chao et al. 2016): every seen class's score is lowered by `calibration`
(gamma), against the bias of a model trained on seen classes only towards them.

Every setting is a buffer, so the head is rebuilt from a state dict alone (`install_head`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.classifier import ImageClassifier

MODES = ("dap", "eszsl")
PRIOR_CLAMP = 0.02  # DAP's attribute priors are kept in [0.02, 0.98]: one rare attribute must not dominate


class ZeroShotHead(nn.Module):
    signatures: torch.Tensor  # [Z, A] class attributes in [0, 1]
    seen: torch.Tensor  # [Z] 1.0 for a class with training images
    calibration: torch.Tensor  # [] gamma of calibrated stacking
    mode_id: torch.Tensor  # [] index into MODES (an int buffer, so the state dict says the mode)

    def __init__(self, feature_dim: int, signatures: torch.Tensor, mode: str = "eszsl") -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"zero-shot mode {mode!r}: expected one of {MODES}")
        z, a = signatures.shape
        self.proj = nn.Linear(feature_dim, a)
        self.register_buffer("signatures", signatures.float().clone())
        self.register_buffer("seen", torch.zeros(z))
        self.register_buffer("calibration", torch.zeros(()))
        self.register_buffer("mode_id", torch.tensor(MODES.index(mode)))
        self.mode = mode  # a Python value as well: the ONNX exporter traces no branch on a tensor

    @property
    def num_classes(self) -> int:
        return int(self.signatures.shape[0])

    def set_seen(self, seen_index: list[int]) -> None:
        self.seen.zero_()
        self.seen[seen_index] = 1.0

    def attribute_prior(self) -> torch.Tensor:
        """p(a_m = 1) over the seen classes (DAP divides by it)."""
        weights = self.seen / self.seen.sum().clamp(min=1)
        return (weights @ self.signatures).clamp(PRIOR_CLAMP, 1 - PRIOR_CLAMP)

    def raw_scores(self, features: torch.Tensor) -> torch.Tensor:
        """Class scores before calibration, [N, Z]."""
        a = self.proj(features)
        s = self.signatures
        if self.mode == "eszsl":
            return a @ s.T
        # DAP: log posterior of each class's attribute pattern, over its prior
        prior = self.attribute_prior()
        log_post = nn.functional.logsigmoid(a) @ s.T + nn.functional.logsigmoid(-a) @ (1 - s).T
        log_prior = s @ prior.log() + (1 - s) @ (1 - prior).log()
        return log_post - log_prior

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.raw_scores(features) - self.calibration * self.seen


def install_head(model: ImageClassifier, state: dict[str, torch.Tensor]) -> ZeroShotHead | None:
    """Give `model` (an ImageClassifier) the zero-shot head its state dict holds; None when the
    state is a plain classifier's. Called by every loader before `load_state_dict`."""
    if "head.signatures" not in state:
        return None
    mode = MODES[int(state["head.mode_id"])]
    head = ZeroShotHead(int(state["head.proj.weight"].shape[1]), state["head.signatures"], mode)
    model.add_module("head", head)
    model.num_classes = head.num_classes
    return head


def eszsl_solve(
    features: torch.Tensor, labels: torch.Tensor, signatures: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """ESZSL's closed form on training features; returns (weight [A, D], bias [A]) for `proj`.

    With X the centred features [m, D], Y in {-1, 1}^{m x z} (1 for the image's class) and S the
    seen signatures [z, A]: V = (X^T X + gamma I)^-1 X^T Y S (S^T S + lambda I)^-1 (the paper's
    equation with rows for images). gamma and lambda are relative to the mean eigenvalue of X^T X
    and S^T S, so they do not depend on the features' scale. Centring becomes the bias -mean V.
    """
    x = features.double()
    mean = x.mean(0, keepdim=True)
    x = x - mean
    s = signatures.double()
    y = -torch.ones(len(x), len(s), dtype=torch.float64)
    y[torch.arange(len(x)), labels] = 1.0
    xtx = x.T @ x
    sts = s.T @ s
    g = gamma * float(xtx.diagonal().mean()) + 1e-8
    la = lam * float(sts.diagonal().mean()) + 1e-8
    left = torch.linalg.solve(xtx + g * torch.eye(len(xtx), dtype=torch.float64), x.T @ y @ s)
    v = torch.linalg.solve(sts + la * torch.eye(len(sts), dtype=torch.float64), left.T).T  # [D, A]
    weight = v.T.float()
    bias = -(mean @ v).flatten().float()
    return weight, bias


def dap_fit(
    features: torch.Tensor, targets: torch.Tensor, l2: float = 1e-3, steps: int = 100
) -> tuple[torch.Tensor, torch.Tensor]:
    """DAP's attribute classifiers fitted to convergence on training features: one L2-penalised
    logistic regression per attribute (`targets` [m, A] in [0, 1], soft for real attributes),
    solved together by L-BFGS on standardised features; returns (weight [A, D], bias [A]) for
    `proj` with the standardisation folded in. Convex, so the result does not depend on a
    learning rate or on how far the backbone's training got."""
    x = features.double()
    mean = x.mean(0)
    std = x.std(0).clamp(min=1e-6) if len(x) > 1 else torch.ones_like(mean)
    xs = (x - mean) / std
    t = targets.double()
    w = torch.zeros(t.shape[1], x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(t.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(xs @ w.T + b, t) + l2 * (w * w).sum(1).mean()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    weight = (w / std).detach()
    return weight.float(), (b - weight @ mean).detach().float()


def stacking_gamma(scores: torch.Tensor, labels: torch.Tensor, seen: torch.Tensor, tolerance: float) -> float:
    """Calibrated stacking's gamma chosen on seen-class validation images (no unseen images exist
    at training time): the largest gamma that costs at most `tolerance` of their accuracy, i.e.
    the most weight moved to unseen classes at a bounded, measured cost on the seen ones.

    `scores` [N, Z] uncalibrated, `labels` [N] seen class indices, `seen` [Z] mask.
    """
    mask = seen.bool()
    if len(scores) == 0 or bool(mask.all()):
        return 0.0
    best_seen = scores.masked_fill(~mask, float("-inf"))
    top_seen, arg_seen = best_seen.max(1)
    top_unseen = scores.masked_fill(mask, float("-inf")).max(1).values
    margin = (top_seen - top_unseen)[arg_seen == labels]  # an image stays right while gamma < margin
    if len(margin) == 0:
        return 0.0
    m = margin.sort().values.double()
    k = int(tolerance * len(scores))
    if k >= len(m):
        return float(m[-1]) + 1e-6
    if k == 0:
        return float(m[0]) - 1e-6 * max(1.0, abs(float(m[0])))
    return float((m[k - 1] + m[k]) / 2)
