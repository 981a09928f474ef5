"""pixel_da's feature level and source share on tiny tensors: the feature method's transfer loss
is added with its weight (DANN's discriminator trained, MCC ramped), nothing when off, the model's
parameters optimised once, and the share of original source images is what was asked."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from engine.methods import Batch, MethodContext, get_method
from engine.methods.base import method_config
from engine.methods.da_losses import mcc_loss
from engine.methods.pixel_da import mix_with_source
from engine.models import build_model
from engine.models.domain_discriminator import dann_lambda

pytestmark = pytest.mark.usefixtures("one_thread")


def _method(**options):
    torch.manual_seed(0)
    model = build_model("small_cnn", 3, weights="random")
    ctx = MethodContext(num_classes=3, feature_dim=model.feature_dim, total_steps=4, steps_per_epoch=4)
    return get_method("pixel_da")(model, method_config("pixel_da", options), ctx)


def _batch(progress: float = 0.5) -> Batch:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(12) % 3
    xs = torch.rand(12, 3, 16, 16, generator=g) * 0.5
    xs[:, 0] += y.view(-1, 1, 1) * 0.2
    return Batch(xs, y, (torch.rand(12, 3, 16, 16, generator=g) * 0.5 + 0.3), step=2, progress=progress)


def test_dann_on_top_adds_its_weighted_loss_and_trains_its_discriminator() -> None:
    method = _method(feature_method="dann", transfer_weight=0.7)
    names = {n.split(".")[0] for n, _ in method.state_dict().items()}
    assert names == {"model", "feature_modules"}  # the DANN instance itself is not saved twice
    groups = method.param_groups(1e-2)
    params = [p for g in groups for p in g["params"]]
    assert len(params) == len({id(p) for p in params})  # each parameter optimised once
    disc = list(method.feature_modules.parameters())
    assert disc and all(any(p is q for q in params) for p in disc)

    method.train()
    res = method.training_step(_batch())
    m = res.metrics
    assert {"loss/cls", "loss/transfer", "domain_acc", "lambda"} <= set(m)
    # DANN ramps λ inside its gradient reversal, not in the loss: loss = cls + w · transfer
    assert float(res.loss.detach()) == pytest.approx(m["loss/cls"] + 0.7 * m["loss/transfer"], rel=1e-5)
    opt = torch.optim.SGD(groups, lr=0.1)
    before = [p.detach().clone() for p in disc]
    opt.zero_grad()
    res.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in disc)
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, disc, strict=True))


def test_mcc_on_top_is_the_ramped_confusion_of_the_target_logits() -> None:
    method = _method(feature_method="mcc", transfer_weight=2.0)
    method.eval()  # fixed BatchNorm statistics: the hand computation sees the same logits
    batch = _batch(progress=0.3)
    res = method.training_step(batch)
    with torch.no_grad():
        logits = method.model(torch.cat([batch.x_source, batch.x_target]))
    cls = F.cross_entropy(logits[:12], batch.y_source)
    expected = cls + 2.0 * dann_lambda(0.3, 10.0) * mcc_loss(logits[12:], 2.5)
    assert float(res.loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert float(res.loss.detach()) > float(cls) + 1e-4  # the feature level really adds something


def test_pixel_level_alone_is_plain_cross_entropy_on_the_source() -> None:
    method = _method(feature_method="none")
    assert len(method.feature_modules) == 0
    method.eval()
    batch = _batch()
    res = method.training_step(batch)
    with torch.no_grad():
        expected = F.cross_entropy(method.model(batch.x_source), batch.y_source)
    assert float(res.loss.detach()) == pytest.approx(float(expected), rel=1e-6)
    assert set(res.metrics) == {"loss/cls"}


@pytest.mark.parametrize(("share", "originals"), [(0.0, 0), (0.25, 4), (0.5, 12)])
def test_source_share_keeps_that_share_of_original_images(share: float, originals: int) -> None:
    original = torch.arange(12, dtype=torch.uint8).view(12, 1, 1, 1).expand(12, 3, 2, 2).contiguous()
    translated = original + 100
    labels = torch.arange(12) % 3
    x, y, n = mix_with_source(translated, original, labels, share, torch.Generator().manual_seed(0))
    assert n == originals and len(x) == len(y) == 12 + originals
    assert torch.equal(x[:12], translated) and torch.equal(y[:12], labels)  # every translation kept
    kept = x[12:, 0, 0, 0].long()
    assert bool((kept < 100).all()) and len(set(kept.tolist())) == originals  # distinct originals
    assert torch.equal(y[12:], labels[kept])  # each original keeps its own label
    if originals:
        assert n / len(x) == pytest.approx(share, abs=0.01)
