"""A first-run guide above the pages: Data -> Train -> Evaluate -> Export, one "Next" away each.

Teachable Machine and Lobe show the path through the tool as a row of steps; this bar does the
same. It knows the steps only by page class name; the main window tells it which page is shown
(`set_current`) and moves to the page it asks for (`go_to(name)`). Pages off the path (Domains,
Robustness...) keep the bar, pointing at the step the user left.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget


@dataclass(frozen=True)
class Step:
    page: str  # page class name
    title: str
    hint: str


STEPS: tuple[Step, ...] = (
    Step("DataPage", "Data", "Choose a labelled source folder (and a target folder to adapt to), then Check them."),
    Step("TrainPage", "Train", "Pick a method and press Start; the plots show the run as it learns."),
    Step("EvaluatePage", "Evaluate", "Measure the finished run on labelled images: accuracy and confusion matrix."),
    Step("ExportPage", "Export", "Save the model as ONNX, checked against PyTorch, to use it anywhere."),
)


class GuideBar(QFrame):
    """Steps, what to do on this one, Back / Next, and a close button (`closed` tells the window)."""

    go_to = Signal(str)  # page class name
    closed = Signal()

    def __init__(self, available: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.steps = [s for s in STEPS if available is None or s.page in available]
        self.index = 0
        self.on_path = True
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("guideBar")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        self.chips: list[QToolButton] = []
        for i, step in enumerate(self.steps):
            chip = QToolButton()
            chip.setText(f"{i + 1}. {step.title}")
            chip.setCheckable(True)
            chip.setAutoRaise(True)
            chip.setToolTip(step.hint)
            chip.clicked.connect(lambda _=False, name=step.page: self.go_to.emit(name))
            row.addWidget(chip)
            self.chips.append(chip)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        row.addWidget(self.hint, 1)
        self.back_button = QPushButton("Back")
        self.back_button.clicked.connect(lambda: self._move(-1))
        self.next_button = QPushButton("Next")
        self.next_button.setDefault(False)
        self.next_button.clicked.connect(lambda: self._move(+1))
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Hide the guide (Help > Show the guide brings it back).")
        close.clicked.connect(self.closed)
        for w in (self.back_button, self.next_button, close):
            row.addWidget(w)
        self._update()

    def step_names(self) -> list[str]:
        return [s.page for s in self.steps]

    def set_current(self, page: str) -> None:
        """The window shows `page`: highlight its step, or remember the last step when off the path."""
        names = self.step_names()
        self.on_path = page in names
        if self.on_path:
            self.index = names.index(page)
        self._update()

    def next_page(self) -> str:
        """The page "Next" opens ('' after the last step)."""
        if not self.steps:
            return ""
        if not self.on_path:
            return self.steps[self.index].page
        return self.steps[self.index + 1].page if self.index + 1 < len(self.steps) else ""

    def _move(self, delta: int) -> None:
        if delta > 0:
            target = self.next_page()
        else:
            target = self.steps[max(0, self.index - (1 if self.on_path else 0))].page if self.steps else ""
        if target:
            self.go_to.emit(target)

    def _update(self) -> None:
        for i, chip in enumerate(self.chips):
            chip.setChecked(self.on_path and i == self.index)
        if not self.steps:
            self.hint.setText("")
            return
        step = self.steps[self.index]
        self.hint.setText(step.hint if self.on_path else f"Off the guide's path; it continues at {step.title}.")
        nxt = self.next_page()
        title = next((s.title for s in self.steps if s.page == nxt), "")
        self.next_button.setText(f"Next: {title} →" if title else "Done")
        self.next_button.setEnabled(bool(nxt))
        self.back_button.setEnabled(not self.on_path or self.index > 0)
