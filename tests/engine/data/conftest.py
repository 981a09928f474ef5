"""Tiny image-file factories for the data-layer tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_png(path: Path, colour: tuple[int, int, int] = (10, 20, 30), size: tuple[int, int] = (8, 8)) -> Path:
    """Write a small solid-colour RGB PNG (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def write_noise(path: Path, seed: int, size: tuple[int, int] = (8, 8), fmt: str | None = None) -> Path:
    """Write a small random RGB image, distinct per seed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr, "RGB").save(path, fmt)
    return path


def make_labelled(root: Path, counts: dict[str, int], start_seed: int = 0) -> Path:
    """root/<class>/<i>.png with distinct contents; returns root."""
    seed = start_seed
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            write_noise(root / cls / f"{i:03d}.png", seed)
            seed += 1
    return root


@pytest.fixture
def png():
    return write_png


@pytest.fixture
def noise():
    return write_noise


@pytest.fixture
def labelled():
    return make_labelled
