"""The compression report: what distilling (and quantizing) a model cost and what it bought.

Teacher and student side by side, and the INT8 copy of each when made: accuracy on the run's
source validation images and on a labelled target folder, parameters, ONNX file size, and
onnxruntime latency at batch 1 and 32 (median of repeated runs, one thread and all threads).
Written as `compression_report.json` beside the student's export. `int8_check` is the INT8
export's own check: accuracy and latency against the fp32 model on held-out images, with a
warning when INT8 is slower (CPUs without VNNI run INT8 convolutions slowly).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from engine.core.config import StrictModel
from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Log, Started, ignore
from engine.core.fsutil import atomic_write_json

REPORT_NAME = "compression_report.json"
LATENCY_KEYS = ("b1_t1", "b1_all", "b32_t1", "b32_all")


class CompressConfig(StrictModel):
    run_dir: Path = Field(description="The student's run directory (e.g. a distill run).")
    teacher: Path = Field(description="The teacher: a run directory or an .onnx image classifier.")
    data: Path | None = Field(None, description="A labelled target folder (default: the run's target-test folder).")
    int8: bool = Field(False, description="Also quantize both models to INT8 and report them.")
    repeats: int = Field(30, ge=3, le=10_000, description="Timed runs per latency figure (the median is kept).")
    out: Path | None = Field(None, description="Report path (default: RUN_DIR/exports/compression_report.json).")


# ----------------------------------------------------------------------------- latency
def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads  # 0: onnxruntime's default, one per physical core
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def latency_ms(path: str | Path, repeats: int = 30, batches: tuple[int, ...] = (1, 32)) -> dict[str, float]:
    """Median milliseconds per call at each batch size, on 1 thread and on all threads."""
    from engine.deploy.onnx_check import inspect_onnx

    info = inspect_onnx(path)
    s, c = info.input_size, info.channels
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    for threads, tag in ((1, "t1"), (0, "all")):
        sess = _session(Path(path), threads)
        for b in batches:
            b_run = info.fixed_batch or b
            shape = (b_run, c, s, s) if info.layout == "NCHW" else (b_run, s, s, c)
            x = rng.random(shape, dtype=np.float32)
            feed = {info.input_name: x}
            n = repeats if b == 1 else max(3, repeats // 3)
            for _ in range(3):
                sess.run(None, feed)
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                sess.run(None, feed)
                times.append((time.perf_counter() - t0) * 1000)
            out[f"b{b}_{tag}"] = statistics.median(times)
    return out


# ----------------------------------------------------------------------------- accuracy
BATCH = 256  # images converted to float and run at once: memory holds one batch, whatever the set


def float_batches(x: Any, batch_size: int = BATCH) -> Iterator[np.ndarray]:
    """float32 [0, 1] batches of images `x`: uint8 images (a tensor, or DiskImages read one batch
    at a time) are converted batch by batch, float [0, 1] arrays sliced as they are."""
    from engine.data.disk_images import batch_bounds

    for a, b in batch_bounds(len(x), batch_size):
        part = np.asarray(x[a:b])
        yield part.astype(np.float32) / np.float32(255.0) if part.dtype == np.uint8 else part.astype(np.float32)


def onnx_top1(path: str | Path, x: Any) -> tuple[np.ndarray, list[str]]:
    """The ONNX classifier's top-1 output index per image and the names of its outputs, run a
    batch at a time on float [0, 1] or uint8 images (a tensor or DiskImages); only the indices are kept."""
    from engine.deploy.predict import OnnxClassifier

    clf = OnnxClassifier(path)
    tops = [clf.logits(batch).argmax(1) for batch in float_batches(x)]
    names = list(clf.classes) if "classes" in clf.info.metadata else []
    return (np.concatenate(tops) if tops else np.zeros(0, np.int64)), names


def _accuracy(top: np.ndarray, names: list[str], y: np.ndarray, classes: list[str]) -> float:
    """Top-1 accuracy with outputs matched to `classes` by name (or in order when the model names none)."""
    if len(top) == 0:
        return float("nan")
    names = names or classes
    index = {c: i for i, c in enumerate(classes)}
    mapped = np.array([index.get(names[p], -1) for p in top])
    return float(np.mean(mapped == np.asarray(y)))


def onnx_accuracy(path: str | Path, x: Any, y: np.ndarray, classes: list[str]) -> float:
    """Top-1 accuracy of an ONNX classifier on images `x` (float [0, 1] arrays, or uint8 tensors or
    DiskImages, read batch by batch), labels `y` indexing `classes`; its outputs are matched to
    `classes` by name (or taken in order when it names none)."""
    if len(x) == 0:
        return float("nan")
    return _accuracy(*onnx_top1(path, x), y, classes)


def int8_check(
    fp32: str | Path, int8: str | Path, x: Any, y: np.ndarray, classes: list[str], repeats: int = 30
) -> dict[str, Any]:
    """INT8 against fp32 on held-out images: accuracies, top-1 agreement, latencies, and a warning
    when INT8 is slower at batch 1 or 32 on one thread. Each model reads the images once, a batch
    at a time."""
    top_a, names_a = onnx_top1(fp32, x) if len(x) else (np.zeros(0, np.int64), [])
    top_b, names_b = onnx_top1(int8, x) if len(x) else (np.zeros(0, np.int64), [])
    lat_fp, lat_q = latency_ms(fp32, repeats), latency_ms(int8, repeats)
    speed = {k: lat_fp[k] / lat_q[k] for k in LATENCY_KEYS}
    report: dict[str, Any] = {
        "n": len(x),
        "acc_fp32": _accuracy(top_a, names_a, y, classes),
        "acc_int8": _accuracy(top_b, names_b, y, classes),
        "agreement": float(np.mean(top_a == top_b)) if len(x) else float("nan"),
        "latency_ms_fp32": lat_fp,
        "latency_ms_int8": lat_q,
        "speedup": speed,
        "warning": "",
    }
    slow = [k for k in ("b1_t1", "b32_t1") if speed[k] < 1.0]
    if slow:
        report["warning"] = (
            f"INT8 is slower than fp32 on this CPU ({', '.join(f'{k}: {speed[k]:.2f}x' for k in slow)}); "
            "CPUs without VNNI (AVX512-VNNI/AVX-VNNI) run INT8 convolutions slowly. Ship the fp32 model here."
        )
    return report


def heldout_images(run_dir: Path, size: int, data: Path | None = None) -> dict[str, Any]:
    """The run's source validation images and a labelled target folder (`data`, else the run's
    target-test folder), decoded at `size`, as uint8 images with labels in the run's classes.

    The images are those `prepare_data` gives a training run: in memory within the run's memory
    budget, DiskImages over it; `onnx_accuracy` and `int8_check` convert them a batch at a time."""
    from engine.core.runs import open_run
    from engine.data.prepare import prepare_data

    cfg = open_run(run_dir).config()
    test = data if data is not None else cfg.target_test
    cfg = cfg.model_copy(update={"target": None, "target_test": test, "method": "finetune", "method_options": {}})
    d = prepare_data(cfg, size, ignore)
    out: dict[str, Any] = {"classes": d.classes, "val": (d.x_val, d.y_val.numpy())}
    if d.x_test is not None and d.y_test is not None:
        out["target"] = (d.x_test, d.y_test.numpy())
        out["target_folder"] = str(test)
    return out


# ----------------------------------------------------------------------------- the report
def _export_teacher_run(run_dir: Path, out: Path) -> Path:
    """Export a teacher run into the student's exports folder (the teacher's run is left as it is)."""
    from engine.core.runs import load_run_model
    from engine.deploy.export import export_and_verify
    from engine.deploy.export_job import parity_batch

    model, info = load_run_model(run_dir)
    batch = parity_batch(run_dir, int(info["input_size"]), 64)
    meta = {k: info[k] for k in ("classes", "mean", "std", "input_size", "backbone", "method", "run_id")}
    export_and_verify(model, batch, out, meta, report_path=out.with_name(out.stem + "_export_report.json"))
    return out


def _torch_params(run_dir: Path) -> int:
    from engine.core.runs import load_run_model

    model, _ = load_run_model(run_dir)
    return int(sum(p.numel() for p in model.parameters()))


def _onnx_params(path: Path) -> int:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return int(sum(int(np.prod(t.dims)) for t in proto.graph.initializer))


def model_row(
    name: str, path: Path, params: int, student_dir: Path, data: Path | None, repeats: int, cache: dict[int, Any]
) -> dict[str, Any]:
    from engine.deploy.onnx_check import inspect_onnx

    info = inspect_onnx(path)
    size = info.input_size
    if size not in cache:
        cache[size] = heldout_images(student_dir, size, data)
    images = cache[size]
    row: dict[str, Any] = {
        "model": name,
        "path": str(path),
        "input_size": size,
        "params": params,
        "size_bytes": path.stat().st_size,
        "val_acc": onnx_accuracy(path, images["val"][0], images["val"][1], images["classes"]),
        "target_acc": (
            onnx_accuracy(path, images["target"][0], images["target"][1], images["classes"])
            if "target" in images
            else None
        ),
        "latency_ms": latency_ms(path, repeats),
    }
    return row


def compression_report(config: CompressConfig, emit: Emit = ignore) -> dict[str, Any]:
    """Export (and optionally quantize) student and teacher, measure both, write the report."""
    from engine.core.runs import open_run
    from engine.deploy.export_job import ExportConfig, export_run
    from engine.deploy.quantize import quantize_int8
    from engine.methods.teachers import resolve_run_dir

    run = open_run(config.run_dir)
    emit(Started("compress", str(run.path)))
    tpath = Path(config.teacher).expanduser()
    if not tpath.exists():
        raise UserError(f"teacher {tpath}: no such file or folder. Give the teacher's run directory or .onnx file.")
    teacher_run = None if tpath.suffix.lower() == ".onnx" else resolve_run_dir(tpath)
    if teacher_run is None and tpath.suffix.lower() != ".onnx":
        raise UserError(f"teacher {tpath}: neither a run directory (no config.toml) nor an .onnx file.")
    emit(Log("Exporting the student to ONNX"))
    student_onnx = Path(export_run(ExportConfig(run_dir=run.path)).path)
    if teacher_run is not None:
        emit(Log(f"Exporting the teacher {teacher_run.name} to ONNX"))
        teacher_onnx = _export_teacher_run(teacher_run, run.exports_dir / "teacher.onnx")
        teacher_params = _torch_params(teacher_run)
    else:
        teacher_onnx, teacher_params = tpath, _onnx_params(tpath)
    models = [("teacher", teacher_onnx, teacher_params), ("student", student_onnx, _torch_params(run.path))]
    warnings: list[str] = []
    if config.int8:
        from engine.deploy.export_job import parity_batch
        from engine.deploy.onnx_check import inspect_onnx

        for name, path, params in list(models):
            info = inspect_onnx(path)
            if not info.normalize_in_model:
                warnings.append(
                    f"{name}: not quantized (its preprocessing is outside the model; calibrate it yourself)"
                )
                continue
            calib = parity_batch(run.path, info.input_size, 64).numpy()
            q = quantize_int8(
                path, [calib[i : i + 16] for i in range(0, len(calib), 16)], path.with_name(path.stem + ".int8.onnx")
            )
            models.append((f"{name} INT8", q, params))
    cache: dict[int, Any] = {}
    rows = []
    for name, path, params in models:
        emit(Log(f"Measuring {name}: accuracy and latency ({config.repeats} runs a figure)"))
        rows.append(model_row(name, path, params, run.path, config.data, config.repeats, cache))
    by = {r["model"]: r for r in rows}
    t, s = by["teacher"], by["student"]
    ratios = {
        "params": t["params"] / max(1, s["params"]),
        "size": t["size_bytes"] / max(1, s["size_bytes"]),
        **{f"speedup_{k}": t["latency_ms"][k] / s["latency_ms"][k] for k in LATENCY_KEYS},
        "val_acc_delta": s["val_acc"] - t["val_acc"],
        "target_acc_delta": (s["target_acc"] - t["target_acc"]) if s["target_acc"] is not None else None,
    }
    if s["params"] >= t["params"]:
        warnings.append("the student is not smaller than its teacher")
    for name in ("teacher", "student"):
        qrow = by.get(f"{name} INT8")
        if qrow is not None and qrow["latency_ms"]["b1_t1"] > by[name]["latency_ms"]["b1_t1"]:
            warnings.append(
                f"{name} INT8 is slower than fp32 at batch 1 on one thread "
                f"({qrow['latency_ms']['b1_t1']:.3f} ms vs {by[name]['latency_ms']['b1_t1']:.3f} ms): this CPU lacks "
                "fast INT8 (VNNI); ship the fp32 model here."
            )
    images = next(iter(cache.values()))
    report = {
        "student_run": str(run.path),
        "teacher": str(tpath),
        "rows": rows,
        "ratios": ratios,
        "warnings": warnings,
        "n_val": len(images["val"][1]),
        "n_target": len(images["target"][1]) if "target" in images else 0,
        "target_folder": images.get("target_folder", ""),
        "threads_all": os.cpu_count(),
        "repeats": config.repeats,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out = Path(config.out) if config.out else student_onnx.parent / REPORT_NAME
    atomic_write_json(out, report)
    report["path"] = str(out)
    for w in warnings:
        emit(Log(w, "warning"))
    emit(
        Finished(
            "compress", str(run.path), {"speedup_b1_t1": ratios["speedup_b1_t1"], "params_ratio": ratios["params"]}
        )
    )
    return report
