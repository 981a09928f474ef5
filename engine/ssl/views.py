"""Two random views of each image (torchvision.transforms.v2), the input of both SimCLR and BYOL.

SimCLR's recipe, scaled to the image: random resized crop, colour jitter (p 0.8), random
greyscale (p 0.2), solarisation (p 0.2, from BYOL), Gaussian blur on images of 64 px and more (it erases small ones). Horizontal
flips are off by default because digits and text change meaning mirrored; turn them on for photos.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2


def view_transform(
    size: int, *, min_scale: float = 0.3, flip: bool = False, invert: bool = False, strength: float = 0.5
) -> v2.Compose:
    """One view: uint8 CHW tensor in, float32 CHW in [0, 1] out."""
    s = strength
    ops: list[torch.nn.Module] = [v2.RandomResizedCrop(size, scale=(min_scale, 1.0), antialias=True)]
    if flip:
        ops.append(v2.RandomHorizontalFlip())
    ops += [
        v2.RandomApply([v2.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, min(0.5, 0.2 * s))], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.RandomSolarize(threshold=128, p=0.2),  # BYOL's recipe
    ]
    if invert:  # light-on-dark and dark-on-light strokes are the same thing
        ops.append(v2.RandomInvert(p=0.5))
    if size >= 64:
        k = max(3, (size // 10) | 1)
        ops.append(v2.RandomApply([v2.GaussianBlur(k, sigma=(0.1, 2.0))], p=0.5))
    ops.append(v2.ToDtype(torch.float32, scale=True))
    return v2.Compose(ops)


class TwoViews:
    """`views(batch_uint8) -> (view1, view2)`, each image transformed independently."""

    def __init__(
        self, size: int, *, min_scale: float = 0.3, flip: bool = False, invert: bool = False, strength: float = 0.5
    ) -> None:
        self.transform = view_transform(size, min_scale=min_scale, flip=flip, invert=invert, strength=strength)

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        one = torch.stack([self.transform(img) for img in images])
        two = torch.stack([self.transform(img) for img in images])
        return one, two
