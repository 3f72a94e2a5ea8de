"""Rows of an imported table (or of ``_rejected``) as a table model that grows as it scrolls.

Pages are read after the key of the last row shown (None for the first page) on the
service thread: the view asks :meth:`fetchMore` when it nears the end, one read is in
flight at a time, and rows are appended when it comes back. The first page of a million-row
table costs what any page costs; nothing counts the whole table.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, Signal

__all__ = ["PagedRows", "PAGE"]

PAGE = 500
#: Longest text a cell shows; the tooltip has up to RAW_LIMIT of it.
CELL_CHARS = 300


class PagedRows(QAbstractTableModel):
    """Each row read is a tuple led by its key, which is not shown."""

    #: A page arrived (the number of rows now held).
    pageLoaded = Signal(int)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, *, service) -> None:
        super().__init__(parent)
        self.service = service
        self.headers: list[str] = []
        self.rows: list[tuple] = []
        self._read: Callable[[Any, int], list[tuple]] | None = None
        self._gen = 0
        self._busy = False
        self._done = True
        self._slow = False

    def show(self, headers: list[str], read: Callable[[Any, int], list[tuple]], *,
             slow: bool = False) -> None:
        """Start over with ``read(after_key, limit)`` as the source (called off the GUI).
        ``slow``: a page may take seconds (read by position, far down a big view), so it is
        read on a thread of its own, not ahead of the commands on the service's queue."""
        self.beginResetModel()
        self._gen += 1
        self.headers, self.rows, self._read = list(headers), [], read
        self._slow = slow
        self._busy, self._done = False, False
        self.endResetModel()
        self.fetchMore(QModelIndex())

    def clear(self) -> None:
        self.beginResetModel()
        self._gen += 1
        self.headers, self.rows, self._read, self._done = [], [], None, True
        self.endResetModel()

    @property
    def loading(self) -> bool:
        return self._busy

    # -- paging ---------------------------------------------------------------------

    def canFetchMore(self, parent=QModelIndex()) -> bool:
        return not parent.isValid() and not self._done and not self._busy

    def fetchMore(self, parent=QModelIndex()) -> None:
        if not self.canFetchMore(parent) or self._read is None:
            return
        self._busy = True
        gen, read = self._gen, self._read
        after = self.rows[-1][0] if self.rows else None
        call = self.service.call_slow if self._slow else self.service.call
        call(lambda: read(after, PAGE), lambda rows: self._arrived(gen, rows),
             lambda exc: self._failed(gen, exc))

    def _arrived(self, gen: int, rows: list[tuple]) -> None:
        if gen != self._gen:
            return  # another table was chosen meanwhile
        self._busy = False
        self._done = len(rows) < PAGE
        if rows:
            n = len(self.rows)
            self.beginInsertRows(QModelIndex(), n, n + len(rows) - 1)
            self.rows.extend(rows)
            self.endInsertRows()
        self.pageLoaded.emit(len(self.rows))

    def _failed(self, gen: int, exc: Exception) -> None:
        if gen == self._gen:
            self._busy, self._done = False, True
            self.failed.emit(str(exc))

    # -- Qt -------------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.headers[section] if section < len(self.headers) else None
        return f"{section + 1:,}"

    def value(self, row: int, column: int) -> Any:
        return self.rows[row][column + 1]

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        v = self.value(index.row(), index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            if v is None:
                return ""
            if isinstance(v, bytes):
                return f"<{len(v):,} bytes>"
            text = str(v)
            return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "…"
        if role == Qt.ItemDataRole.ToolTipRole and isinstance(v, str) and len(v) > 40:
            return v
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(v, (int, float)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
