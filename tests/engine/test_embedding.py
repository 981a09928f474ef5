"""Embeddings of source/target features, the proxy A-distance and the PNG, also from a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.analysis.embedding import embed_features, embed_run, project, proxy_a_distance, save_embedding_png
from engine.core.errors import UserError


def _two_sets(shift: float, n: int = 120, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + shift


def test_pad_near_two_for_separated_near_zero_for_identical() -> None:
    assert proxy_a_distance(*_two_sets(5.0)) > 1.9
    assert proxy_a_distance(*_two_sets(0.0)) < 0.5


def test_pca_separates_well_separated_sets_and_png_is_written(tmp_path: Path) -> None:
    fs, ft = _two_sets(6.0)
    ys = np.arange(len(fs)) % 3
    res = embed_features(fs, ft, ys, None, ["a", "b", "c"], "pca")
    assert res.points.shape == (240, 2) and res.n_source == 120 and res.n_target == 120
    pc1 = res.points[:, 0]
    assert abs(pc1[:120].mean() - pc1[120:].mean()) > 5 * pc1[:120].std()
    assert res.explained_variance[0] > 0.5
    assert (res.labels[120:] == -1).all()
    out = save_embedding_png(res, tmp_path / "fig.png", "test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name != "fig.png"]  # no temp file left


def test_tsne_on_request_and_unknown_method() -> None:
    x = np.random.default_rng(0).normal(size=(40, 8))
    pts, var = project(x, "tsne")
    assert pts.shape == (40, 2) and var == []
    with pytest.raises(UserError, match="pca"):
        project(x, "umap")  # type: ignore[arg-type]


def test_too_few_images_is_a_user_error() -> None:
    with pytest.raises(UserError, match="at least 4"):
        proxy_a_distance(np.zeros((2, 3)), np.zeros((2, 3)))


def test_embed_run_from_a_saved_checkpoint(tmp_path: Path) -> None:
    from PIL import Image

    from engine.core.config import TrainConfig
    from engine.core.runs import create_run
    from engine.models import build_model

    rng = np.random.default_rng(0)
    for domain, base in (("src", 40), ("tgt", 200)):
        for cls in ("a", "b"):
            (tmp_path / domain / cls).mkdir(parents=True)
            for i in range(6):
                arr = (rng.integers(0, 40, size=(12, 12, 3)) + base).astype(np.uint8)
                Image.fromarray(arr, "RGB").save(tmp_path / domain / cls / f"{i}.png")
    cfg = TrainConfig(
        source=tmp_path / "src",
        target=tmp_path / "tgt",
        runs_dir=tmp_path / "runs",
        backbone="small_cnn",
        weights="random",
    )
    run = create_run(cfg)
    torch.manual_seed(0)
    model = build_model("small_cnn", 2, weights="random")
    state = {"model": model.state_dict(), "classes": ["a", "b"], "input_size": 16, "bottleneck_dim": 0}
    torch.save(state, run.checkpoint("last"))
    res = embed_run(run.path, tmp_path / "emb.png", limit=5)
    assert res.n_source == 5 and res.n_target == 5
    assert set(res.labels.tolist()) <= {0, 1}
    assert 0.0 <= res.proxy_a_distance <= 2.0
    assert (tmp_path / "emb.png").stat().st_size > 1000
    with pytest.raises(UserError, match="at least 4"):
        embed_run(run.path, None, limit=2)
