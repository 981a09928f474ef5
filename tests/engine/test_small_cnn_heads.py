"""The small CNN's head option: global average pooling vs flatten -> bottleneck -> dropout."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from engine.models.backbones import SmallCNN, get_backbone_spec
from engine.models.classifier import ImageClassifier, build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _conv_weights(channels: tuple[int, int, int], convs: int) -> int:
    """Conv kernels (no bias) + BatchNorm affine weights of the three blocks."""
    total, cin = 0, 3
    for c in channels:
        for k in range(convs):
            total += (cin if k == 0 else c) * c * 9 + 2 * c
        cin = c
    return total


@pytest.mark.parametrize("size", [8, 16, 32, 40])
@pytest.mark.parametrize("head", ["flatten", "gap"])
def test_shapes_at_any_input_size(head: str, size: int) -> None:
    net = SmallCNN(head=head).eval()  # type: ignore[arg-type]
    with torch.no_grad():
        out = net(torch.rand(3, 3, size, size))
    assert out.shape == (3, 256 if head == "flatten" else 128) and net.dim == out.shape[1]


@pytest.mark.parametrize(
    ("options", "head_weights"),
    [
        ({"head": "gap", "convs": 2}, 0),
        ({"head": "flatten", "convs": 1}, 128 * 16 * 256 + 256),
        ({"head": "flatten", "convs": 1, "channels": (16, 32, 64), "hidden": 128}, 64 * 16 * 128 + 128),
    ],
)
def test_parameter_count(options: dict, head_weights: int) -> None:
    net = SmallCNN(**options)
    expected = _conv_weights(options.get("channels", (32, 64, 128)), options["convs"]) + head_weights
    assert sum(p.numel() for p in net.parameters()) == expected


def test_registered_backbones_and_stages() -> None:
    new, old = build_model("small_cnn", 10), build_model("small_cnn_gap", 10)
    assert new.backbone.head_kind == "flatten" and new.feature_dim == 256
    assert old.backbone.head_kind == "gap" and old.feature_dim == 128
    assert len(new.stages) == 4 and new.stages[-1] is new.backbone.fc  # freeze_stages=3 keeps the head trainable
    assert get_backbone_spec("small_cnn_gap").input_size == 32
    with pytest.raises(ValueError, match="head"):
        SmallCNN(head="max")  # type: ignore[arg-type]


def test_dropout_only_in_training() -> None:
    net = SmallCNN(head="flatten")
    x = torch.rand(4, 3, 32, 32)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
    net.train()
    with torch.no_grad():
        a = net(x)
    assert (a == 0).float().mean() > 0.4  # ReLU zeros plus half of the rest dropped


@pytest.mark.parametrize("head", ["flatten", "gap"])
def test_each_head_learns_a_planted_position_signal(head: str) -> None:
    """Class = which quadrant holds a bright square: both heads must learn it from 64 images."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 4
    x = torch.rand(64, 3, 16, 16, generator=g) * 0.3
    for i, c in enumerate(y.tolist()):
        r, col = divmod(c, 2)
        x[i, :, 8 * r + 2 : 8 * r + 6, 8 * col + 2 : 8 * col + 6] = 1.0
    torch.manual_seed(0)
    net = SmallCNN(head=head)  # type: ignore[arg-type]
    model = ImageClassifier(net, net.dim, 4, (0.5,) * 3, (0.25,) * 3)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    first = None
    for _ in range(25):
        loss = F.cross_entropy(model(x), y)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    assert float(loss.detach()) < 0.5 * first and acc >= 0.9
