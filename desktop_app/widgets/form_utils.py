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
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QSplitter,
    QWidget,
)

LABELLED_HINT = "A labelled folder: one sub-folder of images per class"
W = TypeVar("W", bound=QWidget)
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


def label(text: str = "", tip: str = "", *, wrap: bool = True) -> QLabel:
    """A label that wraps its text (the pages' status and summary lines are sentences)."""
    made = QLabel(text)
    made.setWordWrap(wrap)
    if tip:
        made.setToolTip(tip)
    return made


def combo(items: Iterable[tuple[str, Any]], tip: str = "") -> QComboBox:
    """A combo box of (shown text, data) items."""
    made = QComboBox()
    for text, data in items:
        made.addItem(text, data)
    made.setToolTip(tip)
    return made


def row(*parts: RowPart, stretch: bool = False) -> QHBoxLayout:
    """Widgets and layouts side by side: a string becomes a label, `(part, n)` gets stretch
    factor n, and `stretch=True` pushes everything to the left."""
    layout = QHBoxLayout()
    for part in parts:
        item, factor = part if isinstance(part, tuple) else (part, 0)
        if isinstance(item, str):
            item = QLabel(item)
        if isinstance(item, QLayout):
            layout.addLayout(item, factor)
        else:
            layout.addWidget(item, factor)
    if stretch:
        layout.addStretch(1)
    return layout


def action(
    parent: QWidget,
    text: str,
    triggered: Callable[[], Any],
    shortcut: str | QKeySequence.StandardKey | None = None,
    tip: str = "",
) -> QAction:
    """A menu/toolbar action with its shortcut and tooltip, connected to `triggered`."""
    made = QAction(text, parent)
    if shortcut is not None:
        made.setShortcut(QKeySequence(shortcut))
    if tip:
        made.setToolTip(tip)
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
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    edit.setToolTip(tip)
    return edit, button("Browse...", "Choose the labelled folder.")


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
