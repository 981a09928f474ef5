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
from collections.abc import Iterator, Sequence
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
        """A DiskImages of the chosen images, nothing read (a split of the domain into train/val).

        Of the same class as `self`, so a subclass (a test's spy on reads) follows its views."""
        view = type(self).__new__(type(self))
        view.__dict__.update(self.__dict__)
        view._rows, view._fd, view._pid = self._select(key), None, -1
        return view

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


class ConcatImages:
    """uint8 image sets laid end to end (tensors, DiskImages), indexed like their `torch.cat`.

    Synthetic training images appended to a split that stays on disk: concatenating would read
    the whole split into memory; this reads only the images a batch asks for, from each part.
    """

    dtype = torch.uint8
    ndim = 4

    def __init__(self, parts: Sequence[Any]) -> None:
        self.parts: list[Any] = []
        for p in parts:  # flatten nested concatenations
            self.parts.extend(p.parts if isinstance(p, ConcatImages) else [p])
        sides = {tuple(p.shape[1:]) for p in self.parts}
        if len(sides) != 1:
            raise ValueError(f"image sets of different shapes cannot be concatenated: {sorted(sides)}")
        self._starts = np.cumsum([0, *(len(p) for p in self.parts)])

    @property
    def shape(self) -> torch.Size:
        return torch.Size((int(self._starts[-1]), *self.parts[0].shape[1:]))

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, key: Any) -> torch.Tensor:
        if isinstance(key, (int, np.integer)) or (isinstance(key, torch.Tensor) and key.ndim == 0):
            i = int(key) + (len(self) if int(key) < 0 else 0)
            if not 0 <= i < len(self):
                raise IndexError(f"image {int(key)} of {len(self)}")
            k = int(np.searchsorted(self._starts, i, side="right")) - 1
            return self.parts[k][i - int(self._starts[k])]
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        if not isinstance(key, (slice, list, tuple, np.ndarray)):
            raise TypeError(f"ConcatImages cannot be indexed with {type(key).__name__}")
        idx = np.arange(len(self))[key]
        out = torch.empty((len(idx), *self.shape[1:]), dtype=torch.uint8)
        part_of = np.searchsorted(self._starts, idx, side="right") - 1
        for k in np.unique(part_of).tolist():
            where = np.flatnonzero(part_of == k)
            out[torch.from_numpy(where)] = self.parts[k][torch.from_numpy(idx[where] - self._starts[k])]
        return out

    def rows(self, key: Any) -> Any:
        """The chosen images as a set of the same kind, nothing read from disk."""
        idx = np.arange(len(self))[key.cpu().numpy() if isinstance(key, torch.Tensor) else key]
        part_of = np.searchsorted(self._starts, idx, side="right") - 1
        if len(idx) == 0:
            return take(self.parts[0], torch.from_numpy(idx))
        cuts = np.flatnonzero(np.diff(part_of)) + 1  # runs of images from one part, in the order asked
        runs = [
            take(self.parts[int(part_of[a])], torch.from_numpy(idx[a:b] - self._starts[part_of[a]]))
            for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(idx)], strict=True)
        ]
        return runs[0] if len(runs) == 1 else ConcatImages(runs)

    def materialize(self) -> torch.Tensor:
        return torch.cat([as_tensor(p) for p in self.parts])

    def __repr__(self) -> str:
        return f"ConcatImages({', '.join(repr(p) if not isinstance(p, torch.Tensor) else f'tensor[{len(p)}]' for p in self.parts)})"


def concat(parts: Sequence[Any]) -> Any:
    """Image sets end to end: a tensor when all are tensors in memory, else a ConcatImages."""
    if all(isinstance(p, torch.Tensor) for p in parts):
        return torch.cat(list(parts))
    return ConcatImages(parts)


def take(images: Any, index: torch.Tensor) -> Any:
    """images[index] for a tensor (copied), a view for disk images (nothing read)."""
    if isinstance(images, (DiskImages, ConcatImages)):
        return images.rows(index)
    return images[index]


def as_tensor(images: Any) -> torch.Tensor:
    """A real tensor of the images (reads DiskImages whole: only for small sets)."""
    return images if isinstance(images, torch.Tensor) else images.materialize()


def batch_bounds(n: int, batch_size: int, *, equal: bool = False) -> list[tuple[int, int]]:
    """(start, stop) of consecutive batches over `n` images: of `batch_size` with a shorter last
    one, or, with `equal`, as `torch.tensor_split` cuts them (as few batches, sizes differing by
    at most one: a plain average over batches is then the average over images)."""
    if n <= 0 or batch_size <= 0:
        return []
    if not equal:
        return [(a, min(a + batch_size, n)) for a in range(0, n, batch_size)]
    k = -(-n // batch_size)
    small, extra = divmod(n, k)
    bounds, a = [], 0
    for i in range(k):
        b = a + small + (1 if i < extra else 0)
        bounds.append((a, b))
        a = b
    return bounds


def iter_batches(
    images: Any, batch_size: int = 256, *, limit: int | None = None, equal: bool = False
) -> Iterator[torch.Tensor]:
    """uint8 batches `images[a:b]` of the first `limit` images (all when None): slices (views) of
    a tensor, or one batch read at a time from DiskImages, so at most one batch is ever held."""
    n = len(images) if limit is None else min(len(images), limit)
    for a, b in batch_bounds(n, batch_size, equal=equal):
        yield images[a:b]


def concat_batches(parts: Sequence[Any], batch_size: int = 256) -> Iterator[torch.Tensor]:
    """Batches of `batch_size` over the parts laid end to end, as `torch.cat(parts)` sliced by
    `batch_size` would give them, but reading only one batch's images at a time."""
    sizes = [len(p) for p in parts]
    starts = np.cumsum([0, *sizes])
    for a, b in batch_bounds(int(starts[-1]), batch_size):
        pieces = []
        for p, lo, size in zip(parts, starts[:-1], sizes, strict=True):
            x, y = max(a - int(lo), 0), min(b - int(lo), size)
            if x < y:
                pieces.append(p[x:y])
        yield pieces[0] if len(pieces) == 1 else torch.cat(pieces)
