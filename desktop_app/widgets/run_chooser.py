"""The run chooser: a combo box of the workspace's runs plus "Browse..." for a run folder elsewhere,
and the best/last checkpoint combo that goes with it on the pages that load a run's model."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QWidget

from desktop_app import errors
from desktop_app.state import AppState
from engine.core.runs import Run, list_runs, open_run


def checkpoint_mtime(run_dir: str, which: str) -> float:
    """Modification time of the run's checkpoint (0 when there is none yet)."""
    try:
        return Run(Path(run_dir)).checkpoint(which).stat().st_mtime
    except OSError:
        return 0.0


def running_run(runs_dir: Path) -> str:
    """The newest run under `runs_dir` marked running ('' if none)."""
    best, stamp = "", -1.0
    for run in list_runs(runs_dir):
        info = run.info()
        if info.get("status") == "running" and float(info.get("created", 0) or 0) > stamp:
            best, stamp = str(run.path), float(info.get("created", 0) or 0)
    return best


def checkpoint_combo(parent: QWidget | None = None) -> QComboBox:
    """best / last, with the tooltip every page shows."""
    combo = QComboBox(parent)
    combo.addItem("best", "best")
    combo.addItem("last", "last")
    combo.setToolTip("best: the checkpoint the run selected as best; last: the latest epoch's weights.")
    return combo


class RunChooser(QWidget):
    """A combo box of the workspace's runs plus "Browse..." for a run folder elsewhere. Signal `changed(str)`."""

    changed = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(28)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.browse = QPushButton("Browse...")
        self.browse.setToolTip("Choose a run folder (one holding config.toml) outside the workspace.")
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.browse)
        self.setToolTip("The training run to use. Runs in the workspace are listed; Browse... picks any run folder.")
        self.combo.currentIndexChanged.connect(self._on_index_changed)
        self.browse.clicked.connect(self._on_browse)
        self.refresh(state.run_dir)

    def setToolTip(self, tip: str) -> None:
        """The chooser's tooltip is also its combo's (the part the user points at)."""
        super().setToolTip(tip)
        self.combo.setToolTip(tip)

    def run_dir(self) -> str:
        return str(self.combo.currentData() or "")

    def refresh(self, select: str | None = None) -> None:
        """Re-list the runs; keep `select` (or the current one) chosen, adding it when outside the workspace.

        `changed` is emitted only when the chosen run is different afterwards."""
        before = self.run_dir()
        wanted = select if select is not None else before
        with QSignalBlocker(self.combo):
            self.combo.clear()
            for run in list_runs(self.state.runs_dir):
                self.combo.addItem(run.path.name, str(run.path))
            self._select(wanted)
        if self.run_dir() != before:
            self.changed.emit(self.run_dir())

    def set_run_dir(self, run_dir: str) -> None:
        """Choose `run_dir` (added to the list when it is not in the workspace); emits `changed` if it differs."""
        before = self.run_dir()
        with QSignalBlocker(self.combo):
            self._select(run_dir)
        if self.run_dir() != before:
            self.changed.emit(self.run_dir())

    def _select(self, run_dir: str) -> None:
        if not run_dir:
            return
        index = self.combo.findData(str(run_dir))
        if index < 0 and Path(run_dir).is_dir():
            self.combo.addItem(Path(run_dir).name, str(run_dir))
            index = self.combo.count() - 1
        if index >= 0:
            self.combo.setCurrentIndex(index)

    def _on_index_changed(self, _index: int) -> None:
        self.changed.emit(self.run_dir())

    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a run folder", str(self.state.runs_dir))
        if not folder:
            return
        try:
            open_run(folder)
        except Exception as err:
            errors.show_error(self, str(err))
            return
        self.set_run_dir(folder)
