"""The export job: a run's best model -> one ONNX file, verified against PyTorch on real images.

Writes RUN_DIR/exports/model.onnx (or the user's path) and export_report.json beside it;
optionally a static INT8 copy calibrated on the run's own source images.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Log, Started, ignore
from engine.jobs.export import ExportConfig, ExportReport, Int8Check


def parity_batch(run_dir: Path, size: int, n: int) -> torch.Tensor:
    """Up to `n` real source images of the run (float [0, 1]), spread over the classes."""
    from engine.core.runs import open_run
    from engine.data.folders import scan_domain
    from engine.data.prepare import DEFAULT_CACHE

    cfg = open_run(run_dir).config()
    if cfg.multitask:  # the images of the run's task folders or labels table
        from engine.multitask.data import decode_table
        from engine.multitask.table import read_tasks

        images = decode_table(read_tasks(cfg.tasks, cfg.labels), size, 0, None)[0]
        step = max(1, len(images) // n)
        return images[::step][:n].float().div(255)
    domain = scan_domain(cfg.source, name="source")
    decoded = DEFAULT_CACHE.get_or_decode(domain, size, 0, None)
    if len(decoded.images) < 2:
        raise ValueError("need at least 2 readable source images to check the export")
    step = max(1, len(decoded.images) // n)
    return decoded.images[::step][:n].float().div(255)


def export_run(config: ExportConfig, emit: Emit = ignore) -> ExportReport:
    from engine.core.runs import load_run_model, open_run
    from engine.deploy.export import export_and_verify

    run = open_run(config.run_dir)
    model, info = load_run_model(run.path, which=config.checkpoint)
    out = Path(config.out) if config.out else run.exports_dir / "model.onnx"
    if out.suffix.lower() != ".onnx":
        out = out.with_suffix(".onnx")
    emit(Started("export", str(run.path)))
    emit(Log(f"Exporting {info['backbone']} ({len(info['classes'])} classes) to {out}"))
    batch = parity_batch(run.path, int(info["input_size"]), config.parity_images)
    metadata: dict[str, object] = {
        "classes": info["classes"],
        "mean": info["mean"],
        "std": info["std"],
        "input_size": info["input_size"],
        "backbone": info["backbone"],
        "method": info["method"],
        "run_id": info["run_id"],
    }
    if "seen_classes" in info:  # a zero-shot run: the other classes of the table are unseen
        metadata["seen_classes"] = info["seen_classes"]
    if "tasks" in info:  # multitask: one output per task (engine.multitask.export)
        from engine.multitask.export import export_multitask, task_metadata

        if config.int8 or config.cam:
            raise UserError(
                "int8 / cam: the INT8 copy and the CAM output are made for single-task models; "
                "export this multitask run without them."
            )
        metadata |= task_metadata(model, info["tasks"])
        parity, per_task = export_multitask(model, batch, out, metadata, atol=config.atol)
        for task, p in per_task.items():
            emit(Log(f"Task '{task}': max |diff| {p.max_abs_diff:.2e}, top-1 agreement {p.top1_agreement:.2%}"))
    else:
        extra: tuple[str, ...] = ()
        if config.cam:
            from engine.explain.cam import CAM_OUTPUT, make_cam_model

            model, extra = make_cam_model(model), (CAM_OUTPUT,)
            metadata["cam_output"] = CAM_OUTPUT
            emit(Log(f"Adding the class activation maps as a second output '{CAM_OUTPUT}' (exact CAM)"))
        parity = export_and_verify(model, batch, out, metadata, atol=config.atol, extra_outputs=extra)
    report = ExportReport(path=str(out), **parity.model_dump())
    emit(Log(f"Parity: max |diff| {parity.max_abs_diff:.2e}, top-1 agreement {parity.top1_agreement:.2%}"))
    if config.int8:
        from engine.deploy.quantize import quantize_int8

        int8_path = out.with_name(out.stem + ".int8.onnx")
        calib = [batch[i : i + 16].numpy() for i in range(0, len(batch), 16)]
        quantize_int8(out, calib, int8_path)
        report.int8_path = str(int8_path)
        emit(Log(f"INT8 model: {int8_path}"))
        from engine.deploy.compression import heldout_images, int8_check

        held = heldout_images(run.path, int(info["input_size"]))
        check = Int8Check.model_validate(int8_check(out, int8_path, held["val"][0], held["val"][1], held["classes"]))
        report.int8 = check
        emit(
            Log(
                f"INT8 vs fp32 on {check.n} held-out source images: accuracy {check.acc_int8:.2%} vs "
                f"{check.acc_fp32:.2%}, agreement {check.agreement:.2%}, speed-up at batch 1 / 32 on one "
                f"thread {check.speedup['b1_t1']:.2f}x / {check.speedup['b32_t1']:.2f}x"
            )
        )
        if check.warning:
            emit(Log(check.warning, "warning"))
    run.update_info(exported=str(out))
    emit(
        Finished(
            "export", str(run.path), {"max_abs_diff": parity.max_abs_diff, "top1_agreement": parity.top1_agreement}
        )
    )
    return report
