"""Shared helpers for the bench scripts: a demo folder in a temp dir, quiet environment."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TRANSFER_STUDIO_OFFLINE", "1")


def demo_dir(per_class: int = 150) -> Path:
    """Write (once per process) the demo pair and return its root."""
    from engine.data.demo import make_demo

    root = Path(tempfile.mkdtemp(prefix="ts-bench-")) / "demo"
    make_demo(root, per_class=per_class)
    return root


# The self-supervised recipe measured on the demo digits (bench/self_taught.py): small batches,
# a high learning rate, a sharp NT-Xent temperature, mild crops and colour inversion.
SSL_DIGITS = {"batch_size": 64, "lr": 8e-3, "temperature": 0.2, "min_scale": 0.6, "invert": True}


def mean_std(values: list[float]) -> str:
    """Shares as percentages, 'mean ± std' over seeds ('-' when there are none)."""
    import statistics

    if not values:
        return "-"
    mean = statistics.fmean(values) * 100
    std = statistics.stdev(values) * 100 if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {std:.1f}"
