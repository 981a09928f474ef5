"""The pictures of a map: the image, the heat map and the two blended, side by side as one PNG."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.core.fsutil import atomic_write_bytes

PANEL = 192  # pixels per panel side: a 32 px input is shown 6x, nearest-neighbour


def heat_rgb(saliency: np.ndarray) -> np.ndarray:
    """A map [H, W] in [0, 1] as an RGB uint8 image through matplotlib's 'jet' (blue low, red high)."""
    from matplotlib import colormaps

    rgba = colormaps["jet"](np.clip(saliency, 0, 1))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def _panel(rgb: np.ndarray, size: int) -> Image.Image:
    img = Image.fromarray(rgb)
    resample = Image.Resampling.NEAREST if rgb.shape[0] <= size // 2 else Image.Resampling.BILINEAR
    return img.resize((size, size), resample)


def overlay_png(image: np.ndarray, saliency: np.ndarray, caption: str = "", alpha: float = 0.5) -> bytes:
    """PNG bytes of image | heat map | blend for an image [3, H, W] in [0, 1] and its map [H, W]."""
    rgb = (np.clip(image.transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8)
    heat = heat_rgb(saliency)
    blend = ((1 - alpha) * rgb + alpha * heat).round().astype(np.uint8)
    size = max(PANEL, rgb.shape[0])
    band = 18 if caption else 0
    sheet = Image.new("RGB", (3 * size + 8, size + band), (255, 255, 255))
    for k, arr in enumerate((rgb, heat, blend)):
        sheet.paste(_panel(arr, size), (k * (size + 4), band))
    if caption:
        ImageDraw.Draw(sheet).text((4, 3), caption[:100], fill=(20, 20, 20))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()


def write_overlay(path: Path, image: np.ndarray, saliency: np.ndarray, caption: str = "") -> Path:
    atomic_write_bytes(path, overlay_png(image, saliency, caption))
    return path
