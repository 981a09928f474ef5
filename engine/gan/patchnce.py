"""CUT's contrastive loss (Park et al. 2020, "Contrastive Learning for Unpaired Image-to-Image
Translation"): PatchNCE, an alternative to CycleGAN's cycle loss that needs no second
generator.

A patch of the translated image must be more like the patch at the same place of the input
than like the input's patches elsewhere. Both images go through the generator's own encoder
(`TranslatorG.encode`); at each of a few layers the same random locations are picked in both,
each feature vector goes through a small two-layer MLP (one per layer) and is L2-normalised,
and an InfoNCE cross-entropy with temperature tau picks the matching location among the
sampled ones of the same image. The input's side (the keys) is detached, as in CUT's code: the
loss pulls the translation towards its input's content, not the other way round.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engine.gan.translate_nets import TranslatorG


def patch_nce(query: torch.Tensor, key: torch.Tensor, tau: float = 0.07) -> torch.Tensor:
    """InfoNCE over patches: query, key [B, P, C] (L2-normalised); query p's positive is key p of
    the same image, its negatives the other P - 1 keys of that image. Mean over B * P."""
    logits = torch.bmm(query, key.detach().transpose(1, 2)) / tau  # [B, P, P]
    b, p, _ = logits.shape
    target = torch.arange(p, device=query.device).repeat(b)
    return F.cross_entropy(logits.reshape(b * p, p), target)


class PatchProjector(nn.Module):
    """One MLP (Linear, ReLU, Linear) per encoder layer, and the sampling of patch locations."""

    def __init__(self, channels: list[int], dim: int = 64) -> None:
        super().__init__()
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, dim), nn.ReLU(True), nn.Linear(dim, dim)) for c in channels
        )

    def forward(
        self, feats: list[torch.Tensor], patches: int, ids: list[torch.Tensor] | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per layer: `patches` locations (the same `ids` when given) of [B, C, H, W] maps, projected
        and normalised -> [B, P, dim]; returns them and the ids used."""
        out, used = [], []
        for k, (f, mlp) in enumerate(zip(feats, self.mlps, strict=True)):
            flat = f.flatten(2).transpose(1, 2)  # [B, H*W, C]
            if ids is None:
                idx = torch.randperm(flat.shape[1], device=f.device)[: min(patches, flat.shape[1])]
            else:
                idx = ids[k]
            out.append(F.normalize(mlp(flat[:, idx]), dim=-1))
            used.append(idx)
        return out, used


def nce_loss(
    generator: TranslatorG, projector: PatchProjector, source: torch.Tensor, translated: torch.Tensor, patches: int,
    tau: float = 0.07,
) -> torch.Tensor:  # fmt: skip
    """PatchNCE between `source` and its translation `translated` ([-1, 1] images), averaged over
    the encoder layers of `generator` (the one that made `translated`)."""
    keys, ids = projector(generator.encode(source), patches)
    queries, _ = projector(generator.encode(translated), patches, ids)
    losses = [patch_nce(q, k, tau) for q, k in zip(queries, keys, strict=True)]
    return torch.stack(losses).mean()
