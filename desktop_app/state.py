"""State shared by the pages: chosen folders, the workspace, the current run and model.

Pages never talk to each other directly; they read and set this object and listen to its
signals (napari-style: a small model with events, views subscribe).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal


class AppState(QObject):
    folders_changed = Signal()
    run_changed = Signal(str)  # run directory
    model_changed = Signal(str)  # ONNX file
    runs_updated = Signal()  # a run was created, finished or deleted

    def __init__(self, settings: QSettings | None = None, workspace: Path | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings()
        self.source: str = ""
        self.target: str = ""
        self.target_test: str = ""
        self.run_dir: str = ""
        self.onnx_path: str = ""
        self.workspace = (
            Path(workspace)
            if workspace
            else Path(str(self.settings.value("workspace", Path.home() / "TransferStudio")))
        )

    @property
    def runs_dir(self) -> Path:
        return self.workspace / "runs"

    def set_folders(self, source: str, target: str, target_test: str) -> None:
        self.source, self.target, self.target_test = source, target, target_test
        for key, value in (("source", source), ("target", target), ("target_test", target_test)):
            self.settings.setValue(f"folders/{key}", value)
            if value:
                self.remember_recent(value)
        self.folders_changed.emit()

    def remember_recent(self, folder: str, limit: int = 10) -> None:
        recent = [f for f in self.recent_folders() if f != folder]
        self.settings.setValue("folders/recent", [folder, *recent][:limit])

    def recent_folders(self) -> list[str]:
        value = self.settings.value("folders/recent", [])
        if isinstance(value, str):
            return [value]
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        return []  # unset (None) or unreadable

    def set_run(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.run_changed.emit(run_dir)

    def set_model(self, onnx_path: str) -> None:
        self.onnx_path = onnx_path
        self.model_changed.emit(onnx_path)
