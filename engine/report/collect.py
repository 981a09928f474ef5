"""Gather a report card by running the engine's jobs: check (health), embed (A-distance), evaluate
(source validation and target), attack (saved reports or a quick PGD sweep), export (parity,
INT8, latency) and explain (the most confident mistakes). Only calibration is computed here."""

from __future__ import annotations

import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Event, Finished, Log, Progress, Started
from engine.jobs.report import (
    SECTIONS,
    CalibrationResult,
    ReliabilityBins,
    ReportCardReport,
    ReportConfig,
)
from engine.report.calibration import Reliability, fit_temperature, reliability, softmax


def _logs_only(emit: Emit) -> Emit:
    """Pass a sub-job's log lines on; its Started/Progress/Finished would confuse the caller's bar."""

    def forward(event: Event) -> None:
        if isinstance(event, Log):
            emit(event)

    return forward


def source_val_folder(run_dir: Path, size: int, into: Path) -> Path:
    """The run's source validation split (the same split training used) as a folder of class
    sub-folders linking to the original files, so the evaluate job can measure it."""
    from engine.core.runs import open_run
    from engine.data.folders import scan_domain
    from engine.data.prepare import DEFAULT_CACHE
    from engine.data.split import stratified_split

    cfg = open_run(run_dir).config()
    domain = scan_domain(cfg.source, name="source")
    dec = DEFAULT_CACHE.get_or_decode(domain, size, 0, None)
    _, val_idx = stratified_split(dec.labels.tolist(), cfg.val_fraction, cfg.seed)
    if not val_idx:
        raise UserError(f"{run_dir}: the run kept no source validation images (val_fraction 0); nothing to measure")
    for k, i in enumerate(val_idx):
        src = Path(dec.paths[i])
        dst = into / dec.classes[int(dec.labels[i])] / f"{k:05d}_{src.name}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            dst.symlink_to(src.resolve())
        except OSError:  # no symlinks (Windows without developer mode): copy
            shutil.copyfile(src, dst)
    return into


def _bins(rel: Reliability) -> ReliabilityBins:
    def clean(a: np.ndarray) -> list[float | None]:
        return [None if not np.isfinite(v) else float(v) for v in a]

    return ReliabilityBins(confidence=clean(rel.confidence), accuracy=clean(rel.accuracy), count=rel.count.tolist())


def _logits(model: Any, folder: Path, classes: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of a labelled folder, decoded as the evaluate job decodes it."""
    import torch

    from engine.analysis.evaluate import predict_logits
    from engine.data.disk_images import budget_bytes
    from engine.data.folders import scan_domain
    from engine.data.loading import decode_domain

    domain = scan_domain(folder, name="calibration")
    dec = decode_domain(domain, size, budget=budget_bytes(None))  # over the budget DiskImages, read per batch
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[domain.classes[int(v)]] for v in dec.labels], dtype=np.int64)
    logits = predict_logits(model, dec.images, torch.device("cpu"))
    return logits.numpy().astype(np.float64), labels


def _environment(info: dict[str, Any], seed: int) -> dict[str, str]:
    import numpy
    import onnxruntime
    import torch

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": numpy.__version__,
        "trained on": str(info.get("device", "")),
        "seed": str(seed),
        "report written": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    try:
        import torchvision

        env["torchvision"] = torchvision.__version__
    except ImportError:  # pragma: no cover - torchvision is a dependency
        pass
    return env


def draft_model_card(run_dir: Path, info: dict[str, Any], report: ReportCardReport) -> str:
    """A starting point the user edits: what the model is for and where it is known to fail."""
    classes = ", ".join(info.get("classes", []))
    lines = [
        "Intended use",
        f"Classifies {info.get('input_size')}x{info.get('input_size')} images into: {classes}. "
        f"Trained with {info.get('method')} on {info.get('backbone')} from {info.get('source', 'the source folder')}.",
        "",
        "Limitations",
        f"Source validation accuracy {report.source_eval.accuracy:.1%} on {report.source_eval.n} images.",
    ]
    if report.target_eval is not None:
        lines.append(f"Target accuracy {report.target_eval.accuracy:.1%} on {report.target_eval.n} images.")
    if report.calibration:
        c = report.calibration[0]
        lines.append(
            f"Calibration error (ECE) {c.ece_before:.3f}; {c.ece_after:.3f} after temperature {report.temperature:.2f}."
        )
    if report.robustness:
        r = report.robustness[0]
        worst = r.results[-1]
        lines.append(f"Under {r.attack} at eps {worst.eps:.4g} ({r.norm}) accuracy falls to {worst.accuracy:.1%}.")
    lines.append("Not evaluated on images unlike the source and target folders above.")
    return "\n".join(lines)


def make_report(config: ReportConfig, emit: Emit, control: JobControl) -> ReportCardReport:
    from engine.core.runs import load_run_model, open_run
    from engine.report.sections import gather_sections

    run = open_run(config.run_dir)
    info_file = run.info()
    still_training = info_file.get("status") in ("running", "paused")
    checkpoint = "last" if still_training else config.checkpoint
    model, info = load_run_model(run.path, which=checkpoint)
    cfg = run.config()
    notes: list[str] = []
    if still_training:
        notes.append(
            f"The run is still training (epoch {info_file.get('epoch', '?')} of {info_file.get('epochs', '?')}): "
            f"this report uses its last checkpoint, {Path(info['checkpoint']).name}, and will go out of date."
        )
    target = config.data or cfg.target_test
    emit(Started("report", str(run.path), total_steps=len(SECTIONS)))
    with tempfile.TemporaryDirectory(prefix="ts-report-") as tmp_name:
        tmp = Path(tmp_name)
        report = gather_sections(
            config, run, model, info, checkpoint, target, notes, tmp, _logs_only(emit), control, emit
        )
        report.still_training = still_training
        report.environment = _environment(info_file, cfg.seed)
        report.model_card = (
            config.model_card if config.model_card is not None else draft_model_card(run.path, info, report)
        )
        from engine.report.page import write_page

        write_page(report, Path(config.out), tmp)
    emit(Progress(0, len(SECTIONS), len(SECTIONS), {}))
    emit(Finished("report", str(run.path)))
    return report


def calibrate(
    model: Any, info: dict[str, Any], val_folder: Path, target: Path | None
) -> tuple[float, list[CalibrationResult]]:
    """Fit the temperature on source validation; ECE before/after there and on the target."""
    classes, size = list(info["classes"]), int(info["input_size"])
    logits, labels = _logits(model, val_folder, classes, size)
    temperature = fit_temperature(logits, labels)
    sets = [("source validation", logits, labels)]
    if target is not None:
        sets.append(("target", *_logits(model, target, classes, size)))
    out = []
    for name, lg, lb in sets:
        before, after = reliability(softmax(lg), lb), reliability(softmax(lg, temperature), lb)
        out.append(
            CalibrationResult(
                domain=name,
                n=len(lb),
                accuracy=float((lg.argmax(1) == lb).mean()) if len(lb) else float("nan"),
                ece_before=before.ece,
                ece_after=after.ece,
                before=_bins(before),
                after=_bins(after),
            )
        )
    return temperature, out
