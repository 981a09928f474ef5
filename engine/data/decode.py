"""The one image decoder of training, evaluation and prediction: file -> size×size uint8 RGB.

Steps: open (bomb check) -> JPEG draft decoding when the file is at least 4x the target side
(libjpeg decodes at 1/2-1/8 scale, keeping >= 2x the target so the bilinear resize still
averages) -> EXIF rotation -> RGB -> resize the shorter side + centre crop. Every caller
(decode_domain for train/evaluate/attack/embed/cluster, the disk cache, ONNX predict) goes
through `decode_square`, so a model sees the same pixels everywhere. Against a full decode +
resize the pixels differ by a mean absolute error under 1.0 level of 255 (tested).

Parallelism: threads, not processes. PIL releases the GIL while libjpeg decodes and while it
resizes, so N threads scale like N processes on the decode itself, and a thread hands its
array back without pickling 150 KB per 224-px image through a pipe; processes also pay a
start-up of ~0.3-1 s each (spawn on macOS/Windows re-imports torch). bench/large_folders.py
measures both (`--compare-pools`).

PIL and numpy only (no torch): the ONNX predict path imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from engine.core.errors import UnreadableImage
from engine.data.images import DRAFT_FACTOR, open_rgb_with_info, resize_center_crop

DECODER_VERSION = 2  # in the disk cache's version: a change of the pixels must invalidate it
TOLERANCE_MEAN_ABS = 1.0  # promised bound of draft vs full decode (levels of 255, mean over pixels)


def decode_square(
    path: str | os.PathLike[str], size: int, max_pixels: int | None = None, draft: bool = True
) -> np.ndarray:
    """One file -> uint8 [size, size, 3] (HWC); raises UnreadableImage with a short reason."""
    if size <= 0:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    img, _ = open_rgb_with_info(path, max_pixels, draft=DRAFT_FACTOR * size if draft else None)
    try:
        img = resize_center_crop(img, size)
    except ValueError as exc:  # an image with no pixels
        raise UnreadableImage(os.fspath(path), str(exc)) from None
    return np.asarray(img, dtype=np.uint8)


def try_decode(path: str, size: int, max_pixels: int | None = None) -> tuple[np.ndarray | None, str]:
    """decode_square as (array, "") or (None, reason): the shape worker threads return."""
    try:
        return decode_square(path, size, max_pixels), ""
    except UnreadableImage as exc:
        return None, exc.reason


def cpu_count() -> int:
    """Cores this process may use (the affinity mask on Linux, e.g. under taskset or a container)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """All cores but one, so the window (or the shell) stays responsive; at least one."""
    return max(1, cpu_count() - 1)


@dataclass
class DecodedBatch:
    """Images [start, start + len) of a list: `images` uint8 [n, 3, size, size] (CHW, the model's
    layout), `ok[i]` False where the file could not be decoded (its row is zeros, reason in `reasons`)."""

    start: int
    images: np.ndarray
    ok: np.ndarray
    reasons: list[str]

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _decode_into(out: np.ndarray, j: int, path: str, size: int, max_pixels: int | None) -> str:
    """Decode one file straight into row `j` of a batch (CHW), in the worker thread: the HWC->CHW
    copy releases the GIL there instead of queueing on the consumer's thread. Returns the reason
    it failed ("" when it did not)."""
    arr, reason = try_decode(path, size, max_pixels)
    if arr is not None:
        out[j] = arr.transpose(2, 0, 1)
    return reason


def decode_batches(
    paths: Sequence[str],
    size: int,
    *,
    threads: int | None = None,
    batch: int = 256,
    max_pixels: int | None = None,
    pool: Executor | None = None,
) -> Iterator[DecodedBatch]:
    """Decode `paths` in order, `batch` at a time, on `threads` threads (default: default_threads()).

    The next batch is already being decoded while the caller uses the current one (one batch of
    look-ahead), so a consumer that runs a model per batch overlaps with decoding.
    """
    n = len(paths)
    if n == 0:
        return
    own = pool is None
    workers = max(1, threads or default_threads())
    ex = pool if pool is not None else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")
    try:

        def submit(lo: int) -> tuple[int, np.ndarray, list[Future[str]]]:
            hi = min(lo + batch, n)
            out = np.zeros((hi - lo, 3, size, size), dtype=np.uint8)
            jobs = [ex.submit(_decode_into, out, i - lo, paths[i], size, max_pixels) for i in range(lo, hi)]
            return lo, out, jobs

        pending = submit(0)
        for lo in range(0, n, batch):
            ahead = submit(lo + batch) if lo + batch < n else None
            start, out, jobs = pending
            reasons = [f.result() for f in jobs]
            yield DecodedBatch(start, out, np.array([not r for r in reasons], dtype=bool), reasons)
            if ahead is not None:
                pending = ahead
    finally:
        if own:
            ex.shutdown(wait=True, cancel_futures=True)


def decode_all(
    paths: Sequence[str],
    size: int,
    *,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_pixels: int | None = None,
) -> DecodedBatch:
    """Every path at once (small lists: tests, the health check); see decode_batches."""
    parts = []
    for b in decode_batches(paths, size, threads=threads, max_pixels=max_pixels):
        parts.append(b)
        if progress is not None:
            progress(b.start + len(b), len(paths))
    if not parts:
        return DecodedBatch(0, np.zeros((0, 3, size, size), np.uint8), np.zeros(0, bool), [])
    return DecodedBatch(
        0,
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.ok for p in parts]),
        [r for p in parts for r in p.reasons],
    )
