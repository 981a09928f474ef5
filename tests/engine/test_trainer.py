"""The trainer: learning, events, checkpoints, stop/resume, NaN handling, feature caching."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from engine.core.config import TrainConfig
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Collector, EpochEnd, Finished, Progress, Started
from engine.core.runs import load_run_model, open_run
from engine.training.trainer import lr_factor, run_train


def test_finetune_lowers_the_loss_and_writes_a_run(train_config: TrainConfig) -> None:
    events = Collector()
    train_config.epochs = 4
    result = run_train(train_config, events)
    assert result.status == "finished" and result.epochs_done == 4
    steps = events.of(Progress)
    assert len(steps) == 4 * (len(steps) // 4) and steps[-1].step == steps[-1].total_steps
    first = sum(e.metrics["loss"] for e in steps[:3]) / 3
    last = sum(e.metrics["loss"] for e in steps[-3:]) / 3
    assert last < first * 0.8, (first, last)
    epochs = events.of(EpochEnd)
    assert [e.epoch for e in epochs] == [1, 2, 3, 4]
    for key in ("train/loss", "train/acc", "val/acc", "target/acc", "target/entropy", "lr"):
        assert all(isinstance(e.metrics[key], float) for e in epochs), key
    assert isinstance(events.events[0], Started) or any(isinstance(e, Started) for e in events.events)
    assert isinstance(events.events[-1], Finished)
    run = open_run(result.run_dir)
    assert [r["epoch"] for r in run.metrics()] == [1, 2, 3, 4]
    assert run.info()["status"] == "finished"
    assert run.checkpoint("last").is_file() and run.checkpoint("best").is_file()
    assert run.config().epochs == 4
    model, info = load_run_model(result.run_dir)
    assert info["classes"] == [str(d) for d in range(10)] and info["input_size"] == 32
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def _final_weights(run_dir) -> dict[str, torch.Tensor]:
    state = torch.load(open_run(run_dir).checkpoint("last"), weights_only=True)
    return state["model"]


def test_stopped_and_resumed_run_matches_uninterrupted(train_config: TrainConfig) -> None:
    train_config.epochs = 2
    straight = run_train(train_config)

    control = JobControl()
    seen = []

    def stop_mid_epoch(event) -> None:
        if isinstance(event, Progress):
            seen.append(event.step)
            if event.step == 4:  # the middle of epoch 2 (3 steps an epoch)
                control.stop()

    stopped = run_train(train_config, stop_mid_epoch, control)
    assert stopped.status == "stopped"
    assert open_run(stopped.run_dir).info()["status"] == "stopped"
    resumed = run_train(resume=stopped.run_dir)
    assert resumed.status == "finished" and resumed.epochs_done == 2
    a, b = _final_weights(straight.run_dir), _final_weights(resumed.run_dir)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    rows = open_run(resumed.run_dir).metrics()
    assert [r["epoch"] for r in rows] == [1, 2]


def test_killed_run_resumes_from_last_epoch_checkpoint(train_config: TrainConfig) -> None:
    """A kill leaves status 'running' and a checkpoint of the last whole epoch; resume completes."""
    train_config.epochs = 1
    first = run_train(train_config)
    run = open_run(first.run_dir)
    cfg = run.config()
    cfg.epochs = 2
    from engine.core.config import save_toml

    save_toml(cfg, run.config_path)
    run.update_info(status="running")  # as if the process had been killed
    with open(run.metrics_path, "a") as fh:
        fh.write('{"epoch": 2, "torn')  # half-written line from the kill
    result = run_train(resume=first.run_dir)
    assert result.epochs_done == 2
    assert [r["epoch"] for r in run.metrics()] == [1, 2]


def test_nan_loss_stops_with_the_step_and_keeps_last_good_checkpoint(
    train_config: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.methods.finetune import Finetune

    real_step = Finetune.training_step

    def poisoned(self, batch):  # the loss turns NaN at the 5th step (epoch 2 of 3 steps each)
        out = real_step(self, batch)
        if batch.step == 4:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(Finetune, "training_step", poisoned)
    train_config.epochs = 3
    with pytest.raises(UserError, match=r"at step 5 \(epoch 2\)"):
        run_train(train_config)
    run = open_run(sorted(train_config.runs_dir.iterdir())[-1])
    assert run.info()["status"] == "failed"
    state = torch.load(run.checkpoint("last"), weights_only=True)
    assert state["epoch"] == 1 and all(
        torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point()
    )


def test_linear_probe_trains_on_cached_features(train_config: TrainConfig) -> None:
    train_config.method_options = {"linear_probe": True}
    train_config.epochs = 3
    train_config.lr = 0.05
    events = Collector()
    result = run_train(train_config, events)
    assert any("computing its features once" in getattr(e, "message", "") for e in events.events)
    losses = [e.metrics["train/loss"] for e in events.of(EpochEnd)]
    assert losses[-1] < losses[0]
    model, _ = load_run_model(result.run_dir)
    first_conv = next(iter(model.backbone.parameters()))
    # the backbone did not move: its weights equal a freshly seeded build
    torch.manual_seed(train_config.seed)
    from engine.models.classifier import build_model

    fresh = build_model("small_cnn", 10)
    torch.testing.assert_close(first_conv, next(iter(fresh.backbone.parameters())))


def test_target_with_unknown_classes_is_refused(train_config: TrainConfig, tmp_path) -> None:
    import shutil

    bad = tmp_path / "bad_target"
    shutil.copytree(train_config.target_test, bad)
    (bad / "giraffe").mkdir()
    shutil.copy(next((bad / "1").iterdir()), bad / "giraffe" / "g.png")
    train_config.target_test = bad
    with pytest.raises(UserError, match="giraffe"):
        run_train(train_config)


def test_adaptation_method_without_target_is_refused(train_config: TrainConfig) -> None:
    train_config.target = None
    train_config.method = "dann"
    with pytest.raises(UserError, match="target folder"):
        run_train(train_config)


def test_lr_schedule_warms_up_then_decays() -> None:
    values = [lr_factor(s, 100, 10, "cosine") for s in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(values[10:]))
    assert values[-1] < 0.01
    assert lr_factor(50, 100, 0, "constant") == 1.0
    assert math.isclose(lr_factor(55, 100, 10, "cosine"), 0.5, abs_tol=1e-9)
