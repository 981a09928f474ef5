"""Small builders the pages share, so a page states what it shows rather than how to wire it.

A widget with its tooltip, a button with its slot, a row of widgets: each was four to six lines
of set-up repeated on every page; here each is one call, so a page's constructor reads as the
list of what it shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

LABELLED_HINT = "A labelled folder: one sub-folder of images per class"
W = TypeVar("W", bound=QWidget)
L = TypeVar("L", bound=QBoxLayout)
RowPart = QWidget | QLayout | str | tuple[QWidget | QLayout, int]


def tipped(widget: W, tip: str) -> W:
    """`widget` with its tooltip set, so it can be made and explained in one statement."""
    widget.setToolTip(tip)
    return widget


def button(text: str, tip: str = "", clicked: Callable[[], Any] | None = None, *, enabled: bool = True) -> QPushButton:
    """A push button with its tooltip, its slot (called without the `checked` argument) and its
    initial enabled state."""
    made = QPushButton(text)
    made.setToolTip(tip)
    made.setEnabled(enabled)
    if clicked is not None:
        made.clicked.connect(lambda *_: clicked())
    return made


def line_edit(placeholder: str = "", tip: str = "", entered: Callable[[], Any] | None = None) -> QLineEdit:
    """A one-line text field with its grey hint, tooltip and the slot Enter calls."""
    made = QLineEdit()
    made.setPlaceholderText(placeholder)
    made.setToolTip(tip)
    if entered is not None:
        made.returnPressed.connect(entered)
    return made


def label(text: str = "", tip: str = "", *, wrap: bool = True) -> QLabel:
    """A label that wraps its text (the pages' status and summary lines are sentences)."""
    made = QLabel(text)
    made.setWordWrap(wrap)
    if tip:
        made.setToolTip(tip)
    return made


def log_view(tip: str, max_lines: int) -> QPlainTextEdit:
    """A read-only text box for a job's messages, keeping the last `max_lines` lines."""
    view = QPlainTextEdit()
    view.setReadOnly(True)
    view.setMaximumBlockCount(max_lines)
    view.setToolTip(tip)
    return view


def combo(items: Iterable[tuple[str, Any]], tip: str = "") -> QComboBox:
    """A combo box of (shown text, data) items."""
    made = QComboBox()
    for text, data in items:
        made.addItem(text, data)
    made.setToolTip(tip)
    return made


def hbox(*parts: RowPart | None) -> QHBoxLayout:
    """Widgets and layouts side by side. A string becomes a label (with the tooltip of the part
    after it), a line edit takes the spare width, `(part, n)` sets the stretch factor n, and
    None is a stretch."""
    return _fill(QHBoxLayout(), parts)


def pane(*parts: RowPart | None, horizontal: bool = False, spacing: int = -1, into: QWidget | None = None) -> QWidget:
    """A widget holding `parts` stacked (or side by side) without margins, as `hbox` reads them:
    one pane of a splitter, or a row to show and hide as one; `into` lays them out in that widget
    (a composite widget's own layout) instead of a new one. `spacing` -1 keeps the style's."""
    made = QWidget() if into is None else into
    layout = _fill(QHBoxLayout(made) if horizontal else QVBoxLayout(made), parts)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(spacing)
    return made


def _fill(layout: L, parts: tuple[RowPart | None, ...]) -> L:
    for i, part in enumerate(parts):
        if part is None:
            layout.addStretch(1)
            continue
        item, factor = part if isinstance(part, tuple) else (part, 1 if isinstance(part, QLineEdit) else 0)
        if isinstance(item, str):
            item = explained(QLabel(item), parts[i + 1] if i + 1 < len(parts) else None)
        if isinstance(item, QLayout):
            layout.addLayout(item, factor)
        else:
            layout.addWidget(item, factor)
    return layout


def form(*rows: tuple[str, QWidget | QLayout], parent: QWidget | None = None) -> QFormLayout:
    """A form of (label, field) rows, each label explained by its field's tooltip."""
    layout = QFormLayout(parent) if parent is not None else QFormLayout()
    for text, field in rows:
        layout.addRow(explained(QLabel(text), field), field)
    return layout


def explained(label: QLabel, part: object) -> QLabel:
    """`label` with the tooltip of the widget it names (so hovering the label explains the field)."""
    if isinstance(part, tuple):
        part = part[0]
    if isinstance(part, QWidget) and part.toolTip():
        label.setToolTip(part.toolTip())
    return label


def spin(low: int, high: int, value: int, tip: str, special: str = "", suffix: str = "") -> QSpinBox:
    """An integer box with its range, value and tooltip; `special` is shown for the lowest value
    (e.g. "auto", "all") and `suffix` after the number (e.g. " s")."""
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setToolTip(tip)
    box.setSpecialValueText(special)
    box.setSuffix(suffix)
    return box


ERROR_COLOUR = "#d32f2f"


def error_label(text: str = "", *, visible: bool = True) -> QLabel:
    """A wrapped red label that says what is wrong with an input (hidden until there is something
    to say, with `visible=False`)."""
    made = label(text)
    made.setStyleSheet(f"color: {ERROR_COLOUR};")
    if not visible:  # never show(): a widget without a parent yet would open as a window
        made.hide()
    return made


def headline(text: str = "", tip: str = "", scale: float = 1.3) -> QLabel:
    """A wrapped bold label `scale` times the normal size, for a page's one key figure."""
    made = label(text, tip)
    font = made.font()
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(True)
    made.setFont(font)
    return made


def action(
    parent: QWidget,
    text: str,
    triggered: Callable[[], Any],
    shortcut: str | QKeySequence.StandardKey | None = None,
    tip: str = "",
) -> QAction:
    """A menu/toolbar action with its shortcut and tooltip, connected to `triggered`; a tooltip
    ends with its shortcut when that is written out (e.g. "... (Ctrl+R)")."""
    made = QAction(text, parent)
    if shortcut is not None:
        made.setShortcut(QKeySequence(shortcut))
    if tip:
        made.setToolTip(f"{tip.rstrip('.')} ({shortcut})." if isinstance(shortcut, str) else tip)
    made.triggered.connect(lambda *_: triggered())
    return made


def discard(widget: QWidget, layout: QLayout) -> None:
    """Take `widget` out of `layout` and delete it now (hidden at once, freed by Qt's event loop)."""
    layout.removeWidget(widget)
    widget.hide()
    widget.setParent(None)
    widget.deleteLater()


def folder_edit(tip: str, placeholder: str = LABELLED_HINT) -> tuple[QLineEdit, QPushButton]:
    """A folder path field and its Browse... button (the page connects the button)."""
    return line_edit(placeholder, tip), button("Browse...", "Choose the labelled folder.")


def splitter(
    orientation: Qt.Orientation,
    *parts: QWidget,
    stretch: tuple[int, ...] = (3, 2),
    sizes: tuple[int, ...] = (),
) -> QSplitter:
    """`parts` side by side (or stacked) with the given stretch factors and initial sizes."""
    split = QSplitter(orientation)
    for i, part in enumerate(parts):
        split.addWidget(part)
        if i < len(stretch):
            split.setStretchFactor(i, stretch[i])
    if sizes:
        split.setSizes(list(sizes))
    return split
