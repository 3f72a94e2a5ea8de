"""Scrolling a long form scrolls the form, not the field that passes under the pointer.

The job editor and Settings are forms in scroll areas, full of drop-down lists and number
boxes. Qt hands a wheel turn to whichever of these is under the pointer, so scrolling down
a form quietly changed "Power: as Settings say" to "on battery too" on its way past, and
Save wrote it. Here a wheel turn over such a field that the person has not clicked into
scrolls the surrounding area instead; once clicked (focused), the wheel changes the field
as before.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QScrollArea, QWidget

__all__ = ["WheelGuard", "guard_wheel"]


def _scroll_area(w: QWidget) -> QScrollArea | None:
    p = w.parentWidget()
    while p is not None:
        if isinstance(p, QScrollArea):
            return p
        p = p.parentWidget()
    return None


class WheelGuard(QObject):
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        kind = event.type()
        if kind not in (QEvent.Type.Wheel, QEvent.Type.Polish) or not isinstance(
                obj, (QComboBox, QAbstractSpinBox)):
            return False
        if kind == QEvent.Type.Polish:
            # These take the focus from a wheel turn by default (Qt gives it before any
            # filter sees the turn, so the field would count as clicked into): click or Tab
            # only.
            if obj.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                obj.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            return False
        if obj.hasFocus():
            return False
        area = _scroll_area(obj)
        if area is None:
            return False
        bar = (area.horizontalScrollBar() if event.angleDelta().y() == 0
               else area.verticalScrollBar())
        QCoreApplication.sendEvent(bar, event)
        return True


def guard_wheel(app: QApplication) -> WheelGuard:
    """Install the guard on the whole application (kept alive as the app's child)."""
    guard = WheelGuard(app)
    app.installEventFilter(guard)
    return guard
