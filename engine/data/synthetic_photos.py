"""Folders of photo-sized synthetic JPEGs, for the large-folder bench and tests.

The demo (engine.data.demo) writes 32-px images; real folders hold camera JPEGs of hundreds to
thousands of pixels a side, where decoding, not the model, is the cost. Each image is smooth
colour (a tiny random image upsampled, like out-of-focus background) plus a class-coloured
ellipse, saved as a baseline JPEG: decoding it costs what a photo of the same size costs, and
the classes are learnable. Written in threads (PIL releases the GIL while encoding).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASS_COLOURS = [(220, 40, 40), (40, 200, 60), (40, 70, 220), (230, 200, 30), (160, 40, 200)]


def photo(index: int, label: int, width: int = 400, height: int = 300, seed: int = 0) -> Image.Image:
    """One synthetic photo of class `label` (deterministic in index, label and seed)."""
    rng = np.random.default_rng([seed, index, label])
    small = rng.integers(30, 226, (6, 8, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    colour = CLASS_COLOURS[label % len(CLASS_COLOURS)]
    w, h = int(width * rng.uniform(0.25, 0.5)), int(height * rng.uniform(0.25, 0.5))
    x0, y0 = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
    draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)
    arr = np.asarray(img).astype(np.int16) + rng.integers(-6, 7, (height, width, 1), dtype=np.int16)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def write_photo_folder(
    root: str | os.PathLike[str],
    n: int,
    classes: int = 2,
    width: int = 400,
    height: int = 300,
    seed: int = 0,
    threads: int = 2,
    quality: int = 85,
) -> Path:
    """Write `n` JPEGs as `root/class_<k>/<i>.jpg` (labelled, balanced); returns `root`."""
    out = Path(root)
    for k in range(classes):
        (out / f"class_{k}").mkdir(parents=True, exist_ok=True)

    def one(i: int) -> None:
        label = i % classes
        photo(i, label, width, height, seed).save(out / f"class_{label}" / f"{i:06d}.jpg", quality=quality)

    with ThreadPoolExecutor(max(1, threads)) as pool:
        list(pool.map(one, range(n)))
    return out
