"""GAN run directories: create, open, and read the networks back for transfer, sampling, export.

A GAN run has the layout of any run (config.toml, run.json, metrics.jsonl, checkpoints/last.pt)
plus samples/latest.png (the fixed-noise grid, rewritten as training goes). Its config says
`kind = "gan"`; its checkpoint holds "generator", "discriminator", "ema" and the architecture
("arch": image_size, num_classes, z_dim, widths) with the class names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.errors import UserError
from engine.core.runs import Run, create_kind_run, open_kind_run, run_kind
from engine.gan.config import GanTrainConfig


def is_gan_run(path: str | Path) -> bool:
    """True for a folder made by `transfer-studio gan train` (its config says kind = "gan")."""
    return run_kind(path) == "gan"


def create_gan_run(config: GanTrainConfig) -> Run:
    how = "transfer" if config.from_run else "gan"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{how}-{config.image_size}px"
    saved = config.model_copy(update={"resume": None})
    return create_kind_run(saved, config.runs_dir, config.name, base, kind="gan", method=how, backbone="dcgan")


def open_gan_run(path: str | Path) -> tuple[Run, GanTrainConfig]:
    return open_kind_run(path, "gan", GanTrainConfig, "GAN", "gan train")


@dataclass(frozen=True)
class GanArch:
    """What fixes the networks' shapes; a transfer source must match the new run's size and classes."""

    image_size: int
    num_classes: int
    z_dim: int
    g_width: int
    d_width: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def read_gan_checkpoint(path: str | Path) -> tuple[dict[str, Any], GanArch, list[str]]:
    """(checkpoint, architecture, class names) of a GAN run's last checkpoint."""
    from engine.training.checkpoints import load_checkpoint

    run, _ = open_gan_run(path)
    ckpt = run.checkpoint("last")
    if not ckpt.is_file():
        raise UserError(f"{run.path}: has no checkpoint yet. Let it train until its first checkpoint (or resume it).")
    state = load_checkpoint(ckpt)
    return state, GanArch(**state["arch"]), list(state.get("classes", []))


def load_generator(path: str | Path, *, ema: bool = True) -> tuple[Any, GanArch, list[str]]:
    """The run's generator (the moving average by default), eval mode on the CPU."""
    from engine.gan.models import Generator

    state, arch, classes = read_gan_checkpoint(path)
    g = Generator(arch.z_dim, arch.g_width, arch.image_size, arch.num_classes)
    g.load_state_dict(state["ema"]["model"] if ema else state["generator"])
    return g.eval(), arch, classes
