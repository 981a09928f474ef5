"""Validate an ONNX file before anything runs it, and read what preprocessing it needs.

No torch here: the predict path must run on a machine with only onnxruntime. Every refusal is a
UserError naming the file, what was found and what Transfer Studio expects.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from engine.core.errors import UserError
from engine.deploy.onnx_metadata import (
    MAX_SIDE,
    classes_of,
    input_size_of,
    stats_of,
    task_classes_of,
    tasks_of,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_FILE_BYTES = 4 << 30  # 4 GiB: beyond this it is not a classifier this app can serve
MIN_FILE_BYTES = 16
# Operator domains onnxruntime's CPU build runs without a custom-op library.
RUNNABLE_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training"})
MAX_BATCH = 1 << 16
MAX_CLASSES = 1_000_000
MAX_DIM = 1 << 31  # any declared tensor dimension (value_info, initializers)
EXPECTED = (
    "Transfer Studio expects an image classifier taking [N, 3, H, W] (or [N, H, W, 3]) and returning [N, classes]"
)


@dataclass(frozen=True)
class OnnxModelInfo:
    """What inspect_onnx found: input/output layout, preprocessing and provenance."""

    path: str
    size_bytes: int
    opset: int | None
    producer: str
    input_name: str
    input_shape: tuple[int | str | None, ...]
    layout: str  # "NCHW" | "NHWC"
    channels: int
    fixed_batch: int | None  # None when the batch axis is dynamic
    output_name: str
    output_shape: tuple[int | str | None, ...] | None
    num_classes: int | None
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: int
    normalize_in_model: bool
    backbone: str
    method: str
    run_id: str
    metadata: dict[str, str] = field(default_factory=dict)
    tasks: tuple[str, ...] = ()  # a multitask model: its outputs, one per task (the first is output_name)
    task_classes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    cam_output: str = ""  # "cam" when the file also returns class activation maps (export --cam)

    @property
    def from_transfer_studio(self) -> bool:
        """True when the file was written by engine.deploy.export."""
        return self.metadata.get("producer") == "transfer-studio"


def _dims(value_info: onnx.ValueInfoProto) -> tuple[int | str | None, ...] | None:
    """Shape as ints (static), strings (named dynamic) or None (unknown); None if rank unknown."""
    tt = value_info.type.tensor_type
    if not tt.HasField("shape"):
        return None
    out: list[int | str | None] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            out.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            out.append(d.dim_param)
        else:
            out.append(None)
    return tuple(out)


def _fmt(shape: tuple[int | str | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _check_file(path: Path) -> int:
    if not path.exists():
        raise UserError(f"{path}: no such file; choose an existing .onnx model file")
    if not path.is_file():
        raise UserError(f"{path}: is a folder, not an .onnx file")
    size = path.stat().st_size
    if size < MIN_FILE_BYTES:
        raise UserError(f"{path.name}: file is {size} bytes, too small to be an ONNX model")
    if size > MAX_FILE_BYTES:
        raise UserError(f"{path.name}: file is {size / 2**30:.1f} GiB; the limit is {MAX_FILE_BYTES >> 30} GiB")
    return size


def _tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor stored in the file: initializers and constant attributes, subgraphs included."""
    graphs = [model.graph]
    nodes: list[onnx.NodeProto] = [n for fn in model.functions for n in fn.node]
    while graphs or nodes:
        if graphs:
            g = graphs.pop()
            yield from g.initializer
            yield from (s.values for s in g.sparse_initializer)
            nodes.extend(g.node)
            continue
        for attr in nodes.pop().attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                graphs.append(attr.g)
            graphs.extend(attr.graphs)


def _check_external_data(path: Path, model: onnx.ModelProto) -> None:
    """Refuse weights stored outside the model's folder: `../` or absolute locations would let a
    downloaded model make the app read any file on the computer."""
    folder = path.resolve().parent
    for tensor in _tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = Path(location)
        escapes = not location or target.is_absolute() or ".." in target.parts
        if not escapes:
            resolved = (folder / target).resolve()  # a symlink inside the folder may still point out
            escapes = folder != resolved and folder not in resolved.parents
        if escapes:
            raise UserError(
                f"{path.name}: refused: tensor '{tensor.name}' keeps its data at {location!r}, outside the model's "
                f"folder ({folder}). External data files must sit beside the model; it was not opened"
            )


def _check_dims(path: Path, model: onnx.ModelProto) -> None:
    """Refuse declared sizes no real model has (they would make the app allocate absurd buffers)."""
    declared = [*model.graph.input, *model.graph.output, *model.graph.value_info]
    for vi in declared:
        for d in _dims(vi) or ():
            if isinstance(d, int) and d > MAX_DIM:
                raise UserError(f"{path.name}: refused: '{vi.name}' declares a dimension of {d}; that is no real model")
    for tensor in _tensors(model):
        if any(d < 0 or d > MAX_DIM for d in tensor.dims) or math.prod(tensor.dims) > MAX_FILE_BYTES:
            raise UserError(
                f"{path.name}: refused: tensor '{tensor.name}' declares shape {list(tensor.dims)}; that is no real model"
            )


def _check_input_dims(path: Path, name: str, shape: tuple[int | str | None, ...], layout: str) -> None:
    sides = shape[2:] if layout == "NCHW" else shape[1:3]
    batch = shape[0]
    if any(isinstance(s, int) and s > MAX_SIDE for s in sides):
        raise UserError(
            f"{path.name}: refused: input '{name}' declares {_fmt(shape)}, images over {MAX_SIDE} pixels a side; "
            f"{EXPECTED}"
        )
    if isinstance(batch, int) and batch > MAX_BATCH:
        raise UserError(f"{path.name}: refused: input '{name}' declares a batch of {batch} (at most {MAX_BATCH})")


def _load(path: Path) -> onnx.ModelProto:
    """Read the graph without external weights, refuse unsafe references and absurd sizes, then run
    onnx.checker on the path (which reads external data, now known to stay in the folder)."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise UserError(f"{path.name}: not a readable ONNX file ({type(exc).__name__}: {str(exc)[:200]})") from None
    _check_external_data(path, model)
    _check_domains(path, model)
    _check_dims(path, model)
    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path.name}: not a valid ONNX model ({first[:300]})") from None
    except Exception as exc:  # protobuf DecodeError and friends for corrupt or non-ONNX files
        raise UserError(f"{path.name}: not a readable ONNX file ({type(exc).__name__}: {str(exc)[:200]})") from None
    return model


def _nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node, including those in If/Loop/Scan subgraphs."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _nodes(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _nodes(g)


def _check_domains(path: Path, model: onnx.ModelProto) -> None:
    """Refuse operators from custom domains that onnxruntime cannot run without a plugin."""
    local = {f.domain for f in model.functions}
    nodes = list(_nodes(model.graph))
    for fn in model.functions:
        nodes.extend(fn.node)
    bad: dict[str, set[str]] = {}
    for node in nodes:
        if node.domain not in RUNNABLE_DOMAINS and node.domain not in local:
            bad.setdefault(node.domain, set()).add(node.op_type)
    if bad:
        found = "; ".join(f"domain '{d}' ({', '.join(sorted(ops))})" for d, ops in sorted(bad.items()))
        raise UserError(
            f"{path.name}: uses custom operators that onnxruntime cannot run without a plugin library: {found}; "
            "export the model with standard ONNX operators"
        )


def _input(path: Path, model: onnx.ModelProto) -> tuple[onnx.ValueInfoProto, tuple[int | str | None, ...]]:
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        names = ", ".join(f"'{i.name}'" for i in inputs) or "none"
        raise UserError(f"{path.name}: has {len(inputs)} inputs ({names}); {EXPECTED} (exactly one input)")
    inp = inputs[0]
    if not inp.type.HasField("tensor_type"):
        raise UserError(f"{path.name}: input '{inp.name}' is not a tensor; {EXPECTED}")
    elem = inp.type.tensor_type.elem_type
    if elem != onnx.TensorProto.FLOAT:
        kind = onnx.TensorProto.DataType.Name(elem) if elem else "UNDEFINED"
        raise UserError(f"{path.name}: input '{inp.name}' has element type {kind}; {EXPECTED} as float32")
    shape = _dims(inp)
    if shape is None:
        raise UserError(f"{path.name}: input '{inp.name}' has no declared shape; {EXPECTED}")
    if len(shape) != 4:
        raise UserError(f"{path.name}: input '{inp.name}' has rank {len(shape)} {_fmt(shape)}; {EXPECTED}")
    return inp, shape


def _layout(path: Path, name: str, shape: tuple[int | str | None, ...]) -> tuple[str, int, tuple[Any, Any]]:
    """Decide NCHW vs NHWC from the static channel axis; return layout, channels and (H, W)."""
    if shape[1] in (1, 3):
        return "NCHW", int(shape[1]), (shape[2], shape[3])
    if shape[3] == 3:
        return "NHWC", 3, (shape[1], shape[2])
    raise UserError(f"{path.name}: input '{name}' has shape {_fmt(shape)} with no 3- (or 1-) channel axis; {EXPECTED}")


CAM_OUTPUT = "cam"  # the second output an export with class activation maps adds (engine.explain.cam)


def _output(
    path: Path, model: onnx.ModelProto, tasks: tuple[str, ...] = ()
) -> tuple[onnx.ValueInfoProto, tuple[Any, ...] | None, int | None]:
    outputs = list(model.graph.output)
    if len(outputs) == 2 and outputs[1].name == CAM_OUTPUT:
        outputs = outputs[:1]  # the scores come first; the maps are read by engine.explain.cam
    if tasks:  # a multitask model: every output is a classifier's; the first is the default
        for other in outputs[1:]:
            _check_output(path, other)
        outputs = outputs[:1]
    if len(outputs) != 1:
        names = ", ".join(f"'{o.name}'" for o in outputs) or "none"
        raise UserError(f"{path.name}: has {len(outputs)} outputs ({names}); {EXPECTED} (exactly one output)")
    out = outputs[0]
    shape, classes = _check_output(path, out)
    return out, shape, classes


def _check_output(path: Path, out: onnx.ValueInfoProto) -> tuple[tuple[Any, ...] | None, int | None]:
    if not out.type.HasField("tensor_type"):
        raise UserError(f"{path.name}: output '{out.name}' is not a tensor; {EXPECTED}")
    elem = out.type.tensor_type.elem_type
    if elem not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE):
        kind = onnx.TensorProto.DataType.Name(elem) if elem else "UNDEFINED"
        raise UserError(f"{path.name}: output '{out.name}' has element type {kind}; {EXPECTED} as float scores")
    shape = _dims(out)
    if shape is None:
        return None, None  # rank unknown: checked when the model first runs
    squeezed = list(shape)
    while len(squeezed) > 2 and squeezed[-1] == 1:
        squeezed.pop()
    if len(squeezed) != 2:
        raise UserError(f"{path.name}: output '{out.name}' has rank {len(shape)} {_fmt(shape)}; {EXPECTED}")
    classes = squeezed[1] if isinstance(squeezed[1], int) else None
    if classes is not None and classes > MAX_CLASSES:
        raise UserError(f"{path.name}: refused: output '{out.name}' declares {classes} classes (at most {MAX_CLASSES})")
    return shape, classes


def inspect_onnx(path: str | Path) -> OnnxModelInfo:
    """Check that `path` is an image classifier this app can run; return its layout and metadata."""
    path = Path(path)
    size = _check_file(path)
    model = _load(path)
    inp, in_shape = _input(path, model)
    layout, channels, hw = _layout(path, inp.name, in_shape)
    _check_input_dims(path, inp.name, in_shape, layout)
    batch = in_shape[0]
    meta = {p.key: p.value for p in model.metadata_props}
    tasks = tasks_of(path, meta, model)
    out, out_shape, num_classes = _output(path, model, tasks)
    if isinstance(batch, int) and out_shape is not None and isinstance(out_shape[0], int) and out_shape[0] != batch:
        raise UserError(
            f"{path.name}: input batch is {batch} but output '{out.name}' has {out_shape[0]} rows; {EXPECTED}"
        )
    classes, num_classes = classes_of(path, meta, num_classes)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    return OnnxModelInfo(
        path=str(path),
        size_bytes=size,
        opset=opset,
        producer=producer,
        input_name=inp.name,
        input_shape=in_shape,
        layout=layout,
        channels=channels,
        fixed_batch=batch if isinstance(batch, int) else None,
        output_name=out.name,
        output_shape=out_shape,
        num_classes=num_classes,
        classes=classes,
        mean=stats_of(path, meta, "mean", channels, IMAGENET_MEAN),
        std=stats_of(path, meta, "std", channels, IMAGENET_STD),
        input_size=input_size_of(path, meta, hw, inp.name),
        normalize_in_model=meta.get("normalize_in_model", "false").strip().lower() == "true",
        backbone=meta.get("backbone", ""),
        method=meta.get("method", ""),
        run_id=meta.get("run_id", ""),
        metadata=meta,
        tasks=tasks,
        task_classes=task_classes_of(path, meta, tasks),
        cam_output=CAM_OUTPUT if any(o.name == CAM_OUTPUT for o in model.graph.output[1:2]) else "",
    )
