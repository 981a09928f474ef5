"""A training start walks each folder once (the preflight's scan is handed to prepare_data), and the
walk reports progress, so a 100k-image folder is neither walked twice nor silent before decoding."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import engine.data.folders as folders
from engine.core.config import TrainConfig
from engine.core.errors import UserError
from engine.core.events import Event, Log, Stage
from engine.training.trainer import run_train


@pytest.fixture
def counted_walks(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts calls of the directory walk (engine.data.folders.scan_domain) per folder."""
    walks: Counter[str] = Counter()
    real = folders.scan_domain

    def counting(root: Any, *args: Any, **kwargs: Any) -> Any:
        walks[str(Path(root).resolve())] += 1
        return real(root, *args, **kwargs)

    monkeypatch.setattr(folders, "scan_domain", counting)
    return walks


def test_one_walk_per_folder_per_training_start(
    train_config: TrainConfig, counted_walks: Counter[str], one_thread: None
) -> None:
    config = train_config.model_copy(update={"epochs": 1, "device": "cpu", "backbone": "tiny_cnn"})
    assert config.target is not None and config.target_test is not None
    result = run_train(config)
    assert result.status == "finished"
    expected = {str(Path(p).resolve()) for p in (config.source, config.target, config.target_test)}
    assert set(counted_walks) == expected
    assert all(n == 1 for n in counted_walks.values()), counted_walks


def test_the_scan_reports_progress_before_the_run_directory_exists(
    train_config: TrainConfig, counted_walks: Counter[str], one_thread: None
) -> None:
    events: list[Event] = []
    config = train_config.model_copy(update={"epochs": 1, "device": "cpu", "backbone": "tiny_cnn"})
    run_train(config, events.append)
    scans = [e for e in events if isinstance(e, Stage) and e.stage == "Scanning source"]
    assert scans, "the source scan emitted no Stage event"
    assert scans[-1].done > 0 and scans[-1].unit == "images found"
    logs = [e.message for e in events if isinstance(e, Log)]
    first_scan_log = next(i for i, m in enumerate(logs) if m.startswith("Scanning source:"))
    first_decode = next(i for i, m in enumerate(logs) if m.startswith("Source:"))
    assert first_scan_log < first_decode  # the scan finished (and said so) before decoding starts
    # a refused start still scans with progress, and still makes no run folder
    bad = config.model_copy(update={"target_test": config.source.parent / "nowhere", "runs_dir": config.runs_dir / "x"})
    events.clear()
    with pytest.raises(UserError, match="nowhere"):
        run_train(bad, events.append)
    assert any(isinstance(e, Stage) and e.stage == "Scanning source" for e in events)
    assert not bad.runs_dir.exists()
