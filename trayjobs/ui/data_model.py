"""Rows of an imported table (or of ``_rejected``) as a table model the size of the table.

The view's scroll bar spans every row at once: the count is first an estimate (the import
ledger's, shown "≈"), then exact, from one pass over the table on a thread of its own
(:meth:`RowSource.measure`, which also samples the keys so that any row is found at once).
Only the pages the view asks for are read, on worker threads, one read at a time and the
page asked for last first: dragging the scroll bar across ten million rows asks for
pages all the way, and only where it stops is read. At most :data:`MAX_PAGES` pages are
kept, the ones shown least recently dropped, so memory stays the same for a thousand rows
or ten million. A cell whose page has not come yet is empty until it does. The GUI thread
never waits on the database: results come back through the service's queued signal.

Without even an estimate (a view, until it is counted) the model grows as it scrolls, a
page at a time, as Qt's fetchMore asks.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QPalette

from ..kinds.importer.positions import Blob, Measure, RowSource
from ..kinds.importer.problems import RAW_LIMIT

__all__ = ["PagedRows", "PAGE", "MAX_PAGES", "cell_text", "cell_tip", "NULL_TEXT"]

PAGE = 500
#: Pages kept at most: a screenful needs two or three, scrolling back a few more.
MAX_PAGES = 24
#: Pages asked for and not read yet that are remembered, the latest asked for first.
WANTED = 4
#: Longest text a cell shows; the tooltip has up to RAW_LIMIT of it.
CELL_CHARS = 300
#: What a cell without a value (SQL NULL) shows, dimmed: an empty text shows nothing.
NULL_TEXT = "NULL"
#: Characters a one-line cell cannot show, as the visible marks it shows for them: a line
#: break would show only the cell's first line, a tab or control character nothing at all.
#: C1 controls and the bidi embeddings, overrides and isolates have no mark of their own: a
#: right-to-left override would show the rest of the cell backwards ("gnp.exe" for
#: "exe.png"). They show as their code point, as do the line and paragraph separators
#: (U+2028 breaks the cell's line as a line break does).
MARKS = {**{c: chr(0x2400 + c) for c in range(0x20)}, 0x7F: "\u2421",
         ord("\n"): "\u21b5", ord("\t"): "\u2192",
         **{c: f"\u27e8U+{c:04X}\u27e9"
            for c in [*range(0x80, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F),
                   *range(0x2066, 0x206A)]}}


def cell_text(v: Any) -> str:
    """A value as its cell shows it: NULL apart from an empty text, a blob by its size,
    control characters as marks, a long text cut with "…" (its tooltip says so)."""
    if v is None:
        return NULL_TEXT
    if isinstance(v, (bytes, Blob)):
        return f"<{len(v):,} bytes>"
    text = str(v)  # a float's str() is the shortest text that reads back as the same float
    cut = len(text) > CELL_CHARS
    text = (text[:CELL_CHARS] if cut else text).translate(MARKS)
    return text + "…" if cut else text


def _looks_numeric(text: str) -> bool:
    if len(text) > 100:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def cell_tip(v: Any) -> str | None:
    """The tooltip: what the cell cannot say itself (its whole text, up to RAW_LIMIT)."""
    if v is None:
        return "NULL: no value (not an empty text)"
    if isinstance(v, (bytes, Blob)):
        return f"Binary data (BLOB) of {len(v):,} bytes: not shown as text"
    if not isinstance(v, str):
        return None
    if v == "":
        return "An empty text (not NULL)"
    if _looks_numeric(v):
        # Left-aligned is the only other sign: sums and sorting treat it as text.
        return f"Stored as text, not as a number: {v}"
    if len(v) > RAW_LIMIT:
        # A field may be tens of MB: laid out whole, a tooltip would freeze the window.
        return v[:RAW_LIMIT] + f"…\n(only its first {RAW_LIMIT:,} characters are shown)"
    if len(v) > 40 or v != v.translate(MARKS):
        return v
    return None


class PagedRows(QAbstractTableModel):
    """Each row read is a tuple led by its key, which is not shown."""

    #: Page N arrived.
    pageLoaded = Signal(int)
    #: The row count changed, or became exact.
    counted = Signal()
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, *, service) -> None:
        super().__init__(parent)
        self.service = service
        self.headers: list[str] = []
        self.pages: OrderedDict[int, list[tuple]] = OrderedDict()
        self._source: RowSource | None = None
        self._measured: Measure | None = None
        self._total: int | None = None   # rows, as estimated or (once measured) exact
        self._exact = False
        self._known = 0                  # without a total: rows known to be there
        self._wanted: OrderedDict[int, None] = OrderedDict()
        self._inflight: int | None = None
        self._scheduled = False
        self._gen = 0

    def show(self, headers: list[str], source: RowSource, *,
             estimate: int | None = None) -> None:
        """Start over on ``source``; ``estimate``: its row count as far as is known."""
        self.beginResetModel()
        self._start(headers, source)
        self._total = estimate
        self.endResetModel()
        self.counted.emit()
        gen = self._gen
        self.service.call_slow(lambda: source.measure(cancelled=lambda: gen != self._gen),
                               lambda m: self._measured_(gen, m),
                               lambda exc: gen == self._gen and self.failed.emit(str(exc)))
        self._want(0)

    def clear(self) -> None:
        self.beginResetModel()
        self._start([], None)
        self.endResetModel()

    def _start(self, headers: list[str], source: RowSource | None) -> None:
        self._gen += 1
        self.headers, self._source = list(headers), source
        self.pages.clear()
        self._wanted.clear()
        self._measured, self._total, self._exact, self._known = None, None, False, 0
        self._inflight, self._scheduled = None, False

    @property
    def loading(self) -> bool:
        return self._inflight is not None or bool(self._wanted)

    @property
    def total(self) -> int | None:
        return self._total

    @property
    def exact(self) -> bool:
        return self._exact

    def row(self, row: int) -> tuple | None:
        """The values of row ``row`` when its page is held, else None."""
        page = self.pages.get(row // PAGE)
        n = row % PAGE
        return page[n][1:] if page is not None and n < len(page) else None

    # -- reading pages --------------------------------------------------------------------

    def _want(self, page: int) -> None:
        if self._source is None:
            return
        if page in self._wanted:
            self._wanted.move_to_end(page)
        else:
            self._wanted[page] = None
            while len(self._wanted) > WANTED:
                self._wanted.popitem(last=False)
        if not self._scheduled and self._inflight is None:
            # After the paint that asked: a drag asks for many pages, the last one wins.
            self._scheduled = True
            QTimer.singleShot(0, self._dispatch)

    def _dispatch(self) -> None:
        self._scheduled = False
        if self._inflight is not None or self._source is None:
            return
        # Without a count, the page after the rows known is there to be tried.
        rows = self.rowCount() if self._total is not None else self._known + 1
        while self._wanted:
            page, _ = self._wanted.popitem()
            if page not in self.pages and page * PAGE < max(rows, 1):
                break
        else:
            return
        self._inflight = page
        gen, source, measured = self._gen, self._source, self._measured
        self.service.call_slow(lambda: source.page(page * PAGE, PAGE, measured=measured),
                               lambda rows: self._arrived(gen, page, rows),
                               lambda exc: self._failed(gen, exc))

    def _arrived(self, gen: int, page: int, rows: list[tuple]) -> None:
        if gen != self._gen:
            return  # another table was chosen meanwhile
        self._inflight = None
        self.pages[page] = rows
        self.pages.move_to_end(page)
        while len(self.pages) > MAX_PAGES:
            self.pages.popitem(last=False)
        start = page * PAGE
        if len(rows) < PAGE and not self._exact and (rows or page == 0):
            self._set_total(start + len(rows), exact=True)  # read to the end: it is here
        elif self._total is None:
            self._grow(start + len(rows))
        last = min(start + len(rows), self.rowCount()) - 1
        if last >= start and self.headers:
            self.dataChanged.emit(self.index(start, 0),
                                  self.index(last, len(self.headers) - 1))
        self.pageLoaded.emit(page)
        if self._wanted:
            self._dispatch()

    def _measured_(self, gen: int, measured: Measure) -> None:
        if gen != self._gen:
            return
        self._measured = measured
        self._set_total(measured.count, exact=True)

    def _failed(self, gen: int, exc: Exception) -> None:
        if gen == self._gen:
            self._inflight = None
            self._wanted.clear()
            self.failed.emit(str(exc))

    def _set_total(self, total: int, *, exact: bool) -> None:
        old = self.rowCount()
        if total > old:
            self.beginInsertRows(QModelIndex(), old, total - 1)
            self._total, self._exact = total, exact
            self.endInsertRows()
        elif total < old:
            self.beginRemoveRows(QModelIndex(), total, old - 1)
            self._total, self._exact = total, exact
            for page in [p for p in self.pages if p * PAGE >= total]:
                del self.pages[page]
            self.endRemoveRows()
        else:
            self._total, self._exact = total, exact
        self.counted.emit()

    def _grow(self, known: int) -> None:
        if known > self._known:
            self.beginInsertRows(QModelIndex(), self._known, known - 1)
            self._known = known
            self.endInsertRows()
            self.counted.emit()

    # -- Qt: growing where nothing tells the size yet -------------------------------------

    def canFetchMore(self, parent=QModelIndex()) -> bool:
        return (not parent.isValid() and self._source is not None and self._total is None
                and self._known % PAGE == 0 and not self.loading)

    def fetchMore(self, parent=QModelIndex()) -> None:
        if self.canFetchMore(parent):
            self._want(self._known // PAGE)

    # -- Qt -------------------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        if parent.isValid():
            return 0
        return self._total if self._total is not None else self._known

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return cell_text(self.headers[section]) if section < len(self.headers) else None
        return f"{section + 1:,}"

    def value(self, row: int, column: int) -> Any:
        values = self.row(row)
        return values[column] if values is not None else None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        number = index.row() // PAGE
        page = self.pages.get(number)
        if page is None:
            if role == Qt.ItemDataRole.DisplayRole:
                self._want(number)  # shown empty until it comes
                return ""
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            self.pages.move_to_end(number)  # shown: kept the longest
        n = index.row() % PAGE
        if n >= len(page):
            return None
        v = page[n][index.column() + 1]
        if role == Qt.ItemDataRole.DisplayRole:
            return cell_text(v)
        if role == Qt.ItemDataRole.ForegroundRole and v is None:
            return QPalette().brush(QPalette.ColorRole.PlaceholderText)
        if role == Qt.ItemDataRole.ToolTipRole:
            return cell_tip(v)
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(v, (int, float)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
