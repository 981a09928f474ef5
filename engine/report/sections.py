"""Each section of the report card from the job that computes it (see collect.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.core.control import JobControl
from engine.core.events import Emit, Log, Progress
from engine.core.runs import Run
from engine.jobs.report import SECTIONS, ExportSummary, ReportCardReport, ReportConfig

GRADIENT_PAIR = ("gradcam", "gradcam++")


def saved_robustness(run: Run) -> list[Any]:
    """Every robustness report saved under the run (newest first)."""
    from engine.jobs.attack import RobustnessReport

    found = []
    for path in sorted((run.path / "robustness").glob("*/report.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            found.append(RobustnessReport.model_validate_json(path.read_text(encoding="utf-8")))
        except ValueError:
            continue  # a report of an older version: left out, not fatal
    return found


def _data(
    config: ReportConfig,
    run: Run,
    target: Path | None,
    checkpoint: str,
    tmp: Path,
    report: ReportCardReport,
    sub: Emit,
    control: JobControl,
) -> None:
    from engine.jobs import check, embed

    cfg = run.config()
    health = check.JOB.run(check.CheckConfig(source=cfg.source, target=cfg.target, target_test=target), sub, control)
    report.health = health.health
    if cfg.target is None and cfg.target_test is None:
        report.notes.append("No domain shift measured: the run has no target folder, so there is no A-distance.")
        return
    emb = embed.JOB.run(
        embed.EmbedConfig(run_dir=run.path, out=tmp / "embedding.png", checkpoint=checkpoint, limit=300), sub, control
    )
    report.proxy_a_distance, report.output_a_distance = emb.proxy_a_distance, emb.output_a_distance


def _robustness(
    config: ReportConfig,
    run: Run,
    data: Path,
    checkpoint: str,
    report: ReportCardReport,
    sub: Emit,
    control: JobControl,
) -> None:
    from engine.jobs import attack

    if config.robustness:
        job = attack.AttackJobConfig(
            model=run.path, data=data, attack="pgd", limit=config.attack_limit, checkpoint=checkpoint, gallery=0
        )
        attack.JOB.run(job, sub, control)
    report.robustness = saved_robustness(run)
    if not report.robustness:
        report.notes.append("No robustness report saved for this run; add --robustness for a quick PGD sweep.")


def _export(run: Run, checkpoint: str, report: ReportCardReport, sub: Emit, control: JobControl) -> None:
    from engine.jobs import export

    out = run.exports_dir / "report" / "model.onnx"
    before = run.info().get("exported")
    result = export.JOB.run(
        export.ExportConfig(run_dir=run.path, out=out, checkpoint=checkpoint, int8=True), sub, control
    )
    # the export job points the run at its file; the report's copy is not the run's model, so keep
    # the user's own export (or none) as it was
    run.update_info(exported=before)
    int8 = Path(result.int8_path) if result.int8_path else None
    report.export = ExportSummary(
        report=result,
        size_bytes=out.stat().st_size,
        int8_size_bytes=int8.stat().st_size if int8 is not None and int8.is_file() else None,
    )


def _explanations(
    config: ReportConfig, run: Run, checkpoint: str, tmp: Path, report: ReportCardReport, sub: Emit, control: JobControl
) -> None:
    from engine.jobs import explain

    source = report.target_eval or report.source_eval
    mistakes = sorted(source.misclassified, key=lambda m: -m.confidence)[: config.explain]
    if not mistakes:
        report.notes.append(f"No mistakes to explain on {source.data}.")
        return
    for method in GRADIENT_PAIR:
        for k, m in enumerate(mistakes):
            job = explain.ExplainConfig(
                model=run.path,
                images=Path(m.path),
                method=method,
                classes=[m.predicted, m.true],
                out=tmp / "explain" / method / str(k),
                checkpoint=checkpoint,
                steps=16,
            )
            report.explanations.append(explain.JOB.run(job, sub, control))
    score: dict[str, float] = {}
    for method in GRADIENT_PAIR:
        maps = [e.images[0].maps[0].scores for e in report.explanations if e.method == method and e.images]
        score[method] = float(np.mean([s.insertion - s.deletion for s in maps if s is not None]))
    best, other = sorted(score, key=lambda k: -score[k])
    report.more_faithful = (
        f"{best} was more faithful on this model: insertion minus deletion AUC {score[best]:.3f} against "
        f"{score[other]:.3f} for {other}, for the predicted class of the {len(mistakes)} most confident mistakes."
    )


def gather_sections(
    config: ReportConfig,
    run: Run,
    model: Any,
    info: dict[str, Any],
    checkpoint: str,
    target: Path | None,
    notes: list[str],
    tmp: Path,
    sub: Emit,
    control: JobControl,
    emit: Emit,
) -> ReportCardReport:
    from engine.jobs import evaluate
    from engine.report.collect import calibrate, source_val_folder

    total = len(SECTIONS)

    def step(k: int, what: str) -> None:
        control.check()
        emit(Progress(0, k, total, {}))
        emit(Log(f"Report: {what}"))

    step(0, "accuracy on source validation" + (f" and on {target}" if target else ""))
    val = source_val_folder(run.path, int(info["input_size"]), tmp / "source-val")
    ev = evaluate.EvaluateConfig
    source_eval = evaluate.JOB.run(ev(run_dir=run.path, data=val, checkpoint=checkpoint, device="cpu"), sub, control)
    report = ReportCardReport(
        path=str(config.out),
        run_dir=str(run.path),
        checkpoint=str(info["checkpoint"]),
        notes=notes,
        source_eval=source_eval,
        config=run.config().model_dump(mode="json"),
        metrics=run.metrics(),
    )
    if target is not None:
        report.target_eval = evaluate.JOB.run(
            ev(run_dir=run.path, data=target, checkpoint=checkpoint, device="cpu"), sub, control
        )
    else:
        report.notes.append("No labelled target folder: accuracy and calibration on the source validation split only.")
    step(1, "data health and domain shift")
    _data(config, run, target, checkpoint, tmp, report, sub, control)
    step(2, "calibration")
    report.temperature, report.calibration = calibrate(model, info, val, target)
    step(3, "robustness")
    _robustness(config, run, target or val, checkpoint, report, sub, control)
    step(4, "export")
    if config.export:
        _export(run, checkpoint, report, sub, control)
    else:
        report.notes.append("Export not measured (export = false).")
    step(5, "explanations")
    _explanations(config, run, checkpoint, tmp, report, sub, control)
    report.sections = [key for key, _ in SECTIONS]
    return report
