"""Task losses with missing labels, and the three ways of combining them.

- equal: the sum of the task losses.
- uncertainty (Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses",
  CVPR 2018): each task has a learned log-variance s_t; the loss is sum_t exp(-s_t) L_t + s_t / 2
  (eq. 10 for classification, with s = log sigma^2). A noisy or hard task raises its s and weighs
  less; the s_t / 2 term stops every weight from going to zero.
- pcgrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020): where two tasks'
  gradients on the shared parameters conflict (negative dot product), each is projected onto the
  normal plane of the other before they are summed, in a random task order each step.

An image without a label for a task (-1) adds nothing to that task's loss; a batch with no label
for a task gives it a loss of 0 that still belongs to the graph.
"""

from __future__ import annotations

import math

import torch
from torch import nn

MISSING = -1


def task_loss(logits: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy over the images labelled for this task; 0 (in the graph) when there are none."""
    mask = y != MISSING
    if not bool(mask.any()):
        return logits.sum() * 0.0
    return nn.functional.cross_entropy(logits[mask], y[mask], label_smoothing=label_smoothing)


def task_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy over the labelled images; NaN when none is labelled."""
    mask = y != MISSING
    if not bool(mask.any()):
        return math.nan
    return float((logits.detach()[mask].argmax(1) == y[mask]).float().mean())


class UncertaintyWeights(nn.Module):
    """Kendall et al.'s learned task weights: L = sum_t exp(-s_t) L_t + s_t / 2."""

    def __init__(self, tasks: int) -> None:
        super().__init__()
        self.log_vars = nn.Parameter(torch.zeros(tasks))

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        s = self.log_vars
        return (torch.exp(-s) * losses + 0.5 * s).sum()

    def weights(self) -> list[float]:
        return [float(w) for w in torch.exp(-self.log_vars.detach())]


def pcgrad_project(grads: list[torch.Tensor], generator: torch.Generator | None = None) -> torch.Tensor:
    """PCGrad: the sum of the task gradients (flat vectors) after removing their pairwise conflicts.

    Each task's gradient is projected, in a random order of the others, onto the normal plane of
    any other task's *original* gradient it conflicts with (g_i . g_j < 0), as in Algorithm 1.
    """
    projected = []
    for i, g in enumerate(grads):
        g = g.clone()
        others = [j for j in range(len(grads)) if j != i]
        order = torch.randperm(len(others), generator=generator).tolist() if others else []
        for k in order:
            h = grads[others[k]]
            dot = torch.dot(g, h)
            if dot < 0:
                g = g - dot / h.pow(2).sum().clamp_min(1e-20) * h
        projected.append(g)
    return torch.stack(projected).sum(0)


def pcgrad_surrogate(
    losses: list[torch.Tensor], shared: list[nn.Parameter], generator: torch.Generator | None = None
) -> tuple[torch.Tensor, float]:
    """A loss whose gradient is PCGrad's: the plain sum of the task losses (so each head gets its
    own task's gradient) plus a term that swaps the shared parameters' summed gradient for the
    projected one. The trainer's single backward (with its AMP scaler and NaN guard) then applies
    PCGrad unchanged. Returns the loss and the share of task pairs that conflicted this step."""
    total = torch.stack(losses).sum()
    if len(losses) < 2 or not shared:
        return total, 0.0
    flats = []
    for loss in losses:
        grads = torch.autograd.grad(loss, shared, retain_graph=True, allow_unused=True)
        flats.append(
            torch.cat(
                [(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, shared, strict=True)]
            )
        )
    pairs = [(i, j) for i in range(len(flats)) for j in range(i + 1, len(flats))]
    conflicts = sum(1 for i, j in pairs if float(torch.dot(flats[i], flats[j])) < 0) / len(pairs)
    fix = (pcgrad_project(flats, generator) - torch.stack(flats).sum(0)).detach()
    offset = 0
    correction = total.new_zeros(())
    for p in shared:
        n = p.numel()
        correction = correction + (p * fix[offset : offset + n].view_as(p).to(p.dtype)).sum()
        offset += n
    return total + correction - correction.detach(), conflicts
