"""The Data page: what the import jobs brought in, and the rows they set aside.

On the left, each import job's database with its tables (row counts from the
import ledger) and its rejected rows; on the right, the chosen one, the scroll bar over
all its rows, read a page at a time where it is scrolled to (see data_model). For
rejected rows, "Fix and re-import…" writes a file's rejected rows under its header line
to a new file and opens it for editing; "Re-import" then runs the job on that file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QKeySequence, QRegularExpressionValidator, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPushButton, QSplitter, QTableView, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from ..kinds.importer import browse, positions
from .data_model import PAGE, PagedRows, cell_text

__all__ = ["DataPage"]

NODE_ROLE = Qt.ItemDataRole.UserRole + 1
#: Widest a column starts (pixels); a long reason or raw line is in the tooltip.
MAX_COLUMN = 320
#: Room around a cell's text (pixels).
CELL_PADDING = 14


#: What the page says before there is a table to show.
NOTHING_IMPORTED = ("Nothing imported yet. Drop a CSV, TSV, JSON or spreadsheet file on this "
                    "window, or into the folder an import job watches: its rows show here, and "
                    "any it could not take under Rejected rows.")
NO_IMPORT_JOB = ("This page shows the tables that import jobs fill, and there is no import job "
                 "yet: create one with New job… on the Jobs page (kind import).")


class DataPage(QWidget):
    def __init__(self, app, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.setObjectName("dataPage")
        self.db: Path | None = None
        self.table: str | None = None        # None: the rejected rows are shown
        self.fix: tuple[str, Path] | None = None   # (job, file) ready to re-import
        self._jobs_of: dict[Path, list[str]] = {}
        self._infos: dict[tuple[Path, str], browse.TableInfo] = {}
        self.ledger_rows: int | None = None  # the chosen table's rows, by the ledger
        self.by_position = False              # ... read by OFFSET, for want of a key

        self.tree = QTreeWidget()
        self.tree.setObjectName("dataTables")
        self.tree.setAccessibleName("Databases and tables")
        self.tree.setHeaderLabels(["Table", "Rows"])
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        self.tree.itemSelectionChanged.connect(self._chosen)

        self.title = QLabel("Choose a table on the left.")
        self.title.setObjectName("dataTitle")
        self.title.setWordWrap(True)
        self.run_filter = QLineEdit(placeholderText="run #")
        self.run_filter.setAccessibleName("Rejected rows of run")
        self.run_filter.setMaximumWidth(90)
        # A run's number, as "12" or "#12": anything else, taken, was quietly ignored.
        self.run_filter.setValidator(QRegularExpressionValidator(
            QRegularExpression(r"#?[0-9]{0,12}"), self.run_filter))
        self.file_filter = QLineEdit(placeholderText="file name")
        self.file_filter.setAccessibleName("Rejected rows of file")
        for edit in (self.run_filter, self.file_filter):
            edit.setClearButtonEnabled(True)
            edit.editingFinished.connect(self._filter_changed)
        self.filters = QWidget()
        fl = QHBoxLayout(self.filters)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(QLabel("Run:"))
        fl.addWidget(self.run_filter)
        fl.addWidget(QLabel("File:"))
        fl.addWidget(self.file_filter, 1)

        self.model = PagedRows(self, service=app.service)
        self.model.pageLoaded.connect(self._page_loaded)
        self.model.counted.connect(self._counted)
        # Columns widen to fit the rows shown (none past MAX_COLUMN) until the person
        # sizes one: the first page of a big table has its narrowest numbers.
        self._fit_columns = True
        self._fitting = False
        self._fitted: set[int] = set()  # columns fitted since the table was opened
        self.model.modelReset.connect(self._refit)
        self.model.failed.connect(lambda msg: self.note.setText(_unreadable(msg)))
        self.view = QTableView()
        self.view.setObjectName("dataRows")
        self.view.setAccessibleName("Rows")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        # One height for every row: the header keeps no size per row of ten million.
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        # A double click on a column's edge fits it to the rows on screen: Qt's default also
        # measures the 1,000 around them, which asks for pages nobody looks at.
        self.view.verticalHeader().setResizeContentsPrecision(0)
        self.view.horizontalHeader().setStretchLastSection(False)  # numbers stay by their name
        self.view.horizontalHeader().sectionResized.connect(
            lambda *_: self._fitting or setattr(self, "_fit_columns", False))
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        # Only the columns on screen are fitted: those scrolled to are fitted as they come.
        self.view.horizontalScrollBar().valueChanged.connect(
            lambda *_: self._fit_columns and self._fit_shown(shrink=False))

        self.note = QLabel()
        self.note.setObjectName("dataNote")
        self.fix_btn = QPushButton("&Fix and re-import…")
        self.fix_btn.setAccessibleName("Fix and re-import")
        self.fix_btn.setToolTip("Write the chosen file's rejected rows, under its header line, "
                                "to a new file and open it to correct them")
        self.fix_btn.clicked.connect(self.fix_rows)
        self.reimport_btn = QPushButton("&Re-import")
        self.reimport_btn.setAccessibleName("Re-import")
        self.reimport_btn.clicked.connect(self.reimport)
        self.goto = QLineEdit(placeholderText="go to row")
        self.goto.setAccessibleName("Go to row")
        self.goto.setToolTip("Type a row number and press Enter (Ctrl+End: the last row)")
        self.goto.setMaximumWidth(110)
        self.goto.returnPressed.connect(lambda: self.go_to_row(self.goto.text()))
        actions = QHBoxLayout()
        actions.addWidget(self.note, 1)
        actions.addWidget(self.goto)
        actions.addWidget(self.fix_btn)
        actions.addWidget(self.reimport_btn)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.title)
        rl.addWidget(self.filters)
        rl.addWidget(self.view, 1)
        rl.addLayout(actions)
        split = QSplitter()
        split.addWidget(self.tree)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([260, 740])
        lay = QVBoxLayout(self)
        lay.addWidget(split)
        QShortcut(QKeySequence.StandardKey.Refresh, self, activated=self.refresh)
        self._pending: tuple[Path, str | None, int | None, str | None] | None = None
        self._reopen = False
        self._keep: tuple[int, int, int] | None = None  # scrolled to, chosen row, column
        self.loaded_once = False
        # The window may open on this page (where it was left) before the engine has
        # started: the page is read once it has.
        app.ready.connect(self._engine_ready)
        app.bridge.runChanged.connect(self._run_changed)
        self._update_buttons()

    # -- the list of databases and tables ---------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.loaded_once:
            # Imports, undos and other programs may have changed the tables meanwhile.
            self._read_again()
        else:
            self.reload()
        # Keyboard first: the arrow keys move through the tables at once.
        QTimer.singleShot(0, self.tree, self.tree.setFocus)

    def _engine_ready(self) -> None:
        if self.isVisible():
            self.reload()

    def _run_changed(self, run: dict, final: bool) -> None:
        # An import that ended (a failed one may have set rows aside) or was undone changed
        # a table's rows and counts: what is shown is read again (once shown, if hidden).
        result = run.get("result") if isinstance(run.get("result"), dict) else {}
        if (run.get("kind") == "import" and (final or result.get("undo"))
                and self.loaded_once and self.isVisible()):
            self._read_again()

    def _read_again(self) -> None:
        """The list and the rows shown read again, scrolled to where they were, the row
        chosen chosen again."""
        current = self.view.currentIndex()
        self._keep = (self.view.verticalScrollBar().value(), current.row(), current.column())
        self.refresh()

    def refresh(self) -> None:
        """F5: the list read again, and the rows shown (a table changed, or could not be
        read a moment ago)."""
        self._reopen = True
        self.reload()

    def reload(self) -> None:
        eng = self.app.engine
        if eng is None:
            return
        config, home = eng.config, eng.home

        def load():
            by_db: dict[Path, list[str]] = {}
            for job, db in browse.import_databases(config, home):
                by_db.setdefault(db, []).append(job)
            listed = []
            for db, jobs in by_db.items():
                try:
                    listed.append((db, jobs, browse.tables(db), browse.rejected_count(db)))
                except (sqlite3.Error, OSError) as exc:  # the other databases still show
                    listed.append((db, jobs, exc, 0))
            return listed

        # On a thread of its own, as every read of an import database here: another
        # program writing to it holds its lock for as long as it likes (up to the read's
        # 10 s timeout), and the runs list and commands on the service thread must not wait.
        self.app.service.call_slow(load, self._show_tree,
                                   lambda exc: self.note.setText(_unreadable(exc)))

    def _show_tree(self, dbs: list[tuple[Path, list[str], list[browse.TableInfo], int]]) -> None:
        self.tree.blockSignals(True)
        self.tree.clear()
        self._jobs_of = {db: jobs for db, jobs, _t, _r in dbs}
        self._infos = {(db, info.name): info for db, _j, infos, _r in dbs
                       if not isinstance(infos, Exception) for info in infos}
        chosen = None
        for db, jobs, infos, rejected in dbs:
            top = QTreeWidgetItem([f"{db.name} ({', '.join(jobs)})", ""])
            top.setToolTip(0, str(db))
            top.setFlags(top.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            self.tree.addTopLevelItem(top)
            if isinstance(infos, Exception):
                problem = QTreeWidgetItem([cell_text(f"cannot be read: {infos}"), ""])
                problem.setToolTip(0, f"{db}\n{_unreadable(infos)}")
                problem.setFlags(Qt.ItemFlag.NoItemFlags)
                top.addChild(problem)
                top.setExpanded(True)
                continue
            for info in infos:
                # A name may hold a line break or control character (a file's name did).
                item = QTreeWidgetItem([cell_text(info.name),
                                        "view" if info.view else f"{info.rows:,}"])
                item.setData(0, NODE_ROLE, (str(db), info.name))
                item.setToolTip(0, (f"A view now; imports brought {info.rows:,} rows into the "
                                    f"table once of this name" if info.view else
                                    f"{info.rows:,} rows imported from {info.files:,} "
                                    f"file{'s' * (info.files != 1)}")
                                + (f"; {info.rejected:,} rejected" if info.rejected else ""))
                item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                top.addChild(item)
                if self.db == db and self.table == info.name:
                    chosen = item
            if rejected:
                item = QTreeWidgetItem(["Rejected rows", f"{rejected:,}"])
                item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setData(0, NODE_ROLE, (str(db), None))
                top.addChild(item)
                if self.db == db and self.table is None:
                    chosen = item
            if not infos and not rejected:
                empty = QTreeWidgetItem(["nothing imported yet", ""])
                empty.setFlags(Qt.ItemFlag.NoItemFlags)
                top.addChild(empty)
            top.setExpanded(True)
        first = next((top.child(0) for i in range(self.tree.topLevelItemCount())
                      if (top := self.tree.topLevelItem(i)).childCount()
                      and top.child(0).data(0, NODE_ROLE)), None)
        if chosen is not None:
            chosen.setSelected(True)
            if not self._reopen:  # else its rows are read again and counted below
                self._count_in_list()
        self.tree.blockSignals(False)
        self.loaded_once = True
        reopen, self._reopen = self._reopen, False
        if self._pending is not None:
            db, table, run_id, file = self._pending
            self._pending = None
            self._open(db, table, run_id=run_id, file=file)
        elif self.db is not None and self.table is not None and chosen is None:
            # Deleted, or its database was (or replaced by one without it): its rows are
            # not shown as if they were still there.
            gone = self.table
            self.model.clear()
            self.title.setText(f"<b>{_esc(gone)}</b> is no longer in {_esc(self.db.name)}: "
                               f"it, or the database, was deleted or replaced.")
            self.note.setText("")
        elif reopen and self.db is not None:
            run_id, file = self.rejected_filter()
            self._open(self.db, self.table, run_id=run_id, file=file)
        elif self.db is None and first is not None:  # something to look at, not a blank pane
            self._open(*_node(first))
        elif self.db is None:  # nothing to choose on the left: say how something gets there
            self.title.setText(NOTHING_IMPORTED if dbs else NO_IMPORT_JOB)

    def item_for(self, db: Path, table: str | None) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                if top.child(j).data(0, NODE_ROLE) == (str(db), table):
                    return top.child(j)
        return None

    def _chosen(self) -> None:
        items = self.tree.selectedItems()
        if items and items[0].data(0, NODE_ROLE):
            self._open(*_node(items[0]))

    # -- what is shown on the right ---------------------------------------------------

    def show_table(self, db: str | Path, table: str) -> None:
        self._open(Path(db), table)

    def show_rejected(self, db: str | Path, *, run_id: int | None = None,
                      file: str | None = None) -> None:
        """The rejected rows of ``db``, of one run and/or file; the tree is read first if
        the page has not been shown yet."""
        if not self.loaded_once:
            self._pending = (Path(db), None, run_id, file)
            self.reload()
            return
        self._open(Path(db), None, run_id=run_id, file=file)

    def _open(self, db: Path, table: str | None, *, run_id: int | None = None,
              file: str | None = None) -> None:
        self.db, self.table = db, table
        item = self.item_for(db, table)
        if item is not None and not item.isSelected():
            self.tree.blockSignals(True)
            self.tree.clearSelection()
            self.tree.setCurrentItem(item)
            item.setSelected(True)
            self.tree.scrollToItem(item)
            self.tree.blockSignals(False)
        self.filters.setVisible(table is None)
        self.fix_btn.setVisible(table is None)
        self.reimport_btn.setVisible(table is None)
        if table is None:
            self.run_filter.setText("" if run_id is None else str(run_id))
            self.file_filter.setText(file or "")
            self._show_rejected_rows()
        else:
            self.title.setText(f"<b>{_esc(cell_text(table))}</b> in {_esc(cell_text(db.name))}")
            self.model.clear()
            self.app.service.call_slow(lambda: positions.table_rows(db, table),
                                       lambda source: self._show_columns(db, table, source),
                                       lambda exc: self._unreadable(db, table, exc))
        self._update_buttons()

    def _show_columns(self, db: Path, table: str, source: positions.RowSource) -> None:
        if (self.db, self.table) != (db, table):
            return
        info = self._infos.get((db, table))
        # A view's rows are its own, not those the ledger counted.
        self.ledger_rows = info.rows if info is not None and not info.view else None
        self.by_position = source.by_position
        self.model.show(list(source.columns), source, estimate=self.ledger_rows)
        self._scroll_back()

    def _scroll_back(self) -> None:
        keep, self._keep = self._keep, None
        if keep is None:
            return
        scrolled, row, column = keep
        if 0 <= row < self.model.rowCount():
            self.view.setCurrentIndex(self.model.index(row, column))
        self.view.verticalScrollBar().setValue(scrolled)

    def _unreadable(self, db: Path, table: str, exc: Exception) -> None:
        if (self.db, self.table) == (db, table):
            self.note.setText(_unreadable(exc))

    def _filter_changed(self) -> None:
        if self.table is None and self.db is not None:
            self._show_rejected_rows()

    def rejected_filter(self) -> tuple[int | None, str | None]:
        text = self.run_filter.text().strip().lstrip("#")
        run_id = int(text) if text.isdecimal() else None
        return run_id, self.file_filter.text().strip() or None

    def _show_rejected_rows(self) -> None:
        db = self.db
        run_id, file = self.rejected_filter()
        what = " of ".join(filter(None, ["Rejected rows", f"run {run_id}" if run_id else "",
                                         file or ""]))
        self.title.setText(f"<b>{_esc(what)}</b> in {_esc(db.name)}: each with the line of "
                           f"its file, why it was set aside and the row as read")
        self.model.show(["File", "Line", "Reason", "Row as read", "Table", "Run"],
                        positions.rejected_rows(db, run_id=run_id, file=file))
        self._scroll_back()

    def _page_loaded(self, page: int) -> None:
        if self._fit_columns:
            self._fit(page)
        self._update_buttons()

    def _refit(self) -> None:
        self._fit_columns = True
        self._fitted.clear()

    def _fit(self, page: int) -> None:
        """Widen the columns to what the page that came shows on screen (the first page:
        fit them to it)."""
        start, end = page * PAGE, min((page + 1) * PAGE, self.model.rowCount())
        self._fit_shown(start, end, shrink=page == 0)

    def _fit_shown(self, start: int = 0, end: int | None = None, *, shrink: bool) -> None:
        """Fit the columns on screen to the rows on screen (of those from ``start`` to
        ``end``). Measured here, not with Qt's sizeHintForColumn, which would ask for rows
        of other pages while the view is still moving; and only the columns on screen, as
        measuring 2,000 columns' cells froze the window for a second on every page."""
        end = self.model.rowCount() if end is None else end
        bottom = self.view.rowAt(self.view.viewport().height() - 1)
        top, bottom = max(self.view.rowAt(0), start), min(bottom if bottom >= 0 else end, end - 1)
        if top > bottom:
            return
        header, metrics = self.view.horizontalHeader(), self.view.fontMetrics()
        right = self.view.viewport().width()
        self._fitting = True
        col = max(self.view.columnAt(0), 0)
        while col < self.model.columnCount() and header.sectionViewportPosition(col) < right:
            if not header.isSectionHidden(col):
                wide = max(metrics.horizontalAdvance(self.model.index(r, col).data() or "")
                           for r in range(top, bottom + 1)) + CELL_PADDING
                wide = min(max(wide, header.sectionSizeHint(col)), MAX_COLUMN)
                if shrink or col not in self._fitted or wide > header.sectionSize(col):
                    header.resizeSection(col, wide)
                self._fitted.add(col)
            col += 1
        self._fitting = False

    def _counted(self) -> None:
        n, exact = self.model.rowCount(), self.model.exact
        if self.model.total is None:  # a view, not counted yet: the rows read so far
            text = f"{n:,}+ rows, counting…"
        else:
            what = "rejected row" if self.table is None else "row"
            text = (f"{n:,} {what}{'s' * (n != 1)}" if exact
                    else f"≈{n:,} {what}s, counting…")
        if self.table is not None and self.by_position:
            text += "; read by position, as it has no key to read by: pages far down take longer"
        self.note.setText(text)
        self._count_in_list()
        self._update_buttons()

    def _count_in_list(self) -> None:
        """The shown table's rows as counted, in the list in place of the ledger's sum of
        rows imported: an upsert's updated rows, a run undone or rows deleted by hand
        leave the table with fewer."""
        if self.table is None or self.model.total is None or not self.model.exact:
            return
        item = self.item_for(self.db, self.table)
        if item is not None and item.data(0, NODE_ROLE) and item.text(1) != "view":
            item.setText(1, f"{self.model.rowCount():,}")

    def go_to_row(self, number: int | str) -> None:
        """Show row ``number`` (from 1; past the end: the last row) at the top, chosen."""
        text = str(number).replace(",", "").replace("_", "").strip()
        if not text.isdecimal() or not self.model.rowCount():  # int() reads these ("²" is a digit)
            return
        row = min(max(int(text), 1), self.model.rowCount()) - 1
        index = self.model.index(row, 0)
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
        self.view.setFocus()

    # -- fix and re-import ------------------------------------------------------------

    def chosen_rejected(self) -> tuple[int, str] | None:
        """(run, file) of the selected rejected row, or of the only one shown."""
        if self.table is not None or not self.model.rowCount():
            return None
        sel = self.view.selectionModel().selectedRows()
        if sel:
            r = self.model.row(sel[0].row())
        else:  # all of them in the first page, and of one file: that file
            first = self.model.pages.get(0) or []
            r = (first[0][1:] if first and len(first) == self.model.rowCount()
                 and len({r[1] for r in first}) == 1 else None)
        return (r[5], r[0]) if r is not None else None

    def _update_buttons(self, *_: Any) -> None:
        self.fix_btn.setEnabled(self.chosen_rejected() is not None)
        self.reimport_btn.setEnabled(self.fix is not None and self.fix[1].exists())
        if self.fix is not None:
            self.reimport_btn.setText(f"&Re-import {self.fix[1].name}")
            self.reimport_btn.setToolTip(f"Run {self.fix[0]} on {self.fix[1]}")

    def fix_rows(self, *, open_file: bool = True) -> None:
        chosen, eng, db = self.chosen_rejected(), self.app.engine, self.db
        if chosen is None or eng is None or db is None:
            return
        run_id, file = chosen

        def write():
            ledger = next(l for l in browse.rejected_files(db, run_id=run_id)
                          if l["file"] == file)
            run = eng.store.get_run(run_id) or {}
            result = run.get("result") if isinstance(run.get("result"), dict) else {}
            moved = next((f.get("moved_to") for f in result.get("files", [])
                          if f.get("file") == ledger["path"] and f.get("moved_to")), None)
            source = Path(moved) if moved and Path(moved).exists() else Path(ledger["path"])
            job = eng.config.jobs.get(ledger["job"])
            header = job.params.header if job is not None and job.kind == "import" else True
            return ledger["job"], browse.write_fix_file(db, ledger, source, header=header)

        def written(found: tuple[str, Path]) -> None:
            self.fix = found
            self._update_buttons()
            self.app.status(f"Correct the rows in {found[1]}, save, then choose Re-import")
            if open_file:
                QDesktopServices.openUrl(QUrl.fromLocalFile(str(found[1])))

        # On a thread of its own: the database may be locked by another program's write.
        self.app.service.call_slow(write, written,
                                   lambda exc: self.note.setText(_unreadable(exc)))

    def reimport(self) -> None:
        eng = self.app.engine
        if self.fix is None or eng is None:
            return
        job, path = self.fix
        self.app.service.call(
            lambda: eng.submit(job, files=[str(path)], note=f"fixed rows from {path.parent.name}"),
            lambda rid: self.app.status(f"Started run {rid} of {job} on {path.name}"))
        self.fix = None
        self.reimport_btn.setText("&Re-import")
        self._update_buttons()


def _node(item: QTreeWidgetItem) -> tuple[Path, str | None]:
    db, table = item.data(0, NODE_ROLE)
    return Path(db), table


def _esc(s: str) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _unreadable(exc: Exception | str) -> str:
    """Why the rows cannot be shown, and what to do about it (F5 reads them again)."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (f"Could not read the database: another program is writing to it ({text}). "
                f"Press F5 to try again.")
    return f"Could not read the database: {text}. Press F5 to try again."
