"""The builders every page makes its widgets with (desktop_app.widgets.form_utils), the runner's
keyword slots, the shared thumbnail decoder and JobPage.can_stop: each checked for what a page
relies on, not only that it builds."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage, QKeySequence
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from desktop_app.jobs import JobRunner
from desktop_app.pages.job_page import JobPage
from desktop_app.widgets.form_utils import (
    action,
    button,
    combo,
    discard,
    error_label,
    form,
    hbox,
    headline,
    line_edit,
    pane,
    spin,
    tipped,
)
from desktop_app.widgets.image_grid import read_scaled
from desktop_app.widgets.run_chooser import RunChooser
from engine.jobs.job import Job


def test_button_calls_its_slot_without_the_checked_argument(qtbot):
    calls: list[tuple] = []

    def slot(*args: object) -> None:
        calls.append(args)

    made = button("Go", "Start it.", slot, enabled=True)
    qtbot.addWidget(made)
    qtbot.mouseClick(made, Qt.MouseButton.LeftButton)
    assert calls == [()]  # a slot with an optional first parameter would otherwise get checked=False
    off = button("Later", enabled=False)
    qtbot.addWidget(off)
    assert made.toolTip() == "Start it." and not off.isEnabled()


def test_hbox_stretches_line_edits_labels_strings_and_honours_explicit_factors(qtbot):
    edit, go, status = tipped(QLineEdit(), "Where to write."), QPushButton("Go"), QLabel()
    layout = hbox("Output:", edit, go, (status, 3), None)
    holder = QWidget()
    holder.setLayout(layout)
    qtbot.addWidget(holder)
    first = layout.itemAt(0).widget()
    assert isinstance(first, QLabel) and first.text() == "Output:"
    assert first.toolTip() == "Where to write."  # the label explains the field it names
    assert [layout.stretch(i) for i in range(layout.count())] == [0, 1, 0, 3, 1]
    assert layout.itemAt(4).spacerItem() is not None  # None is a stretch


def test_form_labels_take_their_fields_tooltips_and_pane_has_no_margins(qtbot):
    box = spin(0, 200, 0, "Number of clusters.", special="auto")
    layout = form(("Clusters:", box), ("Row:", QHBoxLayout()))
    holder = QWidget()
    holder.setLayout(layout)
    qtbot.addWidget(holder)
    label = layout.itemAt(0, QFormLayout.ItemRole.LabelRole).widget()
    assert label.text() == "Clusters:" and label.toolTip() == "Number of clusters."
    assert box.text() == "auto" and box.maximum() == 200
    made = pane(QLabel("a"), (QLabel("b"), 2), spacing=2)
    qtbot.addWidget(made)
    inner = made.layout()
    assert isinstance(inner, QVBoxLayout) and inner.contentsMargins().left() == 0 and inner.spacing() == 2
    assert inner.stretch(1) == 2
    side = pane(QLabel("a"), QLabel("b"), horizontal=True)
    qtbot.addWidget(side)
    assert isinstance(side.layout(), QHBoxLayout)


def test_small_builders_set_what_they_name(qtbot):
    chosen = combo([("PCA", "pca"), ("t-SNE", "tsne")], "Projection.")
    qtbot.addWidget(chosen)
    assert [chosen.itemData(i) for i in range(chosen.count())] == ["pca", "tsne"] and chosen.toolTip() == "Projection."
    entered: list[str] = []
    edit = line_edit("new class", "A class name.", entered=lambda: entered.append("yes"))
    qtbot.addWidget(edit)
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert edit.placeholderText() == "new class" and entered == ["yes"]
    big = headline("Accuracy: –", scale=1.6)
    qtbot.addWidget(big)
    assert big.font().bold() and big.font().pointSizeF() > QLabel().font().pointSizeF() * 1.5
    error = error_label("eps = -1 is negative", visible=False)
    qtbot.addWidget(error)
    assert "#d32f2f" in error.styleSheet() and error.wordWrap() and error.isHidden()
    holder = QWidget()
    qtbot.addWidget(holder)
    hits: list[int] = []
    act = action(holder, "&Next", lambda: hits.append(1), "Ctrl+]", "Next step.")
    act.trigger()
    assert hits == [1] and act.shortcut() == QKeySequence("Ctrl+]") and act.toolTip() == "Next step (Ctrl+])."


def test_discard_takes_the_widget_out_at_once(qtbot):
    holder = QWidget()
    layout = QVBoxLayout(holder)
    old = QComboBox()
    layout.addWidget(old)
    qtbot.addWidget(holder)
    discard(old, layout)
    assert layout.count() == 0 and old.parent() is None and old.isHidden()


def _png(path: Path, width: int, height: int) -> str:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    for x in range(0, width, 2):
        image.setPixelColor(x, 0, QColor("black"))  # a pixel pattern that smoothing would blur
    image.save(str(path))
    return str(path)


def test_read_scaled_fits_large_and_small_images_in_the_square(tmp_path, qapp):
    large = read_scaled(_png(tmp_path / "large.png", 400, 200), 96)
    assert (large.width(), large.height()) == (96, 48)
    small = _png(tmp_path / "small.png", 8, 4)
    crisp = read_scaled(small, 96)
    smooth = read_scaled(small, 96, Qt.TransformationMode.SmoothTransformation)
    assert (crisp.width(), crisp.height()) == (96, 48) == (smooth.width(), smooth.height())
    greys = {QColor(crisp.pixel(QPoint(x, 0))).name() for x in range(96)}
    assert greys == {"#000000", "#ffffff"}  # Fast keeps the pixels crisp
    blended = {QColor(smooth.pixel(QPoint(x, 0))).name() for x in range(96)}
    assert len(blended - {"#000000", "#ffffff"}) > 2  # Smooth blends them into greys
    assert read_scaled(str(tmp_path / "missing.png"), 96).isNull()


def test_job_runner_connects_its_keyword_slots(qtbot):
    got: dict[str, list] = {"events": [], "finished": [], "running": []}
    runner = JobRunner(
        events=got["events"].extend, finished=got["finished"].append, running_changed=got["running"].append
    )
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.start(lambda emit, control: 42)
    assert got["finished"] == [42] and got["running"] == [True, False]


def test_run_chooser_tooltip_is_its_combos(qtbot, app_state):
    chooser = tipped(RunChooser(app_state), "The run to inspect.")
    qtbot.addWidget(chooser)
    assert chooser.combo.toolTip() == "The run to inspect."


class _Nothing(BaseModel):
    pass


QUICK = Job("quick", "a job too short to stop", _Nothing, _Nothing, lambda config, emit, control: _Nothing())


class _Stoppable(JobPage):
    job = QUICK

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        QVBoxLayout(self).addLayout(self.action_row())


class _Quick(_Stoppable):
    can_stop = False


@pytest.mark.parametrize("cls, shown", [(_Quick, False), (_Stoppable, True)])
def test_can_stop_false_hides_the_stop_button(qtbot, app_state, cls, shown):
    page = cls(app_state)
    qtbot.addWidget(page)
    page.show()
    assert page.stop_button.isVisible() is shown and page.run_button.isVisible()
