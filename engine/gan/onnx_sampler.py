"""Sample an exported generator (G.onnx) with numpy and onnxruntime only: no torch needed.

The ONNX file made by engine.gan.export takes `z` float32 [N, z_dim] (and `y` int64 [N] when
conditional) and returns images float32 [N, 3, S, S] in [0, 1]; its metadata says z_dim,
num_classes, classes and image_size. Noise comes from numpy's generator, so a seed gives the
same images on any machine with this file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.errors import UserError


def open_generator(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(onnxruntime session, metadata) of an exported generator."""
    import onnxruntime as ort

    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: file not found. Export a generator first (transfer-studio gan export RUN --out G.onnx).")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(p), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise UserError(f"{p}: not a readable ONNX model ({type(exc).__name__}).") from None
    meta = dict(session.get_modelmeta().custom_metadata_map)
    if meta.get("kind") != "gan-generator":
        raise UserError(f"{p}: not a generator exported by 'transfer-studio gan export' (metadata kind is missing).")
    info = {
        "z_dim": int(meta["z_dim"]),
        "num_classes": int(meta["num_classes"]),
        "classes": json.loads(meta.get("classes", "[]")),
        "image_size": int(meta["image_size"]),
    }
    return session, info


def onnx_sample(session: Any, info: dict[str, Any], z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """Images float32 [N, 3, S, S] in [0, 1] for noise `z` (and labels `y`)."""
    feeds: dict[str, np.ndarray] = {"z": z.astype(np.float32)}
    if info["num_classes"]:
        if y is None:
            raise UserError("this generator is conditional: give a class for each image.")
        feeds["y"] = y.astype(np.int64)
    out: np.ndarray = session.run(None, feeds)[0]
    return out


def sample_noise(n: int, z_dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, z_dim)).astype(np.float32)
