"""Pictures for robustness reports: an example gallery (PIL, fast) and an accuracy-vs-eps curve
(matplotlib's Agg canvas, never pyplot, so no GUI backend is ever chosen). Files are atomic.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.core.fsutil import atomic_write_bytes

Example = tuple[np.ndarray, np.ndarray, int, int, bool]  # clean [3,H,W], adversarial, label, prediction, fooled


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def _to_pil(chw: np.ndarray, side: int) -> Image.Image:
    arr = (np.clip(chw.transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(arr).resize((side, side), Image.Resampling.NEAREST)


def save_gallery(examples: Sequence[Example], classes: Sequence[str], title: str, path: Path, rows: int) -> str | None:
    """Rows of clean | adversarial | perturbation (scaled so its largest change is half the range).

    Fooled examples come first. Returns the file name, or None when there is nothing to show.
    """
    chosen = sorted(examples, key=lambda ex: not ex[4])[:rows]
    if not chosen:
        return None
    side = int(np.clip(chosen[0][0].shape[-1] * 4, 112, 192))
    pad, text_h, head = 8, 34, 26
    width = 3 * side + 4 * pad
    height = head + len(chosen) * (side + text_h + pad) + pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font, small = _font(14), _font(11)
    draw.text((pad, 6), title, fill="black", font=font)
    for r, (clean, adv, y, p, fooled) in enumerate(chosen):
        delta = adv - clean
        biggest = float(np.abs(delta).max())
        amp = 0.5 / max(biggest, 1e-12)
        panels = [
            (clean, "clean", classes[y]),
            (adv, "adversarial" + (" (fooled)" if fooled else ""), classes[p]),
            (0.5 + amp * delta, "perturbation", f"x{amp:.0f}" if biggest > 0 else "none"),
        ]
        top = head + r * (side + text_h + pad)
        for c, (img, line1, line2) in enumerate(panels):
            left = pad + c * (side + pad)
            canvas.paste(_to_pil(img, side), (left, top))
            colour = "firebrick" if (c == 1 and fooled) else "black"
            draw.text((left, top + side + 2), line1, fill=colour, font=small)
            draw.text((left, top + side + 16), line2[:24], fill=colour, font=small)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return path.name


def save_curve(
    eps: Sequence[float], accuracy: Sequence[float], success: Sequence[float], norm: str, title: str, path: Path
) -> str:
    """Accuracy under attack and attack success rate against eps, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(eps, accuracy, "o-", label="accuracy under attack")
    ax.plot(eps, success, "s--", label="attack success rate")
    ax.set_xlabel(f"eps ({norm}, pixel scale [0, 1])")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.15, top=0.9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return path.name
