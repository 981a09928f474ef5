"""Data page: choose the source, target and target-test folders, check their health, browse them.

"Check" runs the engine's check job (engine.jobs.check) through the JobPage base (progress
bar, stoppable) and shows its report: per-class counts per domain, every warning and error, every unreadable file with its
reason, and a thumbnail grid per domain and class. The folders go to the shared AppState.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHeaderView,
    QLabel,
    QStyle,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app import errors
from desktop_app.pages.job_page import JobPage
from desktop_app.state import AppState
from desktop_app.widgets.bar_chart import ClassCountsChart
from desktop_app.widgets.folder_picker import FolderPicker
from desktop_app.widgets.form_utils import form, hbox, splitter, tipped
from desktop_app.widgets.image_grid import ImageGrid
from engine.core.config import TrainConfig
from engine.data.health import FoldersReport
from engine.jobs import check
from engine.jobs.check import CheckConfig, CheckReport, FolderImages

DOMAIN_TITLES = {"source": "Source", "target": "Target", "target_test": "Target test"}
_LEVEL_ICONS = {
    "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
}


def _tip(field: str) -> str:
    return TrainConfig.model_fields[field].description or ""


class DataPage(JobPage):
    title = "Data"
    icon = "SP_DirIcon"
    job = check.JOB
    run_text, run_tip = (
        "Check folders",
        "Open every image once and report what would hurt training (runs in the background).",
    )
    stop_tip, running_text = "Stop the check.", "Checking…"

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.folders_seen: dict[str, FolderImages] = {}
        self.checked_folders: tuple[str, str, str] | None = None  # what the shown report is about
        self._build()
        self._on_state_folders()
        state.folders_changed.connect(self._on_state_folders)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        recent = self.state.recent_folders
        self.source_picker = FolderPicker(
            "Labelled source folder: one sub-folder per class", _tip("source"), recent, self
        )
        self.target_picker = FolderPicker(
            "Optional: target folder (unlabelled images are fine)", _tip("target"), recent, self
        )
        self.test_picker = FolderPicker(
            "Optional: labelled target test folder (to measure accuracy)", _tip("target_test"), recent, self
        )
        for picker in (self.source_picker, self.target_picker, self.test_picker):
            picker.changed.connect(self._on_picker_changed)
        folders = QGroupBox("Folders")
        folder_form = form(
            ("Source", self.source_picker),
            ("Target", self.target_picker),
            ("Target test", self.test_picker),
            parent=folders,
        )

        self.check_button = self.run_button
        self.progress.setFormat("%v / %m images")
        self.progress.setToolTip("Images checked so far.")
        self.progress.setMaximumWidth(16_777_215)
        self.progress.setVisible(True)
        self.status.setText("Choose the folders, then check them.")
        self.status.setTextFormat(Qt.TextFormat.RichText)
        folder_form.addRow(hbox(self.check_button, self.stop_button, (self.progress, 1)))
        folder_form.addRow(self.status)

        self.chart = ClassCountsChart(self)
        self.chart.setMinimumHeight(180)
        self.issues = QTreeWidget()
        self.issues.setHeaderLabels(["Level", "Finding", "Where"])
        self.issues.setRootIsDecorated(False)
        self.issues.setWordWrap(True)
        self.issues.setToolTip("Warnings and errors found by the health check.")
        self.unreadable = QTreeWidget()
        self.unreadable.setHeaderLabels(["Domain", "File", "Reason"])
        self.unreadable.setRootIsDecorated(False)
        self.unreadable.setToolTip("Files that cannot be decoded; training skips them.")
        for tree in (self.issues, self.unreadable):
            header = tree.header()
            header.setStretchLastSection(False)
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
            header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
            header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(2, 200)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.issues, "Issues")
        self.tabs.addTab(self.unreadable, "Unreadable files")
        left = splitter(Qt.Orientation.Vertical, self.chart, self.tabs, stretch=(), sizes=(260, 240))

        self.domain_combo = tipped(QComboBox(), "Which folder's images to show.")
        self.class_combo = tipped(QComboBox(), "Show one class, or all images of the folder.")
        self.domain_combo.currentIndexChanged.connect(self._on_domain_selected)
        self.class_combo.currentIndexChanged.connect(self._on_class_selected)
        self.image_count = QLabel("")
        self.grid = ImageGrid(parent=self)
        images = QGroupBox("Images")
        col = QVBoxLayout(images)
        col.addLayout(hbox("Domain", (self.domain_combo, 1), "Class", (self.class_combo, 1), self.image_count))
        col.addWidget(self.grid, 1)

        body = splitter(Qt.Orientation.Horizontal, left, images)
        layout = QVBoxLayout(self)
        layout.addWidget(folders)
        layout.addWidget(body, 1)

    # ------------------------------------------------------------------ API
    def folders(self) -> tuple[str, str, str]:
        return self.source_picker.path(), self.target_picker.path(), self.test_picker.path()

    def check(self) -> bool:
        """Start the health check of the chosen folders; False when it cannot start."""
        return self.start()

    def make_config(self) -> CheckConfig | None:
        source, target, test = self.folders()
        if not source:
            errors.show_error(self, "Choose a source folder first: a folder with one sub-folder of images per class.")
            return None
        self.state.set_folders(source, target, test)
        self.checked_folders = (source, target, test)
        return CheckConfig(source=source, target=target or None, target_test=test or None, cache=True)

    def set_inputs_enabled(self, enabled: bool) -> None:
        for picker in (self.source_picker, self.target_picker, self.test_picker):
            picker.setEnabled(enabled)

    def shutdown(self) -> None:
        super().shutdown()
        self.grid.thumbnails.shutdown()

    def show_images(self, domain: str, class_name: str | None = None) -> None:
        """Select a domain (and a class, or None for all) in the thumbnail grid."""
        i = self.domain_combo.findData(domain)
        if i >= 0:
            self.domain_combo.setCurrentIndex(i)
        j = self.class_combo.findData(class_name)
        if j >= 0:
            self.class_combo.setCurrentIndex(j)

    # ------------------------------------------------------------------ slots
    def _on_picker_changed(self, _: str) -> None:
        self.state.set_folders(*self.folders())
        self._clear_if_stale()

    def _clear_if_stale(self) -> None:
        """A report about other folders must not stay on screen: clear it and ask for a new check."""
        if self.checked_folders is None or self.checked_folders == self.folders() or self.runner.running:
            return
        self.checked_folders = None
        self.report = None
        self.folders_seen = {}
        self.chart.set_counts({})
        self.issues.clear()
        self.unreadable.clear()
        with QSignalBlocker(self.domain_combo):
            self.domain_combo.clear()
        self._on_domain_selected(0)
        self.progress.setVisible(False)
        self.status.setText("The folders changed since the last check: press <b>Check folders</b> to check them.")

    def _on_state_folders(self) -> None:
        s = self.state
        for picker, value in (
            (self.source_picker, s.source),
            (self.target_picker, s.target),
            (self.test_picker, s.target_test),
        ):
            if picker.path() != value:
                picker.set_path(value)
        self._clear_if_stale()

    def on_failed(self, message: str) -> None:
        self.status.setText(f"<span style='color:#d32f2f'>Check failed:</span> {_escape(message)}")

    def show_report(self, report: CheckReport) -> None:
        if report.health is None:
            self.status.setText("Check stopped.")
            self.progress.setValue(0)
            self.report = None
            return
        self.folders_seen = report.folders
        self._show_report(report.health)

    def _on_domain_selected(self, _: int) -> None:
        folder = self.folders_seen.get(self.domain_combo.currentData())
        with QSignalBlocker(self.class_combo):
            self.class_combo.clear()
            if folder is not None:
                self.class_combo.addItem(f"All ({len(folder.paths)})", None)
                for name in folder.classes:
                    self.class_combo.addItem(f"{name} ({folder.count(name)})", name)
        self._on_class_selected(0)

    def _on_class_selected(self, _: int) -> None:
        folder = self.folders_seen.get(self.domain_combo.currentData())
        if folder is None:
            self.grid.set_paths([])
            self.image_count.setText("")
            return
        paths = folder.paths_of(self.class_combo.currentData())
        self.grid.set_paths(paths)
        self.image_count.setText(f"{len(paths):,} images")

    # ------------------------------------------------------------------ report
    def _show_report(self, report: FoldersReport) -> None:
        parts = []
        for r in report.reports():
            title = DOMAIN_TITLES.get(r.domain, r.domain)
            kind = f"{len(r.classes)} classes" if r.labelled else "unlabelled"
            bad = f", <b>{len(r.unreadable)} unreadable</b>" if r.unreadable else ""
            parts.append(f"<b>{title}</b>: {r.num_images:,} images, {kind}{bad}")
        verdict = (
            "<span style='color:#d32f2f'><b>Errors: fix them before training.</b></span>"
            if report.has_errors
            else "<span style='color:#2e7d32'><b>OK to train.</b></span>"
        )
        self.status.setText(" · ".join(parts) + " — " + verdict)
        self.chart.set_counts(
            {DOMAIN_TITLES.get(r.domain, r.domain): r.class_counts for r in report.reports() if r.labelled}
        )
        self._fill_issues(report)
        self._fill_unreadable(report)
        current = self.domain_combo.currentData()
        with QSignalBlocker(self.domain_combo):
            self.domain_combo.clear()
            for name in self.folders_seen:
                self.domain_combo.addItem(DOMAIN_TITLES.get(name, name), name)
        i = self.domain_combo.findData(current)
        self.domain_combo.setCurrentIndex(max(0, i))
        self._on_domain_selected(self.domain_combo.currentIndex())

    def _fill_issues(self, report: FoldersReport) -> None:
        self.issues.clear()
        style = self.style()
        found = [(DOMAIN_TITLES.get(r.domain, r.domain), i) for r in report.reports() for i in r.issues]
        found += [("Across folders", i) for i in report.issues]
        order = {"error": 0, "warning": 1, "info": 2}
        for where, issue in sorted(found, key=lambda f: order.get(f[1].level, 3)):
            item = QTreeWidgetItem([issue.level, issue.message, issue.path or where])
            item.setIcon(
                0, style.standardIcon(_LEVEL_ICONS.get(issue.level, QStyle.StandardPixmap.SP_MessageBoxInformation))
            )
            item.setToolTip(1, issue.message)
            item.setToolTip(2, issue.path or where)
            self.issues.addTopLevelItem(item)
        if not found:
            self.issues.addTopLevelItem(QTreeWidgetItem(["ok", "No problems found.", ""]))
        errors_n = sum(1 for _, i in found if i.level == "error")
        warnings_n = sum(1 for _, i in found if i.level == "warning")
        self.tabs.setTabText(0, f"Issues ({errors_n} errors, {warnings_n} warnings)")

    def _fill_unreadable(self, report: FoldersReport) -> None:
        self.unreadable.clear()
        n = 0
        for r in report.reports():
            for u in r.unreadable:
                item = QTreeWidgetItem([DOMAIN_TITLES.get(r.domain, r.domain), u["path"], u["reason"]])
                item.setToolTip(1, u["path"])
                item.setToolTip(2, u["reason"])
                self.unreadable.addTopLevelItem(item)
                n += 1
        self.tabs.setTabText(1, f"Unreadable files ({n})")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
