"""Target BatchNorm statistics (AdaBN): the adaptation methods' deployed model normalises
target images with target statistics; source accuracy is still measured with source ones."""

from __future__ import annotations

import torch

from engine.core.config import TrainConfig
from engine.data.prepare import prepare_data
from engine.methods import get_method
from engine.models import build_model
from engine.models.bn_stats import recompute_bn_stats
from engine.training.checkpoints import load_checkpoint
from engine.training.trainer import run_train

CPU = torch.device("cpu")


def _bn_means(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k.endswith("running_mean")}


def _train(config: TrainConfig, method: str, **options) -> tuple[dict, dict]:
    cfg = config.model_copy(update={"method": method, "method_options": options, "epochs": 1, "name": method})
    result = run_train(cfg)
    state = load_checkpoint(result.run_dir / "checkpoints" / "last.pt")
    return result.metrics, state


def _target_stats_of(state: dict, config: TrainConfig, data_of: str) -> dict[str, torch.Tensor]:
    """BatchNorm means the checkpoint's weights give on the named domain."""
    data = prepare_data(config, 32, lambda e: None, None, None)
    model = build_model("small_cnn", len(data.classes))
    model.load_state_dict(state["model"])
    recompute_bn_stats(model, data.x_target if data_of == "target" else data.x_train, CPU)
    return _bn_means(model.state_dict())


def test_adabn_and_dann_deploy_target_statistics(train_config: TrainConfig) -> None:
    torch.manual_seed(0)
    for method, options in (("adabn", {}), ("dann", {"disc_hidden": 32})):
        metrics, state = _train(train_config, method, **options)
        assert {"val/acc", "target/acc", "target/entropy"} <= set(metrics)
        # weight averaging: on by default for the adaptation losses (ema_decay empty), off for AdaBN
        assert ("averaging" in state["handlers"]) == (method == "dann")
        saved = _bn_means(state["model"])
        on_target = _target_stats_of(state, train_config, "target")
        on_source = _target_stats_of(state, train_config, "source")
        for key, value in saved.items():
            torch.testing.assert_close(value, on_target[key], rtol=1e-4, atol=1e-5)
        # the demo's domains differ in colour statistics: source statistics are another thing
        assert max(float((saved[k] - on_source[k]).abs().max()) for k in saved) > 1e-2


def test_target_bn_and_weight_averaging_can_be_switched_off(train_config: TrainConfig) -> None:
    train_config = train_config.model_copy(update={"ema_decay": 0.0})
    _, state = _train(train_config, "dann", disc_hidden=32, target_bn=False)
    assert "averaging" not in state["handlers"]
    saved = _bn_means(state["model"])
    on_target = _target_stats_of(state, train_config, "target")
    assert max(float((saved[k] - on_target[k]).abs().max()) for k in saved) > 1e-3


def test_adabn_is_a_registered_adaptation_method() -> None:
    cls = get_method("adabn")
    assert cls.uses_target and cls.kind == "domain adaptation"
    assert cls.summary and cls.label
