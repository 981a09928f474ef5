"""Losses shared by domain-adaptation methods (multi-kernel MMD, CORAL, entropy, minimum class
confusion, confidence-thresholded pseudo-labels). Their base class lives in methods/adaptation.py.

The losses are pure functions of tensors, safe from log(0) and division by zero, so a method
never produces a NaN on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

DEFAULT_KERNEL_MULTIPLIERS: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0)


def _sq_dists(x: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances of the rows of `x` (clamped at 0)."""
    sq = (x * x).sum(1, keepdim=True)
    return (sq + sq.t() - 2.0 * (x @ x.t())).clamp_min(0.0)


def mk_mmd(
    f_s: torch.Tensor, f_t: torch.Tensor, multipliers: Sequence[float] = DEFAULT_KERNEL_MULTIPLIERS
) -> torch.Tensor:
    """Multi-kernel MMD² between two samples (Long et al., DAN, ICML 2015; Gretton 2012).

    Sum of equally weighted Gaussian kernels exp(−d² / (2·m·σ²)); σ² is the mean pairwise
    squared distance of the pooled sample (detached, so the bandwidth is not optimised).
    The estimator leaves out the diagonal (unbiased for within-domain terms): close to 0 for
    two samples of one distribution, and clearly above for shifted ones.
    """
    ns, nt = f_s.shape[0], f_t.shape[0]
    x = torch.cat([f_s, f_t], 0).float()
    d2 = _sq_dists(x)
    n = ns + nt
    sigma2 = (d2.detach().sum() / max(n * n - n, 1)).clamp_min(1e-8)
    k = torch.stack([torch.exp(-d2 / (2.0 * m * sigma2)) for m in multipliers]).mean(0)
    k_ss, k_tt, k_st = k[:ns, :ns], k[ns:, ns:], k[:ns, ns:]
    off_s = (k_ss.sum() - k_ss.diagonal().sum()) / max(ns * ns - ns, 1)
    off_t = (k_tt.sum() - k_tt.diagonal().sum()) / max(nt * nt - nt, 1)
    return off_s + off_t - 2.0 * k_st.mean()


def covariance(f: torch.Tensor) -> torch.Tensor:
    """Unbiased covariance matrix [d, d] of the rows of `f`."""
    n = f.shape[0]
    c = f - f.mean(0, keepdim=True)
    return c.t() @ c / max(n - 1, 1)


def coral(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """Deep CORAL loss ‖C_s − C_t‖²_F / (4 d²) (Sun & Saenko, ECCV-W 2016)."""
    d = f_s.shape[1]
    diff = covariance(f_s.float()) - covariance(f_t.float())
    return (diff * diff).sum() / (4.0 * d * d)


def entropy(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Per-sample Shannon entropy (nats) of softmax(logits / T), via log_softmax (no log 0)."""
    logp = F.log_softmax(logits.float() / temperature, dim=1)
    return -(logp.exp() * logp).sum(1)


def mcc_loss(logits_t: torch.Tensor, temperature: float = 2.5) -> torch.Tensor:
    """Minimum Class Confusion (Jin et al., ECCV 2020) on unlabelled target logits.

    Temperature-scaled probabilities, samples weighted by 1 + exp(−entropy) (confident ones
    count more), class confusion C = Pᵀ diag(w) P normalised per class; the loss is the
    off-diagonal mass divided by the number of classes.
    """
    n, k = logits_t.shape
    p = F.softmax(logits_t.float() / temperature, dim=1)
    h = entropy(logits_t, temperature).detach()
    w = 1.0 + torch.exp(-h)
    w = (n * w / w.sum()).unsqueeze(1)
    conf = (p * w).t() @ p
    conf = conf / conf.sum(1, keepdim=True).clamp_min(1e-8)
    return (conf.sum() - conf.trace()) / k


def pseudo_label_loss(
    logits_t: torch.Tensor, threshold: float, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, float, float]:
    """Cross-entropy on target samples whose confidence ≥ `threshold`, against their argmax.

    Returns (loss averaged over the WHOLE batch, so few confident samples mean a small loss;
    share of the batch above the threshold; mean confidence). Labels come from detached logits.
    """
    with torch.no_grad():
        probs = F.softmax(logits_t.detach().float(), dim=1)
        conf, labels = probs.max(1)
        mask = (conf >= threshold).float()
    ce = F.cross_entropy(logits_t, labels, reduction="none", label_smoothing=label_smoothing)
    loss = (ce * mask).sum() / max(logits_t.shape[0], 1)
    return loss, float(mask.mean()), float(conf.mean())
