"""The one way a list of rows is shown: a read-only, row-selecting table view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractItemView, QTableView

__all__ = ["row_table", "DoubleClickOpens"]


def row_table(model: QAbstractItemModel, *, name: str, accessible: str) -> QTableView:
    """A table over ``model``: whole rows selected one at a time, no editing in place, Tab
    leaves the table (arrows move within it), and a context menu the caller connects."""
    view = QTableView()
    view.setObjectName(name)
    view.setAccessibleName(accessible)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.setTabKeyNavigation(False)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    return view


class DoubleClickOpens(QObject):
    """A double-click on ``view`` opens what was under the cursor when it was pressed:
    ``key(row)`` names it then (a run's id; None: nothing there), ``open(key)`` opens it.

    Qt's own double-click looks at the row under the cursor at the second click, and
    does nothing unless that is the row pressed first: in a list where new rows arrive at
    the top, rows slide down under the cursor between the two clicks, and the double-click
    was lost. Enter (``activated``) is the caller's to connect; a double-click no longer
    activates."""

    def __init__(self, view: QTableView, key: Callable[[int], Any | None],
                 open: Callable[[Any], None]) -> None:
        super().__init__(view)
        self.view, self.key, self.open = view, key, open
        self.pressed: Any | None = None
        view.viewport().installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick) \
                or event.button() != Qt.MouseButton.LeftButton:
            return False
        if kind == QEvent.Type.MouseButtonPress:
            index = self.view.indexAt(event.position().toPoint())
            self.pressed = self.key(index.row()) if index.isValid() else None
            return False
        if self.pressed is not None:
            self.open(self.pressed)
        return True  # not Qt's: it would look at the row under the cursor now
