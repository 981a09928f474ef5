"""FreezeD (Mo et al. 2020): fine-tune a pretrained GAN with the discriminator's first N blocks frozen.

The lower layers of a discriminator detect generic edges and textures that transfer across
domains; with few target images, updating them overfits. Freezing them (no gradient, and kept
in eval mode so spectral norm's power iteration no longer changes their normalised weights)
leaves only the upper blocks and the head to adapt, which the paper finds beats fine-tuning
everything.
"""

from __future__ import annotations

from torch import nn

from engine.gan.models import Discriminator


def freeze_discriminator(d: Discriminator, n_blocks: int) -> list[nn.Parameter]:
    """Freeze the first `n_blocks` blocks of `d`; return the parameters left to train."""
    if not 0 <= n_blocks <= len(d.blocks):
        raise ValueError(
            f"freeze_d is {n_blocks}; this discriminator has {len(d.blocks)} blocks (use 0 to {len(d.blocks)})"
        )
    for block in list(d.blocks)[:n_blocks]:
        block.requires_grad_(False)
    return [p for p in d.parameters() if p.requires_grad]


def set_train_mode(d: Discriminator, n_frozen: int) -> None:
    """d.train(), with the frozen blocks back in eval mode (their spectral norm stays fixed)."""
    d.train()
    for block in list(d.blocks)[:n_frozen]:
        block.eval()
