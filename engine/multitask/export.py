"""Export a multitask model to one ONNX file: input `image`, one named output per task.

The file's metadata holds `tasks` (the output names, in order) and `task_classes` (every task's
class names), plus `classes` of the first task, so a reader that knows one output still finds a
complete classifier in the first. Parity is checked task by task against PyTorch on real images
at batch 1, up to 8 and all of them, as for single-task exports.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from engine.core.fsutil import atomic_write_json
from engine.deploy.export import (
    INPUT_NAME,
    REPORT_NAME,
    ExportError,
    _metadata_strings,
    _ort_session,
    _sha256,
    dynamo_program,
    write_program,
)
from engine.jobs.export import ParityReport
from engine.multitask.model import AllTasks, MultitaskClassifier


def task_metadata(model: MultitaskClassifier, task_classes: Mapping[str, list[str]]) -> dict[str, Any]:
    return {
        "tasks": list(model.tasks),
        "task_classes": {t: list(task_classes[t]) for t in model.tasks},
        "classes": list(task_classes[model.tasks[0]]),
    }


def export_multitask_onnx(
    model: MultitaskClassifier, example: torch.Tensor, out_path: Path, metadata: Mapping[str, Any]
) -> Path:
    """One ONNX file with an output per task (dynamic batch axis), written atomically."""
    if example.shape[0] < 2:  # exporting from batch 1 would specialise the batch axis to 1
        example = example.expand(2, *example.shape[1:]).contiguous()
    wrapper = AllTasks(model).eval()
    meta = _metadata_strings(metadata)
    program = dynamo_program(wrapper, (example.float(),), [INPUT_NAME], list(model.tasks), "the multitask model")
    write_program(program, meta, out_path)
    return out_path


def task_parity(
    model: MultitaskClassifier, onnx_path: Path, batch: torch.Tensor, atol: float
) -> dict[str, ParityReport]:
    """PyTorch against onnxruntime, every task's output, at several batch sizes."""
    x = batch.detach().float()
    with torch.inference_mode():
        ref = {t: v.float().numpy() for t, v in model.eval().forward_all(x).items()}
    session = _ort_session(onnx_path)
    xn, n = x.numpy(), int(x.shape[0])
    sizes = sorted({1, min(n, 8), n})
    out: dict[str, ParityReport] = {}
    diffs: dict[str, float] = dict.fromkeys(model.tasks, 0.0)
    agree: dict[str, float] = dict.fromkeys(model.tasks, 1.0)
    for size in sizes:
        chunks = [session.run(list(model.tasks), {INPUT_NAME: xn[i : i + size]}) for i in range(0, n, size)]
        for k, t in enumerate(model.tasks):
            got = np.concatenate([c[k] for c in chunks], axis=0)
            diffs[t] = max(diffs[t], float(np.max(np.abs(got - ref[t]))))
            agree[t] = min(agree[t], float(np.mean(got.argmax(-1) == ref[t].argmax(-1))))
    for t in model.tasks:
        passed = bool(agree[t] >= 1.0 and diffs[t] <= atol)
        out[t] = ParityReport(
            n=n, max_abs_diff=diffs[t], top1_agreement=agree[t], batch_sizes_checked=sizes, atol=atol, passed=passed
        )
    return out


def export_multitask(
    model: MultitaskClassifier, batch: torch.Tensor, out_path: Path, metadata: Mapping[str, Any], atol: float = 1e-3
) -> tuple[ParityReport, dict[str, ParityReport]]:
    """Export, check every task's parity, write export_report.json; the overall parity is the worst task's."""
    import onnxruntime as ort

    export_multitask_onnx(model, batch, out_path, metadata)
    per_task = task_parity(model, out_path, batch, atol)
    worst = ParityReport(
        n=int(batch.shape[0]),
        max_abs_diff=max(p.max_abs_diff for p in per_task.values()),
        top1_agreement=min(p.top1_agreement for p in per_task.values()),
        batch_sizes_checked=next(iter(per_task.values())).batch_sizes_checked,
        atol=atol,
        passed=all(p.passed for p in per_task.values()),
    )
    proto = onnx.load(str(out_path), load_external_data=False)
    report_path = out_path.parent / REPORT_NAME
    atomic_write_json(
        report_path,
        {
            "onnx_file": out_path.name,
            "size_bytes": out_path.stat().st_size,
            "sha256": _sha256(out_path),
            "opset": next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None),
            "input_name": INPUT_NAME,
            "output_names": list(model.tasks),
            "metadata": {p.key: p.value for p in proto.metadata_props},
            "parity": worst.model_dump(),
            "task_parity": {t: p.model_dump() for t, p in per_task.items()},
            "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    if not worst.passed:
        out_path.unlink(missing_ok=True)
        bad = [t for t, p in per_task.items() if not p.passed]
        raise ExportError(
            f"{out_path.name}: exported model does not match PyTorch on task(s) {', '.join(bad)}: top-1 agreement "
            f"{worst.top1_agreement:.2%} (need 100%), max |logit difference| {worst.max_abs_diff:.3g} (allowed "
            f"{atol:g}); the file was removed, see {report_path.name}"
        )
    return worst, per_task
