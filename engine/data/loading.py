"""Decode a domain to uint8 images (once, kept in the disk cache) and augment them per sample.

Decoding goes through engine.data.decode, the decoder ONNX prediction uses too, so a model sees
identical pixels in training and in the exported app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, cast

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from engine.core.errors import UserError
from engine.data.folders import Domain

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from engine.data.cached_decode import DecodeOptions

Preset = Literal["none", "light", "strong"]
PRESETS: tuple[str, ...] = ("none", "light", "strong")
_BATCH = 64


@dataclass
class DecodedDomain:
    """A domain decoded to `images` uint8 [N, 3, size, size]; `labels` int64 [N], -1 when unlabelled.

    `skipped` lists (path, reason) for files that could not be decoded (left out, not fatal).
    """

    images: torch.Tensor  # or DiskImages over the memory budget (the same indexing, read from disk)
    labels: torch.Tensor
    paths: list[str]
    classes: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    where: str = "memory"  # "memory", "disk" (DiskImages) or "memory (no cache)"
    cache_hits: int = 0  # files read back from the disk cache instead of decoded

    def __len__(self) -> int:
        return int(self.images.shape[0])


def decode_domain(domain: Domain, size: int, *, workers: int = 0, **options: Unpack[DecodeOptions]) -> DecodedDomain:
    """Decode every image of `domain` to size×size uint8 (engine.data.decode, the shared decoder).

    Files decoded by an earlier run and unchanged since are read from the disk cache
    (engine.data.image_cache); the rest are decoded on `threads` threads (default: all cores
    but one; `workers`, the older setting, counts as threads when given). The other `options`
    are `decode_cached`'s: within `budget` bytes (None: no limit) the images are one in-memory
    tensor, over it DiskImages; `lazy` returns DiskImages whenever the disk cache holds them
    (the caller reads what it needs). `progress(done, total)` is called once per batch, and
    `control.check()` between batches (raises Stopped). Unreadable files land in `skipped`.
    """
    if size <= 0:
        raise UserError(f"image size is {size}; use a positive number of pixels such as 224.")
    from engine.data.cached_decode import decode_cached

    paths = [str(p) for p in domain.paths]
    options["threads"] = options.get("threads") or (workers if workers > 0 else None)
    res = decode_cached(paths, domain.root, size, **options)
    labels = torch.tensor([-1 if s.label is None else s.label for s in domain.samples], dtype=torch.int64)
    keep = torch.from_numpy(res.keep)
    # DiskImages (over the budget) indexes like the uint8 tensor the loops expect: typed as one
    images = res.images if isinstance(res.images, torch.Tensor) else cast(torch.Tensor, res.images)
    return DecodedDomain(
        images=images,
        labels=labels[keep] if len(keep) != len(paths) else labels,
        paths=[paths[i] for i in res.keep.tolist()],
        classes=list(domain.classes),
        skipped=res.skipped,
        where=res.where,
        cache_hits=res.hits,
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
