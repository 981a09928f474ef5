"""Helpers for the attack tests: synthetic 3-class task, a tiny CNN, legacy ONNX export, and an
onnxruntime scores function that counts what it is sent. Imported by conftest.py and the tests.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SIZE = 16
N_CLASSES = 3


def make_data(n: int, seed: int, size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Images = grey + a faint class-specific smooth colour pattern + noise; labels [n]."""
    g = torch.Generator().manual_seed(seed)
    pg = torch.Generator().manual_seed(123)  # the class patterns are fixed
    pats = F.interpolate(torch.randn(N_CLASSES, 3, 4, 4, generator=pg), size=size, mode="bilinear", align_corners=False)
    pats = pats / pats.flatten(1).abs().amax(1).view(-1, 1, 1, 1)
    y = torch.randint(0, N_CLASSES, (n,), generator=g)
    amp = 0.15 + 0.1 * torch.rand(n, 1, 1, 1, generator=g)
    x = 0.5 + amp * pats[y] + 0.08 * torch.randn(n, 3, size, size, generator=g)
    return x.clamp(0, 1), y


class TinyCNN(nn.Module):
    """Normalisation inside, as the project's models: takes [0, 1] images, returns logits."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 0.25))
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.1),
            nn.Linear(16 * (SIZE // 4) ** 2, N_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 2, lr: float = 3e-3) -> nn.Module:
    """Plain Adam training in batches of 64 (shuffled with the global generator); the model in eval mode."""
    opt = torch.optim.Adam(model.parameters(), lr)
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            b = perm[i : i + 64]
            loss = F.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def train_tiny(seed: int, n: int = 1024, epochs: int = 2) -> TinyCNN:
    torch.manual_seed(seed)
    x, y = make_data(n, seed)
    model = TinyCNN()
    fit(model, x, y, epochs)
    return model


def export_legacy(model: nn.Module, path: Path) -> Path:
    """ONNX export with the TorchScript exporter (0.4 s here vs ~11 s for dynamo=True); tests only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.rand(2, 3, SIZE, SIZE),),
            str(path),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}},
            dynamo=False,
        )
    return path


class OrtScores:
    """An onnxruntime session as a scores function that also records every batch it received."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.rows = 0
        self.calls = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        assert x.dtype == np.float32 and x.ndim == 4
        self.rows += len(x)
        self.calls += 1
        return self.session.run(None, {"image": x})[0]


@dataclass
class Task:
    model: TinyCNN
    surrogate: TinyCNN
    x: torch.Tensor  # [48, 3, 16, 16] test images, all classified correctly by `model`
    y: torch.Tensor
    onnx_path: Path
