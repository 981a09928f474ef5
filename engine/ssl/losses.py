"""SimCLR's NT-Xent and BYOL's normalised regression loss, written out (each a few lines).

Both take the two views' embeddings of one batch, row i of `a` and row i of `b` being views of
the same image. Tests check them against values computed by hand on tiny tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """Normalised temperature-scaled cross entropy (Chen et al. 2020), averaged over all 2N anchors.

    Each embedding's positive is the other view of its image; the other 2N - 2 embeddings of the
    batch are its negatives. Cosine similarity divided by `temperature`, self-similarity excluded.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"views must both be [N, D], got {tuple(a.shape)} and {tuple(b.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n = a.shape[0]
    z = F.normalize(torch.cat([a, b]).float(), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, targets)


def byol_regression(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean of 2 - 2·cos(p, z) (Grill et al. 2020): the online prediction against the target projection.

    `z` comes from the target network and carries no gradient.
    """
    if p.shape != z.shape or p.ndim != 2:
        raise ValueError(f"prediction and target must both be [N, D], got {tuple(p.shape)} and {tuple(z.shape)}")
    cos = (F.normalize(p.float(), dim=1) * F.normalize(z.detach().float(), dim=1)).sum(dim=1)
    return (2 - 2 * cos).mean()


def byol_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Symmetrised BYOL loss: view 1's prediction regresses view 2's target projection and vice versa."""
    return byol_regression(p1, z2) + byol_regression(p2, z1)
