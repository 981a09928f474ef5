"""Sample grids and fixed noise: what the Generate page and the run folder show of a generator."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image

from engine.core.fsutil import atomic_write_bytes
from engine.gan.data import to_unit_range


def fixed_noise(z_dim: int, num_classes: int, seed: int, per_row: int = 8) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The grid's noise: 64 vectors (unconditional) or one row of `per_row` per class, from `seed`."""
    gen = torch.Generator().manual_seed(10_007 + seed)
    n = per_row * num_classes if num_classes else per_row * per_row
    z = torch.randn(n, z_dim, generator=gen)
    y = torch.arange(num_classes).repeat_interleave(per_row) if num_classes else None
    return z, y


def to_uint8_hwc(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] [N, 3, H, W] -> uint8 [N, H, W, 3]."""
    return (to_unit_range(images) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def grid_png(images: torch.Tensor, per_row: int = 8, pad: int = 2) -> bytes:
    """[-1, 1] images tiled `per_row` wide with a `pad` px dark border, as PNG bytes."""
    from torchvision.utils import make_grid

    tiles = make_grid(to_unit_range(images.detach().cpu()), nrow=per_row, padding=pad, pad_value=0.15)
    arr = (tiles * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "PNG")
    return buf.getvalue()


def save_png(path: Path, image_hwc: torch.Tensor) -> None:
    """One uint8 [H, W, 3] image as a PNG, written atomically."""
    buf = io.BytesIO()
    Image.fromarray(image_hwc.numpy(), "RGB").save(buf, "PNG")
    atomic_write_bytes(path, buf.getvalue())
