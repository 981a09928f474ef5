"""Decode a domain through the disk cache, within a memory budget.

1. Look every file up in its folder's bundle (engine/data/image_cache.py): unchanged files are
   read back, new or changed ones are decoded (engine/data/decode.py, in threads) and written.
2. Within the budget the images come back as one in-memory uint8 tensor (as before); over it as
   DiskImages, read a batch at a time, so memory stays flat whatever the folder's size.
3. When the cache folder cannot be written (read-only, full disk, in use) decoding still works:
   in memory, with a warning that says so, and nothing is kept for the next run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import torch

from engine.core.control import Stopped
from engine.data.decode import decode_batches
from engine.data.disk_images import DiskImages
from engine.data.image_cache import ImageStore, Lookup, file_key, prune

Warn = Callable[[str], None]
SAVE_EVERY = 4096  # images between index saves: a stopped first run keeps what it decoded


class DecodeOptions(TypedDict, total=False):
    """The keyword options of `decode_cached`, as callers such as `decode_domain` pass them on."""

    threads: int | None
    budget: int | None
    progress: Callable[[int, int], None] | None
    control: Any
    warn: Warn | None
    max_pixels: int | None
    use_cache: bool
    lazy: bool


@dataclass
class CachedResult:
    images: torch.Tensor | DiskImages
    keep: np.ndarray  # indices of the domain's files that decoded
    skipped: list[tuple[str, str]]
    hits: int
    decoded: int
    where: str  # "memory", "disk" or "memory (no cache)"


def _open_store(root: Any, size: int, warn: Warn) -> ImageStore | None:
    try:
        store = ImageStore.open(root, size)
    except OSError as exc:
        warn(
            f"The decoded-image cache cannot be written ({exc}); decoding into memory instead. "
            "Images are decoded again next run; free disk space or set TRANSFER_STUDIO_CACHE to a writable folder."
        )
        return None
    if store.rebuilt:
        warn(f"Decoded-image cache of {root}: {store.rebuilt}.")
    if not store.writable:
        warn(f"The decoded-image cache of {root} is in use by another run: new images are decoded into memory.")
    return store


def decode_cached(
    paths: list[str],
    root: Any,
    size: int,
    *,
    threads: int | None = None,
    budget: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    control: Any = None,
    warn: Warn | None = None,
    max_pixels: int | None = None,
    use_cache: bool = True,
    lazy: bool = False,
) -> CachedResult:
    """Decode `paths` (files of the folder `root`) to size×size, through the cache when possible.

    `budget`: bytes the result may take in memory (None: no limit); over it the result is
    DiskImages; `lazy`: DiskImages whenever every image is in the cache file (nothing read).
    `progress(done, total)` counts files looked up or decoded.
    """
    warn = warn or (lambda _m: None)
    n = len(paths)
    store = _open_store(root, size, warn) if use_cache else None
    look = (
        store.lookup(paths)
        if store is not None
        else Lookup(np.full(n, -1, np.int64), [""] * n, [file_key(p) for p in paths], list(range(n)))
    )
    rows = look.rows
    hits = n - len(look.misses)
    if progress is not None and hits:
        progress(hits, n)
    if control is not None:
        try:
            control.check()  # Stop acts even when every file is a cache hit
        except Stopped:
            if store is not None:
                store.close()
            raise
    memory: dict[int, np.ndarray] = {}  # decoded images that could not be written
    writing = store is not None and store.writable
    miss_paths = [paths[i] for i in look.misses]
    done_since_save = 0
    try:
        for batch in decode_batches(miss_paths, size, threads=threads, max_pixels=max_pixels):
            for j in range(len(batch)):
                i = look.misses[batch.start + j]
                image = batch.images[j] if batch.ok[j] else None
                if image is None:
                    look.reasons[i] = batch.reasons[j]
                    rows[i] = -2
                if writing and store is not None:
                    try:
                        row = store.put(paths[i], look.keys[i], image, batch.reasons[j])
                    except OSError as exc:
                        writing = False
                        warn(
                            f"The decoded-image cache could not be written ({exc}); the rest is decoded into "
                            "memory and decoded again next run. Free disk space to keep it."
                        )
                    else:
                        if image is None or row >= 0:  # a file gone while decoding has no key: memory
                            rows[i] = row if image is not None else -2
                            continue
                if image is not None:
                    memory[i] = image.copy()
                    rows[i] = -3
            done_since_save += len(batch)
            if writing and store is not None and done_since_save >= SAVE_EVERY:
                store.save()
                done_since_save = 0
            if progress is not None:
                progress(hits + batch.start + len(batch), n)
            if control is not None:
                control.check()
    finally:  # stopped or not, the rows written so far are indexed for the next run
        if store is not None:
            if store.writable and look.misses:  # also after a full disk: keep the rows written
                try:
                    store.save()
                    prune(keep=store.path)
                except OSError as exc:
                    warn(f"The decoded-image cache index could not be saved ({exc}); next run decodes again.")
            store.close()

    keep = np.flatnonzero(rows != -2)
    skipped = [(paths[i], look.reasons[i] or "could not decode") for i in np.flatnonzero(rows == -2)]
    decoded = len(look.misses)
    nbytes = len(keep) * 3 * size * size
    if store is not None and not memory and (lazy or (budget is not None and nbytes > budget)):
        return CachedResult(DiskImages(store.data_path, rows[keep], size), keep, skipped, hits, decoded, "disk")
    out = np.empty((len(keep), 3, size, size), dtype=np.uint8)
    on_disk = np.flatnonzero(rows[keep] >= 0)
    if len(on_disk) and store is not None:
        for lo in range(0, len(on_disk), 4096):
            part = on_disk[lo : lo + 4096]
            out[part] = store.read_rows(rows[keep[part]])
    for k in np.flatnonzero(rows[keep] == -3).tolist():
        out[k] = memory[int(keep[k])]
    if budget is not None and nbytes > budget:
        warn(
            f"The decoded images take {nbytes >> 20} MB, over the memory budget of {budget >> 20} MB, "
            "but the disk cache is unavailable: they are kept in memory."
        )
    where = "memory" if store is not None and not memory else "memory (no cache)"
    return CachedResult(torch.from_numpy(out), keep, skipped, hits, decoded, where)
