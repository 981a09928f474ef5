"""GAN building blocks: losses against their formulas, DiffAugment, FreezeD, the EMA, the models."""

from __future__ import annotations

import math

import pytest
import torch

from engine.gan.diffaugment import diff_augment, parse_policy
from engine.gan.ema import GeneratorEma
from engine.gan.freeze import freeze_discriminator, set_train_mode
from engine.gan.losses import d_loss, g_loss
from engine.gan.models import build_pair


def test_hinge_and_nonsaturating_losses_match_their_formulas():
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 1.5])
    # hinge: mean(relu(1 - r)) + mean(relu(1 + f)) = (0 + .5 + 2)/3 + (0 + 1 + 2.5)/3
    assert d_loss("hinge", real, fake).item() == pytest.approx(2.5 / 3 + 3.5 / 3)
    assert g_loss("hinge", fake).item() == pytest.approx(-(-2.0 + 0.0 + 1.5) / 3)

    def sp(v: float) -> float:
        return math.log1p(math.exp(v))

    want_d = sum(sp(-r) for r in real.tolist()) / 3 + sum(sp(f) for f in fake.tolist()) / 3
    assert d_loss("nonsaturating", real, fake).item() == pytest.approx(want_d, rel=1e-6)
    assert g_loss("nonsaturating", fake).item() == pytest.approx(sum(sp(-f) for f in fake.tolist()) / 3, rel=1e-6)
    # a perfect discriminator has zero hinge loss; the generator then has a large one
    assert d_loss("hinge", torch.full((4,), 3.0), torch.full((4,), -3.0)).item() == 0.0
    with pytest.raises(ValueError, match="unknown GAN loss"):
        d_loss("wasserstein", real, fake)  # type: ignore[arg-type]


def test_diffaugment_keeps_shapes_for_real_and_fake_and_is_differentiable():
    torch.manual_seed(0)
    real = torch.rand(6, 3, 32, 32) * 2 - 1
    fake = (torch.rand(6, 3, 32, 32) * 2 - 1).requires_grad_(True)
    policy = "color,translation,cutout"
    out_r, out_f = diff_augment(real, policy), diff_augment(fake, policy)
    assert out_r.shape == real.shape and out_f.shape == fake.shape
    out_f.sum().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0  # gradients reach the generator's images
    assert not torch.equal(out_r, real)  # it changed something
    # cutout zeroes a square of half the side: a quarter of each image (up to clipping at borders)
    zeros = (diff_augment(torch.ones(8, 3, 32, 32), "cutout") == 0).float().mean(dim=(1, 2, 3))
    assert ((zeros > 0.1) & (zeros <= 0.25 + 1e-6)).all()
    # translation moves content and fills with zeros; the total mass cannot grow
    img = torch.ones(4, 3, 32, 32)
    assert diff_augment(img, "translation").sum() <= img.sum()
    assert diff_augment(real, "") is real or torch.equal(diff_augment(real, ""), real)
    assert parse_policy("none") == [] and parse_policy("Color, cutout") == ["color", "cutout"]
    with pytest.raises(ValueError, match="flip"):
        parse_policy("color,flip")


def test_freezed_leaves_frozen_blocks_unchanged_after_steps():
    torch.manual_seed(0)
    _, d = build_pair(32, 0, z_dim=8, g_width=8, d_width=8)
    before = {k: v.clone() for k, v in d.state_dict().items()}
    params = freeze_discriminator(d, 2)
    opt = torch.optim.Adam(params, lr=1e-2)
    set_train_mode(d, 2)
    for _ in range(3):
        loss = d_loss("hinge", d(torch.randn(4, 3, 32, 32)), d(torch.randn(4, 3, 32, 32)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = d.state_dict()
    frozen = [k for k in before if k.startswith(("blocks.0.", "blocks.1."))]
    trained = [k for k in before if k.startswith(("blocks.2.", "head.")) and "original" in k]
    assert frozen and trained
    for k in frozen:  # weights AND spectral-norm vectors: the frozen blocks are exactly as loaded
        assert torch.equal(before[k], after[k]), k
    assert any(not torch.equal(before[k], after[k]) for k in trained)
    with pytest.raises(ValueError, match="0 to 3"):
        freeze_discriminator(d, 4)


def test_generator_ema_follows_the_generator():
    g, _ = build_pair(32, 0, z_dim=8, g_width=8, d_width=8)
    ema = GeneratorEma(g, decay=0.5)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    ema.update(g)  # warm-up decay min(0.5, 1/10) = 0.1: 90% of the way
    p_g, p_e = next(iter(g.parameters())), next(iter(ema.model.parameters()))
    assert torch.allclose(p_e, p_g - 0.1, atol=1e-6)
    state = ema.state_dict()
    other = GeneratorEma(build_pair(32, 0, z_dim=8, g_width=8, d_width=8)[0], 0.5)
    other.load_state_dict(state)
    assert other.updates == 1 and torch.equal(next(iter(other.model.parameters())), p_e)


@pytest.mark.parametrize("size", [32, 64])
def test_conditional_models_shapes_and_class_dependence(size: int):
    torch.manual_seed(0)
    g, d = build_pair(size, 3, z_dim=8, g_width=8, d_width=8)
    z = torch.randn(4, 8)
    g.eval()
    x0, x1 = g(z, torch.zeros(4, dtype=torch.long)), g(z, torch.ones(4, dtype=torch.long))
    assert x0.shape == (4, 3, size, size) and x0.abs().max() <= 1
    with torch.no_grad():  # give the classes different BatchNorm scales: the same noise then differs
        g.blocks[0].bn.gain.weight[1].mul_(2)
    assert not torch.allclose(g(z, torch.ones(4, dtype=torch.long)), x0)
    assert d(x1, torch.ones(4, dtype=torch.long)).shape == (4,)
    assert len(d.blocks) == (3 if size == 32 else 4)
    with pytest.raises(ValueError, match="labels"):
        d(x1)
