"""Small builders the pages share, so a page states what it shows rather than how to wire it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QPushButton, QSplitter, QWidget

LABELLED_HINT = "A labelled folder: one sub-folder of images per class"


def folder_edit(tip: str, placeholder: str = LABELLED_HINT) -> tuple[QLineEdit, QPushButton]:
    """A folder path field and its Browse... button (the page connects the button)."""
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    edit.setToolTip(tip)
    browse = QPushButton("Browse...")
    browse.setToolTip("Choose the labelled folder.")
    return edit, browse


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
