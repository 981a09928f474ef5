"""DiffAugment (Zhao et al. 2020): differentiable augmentation of real AND fake images.

With few images a discriminator memorises the training set and the generator's gradients
become meaningless. Augmenting only the real images would teach G to produce augmented
images; DiffAugment applies the same family of random transforms to both real and generated
images, in differentiable torch ops, in both the D and the G step, so G learns the clean
distribution. Policies (the paper's): 'color' (brightness, saturation, contrast), 'translation'
(shift by up to 1/8 of the side, zero fill) and 'cutout' (a square of half the side set to 0).
Images are in [-1, 1]. Each image draws its own parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from engine.gan.policy import parse_policy

__all__ = ["POLICIES", "diff_augment", "parse_policy"]

Transform = Callable[[torch.Tensor], torch.Tensor]


def _brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)


def _saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + mean


def _contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sh, sh + 1, size=(b, 1, 1), device=x.device)
    ty = torch.randint(-sw, sw + 1, size=(b, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    gx = torch.clamp(gx + tx + 1, 0, h + 1)
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return padded.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = torch.randint(0, h + (1 - ch % 2), size=(b, 1, 1), device=x.device)
    oy = torch.randint(0, w + (1 - cw % 2), size=(b, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(ch, device=x.device),
        torch.arange(cw, device=x.device),
        indexing="ij",
    )
    gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
    gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


POLICIES: dict[str, list[Transform]] = {
    "color": [_brightness, _saturation, _contrast],
    "translation": [_translation],
    "cutout": [_cutout],
}


def diff_augment(x: torch.Tensor, policy: str | list[str]) -> torch.Tensor:
    """`x` [B, C, H, W] augmented by each part of `policy`, in order; same shape, differentiable."""
    parts = parse_policy(policy) if isinstance(policy, str) else policy
    for name in parts:
        for fn in POLICIES[name]:
            x = fn(x)
    return x.contiguous()
