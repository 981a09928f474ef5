"""Score a generator against a folder of real images: KID, FID and PRDC on one feature space."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.gan.data import to_unit_range
from engine.gan.features import NOTE, make_extractor
from engine.gan.scores import fid, kid, prdc

BATCH = 256  # images generated, decoded and passed through the feature extractor at once


@torch.no_grad()
def generate_batches(
    g: Any, n: int, z_dim: int, num_classes: int, seed: int, batch: int = 256
) -> Iterator[torch.Tensor]:
    """`generate`'s images a batch at a time (the same images: the noise is drawn up front)."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, z_dim, generator=gen)
    y = torch.arange(n) % num_classes if num_classes else None
    device = next(g.parameters()).device
    for i in range(0, n, batch):
        yield g(z[i : i + batch].to(device), None if y is None else y[i : i + batch].to(device)).cpu()


def generate(g: Any, n: int, z_dim: int, num_classes: int, seed: int, batch: int = 256) -> torch.Tensor:
    """`n` images in [-1, 1] from `g` (eval mode), classes balanced when conditional; seeded."""
    return torch.cat(list(generate_batches(g, n, z_dim, num_classes, seed, batch)))


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
    g: Any, z_dim: int, num_classes: int, real_u8: Any, *, n_fake: int, features: Any = None, seed: int = 0
) -> dict[str, Any]:
    """Scores of `g`'s samples against real uint8 images [N, 3, S, S] (resized to g's size first).

    Real images (a tensor, or DiskImages over the memory budget) and samples go through the
    feature extractor a batch at a time, in its own batches of 256: only the features are kept,
    the same numbers as extracting from the whole sets at once."""
    from engine.data.disk_images import iter_batches

    extract, name = make_extractor(features, batch=BATCH)
    ff, side = [], 0
    for fake in generate_batches(g, n_fake, z_dim, num_classes, seed, BATCH):
        ff.append(extract(to_unit_range(fake)))
        side = fake.shape[-1]
    fr = []
    for real in iter_batches(real_u8, BATCH):
        real01 = real.float() / 255.0
        if side and real01.shape[-1] != side:
            real01 = torch.nn.functional.interpolate(real01, size=(side, side), mode="bilinear", antialias=True)
        fr.append(extract(real01))
    return score_features(np.concatenate(fr), np.concatenate(ff)) | {
        "features": name,
        "note": NOTE.format(features=name),
    }
