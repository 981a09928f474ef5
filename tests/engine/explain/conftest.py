"""A tiny model that must look at a planted patch: class 1 images carry a white 8x8 square at a
random place on grey noise, class 0 images none. Trained once per session (about 10 s on a CPU)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from explain_helpers import Planted, planted


@pytest.fixture(scope="session")
def explain_planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    import torch

    from engine.deploy.export import export_onnx
    from engine.explain.cam import CAM_OUTPUT, make_cam_model
    from engine.models.classifier import build_model

    torch.manual_seed(0)
    x, y, _ = planted(512, seed=0)
    model = build_model("tiny_cnn", 2, weights="random")
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(80):
        idx = torch.randint(0, len(xs), (64,))
        loss = torch.nn.functional.cross_entropy(model(xs[idx]), ys[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    xt, yt, ct = planted(64, seed=1)
    with torch.inference_mode():
        assert (model(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean() >= 0.95  # it did learn the patch
    out = tmp_path_factory.mktemp("explain_model") / "planted.onnx"
    meta = {"classes": ["plain", "patch"], "input_size": 32, "cam_output": CAM_OUTPUT}
    export_onnx(make_cam_model(model), torch.from_numpy(xt[:4]), out, meta, extra_outputs=(CAM_OUTPUT,))
    keep = np.nonzero(yt)[0][:8]
    return Planted(model, out, xt[keep], ct[keep])


@pytest.fixture(scope="session")
def explain_run(demo_run: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 1-epoch tiny_cnn run on the tiny demo (tests copy it before changing it)."""
    return demo_run(tmp_path_factory.mktemp("explain_runs"), backbone="tiny_cnn", epochs=1, name="tiny")
