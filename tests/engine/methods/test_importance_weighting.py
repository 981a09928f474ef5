"""importance_weighting: the domain classifier learns the shift, and the source images that look
like the target get the larger weights in the classification loss."""

from __future__ import annotations

import pytest
import torch

from engine.methods import Batch, MethodContext, get_method
from engine.methods.base import method_config
from engine.methods.importance_weighting import density_ratio
from engine.models import build_model

STEPS = 30


pytestmark = pytest.mark.usefixtures("one_thread")


def test_registered_as_a_domain_adaptation_method() -> None:
    cls = get_method("importance_weighting")
    assert cls.uses_target and cls.kind == "domain adaptation"


def test_target_like_source_images_get_the_larger_weights() -> None:
    g = torch.Generator().manual_seed(0)
    n = 32
    y = torch.arange(n) % 2
    xs = torch.rand(n, 3, 16, 16, generator=g) * 0.3
    xs[n // 2 :] += 0.6  # the second half of the source is as bright as the target
    xt = torch.rand(n, 3, 16, 16, generator=g) * 0.3 + 0.6
    torch.manual_seed(0)
    model = build_model("small_cnn", 2, weights="random")
    cfg = method_config("importance_weighting", {"clip": 20.0, "ramp_up": False})
    ctx = MethodContext(num_classes=2, feature_dim=model.feature_dim, total_steps=STEPS, steps_per_epoch=STEPS)
    method = get_method("importance_weighting")(model, cfg, ctx)
    opt = torch.optim.AdamW(method.param_groups(3e-3))
    method.train()
    accs = []
    for step in range(STEPS):
        res = method.training_step(Batch(xs, y, xt, step=step, progress=(step + 1) / STEPS))
        opt.zero_grad()
        res.loss.backward()
        opt.step()
        accs.append(res.metrics["domain_acc"])
        assert torch.isfinite(res.loss)
    assert max(accs[-5:]) > 0.6  # the domain classifier tells the dark source half from the target
    method.eval()
    with torch.no_grad():
        d = method.discriminator(model.features(xs))
        w = density_ratio(torch.sigmoid(-d), 1.0, 20.0)
    assert float(w[n // 2 :].mean()) > 2 * float(w[: n // 2].mean())
    assert float(w.mean()) == pytest.approx(1.0, abs=1e-5)
