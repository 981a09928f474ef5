"""A DiskImages that records the size of every read and refuses to be read whole: a path that
indexes a whole split at once shows as a read larger than a batch (or fails on `materialize()`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.data.disk_images import DiskImages


class SpyImages(DiskImages):
    """DiskImages that logs how many images each read returns; views (`rows`) share the log."""

    def __init__(self, path: str | Path, rows: np.ndarray, size: int, log: list[int]) -> None:
        super().__init__(path, rows, size)
        self.log = log

    def __getitem__(self, key: Any) -> torch.Tensor:
        out = super().__getitem__(key)
        self.log.append(len(out) if out.ndim == 4 else 1)
        return out

    def materialize(self) -> torch.Tensor:
        raise AssertionError("the whole set was materialised")


def spy_file(path: Path, x: torch.Tensor, order: np.ndarray | None = None) -> SpyImages:
    """`x` ([N, 3, S, S] uint8) written as a raw cache-format file, image i at row order[i]
    (default: in order), read back through a SpyImages."""
    rows = np.arange(len(x)) if order is None else order
    raw = np.empty_like(x.numpy())
    raw[rows] = x.numpy()
    raw.tofile(path)
    return SpyImages(path, rows, x.shape[-1], [])
