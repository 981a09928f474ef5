"""BatchNorm statistics of a domain (AdaBN) and exact statistics for evaluation (PreciseBN).

A BatchNorm layer normalises with batch statistics while training and with its running
averages at test time. Domain adaptation makes those averages a poor fit twice over: they
average batches of source and target together, and they lag behind weights that the
adversarial game moves every step, so the accuracy of one checkpoint swings by tens of
points against the next. Recomputing the statistics exactly, on the domain the model is
about to see, removes both problems:

- Li et al., "Revisiting Batch Normalization For Practical Domain Adaptation" (AdaBN), ICLR-W
  2017: normalise target images with target statistics;
- Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021: precise statistics (a plain average
  over many batches with the final weights) instead of the running average.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from engine.data.disk_images import DiskImages, iter_batches
from engine.training.devices import to_device_float

_BN = nn.modules.batchnorm._BatchNorm


def batchnorm_layers(model: nn.Module, skip: Iterable[nn.Module] = ()) -> list[_BN]:
    """The BatchNorm layers of `model` with running statistics, except those inside `skip`."""
    skipped = {id(m) for s in skip for m in s.modules()}
    return [m for m in model.modules() if isinstance(m, _BN) and m.track_running_stats and id(m) not in skipped]


@torch.no_grad()
def recompute_bn_stats(
    model: nn.Module,
    x_uint8: torch.Tensor | DiskImages,  # DiskImages: images over the memory budget, read batch by batch
    device: torch.device,
    *,
    skip: Iterable[nn.Module] = (),
    batch_size: int = 256,
    max_images: int = 2048,
) -> int:
    """Set the running statistics of `model`'s BatchNorm layers to those of these images.

    Statistics are a plain (cumulative) average over equal batches of at most `batch_size` of
    the first `max_images` images, under the current weights; layers inside `skip` (frozen stages)
    keep theirs. Dropout stays off; the weights do not change; every module's train/eval
    mode is restored.
    Returns the number of layers updated (0 when the model has no BatchNorm).
    """
    layers = batchnorm_layers(model, skip)
    n = min(len(x_uint8), max_images)
    if not layers or n < 2:
        return 0
    modes = [(m, m.training) for m in model.modules()]
    momenta = [bn.momentum for bn in layers]
    model.eval()  # dropout and stochastic depth off: only the chosen BatchNorm layers collect
    for bn in layers:
        bn.reset_running_stats()
        bn.momentum = None  # None: cumulative average, every batch weighs the same
        bn.train()
    try:
        # batches of (nearly) equal size, so the plain average over batches is the average
        # over images, and no batch is a lone image without variance; read (DiskImages) and
        # normalised one batch at a time, so memory holds one batch whatever `max_images` is
        for chunk in iter_batches(x_uint8, batch_size, limit=n, equal=True):
            model(to_device_float(chunk, device))
    finally:
        for bn, momentum in zip(layers, momenta, strict=False):
            bn.momentum = momentum
        for m, training in modes:
            m.training = training
    return len(layers)
