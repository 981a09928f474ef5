"""The distillation students: tiny_cnn (global pooling) and tiny_cnn_fc (flatten head), each width."""

from __future__ import annotations

import pytest
import torch

from engine.models import build_model


def _weights(name: str) -> int:
    return sum(p.numel() for p in build_model(name, 10, weights="random").parameters())


@pytest.mark.parametrize("name", ["tiny_cnn", "tiny_cnn_fc", "tiny_cnn_fc_x0.5"])
def test_students_are_under_a_quarter_of_small_cnn(name: str) -> None:
    assert _weights(name) <= 0.25 * _weights("small_cnn")


def test_flatten_head_keeps_where_the_strokes_are() -> None:
    """Global pooling cannot tell a feature map from its mirror image (where a stroke is); the
    flatten head can: the reason it is the better student on the digits."""
    h = torch.rand(2, 64, 8, 8)
    for name, differ in (("tiny_cnn", False), ("tiny_cnn_fc", True)):
        torch.manual_seed(0)
        net = build_model(name, 10, weights="random").eval().backbone
        with torch.no_grad():
            plain, mirrored = (net.fc(torch.flatten(net.pool(m), 1)) for m in (h, h.flip(-1)))
            assert (not torch.allclose(plain, mirrored, atol=1e-5)) == differ, name
            assert net(torch.rand(1, 3, 32, 32)).shape == (1, net.dim)
