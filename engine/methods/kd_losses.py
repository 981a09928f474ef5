"""Logit-distillation losses: Hinton KD, DKD and DIST.

All three compare student and teacher logits only, so teacher and student may have any
architectures (a ResNet teacher, a tiny CNN student, or an ONNX file whose insides are unknown).

- Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network", 2015: KL divergence
  between the temperature-softened distributions, times T² so its gradients keep their scale.
- Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022: KD split into target-class KD
  (binary: the true class against all others) and non-target-class KD (the distribution among
  the other classes), weighted α and β independently (the official code's defaults: α 1, β 8).
- Huang et al., "Knowledge Distillation from A Stronger Teacher" (DIST), NeurIPS 2022: match
  the relations rather than the values: 1 − Pearson correlation of the probabilities per image
  (inter-class) and per class across the batch (intra-class), so a much stronger teacher's
  exact confidence need not be copied.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

KD_LOSSES = ("kd", "dkd", "dist")


def hinton_kd(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """T² · KL(softmax(t/T) ‖ softmax(s/T)), averaged over the batch."""
    t = temperature
    log_p_s = F.log_softmax(student / t, dim=1)
    log_p_t = F.log_softmax(teacher / t, dim=1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(1)
    return kl.mean() * t * t


def _binary(p: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """[N, C] probabilities -> [N, 2]: (p of the true class, p of all the others)."""
    p_gt = (p * gt).sum(1, keepdim=True)
    return torch.cat([p_gt, (p * (1 - gt)).sum(1, keepdim=True)], dim=1)


def dkd(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    alpha: float = 1.0,
    beta: float = 8.0,
    temperature: float = 4.0,
) -> torch.Tensor:
    """α · TCKD + β · NCKD (Zhao et al. 2022), each T²-scaled and averaged over the batch.

    `labels` name each image's target class; for unlabelled images pass the teacher's argmax.
    """
    t = temperature
    gt = F.one_hot(labels, student.shape[1]).to(student.dtype)
    p_s = F.softmax(student / t, dim=1)
    p_t = F.softmax(teacher / t, dim=1)
    b_s = _binary(p_s, gt).clamp_min(1e-12)
    b_t = _binary(p_t, gt).clamp_min(1e-12)
    tckd = (b_t * (b_t.log() - b_s.log())).sum(1).mean() * t * t
    # the non-target distribution: the true class masked out before the softmax
    log_q_s = F.log_softmax(student / t - 1000.0 * gt, dim=1)
    log_q_t = F.log_softmax(teacher / t - 1000.0 * gt, dim=1)
    nckd = (log_q_t.exp() * (log_q_t - log_q_s)).sum(1).mean() * t * t
    return alpha * tckd + beta * nckd


def _pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Row-wise Pearson correlation of two [N, C] tensors."""
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def dist_loss(
    student: torch.Tensor, teacher: torch.Tensor, beta: float = 1.0, gamma: float = 1.0, temperature: float = 1.0
) -> torch.Tensor:
    """β · inter-class + γ · intra-class relation loss (Huang et al. 2022), each T²-scaled."""
    t = temperature
    y_s = F.softmax(student / t, dim=1)
    y_t = F.softmax(teacher / t, dim=1)
    inter = 1 - _pearson(y_s, y_t).mean()
    intra = 1 - _pearson(y_s.t(), y_t.t()).mean()
    return (beta * inter + gamma * intra) * t * t


def agreement(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """Share of images on which student and teacher predict the same class."""
    if len(student) == 0:
        return float("nan")
    return float((student.argmax(1) == teacher.argmax(1)).float().mean())
