"""One interface over a run directory (PyTorch) or an .onnx file (onnxruntime) for every method.

`load_explainer(model, method)` returns an `Explainer`: its classes and input size, a scoring
function (probabilities, query-counted) that faithfulness also uses, and `maps(image, targets)`
giving one [H, W] map in [0, 1] per target class. Gradient methods need the run; occlusion and RISE
work on either; CAM works on a run whose backbone allows it or on an ONNX file exported with `cam`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.explain import GRADIENT_METHODS, METHODS
from engine.explain.perturb import QueryCounter, default_window, occlusion, rise

MapFn = Callable[[np.ndarray, list[int]], np.ndarray]


@dataclass
class ExplainOptions:
    rise_masks: int = 1000
    rise_cells: int = 7
    occlusion_window: int | None = None
    batch_size: int = 64
    seed: int = 0


def normalise(maps: np.ndarray) -> np.ndarray:
    """Each map [..., H, W] scaled to [0, 1]; a constant map becomes zeros."""
    flat = maps.reshape(-1, maps.shape[-2] * maps.shape[-1]).astype(np.float64)
    lo, hi = flat.min(1, keepdims=True), flat.max(1, keepdims=True)
    out = (flat - lo) / np.maximum(hi - lo, 1e-12)
    return out.reshape(maps.shape).astype(np.float32)


@dataclass
class Explainer:
    method: str
    kind: str  # "run" | "onnx"
    classes: list[str]
    input_size: int
    score: QueryCounter  # probabilities [N, classes] of [0, 1] images, counted
    _maps: MapFn
    info: dict[str, Any] = field(default_factory=dict)

    def maps(self, image: np.ndarray, targets: list[int]) -> np.ndarray:
        """[len(targets), H, W] in [0, 1] for one image [3, H, W] in [0, 1]."""
        if image.shape != (3, self.input_size, self.input_size):
            raise UserError(
                f"image has shape {list(image.shape)}; this model takes [3, {self.input_size}, {self.input_size}] "
                "(resize it with the model's preprocessing first)"
            )
        return normalise(self._maps(image, targets))

    def class_index(self, name: str) -> int:
        if name not in self.classes:
            raise UserError(f"class {name!r}: the model has no such class; it knows {self.classes}")
        return self.classes.index(name)


def _perturbation(
    method: str, score: QueryCounter, opts: ExplainOptions
) -> Callable[[np.ndarray, list[int]], np.ndarray]:
    def maps(image: np.ndarray, targets: list[int]) -> np.ndarray:
        if method == "occlusion":
            window = opts.occlusion_window or default_window(image.shape[-1])
            every = occlusion(score, image, window=window)
        else:
            every = rise(score, image, n_masks=opts.rise_masks, cells=opts.rise_cells, seed=opts.seed)
        return every[targets]

    return maps


def _run_explainer(
    path: Path, method: str, opts: ExplainOptions, checkpoint: str, control: JobControl | None
) -> Explainer:
    import torch

    from engine.core.runs import load_run_model
    from engine.explain.cam import torch_cam
    from engine.explain.gradcam import grad_cam, target_layer

    model, info = load_run_model(path, which=checkpoint)
    size = int(info["input_size"])

    def probs(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(model(torch.from_numpy(x)), 1).numpy()

    score = QueryCounter(probs, opts.batch_size, control)
    fn: MapFn
    if method in GRADIENT_METHODS:
        layer = target_layer(model, size)
        info["layer"] = next(n for n, m in model.named_modules() if m is layer)

        def grads(image: np.ndarray, targets: list[int]) -> np.ndarray:
            x = torch.from_numpy(np.repeat(image[None], len(targets), axis=0))
            return grad_cam(model, layer, x, torch.tensor(targets), plus=method == "gradcam++")

        fn = grads
    elif method == "cam":
        from engine.explain.cam import cam_trunk

        cam_trunk(model)  # refuses a model without exact CAM now, not at the first image

        def exact(image: np.ndarray, targets: list[int]) -> np.ndarray:
            return torch_cam(model, torch.from_numpy(image[None]))[0][targets]

        fn = exact
    else:
        fn = _perturbation(method, score, opts)
    return Explainer(method, "run", list(info["classes"]), size, score, fn, info)


def _onnx_explainer(path: Path, method: str, opts: ExplainOptions, control: JobControl | None) -> Explainer:
    from engine.deploy.predict import OnnxClassifier

    if method in GRADIENT_METHODS:
        raise UserError(
            f"{path.name}: {method} needs gradients, which an ONNX file does not give; pass the run folder "
            "instead, or use occlusion, rise or cam (with a CAM export) on the ONNX file"
        )
    clf = OnnxClassifier(path, threads=1)
    score = QueryCounter(lambda x: clf.predict_proba(x, batch_size=opts.batch_size), opts.batch_size, control)
    info: dict[str, Any] = {"backbone": clf.info.backbone, "checkpoint": str(path)}
    fn: MapFn
    if method == "cam":
        from engine.explain.cam import OnnxCam

        cam = OnnxCam(path)

        def exact(image: np.ndarray, targets: list[int]) -> np.ndarray:
            out = cam(image[None])[0][targets]
            score.queries += 1
            return out

        fn = exact
    else:
        fn = _perturbation(method, score, opts)
    return Explainer(method, "onnx", list(clf.classes), clf.input_size, score, fn, info)


def load_explainer(
    model: str | Path,
    method: str,
    opts: ExplainOptions | None = None,
    checkpoint: str = "best",
    control: JobControl | None = None,
) -> Explainer:
    """An Explainer for a run directory or an .onnx file; UserError for a method it cannot serve."""
    if method not in METHODS:
        raise UserError(f"method {method!r}: unknown; use one of {', '.join(METHODS)}")
    path = Path(model).expanduser()
    opts = opts or ExplainOptions()
    if path.is_file() and path.suffix.lower() == ".onnx":
        return _onnx_explainer(path, method, opts, control)
    if path.is_dir():
        return _run_explainer(path, method, opts, checkpoint, control)
    raise UserError(f"{path}: not a run folder or an .onnx file; choose a run directory or an exported model")
