"""Score a generator against a folder of real images: KID, FID and PRDC on one feature space."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.gan.data import to_unit_range
from engine.gan.features import NOTE, make_extractor
from engine.gan.scores import fid, kid, prdc


@torch.no_grad()
def generate(g: Any, n: int, z_dim: int, num_classes: int, seed: int, batch: int = 256) -> torch.Tensor:
    """`n` images in [-1, 1] from `g` (eval mode), classes balanced when conditional; seeded."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, z_dim, generator=gen)
    y = torch.arange(n) % num_classes if num_classes else None
    device = next(g.parameters()).device
    out = [
        g(z[i : i + batch].to(device), None if y is None else y[i : i + batch].to(device)).cpu()
        for i in range(0, n, batch)
    ]
    return torch.cat(out)


def score_images(real01: torch.Tensor, fake01: torch.Tensor, features: str | Path | None = None) -> dict[str, Any]:
    """KID (mean, std), FID and PRDC between real and generated images in [0, 1]."""
    extract, name = make_extractor(features)
    fr, ff = extract(real01), extract(fake01)
    return score_features(fr, ff) | {"features": name, "note": NOTE.format(features=name)}


def score_features(fr: np.ndarray, ff: np.ndarray, seed: int = 0) -> dict[str, Any]:
    size = min(len(fr), len(ff), 1000)
    k_mean, k_std = kid(fr, ff, subsets=50, subset_size=size, seed=seed)
    return {
        "kid": k_mean,
        "kid_std": k_std,
        "fid": fid(fr, ff),
        **prdc(fr, ff, k=5),
        "n_real": len(fr),
        "n_fake": len(ff),
    }


def score_generator(
    g: Any, z_dim: int, num_classes: int, real_u8: torch.Tensor, *, n_fake: int, features: Any = None, seed: int = 0
) -> dict[str, Any]:
    """Scores of `g`'s samples against real uint8 images [N, 3, S, S] (resized to g's size first)."""
    fake = to_unit_range(generate(g, n_fake, z_dim, num_classes, seed))
    real01 = real_u8.float() / 255.0
    if real01.shape[-1] != fake.shape[-1]:
        real01 = torch.nn.functional.interpolate(real01, size=fake.shape[-2:], mode="bilinear", antialias=True)
    return score_images(real01, fake, features)
