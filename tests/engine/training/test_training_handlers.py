"""Trainer handlers: weight averaging with warm-up, selection and early stopping, and their state
round trip through a checkpoint (so a resumed run continues each one)."""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn

from engine.core.config import TrainConfig
from engine.core.events import Progress
from engine.core.runs import open_run
from engine.training.handlers import BestCheckpoint, EarlyStopping, WeightAveraging, warmup_decay
from engine.training.trainer import run_train


def test_warmup_decay_grows_from_zero_towards_the_decay() -> None:
    assert warmup_decay(0.99, 0) == 0.1
    assert warmup_decay(0.99, 10) == (11 / 20)
    values = [warmup_decay(0.99, t) for t in range(2000)]
    assert all(a <= b for a, b in itertools.pairwise(values))
    assert values[-1] == 0.99


def test_short_run_average_stays_near_the_trained_weights() -> None:
    """110 steps of a weight moving away from its start: the warmed-up average ends near the
    last weights; a fixed 0.99 decay would keep a third of the start."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    start = copy.deepcopy(model)
    ema = WeightAveraging(model, 0.99)
    for _ in range(110):
        with torch.no_grad():
            model.weight.add_(0.05)
        ema.update(model)
    trained, averaged, initial = model.weight, ema.module.weight, start.weight
    moved = (trained - initial).abs().mean()
    assert (averaged - trained).abs().mean() < 0.2 * moved  # within 20 % of the distance travelled
    fixed = initial.clone()
    w = initial.clone()
    for _ in range(110):
        w = w + 0.05
        fixed = 0.99 * fixed + 0.01 * w
    assert (fixed - trained).abs().mean() > 0.4 * moved  # what the old fixed decay did


def test_integer_buffers_are_copied_not_averaged() -> None:
    model = nn.BatchNorm1d(3)
    ema = WeightAveraging(model, 0.9)
    for _ in range(5):
        model.train()
        model(torch.randn(8, 3))
        ema.update(model)
    assert int(ema.module.num_batches_tracked) == 5


def test_handler_states_round_trip() -> None:
    best, stop = BestCheckpoint("val_acc"), EarlyStopping(2)
    for epoch, acc in enumerate([0.5, 0.7, 0.6], 1):
        stop.update(best.update(epoch, {"val/acc": acc}))
    best2, stop2 = BestCheckpoint("val_acc"), EarlyStopping(2)
    best2.load_state_dict(best.state_dict())
    stop2.load_state_dict(stop.state_dict())
    assert (best2.epoch, best2.score, stop2.stale_epochs) == (2, 0.7, 1)
    stop2.update(best2.update(4, {"val/acc": 0.65}))
    assert stop2.should_stop


def test_resume_restores_every_handler(train_config: TrainConfig) -> None:
    """A run stopped mid-way resumes with its best epoch, stale count and averaged weights."""
    train_config.epochs = 3
    train_config.ema_decay = 0.9
    train_config.early_stop_patience = 5
    straight = run_train(train_config)

    from engine.core.control import JobControl

    control = JobControl()

    def stop_at_step_5(event: object) -> None:
        if isinstance(event, Progress) and event.step == 5:
            control.stop()

    stopped = run_train(train_config, stop_at_step_5, control)
    state = torch.load(open_run(stopped.run_dir).checkpoint("last"), weights_only=True)
    assert set(state["handlers"]) == {"best", "early_stop", "averaging"}
    assert state["handlers"]["averaging"]["updates"] == 5
    resumed = run_train(resume=stopped.run_dir)
    assert resumed.best_epoch == straight.best_epoch
    a = torch.load(open_run(straight.run_dir).checkpoint("last"), weights_only=True)
    b = torch.load(open_run(resumed.run_dir).checkpoint("last"), weights_only=True)
    assert a["handlers"]["averaging"]["updates"] == b["handlers"]["averaging"]["updates"] == 9
    assert a["handlers"]["early_stop"] == b["handlers"]["early_stop"]
    for key, value in a["model"].items():  # the deployed (averaged) weights
        torch.testing.assert_close(value, b["model"][key], rtol=1e-5, atol=1e-6, msg=key)


def test_short_adaptation_run_deploys_weights_near_the_trained_ones(train_config: TrainConfig) -> None:
    """DANN (weight averaging on by default, 0.99) for 6 steps: the deployed average is close to
    the trained weights, not to the initial ones (without the warm-up it kept ~94 % of the start)."""
    from engine.models.classifier import build_model

    train_config.method = "dann"
    train_config.method_options = {"disc_hidden": 32, "target_bn": False}
    train_config.epochs = 2
    result = run_train(train_config)
    state = torch.load(open_run(result.run_dir).checkpoint("last"), weights_only=True)
    assert state["handlers"]["averaging"]["updates"] == 6
    torch.manual_seed(train_config.seed)
    initial = build_model("small_cnn", 10).state_dict()
    trained = {k[len("model.") :]: v for k, v in state["method"].items() if k.startswith("model.")}
    near, far = 0.0, 0.0
    for key, avg in state["model"].items():
        if key.endswith(("weight", "bias")) and "bn" not in key and avg.dim() > 1:
            near += float((avg - trained[key]).norm())
            far += float((trained[key] - initial[key]).norm())
    assert near < 0.5 * far, (near, far)
