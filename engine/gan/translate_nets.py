"""Networks of the unpaired image-to-image translator (CycleGAN-style, sized for 32-64 px).

Generator: a small ResNet encoder-decoder (Zhu et al. 2017's design with 2 downsamplings
replaced by 1 and 9 residual blocks by 2, 3x3 edge convolutions: enough at 32 px, and a CPU step stays well under a second): it changes colour and texture and
keeps the layout, which is what pixel-level adaptation needs (the label must survive).
Discriminator: a PatchGAN (a score per overlapping patch) with spectral norm, judging local
style rather than global content.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

# the encoder layers PatchNCE reads: the first convolution (full resolution, local colour and
# edges), the downsampling convolution and the two residual blocks (half resolution, larger
# patches) - as CUT reads its ResNet generator's first convolution, downsamplings and blocks
NCE_LAYERS = (0, 3, 6, 7)


class ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, 1, 1), nn.InstanceNorm2d(ch, affine=True), nn.ReLU(True),
            nn.Conv2d(ch, ch, 3, 1, 1), nn.InstanceNorm2d(ch, affine=True),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TranslatorG(nn.Module):
    """[-1, 1] images -> [-1, 1] images of the same size."""

    def __init__(self, width: int = 16, blocks: int = 2) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 3, 1, 1), nn.InstanceNorm2d(w, affine=True), nn.ReLU(True),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.InstanceNorm2d(2 * w, affine=True), nn.ReLU(True),
            *[ResBlock(2 * w) for _ in range(blocks)],
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.InstanceNorm2d(w, affine=True), nn.ReLU(True),
            nn.Conv2d(w, 3, 3, 1, 1), nn.Tanh(),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out

    def encode(self, x: torch.Tensor, layers: tuple[int, ...] = NCE_LAYERS) -> list[torch.Tensor]:
        """The feature maps after the given layers of `net` (CUT's PatchNCE reads the encoder)."""
        feats: list[torch.Tensor] = []
        for i, layer in enumerate(self.net):
            x = layer(x)
            if i in layers:
                feats.append(x)
            if i >= max(layers):
                break
        return feats

    @staticmethod
    def encoder_channels(width: int, layers: tuple[int, ...] = NCE_LAYERS) -> list[int]:
        """Channels of the feature maps `encode` returns (index 0: width, later ones: 2 * width)."""
        return [width if i < 3 else 2 * width for i in layers]


class PatchD(nn.Module):
    """[-1, 1] images -> a map of patch scores (higher: real)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            spectral_norm(nn.Conv2d(3, w, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            spectral_norm(nn.Conv2d(w, 2 * w, 4, 2, 1)), nn.LeakyReLU(0.2, True),
            spectral_norm(nn.Conv2d(2 * w, 4 * w, 3, 1, 1)), nn.LeakyReLU(0.2, True),
            spectral_norm(nn.Conv2d(4 * w, 1, 3, 1, 1)),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out
