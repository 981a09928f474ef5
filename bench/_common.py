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


def pretrain_digits(data: list[Path], runs_dir: Path, **settings: Any) -> Any:
    """Self-supervised pretraining on demo digit folders with SSL_DIGITS (`settings` on top); the report."""
    from engine.ssl.config import PretrainConfig
    from engine.ssl.pretrain import run_pretrain

    return run_pretrain(PretrainConfig(data=data, runs_dir=runs_dir, **{**SSL_DIGITS, **settings}))


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


class AccuracyRows:
    """Target accuracy and CPU minutes per variant over seeds. Every record is printed and saved
    at once to `json_path` (with the bench's `args`), so a long bench keeps what it measured."""

    def __init__(self, json_path: str | Path, args: dict[str, Any], width: int = 28) -> None:
        self.path, self.args, self.width = Path(json_path), args, width
        self.rows: dict[str, dict[str, list[float]]] = {}

    def record(self, name: str, acc: float, minutes: float, seed: int) -> None:
        row = self.rows.setdefault(name, {"acc": [], "cpu_min": []})
        row["acc"].append(acc)
        row["cpu_min"].append(minutes)
        print(f"seed {seed} {name:{self.width}s} target acc {acc:.3f} ({minutes:.1f} CPU min)", flush=True)
        save_json(self.path, {"args": self.args, "rows": self.rows}, indent=1)

    def print_table(self, first: str) -> None:
        """The markdown table: 'mean ± std' accuracy (%) and CPU minutes of each variant."""
        print(f"\n| {first} | target accuracy | CPU min |\n|---|---|---|")
        for name, r in self.rows.items():
            print(f"| {name} | {spread([100 * a for a in r['acc']])} % | {spread(r['cpu_min'])} |")


def save_json(path: Path | None, data: Any, indent: int = 2) -> None:
    """Write `data` as JSON to `path` (its folder made first); nothing when no path is given."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=indent, default=str))
