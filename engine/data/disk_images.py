"""Images that stay on disk, read a batch at a time, and the memory budget that decides.

`DiskImages` stands in for the uint8 tensor [N, 3, S, S] that the trainer and the evaluation
helpers index: `len(x)`, `x.shape`, `x[i]`, `x[a:b]`, `x[index_tensor]` all return real
tensors read from the cache file (`x.rows(...)` gives a narrower DiskImages without reading).
That is the whole interface the loops use, so a folder over the budget trains the same way,
reading each batch from the OS page cache (or the disk) instead of holding all of it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.data.image_cache import read_rows

BUDGET_FRACTION = 0.25  # default memory budget: this share of the memory available at start


def available_memory_bytes() -> int:
    """Memory the OS could give us now (Linux MemAvailable; elsewhere half the physical memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 2
    except (AttributeError, ValueError, OSError):
        return 4 << 30


def default_budget_mb() -> int:
    """A quarter of the available memory, at least 256 MB: the model, the window and the OS need the rest."""
    return max(256, int(available_memory_bytes() * BUDGET_FRACTION) >> 20)


def budget_bytes(cache_memory_mb: int | None) -> int:
    return (default_budget_mb() if cache_memory_mb is None else int(cache_memory_mb)) << 20


class DiskImages:
    """uint8 images [N, 3, size, size] in a cache file, addressed by row; indexing reads them."""

    dtype = torch.uint8
    ndim = 4

    def __init__(self, path: str | Path, rows: np.ndarray, size: int) -> None:
        self.path = str(path)
        self._rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        self.size = int(size)
        self._fd: int | None = None
        self._pid = -1

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self._rows), 3, self.size, self.size))

    @property
    def nbytes(self) -> int:
        return len(self._rows) * 3 * self.size * self.size

    def __len__(self) -> int:
        return len(self._rows)

    def _handle(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a DataLoader worker opens its own
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            self._pid = os.getpid()
        return self._fd

    def _select(self, key: Any) -> np.ndarray:
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        if isinstance(key, (slice, list, tuple, np.ndarray)):
            return self._rows[key]
        raise TypeError(f"DiskImages cannot be indexed with {type(key).__name__}")

    def rows(self, key: Any) -> DiskImages:
        """A DiskImages of the chosen images, nothing read (a split of the domain into train/val)."""
        return DiskImages(self.path, self._select(key), self.size)

    def __getitem__(self, key: Any) -> torch.Tensor:
        if isinstance(key, (int, np.integer)) or (isinstance(key, torch.Tensor) and key.ndim == 0):
            one = self._rows[[int(key)]]
            return torch.from_numpy(read_rows(self.path, one, self.size, self._handle())[0])
        return torch.from_numpy(read_rows(self.path, self._select(key), self.size, self._handle()))

    def __iter__(self) -> Any:
        for i in range(len(self)):
            yield self[i]

    def materialize(self) -> torch.Tensor:
        return self[:]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_fd"], state["_pid"] = None, -1  # a spawned worker opens the file itself
        return state

    def __del__(self, _getpid: Any = os.getpid, _close: Any = os.close, _quiet: Any = contextlib.suppress) -> None:
        # os may already be torn down when the interpreter exits: keep our own references
        if getattr(self, "_fd", None) is not None and self._pid == _getpid():
            with _quiet(OSError):
                _close(self._fd)

    def __repr__(self) -> str:
        return f"DiskImages({len(self)} images of {self.size}px in {self.path})"


def take(images: Any, index: torch.Tensor) -> Any:
    """images[index] for a tensor (copied), a DiskImages view for disk images (nothing read)."""
    if isinstance(images, DiskImages):
        return images.rows(index)
    return images[index]


def as_tensor(images: Any) -> torch.Tensor:
    """A real tensor of the images (reads DiskImages whole: only for small sets)."""
    return images.materialize() if isinstance(images, DiskImages) else images
