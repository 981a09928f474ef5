"""DCGAN-style generator and discriminator for 32 and 64 px, optionally class-conditional.

Why these choices: DCGAN's transposed-convolution generator is the smallest design that trains
in minutes on a CPU at 32-64 px; spectral normalisation on every discriminator layer (Miyato et
al. 2018) keeps the discriminator 1-Lipschitz, which is what lets the hinge loss and few-shot
fine-tuning stay stable. The conditional option follows Miyato & Koyama 2018: conditional
BatchNorm in the generator (a per-class scale and shift) and a projection discriminator
(the class embedding dotted with the pooled features). The discriminator is a list of `blocks`
so FreezeD can freeze the first N of them (engine.gan.freeze).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

SIZES = (32, 64)


def blocks_for(image_size: int) -> int:
    """Down/up-sampling blocks between 4x4 and `image_size` (3 at 32 px, 4 at 64 px)."""
    if image_size not in SIZES:
        raise ValueError(f"image size {image_size} is not one of {SIZES}")
    return {32: 3, 64: 4}[image_size]


class ConditionalBatchNorm(nn.Module):
    """BatchNorm whose scale and shift come from the class (plain BatchNorm when num_classes is 0)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.bn = nn.BatchNorm2d(channels, affine=num_classes == 0)
        if num_classes:
            self.gain = nn.Embedding(num_classes, channels)
            self.bias = nn.Embedding(num_classes, channels)
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out = self.bn(x)
        if not self.num_classes:
            return out
        if y is None:
            raise ValueError("a conditional generator needs class labels")
        return out * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


class GenBlock(nn.Module):
    """Upsample x2: transposed conv 4x4 stride 2, (conditional) BatchNorm, ReLU."""

    def __init__(self, cin: int, cout: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        self.bn = ConditionalBatchNorm(cout, num_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x), y))


class Generator(nn.Module):
    """z [B, z_dim] (and labels [B]) -> images [B, 3, S, S] in [-1, 1]."""

    def __init__(self, z_dim: int = 128, width: int = 32, image_size: int = 32, num_classes: int = 0) -> None:
        super().__init__()
        self.z_dim, self.width, self.image_size, self.num_classes = z_dim, width, image_size, num_classes
        n = blocks_for(image_size)
        chans = [width * 2 ** (n - 1 - i) for i in range(n)] + [max(width // 2, 8)]
        self.fc = nn.Linear(z_dim, 4 * 4 * chans[0])
        self.bn0 = ConditionalBatchNorm(chans[0], num_classes)
        self.blocks = nn.ModuleList(GenBlock(chans[i], chans[i + 1], num_classes) for i in range(n))
        self.to_rgb = nn.Conv2d(chans[-1], 3, 3, 1, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], -1, 4, 4)
        h = torch.relu(self.bn0(h, y))
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.to_rgb(h))


class DiscBlock(nn.Module):
    """Downsample x2: SN conv 3x3, LeakyReLU, SN conv 4x4 stride 2, LeakyReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, 1, 1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 4, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.leaky_relu(self.conv1(x), 0.1)
        return nn.functional.leaky_relu(self.conv2(x), 0.1)


class Discriminator(nn.Module):
    """images [B, 3, S, S] in [-1, 1] (and labels) -> one score per image (higher: real).

    Projection: score = linear(h) + <embed(y), h>, h the globally summed features.
    """

    def __init__(self, width: int = 32, image_size: int = 32, num_classes: int = 0) -> None:
        super().__init__()
        self.width, self.image_size, self.num_classes = width, image_size, num_classes
        n = blocks_for(image_size)
        chans = [3] + [width * 2**i for i in range(n)]
        self.blocks = nn.ModuleList(DiscBlock(chans[i], chans[i + 1]) for i in range(n))
        self.head = spectral_norm(nn.Linear(chans[-1], 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, chans[-1])) if num_classes else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x.sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        out = self.head(h).squeeze(1)
        if self.embed is not None:
            if y is None:
                raise ValueError("a projection discriminator needs class labels")
            out = out + (self.embed(y) * h).sum(dim=1)
        return out


def build_pair(
    image_size: int, num_classes: int, *, z_dim: int = 128, g_width: int = 32, d_width: int = 32
) -> tuple[Generator, Discriminator]:
    """A generator and its discriminator for `image_size` px and `num_classes` (0: unconditional)."""
    g = Generator(z_dim, g_width, image_size, num_classes)
    d = Discriminator(d_width, image_size, num_classes)
    return g, d
