"""The model card's first draft, torch-free so the window can offer it for editing before the
report is written. The report job writes a fuller draft (with the measured figures) when the user
gives no text."""

from __future__ import annotations

from pathlib import Path

from engine.core.runs import open_run


def model_card_template(run_dir: str | Path) -> str:
    """Intended use and limitations, from what the run folder says about itself."""
    run = open_run(run_dir)
    info, cfg = run.info(), run.config()
    classes = ", ".join(str(c) for c in info.get("classes", [])) or "(the source folder's classes)"
    size = info.get("input_size") or cfg.image_size or "the backbone's default"
    best = info.get("best_metrics", {})
    lines = [
        "Intended use",
        f"Classifies {size}x{size} px images into: {classes}.",
        f"Trained with {cfg.method} on a {cfg.backbone} backbone from {cfg.source}"
        + (f", adapted to {cfg.target}" if cfg.target else "")
        + ".",
        "",
        "Limitations",
    ]
    if isinstance(best.get("val/acc"), (int, float)):
        lines.append(f"Source validation accuracy {best['val/acc']:.1%} at the best epoch.")
    if isinstance(best.get("target/acc"), (int, float)):
        lines.append(f"Target accuracy {best['target/acc']:.1%} at the best epoch.")
    lines += [
        "Expect lower accuracy on images unlike the source and target folders (other cameras, sizes, styles).",
        "See the calibration and robustness sections before trusting its confidence or deploying it where "
        "inputs may be manipulated.",
    ]
    return "\n".join(lines)
