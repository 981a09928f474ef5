"""kNN accuracy of frozen features: the standard monitor of self-supervised training.

Leave-one-out on one labelled folder: each image is classified by a similarity-weighted vote of
its k nearest neighbours (cosine) among the others (Wu et al. 2018, temperature 0.07).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def knn_accuracy(features: torch.Tensor, labels: torch.Tensor, k: int = 20, temperature: float = 0.07) -> float:
    n = features.shape[0]
    if n < 2:
        return float("nan")
    f = F.normalize(features.float(), dim=1)
    sim = f @ f.T
    sim.fill_diagonal_(float("-inf"))
    k = min(k, n - 1)
    top, idx = sim.topk(k, dim=1)
    classes = int(labels.max()) + 1
    votes = torch.zeros(n, classes)
    votes.scatter_add_(1, labels[idx], (top / temperature).exp())
    return float((votes.argmax(1) == labels).float().mean())
