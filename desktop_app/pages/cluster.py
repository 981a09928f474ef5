"""Cluster page: sort an unlabelled folder into clusters, name them, save a labelled folder.

Pick a folder and the features (raw pixels, any run, or a pretraining run made here with
"Pretrain on this folder"); clustering runs in a worker. Each cluster is a thumbnail grid, most
typical images first; rename, merge, move images between clusters and drop outliers, each
undoable (Ctrl+Z). "Save as labelled folder" copies the images into class sub-folders and offers
to use the result as the source or the target-test domain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app import errors
from desktop_app.cluster_edits import ClusterEdits
from desktop_app.pages.job_page import JobPage
from desktop_app.state import AppState
from desktop_app.widgets.cluster_board import ClusterBoard
from desktop_app.widgets.folder_picker import FolderPicker
from desktop_app.widgets.form_utils import button, form, hbox, line_edit, spin, tipped
from engine.analysis.clustering import ClusterConfig, ClusterReport
from engine.core.errors import UserError
from engine.core.events import Event, Finished, Progress
from engine.jobs import cluster, pretrain
from engine.ssl.config import PretrainConfig, PretrainReport


def save_job(emit: Any, control: Any, groups: dict[str, list[str]], dest: str, source: str, replace: bool) -> dict:
    """JobRunner function: copy the named groups into class sub-folders (a short file copy, not a job)."""
    from engine.analysis.cluster_folders import write_groups

    return write_groups(groups, dest, [source], mode="copy", replace=replace)


def ask_domain_role(parent: QWidget, folder: str) -> str:
    """Ask what to use the saved folder for: 'source', 'target_test' or '' (neither)."""
    box = QMessageBox(parent)
    box.setWindowTitle("Labelled folder saved")
    box.setText(f"Saved {folder}.\nUse it as a domain for training?")
    src = box.addButton("Use as source", QMessageBox.ButtonRole.AcceptRole)
    tst = box.addButton("Use as target test", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
    box.exec()
    return {src: "source", tst: "target_test"}.get(box.clickedButton(), "")  # type: ignore[call-overload]


class ClusterPage(JobPage):
    """Two jobs (cluster, pretrain) and a file copy on one page; the JobPage base runs them."""

    title = "Cluster"
    icon = "SP_FileDialogListView"
    job = cluster.JOB
    run_text, run_tip = "Cluster", "Sort the folder's images into clusters (runs in the background)."
    stop_tip, running_text = "Stop clustering or pretraining.", "Clustering..."
    log_to_status = True
    clustered = Signal(object)  # the ClusterReport
    saved = Signal(str)  # the labelled folder written

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.clusters: ClusterReport | None = None
        self.edits: ClusterEdits | None = None
        self.folder = FolderPicker("Folder of images to sort", recent=state.recent_folders)
        self.features = tipped(
            QComboBox(), "Raw pixels (the baseline), a training run, or a pretraining run (self-taught features)."
        )
        self.features_browse = button("Browse…", clicked=self._on_browse_features)
        self.k = spin(0, 200, 0, "Number of clusters; auto chooses k by silhouette score.", special="auto")
        self.algorithm = QComboBox()
        self.algorithm.addItems(["kmeans", "agglomerative", "hdbscan"])
        self.pretrain_epochs = spin(1, 1000, 30, "")
        self.pretrain_button = button(
            "Pretrain on this folder",
            "SimCLR on the folder's images (no labels); the run becomes the features.",
            self.start_pretraining,
        )
        self.board = ClusterBoard()
        self.name_edit = line_edit("name of the chosen cluster (a class)", entered=self.rename)
        self.rename_button = button("Rename", clicked=self.rename)
        self.merge_button = button("Merge selected", clicked=self.merge)
        self.move_target = QComboBox()
        self.move_button = button("Move images to", clicked=self.move_images)
        self.drop_button = button(
            "Drop images", "Leave the selected images out (outliers); they are not saved.", self.drop_images
        )
        self.undo_button = button("Undo", clicked=self.undo)
        self.dest_edit = line_edit("new folder for the labelled copy")
        self.dest_browse = button("Browse…", clicked=self._on_browse_dest)
        self.replace = QCheckBox("Replace if it exists")
        self.save_button = button("Save as labelled folder", clicked=self.save)
        self._build_layout()
        self.folder.changed.connect(lambda _: self._update_buttons())
        QShortcut(QKeySequence(QKeySequence.StandardKey.Undo), self, self.undo)
        self.board.selection_changed.connect(self._on_selection)
        self.runner.running_changed.connect(lambda _: self._update_buttons())
        state.runs_updated.connect(self.refresh_features)
        self.folder.set_path(state.target or state.target_test)
        self.refresh_features()
        self._update_buttons()

    def _build_layout(self) -> None:
        settings = form(
            ("Folder:", self.folder),
            ("Features:", hbox((self.features, 1), self.features_browse)),
            ("", hbox(self.pretrain_button, "epochs", self.pretrain_epochs, None)),
            ("Clusters (k):", self.k),
            ("Algorithm:", self.algorithm),
        )
        edit = hbox(
            self.name_edit,
            self.rename_button,
            self.merge_button,
            self.move_button,
            self.move_target,
            self.drop_button,
            self.undo_button,
        )
        group = QGroupBox("Clusters: name them, fix them, save them as a labelled folder")
        inner = QVBoxLayout(group)
        inner.addLayout(edit)
        inner.addWidget(self.board, 1)
        inner.addLayout(hbox(self.dest_edit, self.dest_browse, self.replace, self.save_button))
        layout = QVBoxLayout(self)
        layout.addLayout(settings)
        layout.addLayout(self.action_row())
        layout.addWidget(group, 1)

    # ------------------------------------------------------------------ features
    def refresh_features(self, select: str | None = None) -> None:
        from engine.core.runs import list_runs

        wanted = select if select is not None else self.features_value()
        self.features.blockSignals(True)
        self.features.clear()
        self.features.addItem("Raw pixels (baseline)", "pixels")
        for run in list_runs(self.state.runs_dir):
            info = run.info()
            kind = f"pretrain {info.get('method', '')}" if info.get("kind") == "pretrain" else info.get("method", "run")
            self.features.addItem(f"{run.path.name} ({kind})", str(run.path))
        if wanted and self.features.findData(wanted) < 0:
            self.features.addItem(Path(wanted).name, wanted)
        self.features.setCurrentIndex(max(0, self.features.findData(wanted)))
        self.features.blockSignals(False)

    def features_value(self) -> str:
        return str(self.features.currentData() or "pixels")

    def _on_browse_features(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a run folder", str(self.state.runs_dir))
        if folder:
            self.refresh_features(folder)

    def _on_browse_dest(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New folder for the labelled images", str(Path.home()))
        if path:
            self.dest_edit.setText(path)

    # ------------------------------------------------------------------ jobs
    def make_config(self) -> ClusterConfig | None:
        if not self.folder.path():
            errors.show_error(self, "Choose a folder of images first.")
            return None
        return ClusterConfig(
            folder=Path(self.folder.path()),
            features=self.features_value(),
            k=self.k.value() or None,
            algorithm=self.algorithm.currentText(),
        )

    def start_clustering(self) -> None:
        self.start()

    def start_pretraining(self) -> None:
        if self.runner.running:
            return
        if not self.folder.path():
            errors.show_error(self, "Choose a folder of images first.")
            return
        config = PretrainConfig(
            data=[Path(self.folder.path())],
            method="simclr",
            epochs=self.pretrain_epochs.value(),
            batch_size=64,
            lr=8e-3,
            min_scale=0.6,
            runs_dir=self.state.runs_dir,
        )
        self.start_config(pretrain.PretrainRequest(config=config), pretrain.JOB)
        self.status.setText("Pretraining...")

    def on_event(self, event: Event) -> None:
        if isinstance(event, Progress) and "loss" in event.metrics:
            self.status.setText(f"Pretraining: epoch {event.epoch}, loss {event.metrics['loss']:.3f}")
        elif isinstance(event, Finished) and event.stopped:
            self.status.setText("Stopped.")

    def show_report(self, report: Any) -> None:
        if isinstance(report, PretrainReport):
            self.state.runs_updated.emit()
            self.refresh_features(str(report.run_dir))
            self.status.setText(f"Pretrained {report.run_dir.name} ({report.status}); chosen as features.")
        elif isinstance(report, ClusterReport):
            self._show_clusters(report)
        else:  # the labelled folder written by save_job
            self._on_saved(str(report["path"]), int(report["files"]))

    def _show_clusters(self, report: ClusterReport) -> None:
        self.clusters = report
        self.edits = ClusterEdits([(c.name, c.members) for c in report.clusters], report.outliers)
        self.board.set_edits(self.edits)
        text = f"{report.k} clusters of {report.n_images} images ({report.features})"
        if report.silhouette is not None:
            text += f"; silhouette {report.silhouette:.3f}"
        if report.metrics:
            m = report.metrics
            text += f"; vs class folders: NMI {m['nmi']:.3f}, accuracy {m['accuracy']:.1%}"
        self.status.setText(text + ("\n" + "\n".join(report.notes) if report.notes else ""))
        if not self.dest_edit.text():
            folder = Path(report.folder)
            self.dest_edit.setText(str(folder.parent / f"{folder.name}-labelled"))
        self.clustered.emit(report)
        self._after_edit()

    # ------------------------------------------------------------------ edits
    def _edit(self, fn: Any, *args: Any) -> None:
        if self.edits is None:
            return
        try:
            result = fn(*args)
        except UserError as err:
            errors.show_error(self, str(err))
            return
        self.board.refresh(result if isinstance(result, int) else None)
        self._after_edit()

    def rename(self) -> None:
        self._edit(lambda: self.edits.rename(self.board.current_index(), self.name_edit.text()) if self.edits else None)

    def merge(self) -> None:
        self._edit(lambda: self.edits.merge(self.board.selected_groups()) if self.edits else None)

    def move_images(self) -> None:
        index = self.move_target.currentIndex()
        self._edit(lambda: self.edits.move(self.board.selected_images(), index) if self.edits else None)

    def drop_images(self) -> None:
        self._edit(lambda: self.edits.drop(self.board.selected_images()) if self.edits else None)

    def undo(self) -> None:
        if self.edits is not None and self.edits.can_undo:
            what = self.edits.undo()
            self.board.refresh()
            self._after_edit()
            self.status.setText(f"Undone: {what}")

    def _after_edit(self) -> None:
        current = self.move_target.currentIndex()
        self.move_target.clear()
        for g in self.edits.groups if self.edits else []:
            self.move_target.addItem(g.name)
        self.move_target.setCurrentIndex(max(0, min(current, self.move_target.count() - 1)))
        self._on_selection()

    def _on_selection(self) -> None:
        row = self.board.current_index()
        if self.edits is not None and 0 <= row < len(self.edits.groups):
            self.name_edit.setText(self.edits.groups[row].name)
        self._update_buttons()

    # ------------------------------------------------------------------ save
    def save(self) -> None:
        if self.edits is None or self.clusters is None:
            return
        dest = self.dest_edit.text().strip()
        if not dest:
            errors.show_error(self, "Choose a new folder for the labelled images first.")
            return
        self.status.setText("Saving...")
        self.runner.start(save_job, self.edits.labelled_groups(), dest, self.clusters.folder, self.replace.isChecked())

    def _on_saved(self, folder: str, files: int) -> None:
        self.status.setText(
            f"Saved {files} images in {len(self.edits.labelled_groups()) if self.edits else 0} class folders: {folder}"
        )
        self.saved.emit(folder)
        role = ask_domain_role(self, folder)
        s = self.state
        if role == "source":
            s.set_folders(folder, s.target, s.target_test)
        elif role == "target_test":
            s.set_folders(s.source, s.target, folder)

    # ------------------------------------------------------------------ state
    def _update_buttons(self) -> None:
        busy = self.runner.running
        has = self.edits is not None
        for w in (self.run_button, self.pretrain_button):
            w.setEnabled(not busy and bool(self.folder.path()))
        self.stop_button.setEnabled(busy)
        for w in (self.rename_button, self.merge_button, self.move_button, self.drop_button, self.save_button):
            w.setEnabled(has and not busy)
        self.undo_button.setEnabled(has and not busy and bool(self.edits and self.edits.can_undo))
        self.undo_button.setToolTip(
            f"Undo {self.edits.undo_text()}" if self.edits and self.edits.can_undo else "Nothing to undo"
        )

    def on_shown(self) -> None:
        if not self.folder.path():
            self.folder.set_path(self.state.target or self.state.target_test)
        self.refresh_features()
        self._update_buttons()
