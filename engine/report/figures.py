"""The report card's charts as PNG bytes (matplotlib's Agg canvas, never pyplot, so no window
system is touched), and any PNG as a data URI for inlining."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.jobs.report import CalibrationResult


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def curves_png(metrics: Sequence[dict[str, Any]]) -> bytes | None:
    """Losses and accuracies per epoch, in two panels."""
    if not metrics:
        return None
    epochs = [row.get("epoch", k + 1) for k, row in enumerate(metrics)]
    keys = sorted(
        {
            k
            for row in metrics
            for k, v in row.items()
            if isinstance(v, (int, float)) and k not in ("epoch", "step", "epoch_time", "lr")
        }
    )
    losses = [k for k in keys if "loss" in k]
    accs = [k for k in keys if k.endswith("acc")]
    fig = _figure(9, 3.2)
    for ax, names, title in ((fig.add_subplot(1, 2, 1), losses, "loss"), (fig.add_subplot(1, 2, 2), accs, "accuracy")):
        for name in names:
            ax.plot(epochs, [row.get(name, np.nan) for row in metrics], marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if names:
            ax.legend(fontsize=8)
    return _png(fig)


def confusion_png(matrix: list[list[int]], classes: list[str], title: str) -> bytes:
    cm = np.asarray(matrix)
    side = min(7.0, 2.5 + 0.35 * len(classes))
    fig = _figure(side, side)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90 if len(classes) > 10 else 0, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(classes) <= 20:
        top = cm.max() or 1
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="white" if v > top / 2 else "black")
    return _png(fig)


def reliability_png(results: Sequence[CalibrationResult], temperature: float) -> bytes:
    """One panel per labelled set: accuracy per confidence bin before and after temperature scaling."""
    fig = _figure(4.2 * len(results), 4)
    for k, res in enumerate(results):
        ax = fig.add_subplot(1, len(results), k + 1)
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
        for bins, label, colour in (
            (res.before, f"before (ECE {res.ece_before:.3f})", "#d62728"),
            (res.after, f"T = {temperature:.2f} (ECE {res.ece_after:.3f})", "#1f77b4"),
        ):
            pts = [
                (c, a)
                for c, a, n in zip(bins.confidence, bins.accuracy, bins.count, strict=True)
                if n and c is not None
            ]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, marker="o", color=colour, label=label)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{res.domain} ({res.n} images)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    return _png(fig)


def counts_png(counts: dict[str, dict[str, int]]) -> bytes | None:
    """Images per class in each labelled folder, as grouped bars."""
    counts = {k: v for k, v in counts.items() if v}
    if not counts:
        return None
    classes = sorted({c for v in counts.values() for c in v}, key=lambda c: (len(c), c))
    fig = _figure(min(10, 3 + 0.45 * len(classes) * len(counts)), 3)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(counts)
    for k, (name, per) in enumerate(counts.items()):
        ax.bar(np.arange(len(classes)) + k * width, [per.get(c, 0) for c in classes], width, label=name)
    ax.set_xticks(np.arange(len(classes)) + 0.4 - width / 2, classes, fontsize=8)
    ax.set_ylabel("images")
    ax.legend(fontsize=8)
    return _png(fig)
