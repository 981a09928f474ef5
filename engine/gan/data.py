"""Training images for a GAN: one folder decoded once to uint8, with the checks few-shot data needs.

Refused with a UserError (before any training): a missing folder, fewer readable images than a
batch, a conditional run on a folder without class sub-folders, and images of mixed sizes
(a GAN learns whatever the crop does to them) unless `resize_mixed` accepts the resize.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Log
from engine.data.disk_images import budget_bytes
from engine.data.folders import scan_domain
from engine.data.loading import decode_domain


@dataclass
class GanImages:
    """images uint8 [N, 3, S, S]; labels int64 [N] (-1 when unlabelled); classes ([] unlabelled)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    root: Path

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _sizes(paths: list[Path]) -> dict[tuple[int, int], Path]:
    """One example file per (width, height) found (headers only, no decoding)."""
    found: dict[tuple[int, int], Path] = {}
    for p in paths:
        try:
            with Image.open(p) as img:
                found.setdefault(img.size, p)
        except (OSError, ValueError):
            continue  # unreadable: decode_domain reports it
    return found


def load_gan_images(
    folder: Path,
    image_size: int,
    emit: Emit,
    control: JobControl,
    *,
    conditional: bool,
    batch_size: int,
    resize_mixed: bool,
    workers: int = 0,
) -> GanImages:
    """Decode `folder` to `image_size` px, or raise a UserError saying what is wrong with it."""
    if not folder.is_dir():
        raise UserError(f"{folder}: folder not found. Pick an existing folder of images.")
    domain = scan_domain(folder, labelled=True if conditional else None)
    if conditional and not domain.labelled:
        raise UserError(
            f"{folder}: a conditional GAN needs class sub-folders (one per class); this folder has none. "
            "Untick conditional or pick a labelled folder."
        )
    sizes = _sizes(domain.paths)
    if len(sizes) > 1 and not resize_mixed:
        shown = "; ".join(f"{w}x{h} (e.g. {p.name})" for (w, h), p in list(sizes.items())[:3])
        raise UserError(
            f"{folder}: images of {len(sizes)} different sizes: {shown}. A GAN learns the resize and crop too; "
            f"make them one size, or accept a resize to {image_size} px and centre crop (--resize-mixed)."
        )
    # within the memory budget in memory, over it DiskImages: the trainer reads a batch at a time
    decoded = decode_domain(domain, image_size, workers=workers, control=control, budget=budget_bytes(None))
    if decoded.skipped:
        emit(
            Log(
                f"{folder}: {len(decoded.skipped)} unreadable file(s) left out, e.g. {decoded.skipped[0][0]}", "warning"
            )
        )
    n = len(decoded)
    if n < batch_size:
        raise UserError(
            f"{folder}: {n} readable image(s), fewer than the batch size {batch_size}. "
            f"Lower the batch size to at most {n} (--batch-size) or add images."
        )
    classes = list(decoded.classes) if domain.labelled else []
    return GanImages(decoded.images, decoded.labels, classes, folder)


def to_model_range(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the generator's output range."""
    return images_u8.float() / 127.5 - 1.0


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> [0, 1]."""
    return ((images + 1.0) / 2.0).clamp(0.0, 1.0)
