"""BatchNorm statistics of a domain (AdaBN): exact, confined to the chosen layers, mode-preserving."""

from __future__ import annotations

import torch
from torch import nn

from engine.models.bn_stats import batchnorm_layers, recompute_bn_stats
from engine.models.classifier import build_model

CPU = torch.device("cpu")


def _images(n: int, low: int, high: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


def _first_bn_input(model: nn.Module, x_uint8: torch.Tensor) -> torch.Tensor:
    """What the first BatchNorm layer of the small CNN sees for these images."""
    x = (x_uint8.float() / 255 - model.mean) / model.std
    return model.backbone.block1[0](x)


def test_statistics_are_exactly_those_of_the_images() -> None:
    torch.manual_seed(0)
    model = build_model("small_cnn", 4)
    bright = _images(300, 150, 256, seed=1)  # 300: batches of 256 + 44, a plain average over both
    assert recompute_bn_stats(model, bright, CPU, batch_size=256) == len(batchnorm_layers(model))
    with torch.no_grad():
        pre = _first_bn_input(model, bright)
    bn = model.backbone.block1[1]
    torch.testing.assert_close(bn.running_mean, pre.mean((0, 2, 3)), rtol=1e-4, atol=1e-4)
    # cumulative average of per-batch unbiased variances, close to the pooled variance
    torch.testing.assert_close(bn.running_var, pre.var((0, 2, 3)), rtol=2e-2, atol=1e-3)
    dark = _images(300, 0, 80, seed=2)
    recompute_bn_stats(model, dark, CPU)
    assert (bn.running_mean - pre.mean((0, 2, 3))).abs().max() > 0.05  # now the dark domain's


def test_frozen_stages_weights_and_modes_are_left_alone() -> None:
    torch.manual_seed(0)
    model = build_model("small_cnn", 4, bottleneck_dim=16)
    frozen = model.stages[:1]
    before_frozen = frozen[0][1].running_mean.clone()
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    model.train()
    frozen[0].eval()  # as Method.train leaves frozen stages
    n = recompute_bn_stats(model, _images(64, 0, 256, seed=3), CPU, skip=frozen)
    assert n == len(batchnorm_layers(model)) - len(batchnorm_layers(frozen[0]))  # all but block1's
    torch.testing.assert_close(frozen[0][1].running_mean, before_frozen)
    for k, v in model.state_dict().items():
        if k in weights:
            torch.testing.assert_close(v, weights[k])
    assert model.training and model.backbone.block2.training and not frozen[0].training
    assert all(bn.momentum == 0.1 for bn in batchnorm_layers(model))


def test_a_model_without_batchnorm_or_too_few_images_is_a_no_op() -> None:
    plain = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 2))
    assert recompute_bn_stats(plain, _images(8, 0, 256, seed=4), CPU) == 0
    model = build_model("small_cnn", 2)
    before = model.backbone.block1[1].running_mean.clone()
    assert recompute_bn_stats(model, _images(1, 0, 256, seed=5), CPU) == 0
    torch.testing.assert_close(model.backbone.block1[1].running_mean, before)
