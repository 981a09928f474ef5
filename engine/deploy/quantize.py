"""Static INT8 quantization of an exported classifier with onnxruntime (QDQ, per-channel weights).

Calibration arrays are model inputs exactly as the session takes them (for Transfer Studio
exports: float32 [N, 3, H, W] in [0, 1]). The source file's metadata_props are carried over.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from engine.core.errors import UserError
from engine.core.fsutil import atomic_write_bytes, disk_full_guard, is_disk_full
from engine.deploy.onnx_check import inspect_onnx


class _ListReader:
    """CalibrationDataReader over a list of arrays (duck-typed: ORT checks for get_next)."""

    def __init__(self, input_name: str, arrays: Sequence[np.ndarray]) -> None:
        self._name = input_name
        self._arrays = list(arrays)
        self._i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._i >= len(self._arrays):
            return None
        arr = self._arrays[self._i]
        self._i += 1
        return {self._name: arr}

    def rewind(self) -> None:
        self._i = 0

    def __len__(self) -> int:
        return len(self._arrays)


def _check_calibration(calibration: Sequence[np.ndarray], shape: tuple) -> list[np.ndarray]:
    if not calibration:
        raise UserError("quantize: calibration is empty; give at least one batch of model inputs")
    out = []
    for i, arr in enumerate(calibration):
        a = np.ascontiguousarray(arr, dtype=np.float32)
        if a.ndim != len(shape):
            raise UserError(
                f"quantize: calibration[{i}] has shape {list(a.shape)}; expected rank {len(shape)} like {list(shape)}"
            )
        for axis, (got, want) in enumerate(zip(a.shape, shape, strict=False)):
            if isinstance(want, int) and got != want:
                raise UserError(
                    f"quantize: calibration[{i}] has shape {list(a.shape)}; axis {axis} must be {want} "
                    f"(model input {list(shape)})"
                )
        if not np.all(np.isfinite(a)):
            raise UserError(f"quantize: calibration[{i}] contains NaN or infinite values")
        out.append(a)
    return out


def quantize_int8(onnx_path: str | Path, calibration: Sequence[np.ndarray], out_path: str | Path) -> Path:
    """Write a static INT8 (QDQ, per-channel, MinMax) copy of `onnx_path` to `out_path` atomically."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    onnx_path, out_path = Path(onnx_path), Path(out_path)
    info = inspect_onnx(onnx_path)
    arrays = _check_calibration(calibration, info.input_shape)
    source = onnx.load(str(onnx_path), load_external_data=False)
    meta = {p.key: p.value for p in source.metadata_props}
    with disk_full_guard(out_path, what=f"INT8 model {out_path.name}"):
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = tempfile.TemporaryDirectory(prefix=".quant-", dir=out_path.parent)
    with tmp_dir as tmp, disk_full_guard(out_path, what=f"INT8 model {out_path.name} (its working files)"):
        pre = Path(tmp, "pre.onnx")
        raw = Path(tmp, "int8.onnx")
        try:
            quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=False)
        except Exception as exc:  # symbolic shape inference fails on some graphs; quantize the original then
            if is_disk_full(exc):
                raise
            pre = onnx_path
        try:
            quantize_static(
                str(pre),
                str(raw),
                calibration_data_reader=_ListReader(info.input_name, arrays),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
        except Exception as exc:
            if is_disk_full(exc):
                raise
            raise UserError(
                f"{onnx_path.name}: INT8 quantization failed ({type(exc).__name__}: {str(exc)[:300]})"
            ) from exc
        model = onnx.load(str(raw))
    del model.metadata_props[:]
    meta["quantization"] = "int8-static-qdq-per-channel"
    for key, value in sorted(meta.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    atomic_write_bytes(out_path, model.SerializeToString())
    return out_path
