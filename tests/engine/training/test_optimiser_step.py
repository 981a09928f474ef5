"""Every loop goes through the same optimiser step: the cached-feature loop (frozen backbone)
gets the non-finite-loss guard and the scaler the image loop has."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from engine.core.config import TrainConfig
from engine.core.errors import UserError
from engine.core.runs import open_run
from engine.methods import StepResult
from engine.training.step import OptimiserStep, StepOutcome
from engine.training.trainer import run_train


def test_cached_feature_loop_stops_on_a_non_finite_loss(
    train_config: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.methods.base import Method

    calls = {"n": 0}
    real = Method.classification_loss

    def poisoned(self: Method, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        loss = real(self, logits, y)
        return loss * float("nan") if calls["n"] == 5 else loss

    monkeypatch.setattr(Method, "classification_loss", poisoned)
    train_config.method_options = {"linear_probe": True}
    train_config.epochs = 3
    with pytest.raises(UserError, match=r"at step 5 \(epoch 2\)"):
        run_train(train_config)
    run = open_run(sorted(train_config.runs_dir.iterdir())[-1])
    assert run.info()["status"] == "failed"
    assert torch.load(run.checkpoint("last"), weights_only=True)["epoch"] == 1


def test_cached_feature_loop_steps_through_the_scaler(
    train_config: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    scaled = []
    real = OptimiserStep.__call__

    def spy(self: OptimiserStep, compute: Callable[[], StepResult], y: torch.Tensor) -> StepOutcome:
        scaled.append(self.scaler)
        return real(self, compute, y)

    monkeypatch.setattr(OptimiserStep, "__call__", spy)
    train_config.method_options = {"linear_probe": True}
    train_config.epochs = 1
    result = run_train(train_config)
    assert result.status == "finished" and len(scaled) == 3
    assert all(isinstance(s, torch.amp.GradScaler) for s in scaled)
