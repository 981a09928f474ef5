"""Classify image files with an ONNX model through onnxruntime, without importing torch.

`OnnxClassifier` validates the file with inspect_onnx, then applies the same preprocessing as
training (resize shorter side, centre crop, [0, 1] floats) plus whatever the model lacks
(normalisation, NHWC layout, one channel). Unreadable files become error rows, not exceptions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from engine.core.csvfile import write_csv_rows
from engine.core.errors import UserError
from engine.data.decode import decode_batches, default_threads
from engine.data.images import is_image_path, resize_center_crop, to_chw_float
from engine.deploy.onnx_check import OnnxModelInfo, inspect_onnx
from engine.deploy.prediction import Prediction

Progress = Callable[[int, int], None]  # (done, total)
_IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini"})
_GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits (subtracts the row max)."""
    z = logits.astype(np.float64) - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / np.sum(e, axis=-1, keepdims=True)).astype(np.float32)


class OnnxClassifier:
    """An ONNX image classifier ready to run on [0, 1] images or on image files."""

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int | None = None,
        allow_spinning: bool = True,
        providers: Sequence[str] | None = None,
        decode_threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        self.info: OnnxModelInfo = inspect_onnx(path)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        if threads is not None:
            if threads < 1:
                raise UserError(f"threads is {threads}; use 1 or more (or leave it unset for all cores)")
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        if not allow_spinning:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                self.info.path, sess_options=opts, providers=list(providers or ["CPUExecutionProvider"])
            )
        except Exception as exc:  # unsupported op/opset/IR version, bad provider...
            raise UserError(
                f"{Path(self.info.path).name}: onnxruntime cannot load this model ({str(exc)[:300]})"
            ) from None
        self._mean = np.asarray(self.info.mean, dtype=np.float32).reshape(-1, 1, 1)
        self._std = np.asarray(self.info.std, dtype=np.float32).reshape(-1, 1, 1)
        self.classes: list[str] = list(self.info.classes)
        self.decode_threads = max(1, decode_threads or default_threads())
        self._decode_pool: ThreadPoolExecutor | None = None
        if not self.classes:  # output width unknown from the graph: find it with one probe
            width = self.logits(np.zeros((1, 3, self.input_size, self.input_size), np.float32)).shape[1]
            self.classes = [f"class_{i}" for i in range(width)]

    @property
    def input_size(self) -> int:
        return self.info.input_size

    # ---- arrays ---------------------------------------------------------------------------

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        """[N, 3, H, W] in [0, 1] -> exactly what the graph's input takes."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != 3:
            raise UserError(f"images have shape {list(x.shape)}; expected float32 [N, 3, H, W] in [0, 1]")
        if self.info.channels == 1:
            x = np.tensordot(x, _GREY, axes=([1], [0]))[:, None]
        if not self.info.normalize_in_model:
            x = (x - self._mean) / self._std
        if self.info.layout == "NHWC":
            x = x.transpose(0, 2, 3, 1)
        return np.ascontiguousarray(x, dtype=np.float32)

    def preprocess(self, img: Image.Image) -> np.ndarray:
        """PIL image -> one model-ready array ([C, H, W] or [H, W, C]), normalised if the model is not."""
        chw = to_chw_float(resize_center_crop(img, self.input_size))
        return self._prepare(chw[None])[0]

    def run_prepared(self, batch: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Run model-ready inputs (as from preprocess, stacked) in chunks; returns float32 [N, classes]."""
        n = int(batch.shape[0])
        if n == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        fixed = self.info.fixed_batch
        step = fixed or max(1, int(batch_size))
        outs = []
        for start in range(0, n, step):
            chunk = batch[start : start + step]
            real = chunk.shape[0]
            if fixed and real < fixed:  # a fixed-batch graph: pad the last chunk, drop the padding
                pad = np.zeros((fixed - real, *chunk.shape[1:]), np.float32)
                chunk = np.concatenate([chunk, pad], axis=0)
            out = self._session.run([self.info.output_name], {self.info.input_name: chunk})[0]
            outs.append(np.asarray(out)[:real])
        logits = np.concatenate(outs, axis=0).astype(np.float32, copy=False)
        while logits.ndim > 2 and logits.shape[-1] == 1:
            logits = logits[..., 0]
        if logits.ndim != 2:
            raise UserError(
                f"{Path(self.info.path).name}: output has shape {list(logits.shape)}; expected [N, classes]"
            )
        return logits

    def run_tasks(self, batch: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
        """Model-ready inputs -> every task's logits (a multitask model: one output per task)."""
        names = list(self.info.tasks)
        outs: dict[str, list[np.ndarray]] = {t: [] for t in names}
        step = self.info.fixed_batch or max(1, int(batch_size))
        for start in range(0, int(batch.shape[0]), step):
            chunk = batch[start : start + step]
            real = chunk.shape[0]
            if self.info.fixed_batch and real < step:
                chunk = np.concatenate([chunk, np.zeros((step - real, *chunk.shape[1:]), np.float32)], axis=0)
            for t, out in zip(names, self._session.run(names, {self.info.input_name: chunk}), strict=True):
                outs[t].append(np.asarray(out)[:real].astype(np.float32, copy=False))
        return {
            t: np.concatenate(v, axis=0) if v else np.zeros((0, len(self.info.task_classes[t])), np.float32)
            for t, v in outs.items()
        }

    def task_logits(self, x: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
        """float32 [N, 3, H, W] in [0, 1] -> {task: logits [N, classes]} for a multitask model."""
        if not self.info.tasks:
            return {"": self.logits(x, batch_size)}
        return self.run_tasks(self._prepare(x), batch_size)

    def logits(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """float32 [N, 3, H, W] in [0, 1] -> logits [N, classes] (normalises when the model does not)."""
        return self.run_prepared(self._prepare(x), batch_size=batch_size)

    def predict_proba(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities [N, classes] for [0, 1] images."""
        return softmax(self.logits(x, batch_size=batch_size))

    # ---- files ----------------------------------------------------------------------------

    @staticmethod
    def _reason(path: Path, reason: str) -> str:
        if not is_image_path(path) and reason.startswith("not an image"):
            return f"not an image file ({f'{path.suffix!r}' if path.suffix else 'no extension'})"
        return reason

    def _top(self, probs: np.ndarray, k: int) -> list[tuple[str, float]]:
        order = np.argsort(-probs, kind="stable")[:k]
        return [(self.classes[i], float(probs[i])) for i in order]

    def _pool(self) -> ThreadPoolExecutor:
        """Decoding threads kept with the session: a page predicting file after file reuses them."""
        if self._decode_pool is None:
            self._decode_pool = ThreadPoolExecutor(self.decode_threads, thread_name_prefix="predict-decode")
        return self._decode_pool

    def _task_top(self, task: str, probs: np.ndarray, k: int) -> list[tuple[str, float]]:
        names = self.info.task_classes[task]
        order = np.argsort(-probs, kind="stable")[: max(1, min(k, len(names)))]
        return [(names[i], float(probs[i])) for i in order]

    def predict_paths(
        self,
        paths: Iterable[str | Path],
        top_k: int = 3,
        batch_size: int = 256,
        progress: Progress | None = None,
    ) -> list[Prediction]:
        """Classify files in order; unreadable or non-image files give a Prediction with `error` set.

        Files are decoded by the shared decoder (engine.data.decode: JPEG draft mode, threads),
        `batch_size` at a time, the next batch decoding while the model runs on this one.
        """
        items = [Path(p) for p in paths]
        k = max(1, min(int(top_k), len(self.classes)))
        step = max(1, int(batch_size))
        results: list[Prediction] = []
        names = [str(p) for p in items]
        for b in decode_batches(names, self.input_size, batch=step, pool=self._pool()):
            rows = [
                Prediction(names[b.start + j], [], None if b.ok[j] else self._reason(items[b.start + j], b.reasons[j]))
                for j in range(len(b))
            ]
            good = np.flatnonzero(b.ok)
            if len(good):
                x = self._prepare(b.images[good].astype(np.float32) / np.float32(255.0))  # as to_chw_float
                if self.info.tasks:  # a multitask model: every task's top-k
                    per_task = {t: softmax(v) for t, v in self.run_tasks(x, batch_size=step).items()}
                    for n, j in enumerate(good.tolist()):
                        rows[j].tasks = {t: self._task_top(t, p[n], top_k) for t, p in per_task.items()}
                        rows[j].top = rows[j].tasks[self.info.tasks[0]]
                else:
                    probs = softmax(self.run_prepared(x, batch_size=step))
                    for j, p in zip(good.tolist(), probs, strict=True):
                        rows[j].top = self._top(p, k)
            results.extend(rows)
            if progress is not None:
                progress(len(results), len(items))
        return results

    def close(self) -> None:
        if self._decode_pool is not None:
            self._decode_pool.shutdown(wait=False, cancel_futures=True)
            self._decode_pool = None


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in _IGNORED_NAMES


def list_images(path: str | Path) -> list[Path]:
    """One file, or every visible file under a folder (recursive, sorted).

    Non-image files in a folder are kept so predict_paths reports them as error rows.
    """
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise UserError(f"{root}: no such file or folder; choose an image or a folder of images")
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
        found.extend(Path(dirpath, f) for f in filenames if not _hidden(f))
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def csv_header(top_k: int, tasks: Sequence[str] = ()) -> list[str]:
    """Columns: path, prediction, probability, top-k (class, prob) pairs, each task's prediction and
    probability (a multitask model), error."""
    cols = ["path", "prediction", "probability"]
    for i in range(1, top_k + 1):
        cols += [f"top{i}_class", f"top{i}_prob"]
    for t in tasks:
        cols += [f"{t}_prediction", f"{t}_probability"]
    return [*cols, "error"]


def write_csv(predictions: Sequence[Prediction], out_path: str | Path, top_k: int) -> Path:
    """Write predictions as a spreadsheet-safe CSV, atomically (engine.core.csvfile)."""
    rows = []
    tasks = next((list(p.tasks) for p in predictions if p.tasks), [])
    for pred in predictions:
        top = pred.top[:top_k]
        row = [pred.path, top[0][0] if top else "", f"{top[0][1]:.6f}" if top else ""]
        for i in range(top_k):
            row += [top[i][0], f"{top[i][1]:.6f}"] if i < len(top) else ["", ""]
        for t in tasks:
            best = pred.tasks.get(t, [])[:1]
            row += [best[0][0], f"{best[0][1]:.6f}"] if best else ["", ""]
        rows.append([*row, pred.error or ""])
    return write_csv_rows(out_path, csv_header(top_k, tasks), rows)
