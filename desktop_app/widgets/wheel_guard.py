"""Spin boxes and combo boxes take the mouse wheel only when they have the keyboard focus.

Without this, scrolling a long settings form changes whatever value passes under the pointer
(batch size went from 64 to 53). A guarded widget gets Qt.StrongFocus (a wheel no longer focuses
it) and an event filter that hands an unfocused wheel to the enclosing scroll area's scroll bar,
so the form scrolls on.
The filter sits on the guarded widgets only, not on the application: a Python filter on the
QApplication would run for every event of the window.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QWidget

GUARDED = (QAbstractSpinBox, QComboBox)
_MARK = "_wheel_guarded"


class WheelGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            area = watched.parentWidget()
            while area is not None and not isinstance(area, QAbstractScrollArea):
                area = area.parentWidget()
            if area is not None and isinstance(event, QWheelEvent):
                delta = event.angleDelta()
                bar = area.verticalScrollBar() if abs(delta.y()) >= abs(delta.x()) else area.horizontalScrollBar()
                QApplication.sendEvent(bar, event)  # the form scrolls on
            return True  # the value stays as it is
        return False


_guard: WheelGuard | None = None


def guard_wheel(root: QWidget) -> int:
    """Guard `root` (if it is a spin or combo box) and every such widget under it; returns how many are new."""
    global _guard
    if _guard is None:
        _guard = WheelGuard(QApplication.instance())
    widgets = [root] if isinstance(root, GUARDED) else []
    for cls in GUARDED:
        widgets += root.findChildren(cls)
    new = 0
    for w in widgets:
        if w.property(_MARK):
            continue
        w.setProperty(_MARK, True)
        w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        w.installEventFilter(_guard)
        new += 1
    return new
