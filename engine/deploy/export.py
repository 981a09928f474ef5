"""Export a trained classifier to one self-contained ONNX file and prove it matches PyTorch.

The exported graph takes `image` float32 [N, 3, H, W] in [0, 1] (normalisation lives inside the
model) and returns `logits` [N, classes]; N is a truly dynamic axis. Metadata travels in the
file's metadata_props so `engine.deploy.onnx_check.inspect_onnx` can rebuild the preprocessing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from engine.core.errors import UserError
from engine.core.fsutil import atomic_write_bytes, atomic_write_json
from engine.jobs.export import ParityReport

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
PRODUCER = "transfer-studio"
REPORT_NAME = "export_report.json"


class ExportError(UserError):
    """Export failed or the exported file does not reproduce the PyTorch model."""


def _metadata_strings(metadata: Mapping[str, Any]) -> dict[str, str]:
    """Metadata as strings: lists/dicts become JSON, the fixed keys are added last."""
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise ExportError(f"export metadata: key {key!r} must be a non-empty string")
        out[key] = value if isinstance(value, str) else json.dumps(value)
    out["normalize_in_model"] = "true"
    out["producer"] = PRODUCER
    return out


def _check_classes(meta: dict[str, str], num_outputs: int) -> None:
    """`classes`, when given, must be a JSON list of names, one per logit."""
    if "classes" not in meta:
        return
    try:
        classes = json.loads(meta["classes"])
    except json.JSONDecodeError as exc:
        raise ExportError(f"export metadata: 'classes' is not valid JSON ({exc}); give a JSON list of names") from None
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise ExportError("export metadata: 'classes' must be a JSON list of strings")
    if len(classes) != num_outputs:
        raise ExportError(
            f"export metadata: 'classes' names {len(classes)} classes but the model outputs {num_outputs} logits"
        )


def _model_device(model: torch.nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _fold_external_data(proto: onnx.ModelProto, base_dir: Path | None) -> None:
    """Pull any tensor stored in an external file back into the proto (single-file output)."""
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

    if any(uses_external_data(t) for t in proto.graph.initializer):
        if base_dir is None:
            raise ExportError("ONNX export produced external weight data that cannot be located")
        load_external_data_for_model(proto, str(base_dir))


def _logits(out: Any) -> torch.Tensor:
    """The scores of a model that may also return extra outputs (the CAM export: logits, maps)."""
    return out[0] if isinstance(out, tuple) else out


def export_onnx(
    model: torch.nn.Module,
    example: torch.Tensor,
    out_path: str | Path,
    metadata: Mapping[str, Any],
    extra_outputs: tuple[str, ...] = (),
) -> Path:
    """Export `model` with a dynamic batch axis to one ONNX file at `out_path` (atomic); return the path.

    `extra_outputs` names the outputs after the logits when the model returns a tuple."""
    out_path = Path(out_path)
    if example.ndim != 4:
        raise ExportError(f"export example has shape {list(example.shape)}; expected [N, C, H, W]")
    if example.shape[0] < 2:  # exporting from batch 1 would specialise the batch axis to 1
        example = example.expand(2, *example.shape[1:]).contiguous()
    example = example.detach().to(device=_model_device(model), dtype=torch.float32)

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            num_outputs = int(_logits(model(example[:2])).shape[-1])
        meta = _metadata_strings(metadata)
        _check_classes(meta, num_outputs)
        outputs = [OUTPUT_NAME, *extra_outputs]
        program = dynamo_program(model, (example,), [INPUT_NAME], outputs, type(model).__name__)
    finally:
        model.train(was_training)
    write_program(program, meta, out_path)
    return out_path


def dynamo_program(
    model: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    input_names: list[str],
    output_names: list[str],
    what: str,
    error: type[UserError] = ExportError,
) -> Any:
    """The ONNX program of `model` from the dynamo exporter, every input with a dynamic batch axis.

    The exporter raises many exception types; they become one readable `error` naming `what`."""
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    try:
        program = torch.onnx.export(
            model,
            args,
            dynamo=True,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=tuple({0: batch} for _ in args),
            external_data=False,
            optimize=True,
            verbose=False,
        )
    except Exception as exc:
        raise error(f"ONNX export of {what} failed: {type(exc).__name__}: {exc}") from exc
    if program is None:
        raise error(f"ONNX export of {what} returned no program.")
    return program


def _ort_session(onnx_path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])


def verify_parity(
    model: torch.nn.Module, onnx_path: str | Path, batch: torch.Tensor, atol: float = 1e-3
) -> ParityReport:
    """Compare PyTorch and onnxruntime logits on `batch`, run at batch 1, up to 8 and all of it."""
    onnx_path = Path(onnx_path)
    if batch.ndim != 4 or batch.shape[0] < 1:
        raise ExportError(f"parity batch has shape {list(batch.shape)}; expected [N, C, H, W] with N >= 1")
    x = batch.detach().to(dtype=torch.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            ref = _logits(model(x.to(_model_device(model)))).float().cpu().numpy()
    finally:
        model.train(was_training)

    session = _ort_session(onnx_path)
    name = session.get_inputs()[0].name
    xn = x.cpu().numpy()
    n = int(xn.shape[0])
    sizes = sorted({1, min(n, 8), n})
    max_diff, agree = 0.0, 1.0
    for size in sizes:
        got = np.concatenate(
            [session.run([OUTPUT_NAME], {name: xn[i : i + size]})[0] for i in range(0, n, size)], axis=0
        ).reshape(ref.shape)
        max_diff = max(max_diff, float(np.max(np.abs(got - ref))) if ref.size else 0.0)
        agree = min(agree, float(np.mean(got.argmax(-1) == ref.argmax(-1))))
    passed = bool(agree >= 1.0 and max_diff <= atol)
    return ParityReport(
        n=n, max_abs_diff=max_diff, top1_agreement=agree, batch_sizes_checked=sizes, atol=atol, passed=passed
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_and_verify(
    model: torch.nn.Module,
    batch: torch.Tensor,
    out_path: str | Path,
    metadata: Mapping[str, Any],
    report_path: str | Path | None = None,
    atol: float = 1e-3,
    extra_outputs: tuple[str, ...] = (),
) -> ParityReport:
    """Export, check parity on `batch` and write export_report.json beside the model.

    On a parity failure the ONNX file is removed (the report stays, with passed=false) and
    ExportError names the agreement and the largest difference.
    """
    import onnxruntime as ort

    out_path = Path(out_path)
    report_path = Path(report_path) if report_path is not None else out_path.parent / REPORT_NAME
    export_onnx(model, batch, out_path, metadata, extra_outputs=extra_outputs)
    parity = verify_parity(model, out_path, batch, atol=atol)
    proto = onnx.load(str(out_path), load_external_data=False)
    report = {
        "onnx_file": out_path.name,
        "size_bytes": out_path.stat().st_size,
        "sha256": _sha256(out_path),
        "opset": next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None),
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "metadata": {p.key: p.value for p in proto.metadata_props},
        "parity": parity.model_dump(),
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_json(report_path, report)
    if not parity.passed:
        out_path.unlink(missing_ok=True)
        raise ExportError(
            f"{out_path.name}: exported model does not match PyTorch: top-1 agreement "
            f"{parity.top1_agreement:.2%} (need 100%), max |logit difference| {parity.max_abs_diff:.3g} "
            f"(allowed {atol:g}); the file was removed, see {report_path.name}"
        )
    return parity


def write_program(program: Any, meta: Mapping[str, str], out_path: Path) -> None:
    """The exporter's program as one self-contained ONNX file with our metadata, written atomically."""
    proto = program.model_proto
    _fold_external_data(proto, None)
    del proto.metadata_props[:]
    for key, value in sorted(meta.items()):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = PRODUCER
    proto.producer_version = f"torch-{torch.__version__}"
    try:
        data = proto.SerializeToString()
    except ValueError as exc:  # protobuf refuses > 2 GiB
        raise ExportError(f"model is too large for a single-file ONNX export ({exc})") from exc
    atomic_write_bytes(out_path, data)
