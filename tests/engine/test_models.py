"""Backbones and weights: registry, stages, offline messages, user weight files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.core.errors import UserError, WeightsMissing
from engine.models.backbones import BACKBONES, get_backbone_spec
from engine.models.classifier import build_model
from engine.models.weights import cached_weights_path


@pytest.mark.parametrize("name", ["small_cnn", "resnet18", "resnet50", "mobilenet_v3_small", "efficientnet_b0"])
def test_every_backbone_builds_and_classifies(name: str) -> None:
    model = build_model(name, 4, weights="random").eval()
    assert not model.pretrained
    size = 32 if name == "small_cnn" else 64
    with torch.no_grad():
        out = model(torch.rand(2, 3, size, size))
    assert out.shape == (2, 4)
    assert len(model.stages) >= 3


def test_offline_without_weights_names_the_file_and_place() -> None:
    spec = get_backbone_spec("resnet18")
    with pytest.raises(WeightsMissing) as info:
        build_model("resnet18", 3, weights="pretrained")
    message = str(info.value)
    assert "resnet18-f37072fd.pth" in message and str(cached_weights_path(spec).parent) in message
    assert "random" in message  # says what else the user can do


def test_weights_from_the_hub_cache_are_used() -> None:
    spec = get_backbone_spec("mobilenet_v3_small")
    torch.manual_seed(5)
    donor = build_model("mobilenet_v3_small", 3).backbone
    import torchvision

    full = torchvision.models.mobilenet_v3_small()
    full.features.load_state_dict(donor.trunk.state_dict())
    path = cached_weights_path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(full.state_dict(), path)
    try:
        model = build_model("mobilenet_v3_small", 3, weights="auto")
        torch.testing.assert_close(model.backbone.trunk[0][0].weight, donor.trunk[0][0].weight)
        assert model.pretrained  # so its backbone learns at the smaller, pretrained-layer rate
    finally:
        path.unlink()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_from_a_user_file(tmp_path: Path, suffix: str) -> None:
    import torchvision

    full = torchvision.models.resnet18()
    path = tmp_path / f"mine{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in full.state_dict().items()}, str(path))
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in full.state_dict().items()}}, path)
    model = build_model("resnet18", 2, weights=str(path))
    torch.testing.assert_close(model.backbone.trunk[0][0].weight, full.conv1.weight)
    assert model.pretrained


def test_wrong_or_unsafe_weight_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.pth"
    torch.save(build_model("small_cnn", 2).state_dict(), other)
    with pytest.raises(UserError, match="fit this backbone"):
        build_model("resnet18", 2, weights=str(other))
    pickled = tmp_path / "evil.pth"
    import pickle

    pickled.write_bytes(pickle.dumps({"x": object()}))
    with pytest.raises(UserError, match="refused: the file holds Python objects other than tensors"):
        build_model("resnet18", 2, weights=str(pickled))
    with pytest.raises(UserError, match="not found"):
        build_model("resnet18", 2, weights=str(tmp_path / "missing.pth"))


def test_unknown_backbone_lists_choices() -> None:
    with pytest.raises(UserError, match="small_cnn"):
        get_backbone_spec("vgg99")
    assert {"small_cnn", "resnet18", "resnet50", "mobilenet_v3_small", "efficientnet_b0"} <= set(BACKBONES)


def test_grid_pool_is_adaptive_pooling_where_sizes_divide_and_exports_elsewhere() -> None:
    from engine.models.backbones import GridPool

    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(GridPool(4)(x), torch.nn.AdaptiveAvgPool2d(4)(x), atol=1e-6)
    assert GridPool(4)(x[..., :4, :4]) is not None and torch.equal(GridPool(4)(x[..., :4, :4]), x[..., :4, :4])
    assert GridPool(4)(torch.randn(1, 3, 1, 1)).shape == (1, 3, 4, 4)  # an 8 px model's last map


def test_a_run_of_the_former_small_cnn_still_loads(tmp_path) -> None:
    """Runs trained before small_cnn became the flatten-head net name `small_cnn` but hold the
    former net's weights (now `small_cnn_gap`): they load, and give the same outputs."""
    from engine.core.config import TrainConfig
    from engine.core.runs import create_run, load_run_model
    from engine.models.classifier import build_model
    from engine.training.checkpoints import save_checkpoint

    old = build_model("small_cnn_gap", 3, weights="random").eval()
    run = create_run(TrainConfig(source=tmp_path, backbone="small_cnn", runs_dir=tmp_path / "runs", name="old"))
    payload = {"model": old.state_dict(), "classes": ["a", "b", "c"], "input_size": 32, "bottleneck_dim": 0}
    save_checkpoint(run.checkpoint("best"), payload)
    model, info = load_run_model(run.path)
    x = torch.rand(2, 3, 32, 32)
    assert info["backbone"] == "small_cnn_gap"
    assert torch.allclose(model(x), old(x))
