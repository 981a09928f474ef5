"""Each method on a tiny model that decides by a planted patch: the map must point at the patch,
and be more faithful than a random map (lower deletion, higher insertion AUC)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from explain_helpers import Planted, patch_mask

from engine.core.errors import UserError
from engine.explain.cam import OnnxCam, torch_cam
from engine.explain.explainer import load_explainer, normalise
from engine.explain.faithfulness import auc, faithfulness, score_of
from engine.explain.gradcam import grad_cam, target_layer
from engine.explain.perturb import QueryCounter, occlusion, rise


def hits(maps: list[np.ndarray], planted: Planted) -> tuple[float, float]:
    """Share of maps whose peak lies on the patch (4 px margin: one cell of tiny_cnn's 8x8 last map),
    and the mean inside/outside ratio of the map."""
    peaks, ratios = [], []
    for m, corner in zip(maps, planted.corners, strict=True):
        peak = np.unravel_index(np.argmax(m), m.shape)
        peaks.append(bool(patch_mask(corner, margin=4)[peak]))
        inside = patch_mask(corner)
        ratios.append(m[inside].mean() / max(m[~inside].mean(), 1e-6))
    return float(np.mean(peaks)), float(np.mean(ratios))


def torch_maps(planted: Planted, method: str) -> list[np.ndarray]:
    model, x = planted.model, torch.from_numpy(planted.x)
    if method in ("gradcam", "gradcam++"):
        layer = target_layer(model, 32)
        assert layer is model.backbone.block4  # tiny_cnn's last convolutional stage
        return list(grad_cam(model, layer, x, torch.ones(len(x), dtype=torch.long), plus=method == "gradcam++"))
    return list(normalise(torch_cam(model, x)[:, 1]))


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "cam"])
def test_gradient_and_cam_maps_point_at_the_patch(explain_planted: Planted, method: str) -> None:
    maps = torch_maps(explain_planted, method)
    assert all(m.shape == (32, 32) and m.min() >= 0 and m.max() <= 1 for m in maps)
    peak_rate, ratio = hits(maps, explain_planted)
    assert peak_rate >= 0.75, (method, peak_rate)
    assert ratio > 1.4, (method, ratio)


@pytest.mark.parametrize("method", ["occlusion", "rise", "cam"])
def test_onnx_methods_point_at_the_patch_and_count_queries(explain_planted: Planted, method: str) -> None:
    explainer = load_explainer(explain_planted.onnx, method)
    assert explainer.kind == "onnx" and explainer.classes == ["plain", "patch"]
    maps = [explainer.maps(img, [1])[0] for img in explain_planted.x]
    peak_rate, ratio = hits(maps, explain_planted)
    assert peak_rate >= 0.75, (method, peak_rate)
    assert ratio > 1.4, (method, ratio)
    per_image = explainer.score.queries / len(maps)
    expected = {"occlusion": 1 + 15 * 15, "rise": 1000, "cam": 1}[method]  # 4 px squares, stride 2, on 32 px
    assert per_image == expected


def test_onnx_cam_is_exact(explain_planted: Planted) -> None:
    """The exported maps average (plus the bias) to the exported logits, and equal PyTorch's."""
    cam = OnnxCam(explain_planted.onnx)
    raw = cam.session.run(None, {"image": explain_planted.x})
    logits, maps = raw[0], raw[1]
    head = explain_planted.model.head
    assert np.allclose(maps.mean((2, 3)) + head.bias.detach().numpy(), logits, atol=1e-4)
    assert np.allclose(
        cam(explain_planted.x), torch_cam(explain_planted.model, torch.from_numpy(explain_planted.x)), atol=1e-4
    )


def test_perturbation_maps_cover_every_class_with_the_same_queries(explain_planted: Planted) -> None:
    score = QueryCounter(explain_planted.probs, batch_size=16)
    image = explain_planted.x[0]
    occ = occlusion(score, image, window=8, stride=4)
    assert occ.shape == (2, 32, 32) and score.queries == 1 + 7 * 7
    assert np.allclose(occ[0], -occ[1], atol=1e-5)  # two classes: one's drop is the other's gain
    score.queries = 0
    maps = rise(score, image, n_masks=300, seed=3)
    assert maps.shape == (2, 32, 32) and score.queries == 300
    assert np.allclose(maps.sum(0), maps.sum(0).mean(), rtol=0.2)  # probabilities sum to 1 under each mask


def test_faithfulness_beats_a_random_map(explain_planted: Planted) -> None:
    score = QueryCounter(explain_planted.probs)
    scores = []
    for img, m in zip(explain_planted.x, torch_maps(explain_planted, "gradcam"), strict=True):
        scores.append(faithfulness(score, img, m, target=1, steps=16))
    mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
    assert mean["deletion"] < mean["random_deletion"] - 0.15, mean
    assert mean["insertion"] > mean["random_insertion"], mean
    assert score.queries == len(scores) * 4 * 17  # map and random map, deletion and insertion, 17 points
    inverted = faithfulness(score, explain_planted.x[0], 1 - torch_maps(explain_planted, "gradcam")[0], 1, 16)
    assert score_of(inverted) < score_of(scores[0])  # the map turned upside down is worse


def test_auc_of_known_curves() -> None:
    assert auc(np.ones(11)) == pytest.approx(1.0)
    assert auc(np.linspace(1, 0, 5)) == pytest.approx(0.5)
    assert auc(np.array([0.0, 1.0, 1.0])) == pytest.approx(0.75)


def test_bad_requests_are_user_errors(explain_planted: Planted, tmp_path) -> None:
    with pytest.raises(UserError, match="needs gradients"):
        load_explainer(explain_planted.onnx, "gradcam")
    explainer = load_explainer(explain_planted.onnx, "occlusion")
    with pytest.raises(UserError, match=r"no such class; it knows \['plain', 'patch'\]"):
        explainer.class_index("dog")
    with pytest.raises(UserError, match=r"takes \[3, 32, 32\]"):
        explainer.maps(np.zeros((3, 40, 40), np.float32), [0])
    from engine.deploy.export import export_onnx

    plain = tmp_path / "plain.onnx"
    export_onnx(explain_planted.model, torch.from_numpy(explain_planted.x[:2]), plain, {"classes": ["plain", "patch"]})
    with pytest.raises(UserError, match="export RUN --cam"):
        load_explainer(plain, "cam")
    with pytest.raises(UserError, match="unknown; use one of"):
        load_explainer(plain, "lime")
