"""The Runs page's "Report" dialog: where to write the report card, on which labelled folder,
whether to run a quick PGD sweep, and the model card text, editable before anything is saved."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from engine.core.runs import open_run
from engine.jobs.report import ReportConfig
from engine.report.card import model_card_template


class ReportDialog(QDialog):
    """`config()` gives the report job's config from the fields (after the user clicked Write)."""

    def __init__(self, run_dir: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.setWindowTitle(f"Report card: {self.run_dir.name}")
        info = open_run(self.run_dir).info()
        self.out_edit = QLineEdit(str(self.run_dir / "report.html"))
        self.out_edit.setToolTip("One HTML file with every image inside it: it opens offline and can be mailed.")
        self.data_edit = QLineEdit(str(info.get("target_test") or ""))
        self.data_edit.setPlaceholderText("the run's target test folder, if it has one")
        self.data_edit.setToolTip("Labelled target folder (class sub-folders) for target accuracy and calibration.")
        self.robustness = QCheckBox("Run a quick PGD robustness sweep (a minute or more)")
        self.robustness.setToolTip("Saved robustness reports of the run are always included.")
        self.card = QPlainTextEdit(model_card_template(self.run_dir))
        self.card.setToolTip("The model card printed at the end of the report: edit it before writing.")
        if info.get("status") in ("running", "paused"):
            note = QLabel("This run is still training: the report will use its last checkpoint and say so.")
            note.setWordWrap(True)
        else:
            note = QLabel("")
        form = QFormLayout()
        form.addRow("Write to:", self.out_edit)
        form.addRow("Labelled target:", self.data_edit)
        form.addRow("", self.robustness)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Write report")
        self.write_button = ok
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(QLabel("Model card (intended use, limitations):"))
        layout.addWidget(self.card, 1)
        layout.addWidget(self.buttons)
        self.resize(640, 520)

    def config(self) -> ReportConfig:
        data = self.data_edit.text().strip()
        return ReportConfig(
            run_dir=self.run_dir,
            out=Path(self.out_edit.text().strip() or self.run_dir / "report.html"),
            data=Path(data) if data else None,
            robustness=self.robustness.isChecked(),
            model_card=self.card.toPlainText(),
        )
