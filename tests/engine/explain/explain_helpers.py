"""Helpers of the explanation tests (a module of its own: test files import it, never conftest)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PATCH = 8


def planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images [n, 3, 32, 32] in [0, 1], labels, and each patch's top-left corner."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.3, 0.7, (n, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 2, n)
    corners = rng.integers(0, 32 - PATCH, (n, 2))
    for i in np.nonzero(y)[0]:
        r, c = corners[i]
        x[i, :, r : r + PATCH, c : c + PATCH] = 1.0
    return x, y, corners


def patch_mask(corner: np.ndarray, margin: int = 0) -> np.ndarray:
    r, c = (int(v) for v in corner)
    mask = np.zeros((32, 32), bool)
    mask[max(0, r - margin) : r + PATCH + margin, max(0, c - margin) : c + PATCH + margin] = True
    return mask


@dataclass
class Planted:
    model: Any
    onnx: Path  # exported with the `cam` output
    x: np.ndarray  # test images with a patch (class 1)
    corners: np.ndarray

    def probs(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return torch.softmax(self.model(torch.from_numpy(batch)), 1).numpy()
