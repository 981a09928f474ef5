"""Grad-CAM (Selvaraju et al. 2017) and Grad-CAM++ (Chattopadhyay et al. 2018) on torch hooks.

Written here on two hooks rather than taken from the grad-cam or captum packages: neither is a
dependency of the app, and the maths is twenty lines. The layer is the backbone's last stage whose
output is still a spatial map (found by one forward pass over the model's stages), so every
registered backbone gets its own choice: block4 of tiny_cnn, block3 of small_cnn, layer4 of a
ResNet, the last block of MobileNet and EfficientNet.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from engine.core.errors import UserError


def target_layer(model: nn.Module, input_size: int) -> nn.Module:
    """The last of `model.stages` whose output is a 4-D feature map [N, C, h, w]."""
    stages: list[nn.Module] = list(getattr(model, "stages", []))
    if not stages:
        raise UserError(f"{type(model).__name__}: has no backbone stages to explain with Grad-CAM")
    ranks: dict[int, int] = {}
    handles = [
        s.register_forward_hook(lambda m, _i, out, k=k: ranks.__setitem__(k, out.dim())) for k, s in enumerate(stages)
    ]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.full((1, 3, input_size, input_size), 0.5, device=_device(model)))
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    spatial = [k for k, rank in ranks.items() if rank == 4]
    if not spatial:
        raise UserError(f"{type(model).__name__}: no stage outputs a spatial feature map; Grad-CAM needs one")
    return stages[max(spatial)]


def _device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def normalise_maps(maps: torch.Tensor) -> torch.Tensor:
    """Each map [N, H, W] scaled to [0, 1] (a constant map becomes all zeros)."""
    flat = maps.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(maps)


def _weights(acts: torch.Tensor, grads: torch.Tensor, plus: bool) -> torch.Tensor:
    """Channel weights [N, C, 1, 1]: mean gradient (Grad-CAM) or the Grad-CAM++ alphas."""
    if not plus:
        return grads.mean((2, 3), keepdim=True)
    g2 = grads.pow(2)
    g3 = g2 * grads
    sum_acts = acts.sum((2, 3), keepdim=True)
    alpha = g2 / (2 * g2 + sum_acts * g3).where(grads != 0, torch.ones_like(g2))
    alpha = alpha.where(grads != 0, torch.zeros_like(alpha))
    return (alpha * torch.relu(grads)).sum((2, 3), keepdim=True)


def grad_cam(
    model: nn.Module,
    layer: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    plus: bool = False,
) -> np.ndarray:
    """Maps [N, H, W] in [0, 1] for images `x` (float [0, 1], [N, 3, H, W]) and class indices `targets`.

    One forward and one backward pass per batch; the model's mode and gradients are left as found.
    """
    store: dict[str, Any] = {}

    def keep(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
        store["acts"] = out
        out.register_hook(lambda g: store.__setitem__("grads", g))

    handle = layer.register_forward_hook(keep)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            xin = x.detach().to(_device(model)).float().requires_grad_(True)
            logits = model(xin)
            picked = logits.gather(1, targets.to(logits.device).view(-1, 1)).sum()
            picked.backward()
        acts, grads = store["acts"].detach(), store["grads"].detach()
    finally:
        handle.remove()
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    cam = torch.relu((_weights(acts, grads, plus) * acts).sum(1, keepdim=True))
    cam = nn.functional.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return normalise_maps(cam).cpu().numpy().astype(np.float32)
