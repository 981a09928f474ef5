"""Every registered attack: stays within its budget, beats random noise of the same norm, and
leaves the model and the input as it found them. Plus targeted modes and DeepFool vs FGSM."""

from __future__ import annotations

import pytest
import torch
from attack_helpers import OrtScores
from pydantic import ValidationError

from engine.attacks import ATTACKS, get_attack, list_attacks
from engine.attacks.base import perturbation_norms, project
from engine.attacks.transfer import transfer_rate
from engine.core.errors import UserError

TEST_EPS = {"linf": 0.1, "l2": 2.0}  # random noise this large leaves the tiny CNN at ~100 % accuracy
CHEAP = {  # keep the folder fast; attacks not listed run with their defaults
    "cw": dict(steps=30, search_steps=3, initial_const=0.1),
    "square": dict(max_queries=200),
    "hopskipjump": dict(max_queries=500),
}


def default_norm(name: str) -> str:
    return get_attack(name).config_cls.model_fields["norm"].default


def noise_accuracy(model, x, y, eps: float, norm: str, seeds: int = 3) -> float:
    """Mean accuracy under random sign (linf) or Gaussian-direction (l2) noise of norm eps."""
    accs = []
    for s in range(seeds):
        g = torch.Generator().manual_seed(s)
        if norm == "linf":
            d = (torch.randint(0, 2, x.shape, generator=g) * 2 - 1).float() * eps
        else:
            d = torch.randn(x.shape, generator=g)
            d = d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * eps
        with torch.no_grad():
            accs.append(float((model((x + d).clamp(0, 1)).argmax(1) == y).float().mean()))
    return sum(accs) / len(accs)


def run(name: str, task, attack, target=None):
    """Call an attack the way its kind needs: torch model, ONNX scores, or surrogate + ONNX."""
    kind = type(attack).kind
    if kind == "white-box":
        return attack(task.model, task.x, task.y, target), None
    scores = OrtScores(task.onnx_path)
    if kind == "transfer":
        return attack(task.surrogate, scores, task.x, task.y, target), scores
    return attack(scores, task.x, task.y, target), scores


def test_registry_lists_every_attack_with_a_kind_and_config():
    assert set(list_attacks()) >= {"fgsm", "pgd", "deepfool", "cw", "square", "hopskipjump", "transfer"}
    assert list_attacks("decision") == ["hopskipjump"]
    for name, cls in ATTACKS.items():
        assert cls.name == name and cls.kind in ("white-box", "score", "decision", "transfer")
        assert cls.__doc__ and "Example" in cls.__doc__
    with pytest.raises(UserError, match="Choose one of: cw"):
        get_attack("nope")


@pytest.mark.parametrize("name", list_attacks())
def test_attack_within_budget_and_beats_noise(name, task):
    norm = default_norm(name)
    eps = TEST_EPS[norm]
    attack = get_attack(name)(eps=eps, **CHEAP.get(name, {}))
    x0 = task.x.clone()
    res, scores = run(name, task, attack)
    assert torch.equal(task.x, x0), "the input tensor must not be modified"
    delta = res.x_adv - task.x
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    measured = perturbation_norms(delta)[norm]
    assert float(measured.max()) <= eps + 1e-6
    assert torch.allclose(res.norms[norm], measured)
    with torch.no_grad():  # the reported predictions are those of the target model on x_adv
        assert torch.equal(res.pred, task.model(res.x_adv).argmax(1))
    assert torch.equal(res.success, res.pred != task.y)
    adv_acc = float((res.pred == task.y).float().mean())
    noise_acc = noise_accuracy(task.model, task.x, task.y, eps, norm)
    assert noise_acc >= 0.9, f"noise alone should not fool the model (got {noise_acc})"
    assert adv_acc <= noise_acc - 0.5, f"{name}: accuracy {adv_acc:.2f} vs {noise_acc:.2f} under noise"
    if attack.kind in ("score", "decision"):
        q = res.queries
        assert q is not None and q.dtype == torch.int64 and len(q) == len(task.x)
        assert int(q.min()) >= 1 and int(q.max()) <= attack.config.max_queries
        # every row the ONNX model saw is counted, plus one uncounted verification per image
        assert scores.rows == int(q.sum()) + len(task.x)
    elif attack.kind == "transfer":
        assert res.queries is None and scores.rows == len(task.x)
        assert float(res.extras["surrogate_success"].float().mean()) >= 0.9
        assert transfer_rate(res) >= 0.5
    else:
        assert res.queries is None


@pytest.mark.parametrize(
    "name,options",
    [
        ("pgd", dict(eps=0.1)),
        ("pgd", dict(norm="l2", eps=2.0, restarts=2, steps=5)),
        ("cw", dict(steps=30, search_steps=3, initial_const=0.1)),
        ("deepfool", {}),
        ("fgsm", dict(eps=0.15)),
    ],
)
def test_targeted_modes_hit_the_target(name, options, task):
    target = (task.y + 1) % 3
    res, _ = run(name, task, get_attack(name)(targeted=True, **options), target)
    hit = float((res.pred == target).float().mean())
    assert torch.equal(res.success, res.pred == target)
    assert hit >= (0.6 if name == "fgsm" else 0.95), f"{name} targeted hit rate {hit:.2f}"


def test_targeted_needs_target(task):
    with pytest.raises(ValueError, match="needs `target`"):
        get_attack("pgd")(targeted=True)(task.model, task.x, task.y)


def test_deepfool_finds_smaller_l2_than_fgm_at_the_same_budget(task):
    eps = 1.0
    fgm = get_attack("fgsm")(norm="l2", eps=eps)(task.model, task.x, task.y)
    df = get_attack("deepfool")()(task.model, task.x, task.y)  # unbounded: minimal perturbations
    assert float(df.success.float().mean()) == 1.0
    both = fgm.success & df.success
    assert int(both.sum()) >= 10
    assert float((df.norms["l2"][both] < fgm.norms["l2"][both]).float().mean()) >= 0.9
    assert float(df.norms["l2"][both].median()) < 0.8 * eps
    # at FGM's budget, DeepFool fools at least as many images
    assert int((df.norms["l2"] <= eps).sum()) >= int(fgm.success.sum())


def test_minimal_norm_attacks_respect_an_eps_bound(task):
    free = get_attack("cw")(steps=30, search_steps=3, initial_const=0.1)(task.model, task.x, task.y)
    bound = float(free.norms["l2"].median())
    capped = get_attack("cw")(steps=30, search_steps=3, initial_const=0.1, eps=bound)(task.model, task.x, task.y)
    assert float(capped.norms["l2"].max()) <= bound + 1e-6
    assert 0.2 <= float(capped.success.float().mean()) <= 0.95


@pytest.mark.parametrize("name", list_attacks("white-box"))
def test_white_box_restores_model_state(name, task):
    model = task.surrogate
    model.train()
    model.net[1].eval()  # mixed modes must come back exactly
    frozen = model.net[0].bias
    frozen.requires_grad_(False)
    model.zero_grad(set_to_none=True)
    try:
        opts = (
            dict(steps=2, search_steps=1, initial_const=0.1)
            if name == "cw"
            else dict(steps=2)
            if name in ("pgd", "deepfool")
            else {}
        )
        with torch.inference_mode():  # callers may hold inference tensors; the attack still needs grads
            x = task.x[:8].clone()
        res = get_attack(name)(**opts)(model, x, task.y[:8])
        assert res.x_adv.shape == x.shape
        assert model.training and not model.net[1].training and model.net[2].training
        assert not frozen.requires_grad and model.net[0].weight.requires_grad
        assert all(p.grad is None for p in model.parameters())
    finally:
        frozen.requires_grad_(True)
        model.eval()


@pytest.mark.parametrize(
    "name,kwargs,needle",
    [
        ("pgd", dict(eps=1.5), "eps=1.5 is out of range for norm 'linf'"),
        ("fgsm", dict(eps=-0.1, norm="l2"), "eps=-0.1 is out of range for norm 'l2'"),
        ("square", dict(eps=2.0), "eps=2.0 is out of range"),
        ("cw", dict(norm="linf"), "norm"),
        ("pgd", dict(steps=0), "steps"),
        ("transfer", dict(base="square"), "not a white-box attack"),
        ("transfer", dict(base_options=dict(eps=0.1)), "base_options may not set eps"),
    ],
)
def test_config_refuses_bad_values(name, kwargs, needle):
    with pytest.raises(ValidationError) as info:
        get_attack(name)(**kwargs)
    assert needle in str(info.value)


def test_l2_budget_may_exceed_one():
    assert get_attack("pgd")(norm="l2", eps=3.0).config.eps == 3.0
    assert get_attack("pgd")().config.eps == pytest.approx(8 / 255)
    assert get_attack("pgd")(norm="l2").config.eps == 0.5


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.5)])
def test_project_keeps_inside_points_exactly_and_clips_outside_ones(norm, eps):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 5, 5, generator=g)
    inside = project(x, x + 0.01 * torch.randn(6, 3, 5, 5, generator=g), eps, norm)
    assert torch.equal(project(x, inside, eps, norm), inside)  # idempotent, bit for bit
    far = project(x, x + torch.randn(6, 3, 5, 5, generator=g), eps, norm)
    assert far.min() >= 0 and far.max() <= 1
    assert float(perturbation_norms(far - x)[norm].max()) <= eps + 1e-6
