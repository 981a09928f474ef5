"""Decode a domain into one uint8 tensor (once, up front) and augment it per sample while training.

Decoding goes through open_rgb + resize_center_crop, the same steps ONNX prediction uses, so a
model sees identical pixels in training and in the exported app.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from engine.core.errors import UnreadableImage, UserError
from engine.data.folders import Domain
from engine.data.images import open_rgb, resize_center_crop

Preset = Literal["none", "light", "strong"]
PRESETS: tuple[str, ...] = ("none", "light", "strong")
_BATCH = 64


@dataclass
class DecodedDomain:
    """A domain decoded to `images` uint8 [N, 3, size, size]; `labels` int64 [N], -1 when unlabelled.

    `skipped` lists (path, reason) for files that could not be decoded (left out, not fatal).
    """

    images: torch.Tensor
    labels: torch.Tensor
    paths: list[str]
    classes: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _decode_one(path: str, size: int, max_pixels: int | None) -> tuple[np.ndarray | None, str]:
    """One file -> uint8 HWC array, or (None, reason) when unreadable."""
    try:
        img = resize_center_crop(open_rgb(path, max_pixels), size)
    except UnreadableImage as exc:
        return None, exc.reason
    return np.array(img, dtype=np.uint8), ""  # a writable copy for torch.from_numpy


class _FileDataset(Dataset):
    """Index -> (index, uint8 CHW tensor or empty, reason); picklable for worker processes."""

    def __init__(self, paths: list[str], size: int, max_pixels: int | None) -> None:
        self.paths, self.size, self.max_pixels = paths, size, max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor, str]:
        arr, reason = _decode_one(self.paths[i], self.size, self.max_pixels)
        if arr is None:
            return i, torch.empty(0, dtype=torch.uint8), reason
        return i, torch.from_numpy(arr).permute(2, 0, 1).contiguous(), ""


def _collate(items: list[tuple[int, torch.Tensor, str]]) -> list[tuple[int, torch.Tensor, str]]:
    return items


def _batches_in_process(ds: _FileDataset, threads: int):
    """Yield lists of decoded items, a batch at a time, using threads (PIL releases the GIL)."""
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="decode") as pool:
        for start in range(0, len(ds), _BATCH):
            yield list(pool.map(ds.__getitem__, range(start, min(start + _BATCH, len(ds)))))


def decode_domain(
    domain: Domain,
    size: int,
    *,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
    control: Any = None,
    max_pixels: int | None = None,
) -> DecodedDomain:
    """Decode every image of `domain` to size×size uint8 (open_rgb + resize_center_crop).

    workers=0 decodes in this process on a small thread pool; workers>0 uses a torch DataLoader
    with that many worker processes. `progress(done, total)` is called once per batch, and
    `control.check()` between batches (raises Stopped). Unreadable files land in `skipped`.
    """
    if size <= 0:
        raise UserError(f"image size is {size}; use a positive number of pixels such as 224.")
    paths = [str(p) for p in domain.paths]
    n = len(paths)
    ds = _FileDataset(paths, size, max_pixels)
    out = torch.empty((n, 3, size, size), dtype=torch.uint8)
    ok = torch.zeros(n, dtype=torch.bool)
    skipped: list[tuple[str, str]] = []
    if workers > 0:
        batches = DataLoader(ds, batch_size=_BATCH, shuffle=False, num_workers=workers, collate_fn=_collate)
    else:
        batches = _batches_in_process(ds, threads=max(1, min(4, os.cpu_count() or 1)))
    done = 0
    for batch in batches:
        for i, tensor, reason in batch:
            if reason:
                skipped.append((paths[i], reason))
            else:
                out[i] = tensor
                ok[i] = True
        done += len(batch)
        if progress is not None:
            progress(done, n)
        if control is not None:
            control.check()
    keep = ok.nonzero().flatten()
    labels = torch.tensor([-1 if s.label is None else s.label for s in domain.samples], dtype=torch.int64)
    images = out if len(keep) == n else out[keep].contiguous()
    return DecodedDomain(
        images=images,
        labels=labels[keep] if len(keep) != n else labels,
        paths=[paths[i] for i in keep.tolist()],
        classes=list(domain.classes),
        skipped=skipped,
    )


def make_transform(preset: Preset, size: int) -> v2.Compose:
    """Per-sample augmentation: one uint8 CHW tensor in, float32 CHW in [0, 1] out.

    none   - no augmentation, only the uint8 -> float conversion (evaluation, or tiny data).
    light  - RandomResizedCrop (70-100 % of the area) and a small colour jitter; no flips, since
             digits, text and many diagrams change meaning when mirrored.
    strong - light plus horizontal flip and TrivialAugmentWide (random colour/geometry op at a
             random strength); for natural photos where mirroring is harmless.
    """
    if preset not in PRESETS:
        raise UserError(f"augmentation is '{preset}'; choose one of: {', '.join(PRESETS)}.")
    if size <= 0:
        raise UserError(f"image size is {size}; use a positive number of pixels such as 224.")
    to_float = v2.ToDtype(torch.float32, scale=True)
    if preset == "none":
        return v2.Compose([to_float])
    light = [
        v2.RandomResizedCrop(size, scale=(0.7, 1.0), ratio=(3 / 4, 4 / 3), antialias=True),
        v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02),
    ]
    if preset == "light":
        return v2.Compose([*light, to_float])
    return v2.Compose([*light, v2.RandomHorizontalFlip(), v2.TrivialAugmentWide(), to_float])


class TensorImageDataset(Dataset):
    """Uint8 images [N, 3, H, W] + labels [N], transformed one sample at a time.

    Per-sample (not per-batch) transforms, so every image gets its own random crop and jitter.
    """

    def __init__(
        self,
        images_uint8: torch.Tensor,
        labels: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if images_uint8.dtype != torch.uint8 or images_uint8.ndim != 4:
            raise ValueError(f"images must be uint8 [N, 3, H, W], got {images_uint8.dtype} {tuple(images_uint8.shape)}")
        if len(labels) != len(images_uint8):
            raise ValueError(f"{len(images_uint8)} images but {len(labels)} labels")
        self.images = images_uint8
        self.labels = labels
        self.transform = transform if transform is not None else v2.ToDtype(torch.float32, scale=True)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.images[i]), self.labels[i]
