"""Synthetic training images: generated labelled images (e.g. `gan sample --per-class`) added to
the source's training split, never to its validation split (the selection score stays on real
images), in a set ratio to the real training images.

With scarce labelled data a class-conditional GAN's samples can add variety; they can also add
artefacts, so the share is the user's (`synthetic_ratio`) and the log says how many were used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Log


def add_synthetic(
    data: Any,
    folder: Path,
    ratio: float,
    seed: int,
    emit: Emit,
    cache: Any,
    control: JobControl | None,
    workers: int = 0,
    budget: Any = None,
) -> None:
    """Append up to `ratio` x (real training images) images of `folder` to data.x_train / y_train.

    `budget` (prepare_data's): the generated images are kept in memory while they fit it, else
    read from the disk cache per batch; a training split on disk is never read whole to append them."""
    from engine.data.folders import scan_domain

    if not folder.is_dir():
        raise UserError(
            f"synthetic folder {folder}: not found. Give a folder of generated images in class sub-folders."
        )
    domain = scan_domain(folder, name="synthetic")
    if not domain.labelled:
        raise UserError(
            f"synthetic folder {folder}: has no class sub-folders. Generate labelled samples, e.g. "
            "'transfer-studio gan sample RUN --per-class --n 100 --out DIR'."
        )
    try:
        domain = domain.relabel(list(data.classes))
    except UserError as err:
        raise UserError(f"synthetic folder: {err}") from None
    dec = cache.get_or_decode(domain, data.size, workers, control)
    n_real = len(data.y_train)
    want = max(1, round(ratio * n_real))
    order = torch.randperm(len(dec.labels), generator=torch.Generator().manual_seed(seed + 7919))[:want]
    if want > len(order):
        emit(
            Log(
                f"synthetic folder {folder}: {len(order)} images, fewer than ratio {ratio} asks ({want}); all used.",
                "warning",
            )
        )
    from engine.data.disk_images import concat

    extra = budget.take(dec.images, order) if budget is not None else dec.images[order]
    data.x_train = concat([data.x_train, extra])  # a tensor when both are in memory, else read per batch
    data.y_train = torch.cat([data.y_train, dec.labels[order]])
    emit(Log(f"Synthetic: {len(order)} generated images added to {n_real} real training images ({folder})"))
