"""Fixtures for the Evaluate, Export, Predict and Runs page tests (loaded with `pytest_plugins`).

One real tiny run is trained (1 epoch of small_cnn on a tiny digits demo) and exported once per
session; each test gets its own workspace holding a copy of that run, so tests can change it.
Names start with `pages_` so they never clash with tests/desktop_app/conftest.py.
"""

from __future__ import annotations

import os
import shutil
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from desktop_app.state import AppState


@pytest.fixture(scope="session")
def pages_demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from engine.data.demo import make_demo

    return make_demo(tmp_path_factory.mktemp("pages_demo") / "demo", per_class=10, seed=3)


@pytest.fixture(scope="session")
def pages_train(pages_demo: Any, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """train(name, **settings): a finished 1-epoch run on the demo's source (and target test),
    in a fresh runs folder; `settings` are TrainConfig fields (method, target, ...)."""
    from engine.core.config import TrainConfig
    from engine.training.trainer import run_train

    def train(name: str, **settings: Any) -> Path:
        runs_dir = tmp_path_factory.mktemp(f"{name}_runs")
        quick = {"epochs": 1, "batch_size": 32, "lr": 3e-3, "device": "cpu", **settings}
        config = TrainConfig(
            source=pages_demo.source, target_test=pages_demo.target_test, runs_dir=runs_dir, name=name, **quick
        )
        result = run_train(config)
        assert result.status == "finished"
        return Path(result.run_dir)

    return train


@pytest.fixture(scope="session")
def pages_run(pages_train: Callable[..., Path]) -> Path:
    """A finished 1-epoch small_cnn run (never modified by tests: they copy it)."""
    return pages_train("tiny")


@pytest.fixture(scope="session")
def pages_onnx(pages_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run exported to ONNX (outside the run folder)."""
    from engine.jobs.export import JOB, ExportConfig

    out = tmp_path_factory.mktemp("pages_model") / "model.onnx"
    report = JOB.run(ExportConfig(run_dir=pages_run, out=out))
    assert report.passed
    return out


@pytest.fixture
def pages_state(tmp_path: Path) -> AppState:
    """An AppState with private settings and an empty workspace under tmp_path."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return AppState(settings, workspace=tmp_path / "workspace")


@pytest.fixture
def pages_copy_run() -> Callable[[Path, AppState, str], Path]:
    """copy(run, state, name): copy a run folder into the state's runs folder as `name`."""

    def copy(run: Path, state: AppState, name: str) -> Path:
        state.runs_dir.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copytree(run, state.runs_dir / name))

    return copy


@pytest.fixture
def pages_errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Error dialogs recorded as (message, details) instead of shown (a modal box would block)."""
    calls: list[tuple[str, str]] = []

    def record(parent: Any, message: str, details: str = "", *args: Any, **kwargs: Any) -> None:
        calls.append((message, details))

    try:
        import desktop_app.errors as errors
    except ImportError:  # the shell's module is not there yet: stand in for it
        errors = types.ModuleType("desktop_app.errors")
        monkeypatch.setitem(sys.modules, "desktop_app.errors", errors)
    monkeypatch.setattr(errors, "show_error", record, raising=False)
    return calls


@pytest.fixture
def pages_screenshot() -> Callable[[Any, str], None]:
    """shot(widget, name): grab the widget to $PAGES_SCREENSHOTS/name.png when that variable is set."""

    def shot(widget: Any, name: str) -> None:
        folder = os.environ.get("PAGES_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            widget.grab().save(str(Path(folder) / f"{name}.png"))

    return shot


@pytest.fixture
def pages_state_with_run(
    pages_state: AppState, pages_run: Path, pages_demo: Any, pages_copy_run: Callable[[Path, AppState, str], Path]
) -> AppState:
    """The state with a copy of the tiny run ("run-a") chosen and the demo's source and target test set."""
    run = pages_copy_run(pages_run, pages_state, "run-a")
    pages_state.set_folders(str(pages_demo.source), "", str(pages_demo.target_test))
    pages_state.set_run(str(run))
    return pages_state
