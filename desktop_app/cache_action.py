"""File > Clear decoded-image cache: frees the disk the decoded folders take (they decode again).

The engine keeps every decoded folder on disk (engine.data.image_cache) so a second run starts
at once; this is where a user sees how much that takes and gets it back. Torch-free.
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from engine.data import image_cache


def ask_and_clear(parent: QWidget, confirm: bool = True) -> int:
    """Ask (showing the size), then delete the bundles no run is using; returns the bytes freed."""
    size = image_cache.total_bytes()
    if confirm:
        answer = QMessageBox.question(
            parent,
            "Clear decoded-image cache",
            f"The decoded images of {len(image_cache.bundles())} folder(s) take {size / 2**20:.1f} MB in "
            f"{image_cache.cache_root()}.\n\nClear them? The next run on those folders decodes them again.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return 0
    freed = image_cache.clear()
    QMessageBox.information(parent, "Decoded-image cache", f"{freed / 2**20:.1f} MB freed.")
    return freed


def add_cache_action(menu: QMenu, parent: QWidget) -> QAction:
    action = QAction("Clear decoded-image &cache...", parent)
    action.setToolTip("Delete the decoded images kept on disk so later runs start without decoding.")
    action.triggered.connect(lambda: ask_and_clear(parent))
    menu.addAction(action)
    return action
