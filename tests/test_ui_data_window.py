"""The Data page's table model over big tables: the scroll bar spans every row, any place
it is dragged to (the end too) shows its rows, and only a few pages are kept; real SQLite
files made with a recursive CTE, a real view and the service's worker threads."""

from __future__ import annotations

import random
import sqlite3

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView

from trayjobs.kinds.importer import positions
from trayjobs.ui.data_model import MAX_PAGES, PagedRows
from trayjobs.ui.data_page import DataPage
from trayjobs.ui.service import Service

from ui_support import make_app, until  # noqa: F401

ROWS = 200_000
COUNT_TO = "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n} - 1) "


def made(path, sql: str):
    conn = sqlite3.connect(path)
    conn.executescript(sql)
    conn.close()
    return path


@pytest.fixture
def big(tmp_path):
    """200,000 rows of (n, name), and a view of them."""
    return made(tmp_path / "big.db", "CREATE TABLE t (n INTEGER, name TEXT);"
                + COUNT_TO.format(n=ROWS) + "INSERT INTO t SELECT i, 'row ' || i FROM s;"
                "CREATE VIEW v AS SELECT n, name FROM t;")


@pytest.fixture
def rows_view(qtbot):
    """A table view over a fresh model, on a service of its own, as the Data page has."""
    service = Service()
    model = PagedRows(service=service)
    view = QTableView()
    view.setModel(model)
    view.resize(600, 400)
    qtbot.addWidget(view)
    view.show()
    yield view, model
    model.clear()
    service.stop()


def shown(view) -> tuple[int, int]:
    """The first and last rows the view shows."""
    top = view.rowAt(0)
    bottom = view.rowAt(view.viewport().height() - 1)
    return top, (bottom if bottom >= 0 else view.model().rowCount() - 1)


def cells(view, column: int = 0) -> list:
    top, bottom = shown(view)
    return [view.model().index(r, column).data() for r in range(top, bottom + 1)]


def test_dragging_the_scroll_bar_to_the_end_shows_the_last_rows(rows_view, big, qtbot):
    view, model = rows_view
    model.show(["n", "name"], positions.table_rows(big, "t"), estimate=ROWS)
    # At once the scroll bar spans the whole table (by the estimate, then counted).
    assert model.rowCount() == ROWS
    until(qtbot, lambda: model.exact and model.row(0) is not None)
    assert model.rowCount() == ROWS and model.index(0, 1).data() == "row 0"

    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum())
    until(qtbot, lambda: model.index(ROWS - 1, 1).data() == f"row {ROWS - 1}", timeout=3000)
    assert cells(view)[-3:] == [str(n) for n in range(ROWS - 3, ROWS)]
    # Only the pages shown were read: the first, and those at the end.
    assert len(model.pages) <= 3 and 0 in model.pages



def test_a_cell_of_megabytes_shows_and_tips_only_its_start(rows_view, tmp_path, qtbot):
    # Fields of tens of MB import; laid out whole, a tooltip would freeze the window.
    db = made(tmp_path / "long.db", "CREATE TABLE t (n INTEGER, note TEXT);"
              "INSERT INTO t VALUES (1, printf('%.*c', 5000000, 'x'));")
    view, model = rows_view
    model.show(["n", "note"], positions.table_rows(db, "t"), estimate=1)
    until(qtbot, lambda: model.row(0) is not None)
    assert model.index(0, 1).data() == "x" * 300 + "…"
    assert model.index(0, 1).data(Qt.ItemDataRole.ToolTipRole) == (
        "x" * 4000 + "…\n(only its first 4,000 characters are shown)")

def test_jumping_across_the_table_keeps_a_few_pages(rows_view, big, qtbot):
    view, model = rows_view
    model.show(["n", "name"], positions.table_rows(big, "t"), estimate=ROWS)
    until(qtbot, lambda: model.exact)
    bar = view.verticalScrollBar()
    for value in [bar.maximum() * k // 97 for k in range(98)] + [0, bar.maximum() // 2]:
        bar.setValue(value)
        until(qtbot, lambda: "" not in cells(view) and not model.loading, timeout=3000)
        top, bottom = shown(view)
        assert cells(view) == [str(n) for n in range(top, bottom + 1)]
        assert len(model.pages) <= MAX_PAGES
    assert len(model.pages) == MAX_PAGES  # it did hold as many as it could


def test_sparse_rowids_show_the_right_rows_at_the_right_places(rows_view, tmp_path, qtbot):
    db = made(tmp_path / "sparse.db", "CREATE TABLE t (n INTEGER, name TEXT);"
              + COUNT_TO.format(n=ROWS) + "INSERT INTO t SELECT i, 'row ' || i FROM s;"
              "DELETE FROM t WHERE (rowid / 1000) % 2 = 1; DELETE FROM t WHERE rowid % 7 = 0;")
    want = [str(n) for (n,) in sqlite3.connect(db).execute("SELECT n FROM t ORDER BY rowid")]
    view, model = rows_view
    model.show(["n", "name"], positions.table_rows(db, "t"), estimate=ROWS)  # a stale count
    until(qtbot, lambda: model.exact)
    assert model.rowCount() == len(want)
    bar = view.verticalScrollBar()
    # Jumps anywhere, then a step up and down from there: every row shown is the row of
    # that place in rowid order, none twice, none left out.
    places = [bar.maximum(), 0] + random.Random(3).sample(range(bar.maximum()), 25)
    seen: dict[int, str] = {}
    for value in places:
        for step in (0, -bar.pageStep(), 2 * bar.pageStep()):
            bar.setValue(value + step)
            until(qtbot, lambda: "" not in cells(view), timeout=3000)
            top, bottom = shown(view)
            assert cells(view) == want[top:bottom + 1], (value, step)
            seen.update(zip(range(top, bottom + 1), cells(view)))
    assert len(set(seen.values())) == len(seen)
    assert seen[len(want) - 1] == want[-1] and seen[0] == want[0]


def test_a_without_rowid_table_and_a_view_reach_their_end(rows_view, big, tmp_path, qtbot):
    made(big, "CREATE TABLE w (code TEXT, n INTEGER, PRIMARY KEY (code, n)) WITHOUT ROWID;"
         "INSERT INTO w SELECT 'c' || (n % 10), n FROM t;")
    view, model = rows_view
    for table, last in (("w", ["c9", str(ROWS - 1)]), ("v", [str(ROWS - 1), f"row {ROWS - 1}"])):
        source = positions.table_rows(big, table)
        model.show(list(source.columns), source)  # no estimate: a view's is not its own
        until(qtbot, lambda: model.exact and model.rowCount() == ROWS, timeout=5000)
        view.scrollToBottom()
        until(qtbot, lambda: [model.index(ROWS - 1, c).data() for c in (0, 1)] == last,
              timeout=5000)


def test_the_data_page_counts_a_table_and_goes_to_a_row(make_app, home, qtbot, tmp_path):
    from trayjobs.kinds.importer.store import _SIDE_TABLES
    db = made(tmp_path / "bank.db", ";".join(_SIDE_TABLES) + ";"
              "CREATE TABLE t (n INTEGER, name TEXT);" + COUNT_TO.format(n=ROWS)
              + "INSERT INTO t SELECT i, 'row ' || i FROM s;"
              # The ledger counted more than is left: the user deleted some since.
              "DELETE FROM t WHERE n >= 150000;"
              "INSERT INTO _imports (run_id, job, file, \"table\", rows, rejected) "
              "VALUES (1, 'bank', 't.csv', 't', 200000, 0);")
    ta = make_app(f'[jobs.bank]\nkind = "import"\ndatabase = "{db}"\n')
    page: DataPage = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.table == "t" and page.model.exact)
    assert page.model.rowCount() == 150_000
    until(qtbot, lambda: page.note.text() == "150,000 rows")
    for typed in ("²", "-5", "abc", "", "1.5"):  # not a row number: nothing happens
        page.goto.setText(typed)
        page.goto.returnPressed.emit()
        assert page.view.rowAt(0) == 0 and not page.view.currentIndex().isValid(), typed
    page.run_filter.setText("²")
    assert page.rejected_filter() == (None, None)
    page.goto.setText("123,457")
    page.goto.returnPressed.emit()
    until(qtbot, lambda: page.view.rowAt(0) == 123_456 and page.model.row(123_456))
    assert page.model.index(123_456, 1).data() == "row 123456"
    assert page.view.currentIndex().row() == 123_456
    assert len(page.model.pages) <= 3
    # The columns, fitted to "row 0" at first, widened to the rows shown now.
    header, metrics = page.view.horizontalHeader(), page.view.fontMetrics()
    until(qtbot, lambda: header.sectionSize(1) > metrics.horizontalAdvance("row 123456"))


def test_an_empty_data_page_says_how_tables_get_there(make_app, qtbot, tmp_path):
    from trayjobs.ui.data_page import NOTHING_IMPORTED
    ta = make_app(f'[jobs.bank]\nkind = "import"\ndatabase = "{tmp_path / "bank.db"}"\n')
    page: DataPage = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.title.text() == NOTHING_IMPORTED)
    assert "Drop a CSV" in NOTHING_IMPORTED


def test_a_data_page_without_import_jobs_says_what_it_is_for(make_app, qtbot):
    from trayjobs.ui.data_page import NO_IMPORT_JOB
    ta = make_app('[jobs.other]\nkind = "demo"\n')
    page: DataPage = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.title.text() == NO_IMPORT_JOB)
