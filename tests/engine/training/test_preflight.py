"""A start refused for bad input leaves no run directory behind (issue 10, point 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.config import TrainConfig
from engine.core.errors import UserError
from engine.jobs.train import JOB, TrainRequest


def _runs(config: TrainConfig) -> list[Path]:
    return sorted(config.runs_dir.iterdir()) if config.runs_dir.exists() else []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "dann", "target": None}, "adapts to a target domain"),
        ({"method": "nope"}, "nope"),
        ({"backbone": "nope"}, "nope"),
        ({"method_options": {"transfer_weigth": 1.0}}, "transfer_weigth"),
        ({"weights": "/no/such/weights.pt"}, "/no/such/weights.pt: not found"),
        ({"source": "/no/such/folder"}, "/no/such/folder"),
    ],
)
def test_bad_input_is_refused_before_the_run_directory_is_made(
    train_config: TrainConfig, change: dict, message: str
) -> None:
    config = train_config.model_copy(update=change)
    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        JOB.run(TrainRequest(config=config))
    assert _runs(config) == []


def test_target_test_with_foreign_classes_is_refused_first(train_config: TrainConfig, tmp_path: Path) -> None:
    from PIL import Image

    other = tmp_path / "other"
    (other / "zebra").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(other / "zebra" / "a.png")
    config = train_config.model_copy(update={"target_test": other})
    with pytest.raises(UserError, match="zebra"):
        JOB.run(TrainRequest(config=config))
    assert _runs(config) == []
