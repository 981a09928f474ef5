"""Shared fixtures: a tiny CNN trained for about a second on a 3-class synthetic pattern task
(16x16 RGB), a second CNN (another seed) as transfer surrogate, and an ONNX export of the first.
"""

from __future__ import annotations

import pytest
import torch
from attack_helpers import Task, export_legacy, make_data, train_tiny


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every attack test runs on one thread (see tests/engine/conftest.py)."""


@pytest.fixture(scope="session")
def task(tmp_path_factory: pytest.TempPathFactory) -> Task:
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, surrogate = train_tiny(0), train_tiny(1)
        x, y = make_data(96, 999)
        with torch.no_grad():
            ok = model(x).argmax(1) == y
        assert ok.float().mean() > 0.9, "the tiny CNN should learn the synthetic task"
        x, y = x[ok][:48], y[ok][:48]
        path = export_legacy(model, tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    finally:
        torch.set_num_threads(old)
    return Task(model, surrogate, x, y, path)
