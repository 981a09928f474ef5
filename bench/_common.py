"""Shared helpers for the bench scripts: a demo folder in a temp dir, quiet environment, the
'mean ± std' cells of their tables and their JSON output."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

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
    if not values:
        return "-"
    mean = statistics.fmean(values) * 100
    std = statistics.stdev(values) * 100 if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {std:.1f}"


def spread(values: list[float], digits: int = 1) -> str:
    """'mean ± std' over seeds with `digits` decimals; one value alone when there is one."""
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def accuracy_table(rows: dict[str, dict[str, list[float]]], first: str) -> None:
    """Print the markdown table of rows {name: {"acc": shares, "cpu_min": minutes}} over seeds."""
    print(f"\n| {first} | target accuracy | CPU min |\n|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {spread([100 * a for a in r['acc']])} % | {spread(r['cpu_min'])} |")


def save_json(path: Path | None, data: Any, indent: int = 2) -> None:
    """Write `data` as JSON to `path` (its folder made first); nothing when no path is given."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=indent, default=str))
