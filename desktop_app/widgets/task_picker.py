"""The Train page's multitask box: train several tasks at once, from task folders or a labels table.

Off by default (a run trains the source folder's classes). Ticked, the run uses the `multitask`
method on either one labelled folder per task (a row each: task name, folder; the name defaults
to the folder's) or one labels CSV (a path column, one column per task). The engine checks the
data itself when the run starts (engine.multitask.table): this box only says what is missing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHeaderView,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.widgets.form_utils import button, hbox, line_edit, pane, tipped

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


def task_name_for(folder: str, taken: set[str]) -> str:
    """A usable task name from a folder's name ('digit', 'task_2' when nothing usable), not yet taken."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", Path(folder).name).strip("_")
    if not base or not base[0].isalpha():
        base = "task" + (f"_{base}" if base else "")
    base = base[:36]
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


class TaskPicker(QGroupBox):
    """`values()` is {} (off), {"labels": CSV} or {"tasks": {name: folder}}; `changed` on every edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Multitask", parent)
        self.enabled_box = tipped(
            QCheckBox("Train several tasks (one head each)"),
            "Tasks share the early layers and branch into one head per task: a scarce task learns from a "
            "plentiful one. Uses the Multitask method; the Data page's folders are not used.",
        )
        self.folders_radio = QRadioButton("Task folders (one labelled folder per task)")
        self.table_radio = QRadioButton("Labels table (CSV: path, then one column per task)")
        self.folders_radio.setChecked(True)
        self.mode = QButtonGroup(self)
        for b in (self.folders_radio, self.table_radio):
            self.mode.addButton(b)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Task", "Folder"])
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setMaximumHeight(130)
        self.table.setToolTip("Double-click a task's name to rename it (letters, digits and _).")
        self.table.itemChanged.connect(lambda _: self.changed.emit())
        self.add_button = button(
            "Add task folder…", "A labelled folder (one sub-folder per class) for one more task.", self._on_add
        )
        self.remove_button = button("Remove", clicked=self._on_remove)
        self.labels_edit = line_edit("labels.csv")
        self.labels_edit.textChanged.connect(lambda _: self.changed.emit())
        self.browse_button = button("Browse…", clicked=self._on_browse)
        self.body = pane(
            self.folders_radio,
            self.table,
            hbox(self.add_button, self.remove_button, None),
            self.table_radio,
            hbox(self.labels_edit, self.browse_button),
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.enabled_box)
        layout.addWidget(self.body)
        self.enabled_box.toggled.connect(self._sync)
        self.mode.buttonToggled.connect(lambda *_: self._sync())
        self._sync()

    # ------------------------------------------------------------------ API
    @property
    def active(self) -> bool:
        return self.enabled_box.isChecked()

    def add_task(self, name: str, folder: str) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        self.table.setItem(r, 0, QTableWidgetItem(name))
        self.table.setItem(r, 1, QTableWidgetItem(folder))
        self.changed.emit()

    def tasks(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for r in range(self.table.rowCount()):
            name, folder = self.table.item(r, 0), self.table.item(r, 1)
            if name is not None and folder is not None:
                out[name.text().strip()] = folder.text()
        return out

    def values(self) -> dict[str, Any]:
        if not self.active:
            return {}
        if self.table_radio.isChecked():
            return {"labels": self.labels_edit.text().strip()}
        return {"tasks": self.tasks()}

    def problem(self) -> str:
        """Why the tasks cannot start a run ('' when they can, or when multitask is off)."""
        if not self.active:
            return ""
        if self.table_radio.isChecked():
            return "" if self.labels_edit.text().strip() else "Choose a labels table (CSV) for the tasks."
        names = list(self.tasks())
        if not names:
            return "Add a folder for each task (Add task folder…)."
        bad = [n for n in names if not _NAME.match(n)]
        if bad:
            return f"Task name '{bad[0]}': start with a letter, then letters, digits or _."
        if len(names) != self.table.rowCount():
            return "Two tasks have the same name; give each task its own."
        return ""

    def show_values(self, tasks: dict[str, Any], labels: str | None) -> None:
        """Show a run's tasks (resuming it)."""
        self.table.setRowCount(0)
        self.enabled_box.setChecked(bool(tasks) or bool(labels))
        if labels:
            self.table_radio.setChecked(True)
            self.labels_edit.setText(str(labels))
        for name, folder in tasks.items():
            self.add_task(name, str(folder))
        if tasks:
            self.folders_radio.setChecked(True)

    # ------------------------------------------------------------------ slots
    def _sync(self) -> None:
        self.body.setEnabled(self.active)
        by_table = self.table_radio.isChecked()
        widgets: list[QWidget] = [self.table, self.add_button, self.remove_button, self.labels_edit, self.browse_button]
        for k, w in enumerate(widgets):
            w.setEnabled(by_table if k >= 3 else not by_table)
        self.changed.emit()

    def _on_add(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a labelled folder for a task", "")
        if folder:
            self.add_task(task_name_for(folder, set(self.tasks())), folder)

    def _on_remove(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True) or [self.table.rowCount() - 1]
        for r in rows:
            if r >= 0:
                self.table.removeRow(r)
        self.changed.emit()

    def _on_browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a labels table", "", "CSV files (*.csv);;All files (*)")
        if path:
            self.labels_edit.setText(path)
