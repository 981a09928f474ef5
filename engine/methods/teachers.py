"""Teachers for distillation: a finished run (PyTorch) or any ONNX image classifier (query-only).

A teacher maps float images [N, 3, H, W] in [0, 1] to logits, in the source's class order. It
is not a trainable module: the method keeps it out of its parameters and its state_dict, and a
resumed run loads it again from its path. An ONNX teacher runs through onnxruntime with the
preprocessing its metadata names (mean, std, input size, layout), or with [0, 1] inputs at its
declared input shape when it names none, so a black-box model can teach.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from engine.core.errors import UserError

RUN_FILES = ("config.toml", "run.json")


def resolve_run_dir(path: Path) -> Path | None:
    """The run directory `path` is or lies in (a file picked inside a run counts), else None."""
    for candidate in (path, *path.parents)[:3]:
        if candidate.is_dir() and (candidate / "config.toml").is_file():
            return candidate
    return None


class Teacher:
    """Base: `logits(x01)` on any device, in the order of `classes`; `input_size` its side."""

    kind = ""

    def __init__(self, path: Path, classes: Sequence[str], input_size: int, num_params: int, named: bool) -> None:
        self.path = path
        self.classes = list(classes)
        self.input_size = int(input_size)
        self.num_params = int(num_params)
        self.named = named  # False when the file carries no class names (class_0, class_1, ...)
        self.order: torch.Tensor | None = None  # teacher column for each source class

    def describe(self) -> str:
        return f"{self.kind} teacher {self.path.name} ({self.num_params / 1e6:.2f}M weights, {self.input_size} px)"

    def match_classes(self, source: Sequence[str]) -> list[str]:
        """Map the teacher's outputs to the source classes; refuse when they are different sets.

        Returns notes for the log (reordering, unnamed outputs)."""
        src = list(source)
        if not self.named:
            if len(self.classes) != len(src):
                raise UserError(
                    f"teacher {self.path}: outputs {len(self.classes)} classes but the source has {len(src)} "
                    f"({', '.join(src)}). Distil from a teacher trained on the same classes."
                )
            self.classes = src
            return [f"teacher {self.path.name} names no classes: its outputs are taken in the source's order."]
        if sorted(self.classes) != sorted(src) or len(set(self.classes)) != len(self.classes):
            missing = [c for c in src if c not in self.classes]
            extra = [c for c in self.classes if c not in src]
            raise UserError(
                f"teacher {self.path}: its classes differ from the source's. Teacher: {', '.join(self.classes)}; "
                f"source: {', '.join(src)} (not in the teacher: {', '.join(missing) or 'none'}; only in the teacher: "
                f"{', '.join(extra) or 'none'}). Distil from a teacher trained on the source's classes."
            )
        if self.classes == src:
            return []
        self.order = torch.tensor([self.classes.index(c) for c in src], dtype=torch.long)
        return [f"teacher {self.path.name} lists the classes in another order; its outputs are reordered."]

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == self.input_size and x.shape[-2] == self.input_size:
            return x
        down = x.shape[-1] > self.input_size
        return F.interpolate(
            x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False, antialias=down
        )

    def _raw(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def logits(self, x: torch.Tensor, chunk: int = 256) -> torch.Tensor:
        """Float logits [N, classes] on x's device, columns in the source's class order."""
        outs = [self._raw(self.resize(x[i : i + chunk].float())).float() for i in range(0, len(x), chunk)]
        out = torch.cat(outs).to(x.device) if outs else torch.zeros(0, len(self.classes), device=x.device)
        if self.order is not None:
            out = out[:, self.order.to(out.device)]
        return out


class RunTeacher(Teacher):
    """A finished run's model (best checkpoint), in eval mode, moved to the student's device."""

    kind = "PyTorch"

    def __init__(self, run_dir: Path, which: str = "best") -> None:
        from engine.core.runs import load_run_model

        model, info = load_run_model(run_dir, which=which)
        n = sum(p.numel() for p in model.parameters())
        super().__init__(run_dir, info["classes"], info["input_size"], n, named=True)
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.backbone = str(info.get("backbone", ""))

    def describe(self) -> str:
        return super().describe().replace(" (", f" ({self.backbone}, ", 1)

    def _raw(self, x: torch.Tensor) -> torch.Tensor:
        first = next(self.model.parameters(), None)
        if first is not None and first.device != x.device:
            self.model.to(x.device)
        return self.model(x)


class OnnxTeacher(Teacher):
    """Any ONNX image classifier, queried through onnxruntime (no gradients, no weights needed)."""

    kind = "ONNX"

    def __init__(self, path: Path) -> None:
        import onnx

        from engine.deploy.predict import OnnxClassifier

        self.clf = OnnxClassifier(path)
        info = self.clf.info
        if not info.normalize_in_model and "mean" not in info.metadata and "std" not in info.metadata:
            # no preprocessing named: feed [0, 1] images at the declared input shape
            self.clf._mean = np.zeros_like(self.clf._mean)
            self.clf._std = np.ones_like(self.clf._std)
        self.scaling = "metadata" if ("mean" in info.metadata or info.normalize_in_model) else "[0, 1]"
        proto = onnx.load(str(path), load_external_data=False)
        n = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
        super().__init__(path, self.clf.classes, info.input_size, n, named="classes" in info.metadata)

    def _raw(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.clf.logits(x.detach().cpu().numpy(), batch_size=len(x)))


def load_teacher(path: str | Path | None, which: str = "best") -> Teacher:
    """A teacher from a run directory (or a file inside one) or an .onnx file; UserError otherwise."""
    if path is None or str(path).strip() == "":
        raise UserError(
            "method 'distill' needs a teacher: set teacher to a finished run directory or an .onnx image classifier "
            "(CLI: --set teacher=runs/<run>)."
        )
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"teacher {p}: no such file or folder. Choose a finished run directory or an .onnx file.")
    if p.is_file() and p.suffix.lower() == ".onnx":
        return OnnxTeacher(p)
    run_dir = resolve_run_dir(p)
    if run_dir is None:
        raise UserError(
            f"teacher {p}: neither a run directory (no config.toml) nor an .onnx file. Choose a finished run "
            "directory or an ONNX image classifier."
        )
    return RunTeacher(run_dir, which)


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def teacher_summary(teacher: Teacher) -> dict[str, Any]:
    return {
        "kind": teacher.kind,
        "path": str(teacher.path),
        "classes": teacher.classes,
        "input_size": teacher.input_size,
        "params": teacher.num_params,
    }
