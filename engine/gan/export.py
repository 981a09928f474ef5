"""Export a GAN run's generator to ONNX (images in [0, 1]) and check it against PyTorch.

The exported graph is the averaged generator followed by the [-1, 1] -> [0, 1] rescale, with a
dynamic batch axis; inputs `z` (and `y` when conditional). Metadata (kind, z_dim, num_classes,
classes, image_size) lets engine.gan.onnx_sampler sample it without torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.core.errors import UserError
from engine.deploy.export import dynamo_program, write_program
from engine.gan.run_io import GanArch


class Unit(nn.Module):
    """The generator with its output rescaled to [0, 1] (what ONNX and the sample folders hold)."""

    def __init__(self, g: nn.Module, conditional: bool) -> None:
        super().__init__()
        self.g, self.conditional = g, conditional

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return ((self.g(z, y) + 1.0) / 2.0).clamp(0.0, 1.0)


def export_generator(g: nn.Module, arch: GanArch, classes: list[str], out: Path) -> Path:
    """Write `g` (eval mode) as ONNX to `out`, atomically."""
    wrapped = Unit(g.eval(), bool(arch.num_classes)).eval()
    z = torch.randn(2, arch.z_dim)
    args, names = ((z, torch.zeros(2, dtype=torch.long)), ["z", "y"]) if arch.num_classes else ((z,), ["z"])
    program = dynamo_program(wrapped, args, names, ["images"], "the generator", error=UserError)
    meta = {"kind": "gan-generator", "classes": json.dumps(classes), **{k: str(v) for k, v in arch.as_dict().items()}}
    write_program(program, meta, out)
    return out


@torch.no_grad()
def parity(g: nn.Module, arch: GanArch, onnx_path: Path, n: int = 16, seed: int = 0) -> float:
    """Largest |torch - onnxruntime| pixel difference on `n` seeded noise vectors (batch 1 and n)."""
    from engine.gan.onnx_sampler import onnx_sample, open_generator, sample_noise

    session, info = open_generator(onnx_path)
    z = sample_noise(n, arch.z_dim, seed)
    y = (np.arange(n) % arch.num_classes).astype(np.int64) if arch.num_classes else None
    wrapped = Unit(g.eval(), bool(arch.num_classes))
    ref = wrapped(torch.from_numpy(z), None if y is None else torch.from_numpy(y)).numpy()
    whole = onnx_sample(session, info, z, y)
    single = np.concatenate(
        [onnx_sample(session, info, z[i : i + 1], None if y is None else y[i : i + 1]) for i in range(n)]
    )
    return float(max(np.abs(whole - ref).max(), np.abs(single - ref).max()))
