"""The Data page shows each value as stored: NULL apart from an empty text, numbers with
every digit, control characters as marks, a cut text saying so; real SQLite files and the
service's worker threads."""

from __future__ import annotations

import sqlite3

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyleOptionViewItem, QTableView

from trayjobs.kinds.importer import positions
from trayjobs.ui.data_model import PagedRows
from trayjobs.ui.service import Service

from ui_support import make_app, until  # noqa: F401

TIP = Qt.ItemDataRole.ToolTipRole


@pytest.fixture
def rows_view(qtbot):
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


def shown(model, db, table):
    source = positions.table_rows(db, table)
    model.show(list(source.columns), source)
    return source


def imported_db(path, create: str, table: str, rows: int = 0):
    """An import database at ``path`` with its side tables, ``create`` run in it, and
    ``table`` recorded as imported (``rows`` rows); returns ``path``."""
    from trayjobs.kinds.importer.store import _SIDE_TABLES
    conn = sqlite3.connect(path)
    conn.executescript(";".join(_SIDE_TABLES) + ";" + create)
    conn.execute("INSERT INTO _imports (run_id, job, file, \"table\", rows, rejected) "
                 "VALUES (1, 'bank', ?, ?, ?, 0)", (f"{table}.csv", table, rows))
    conn.commit()
    conn.close()
    return path


def test_hostile_values_show_as_stored(rows_view, tmp_path, qtbot):
    db = tmp_path / "odd.db"
    conn = sqlite3.connect(db)
    conn.execute('CREATE TABLE "we""ird" ("select", "a""b" TEXT, "line\nbreak" TEXT)')
    values = [None, "", "a\nb\tc", "\x1b[31mred\u202egnp.exe\x85", "שלום world", 2**63 - 1, -2**63,
              2**53 + 1, 1e308, 0.1, -0.0, "007", b"\x00\x01\x02", "x" * 5000]
    conn.executemany('INSERT INTO "we""ird" VALUES (?, ?, ?)', [(v, None, "") for v in values])
    conn.commit()
    conn.close()
    view, model = rows_view
    shown(model, db, 'we"ird')
    until(qtbot, lambda: model.exact and model.row(0) is not None)
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(3)] == [
        "select", 'a"b', "line\u21b5break"]
    texts = [model.index(r, 0).data() for r in range(len(values))]
    assert texts == [
        "NULL", "", "a\u21b5b\u2192c", "\u241b[31mred\u27e8U+202E\u27e9gnp.exe\u27e8U+0085\u27e9",
        "שלום world",
        "9223372036854775807", "-9223372036854775808", "9007199254740993", "1e+308", "0.1",
        model.index(10, 0).data(), "007", "<3 bytes>", "x" * 300 + "…"]
    assert texts[10] in ("0.0", "-0.0")  # SQLite may keep the sign or not; never rounded
    # NULL and the empty text say which they are; the tooltip has the text as it is.
    assert "NULL" in model.index(0, 0).data(TIP) and "empty text" in model.index(1, 0).data(TIP)
    assert model.index(2, 0).data(TIP) == "a\nb\tc"
    assert "BLOB" in model.index(12, 0).data(TIP)
    assert model.index(11, 0).data(TIP) == "Stored as text, not as a number: 007"
    assert model.index(5, 0).data(TIP) is None  # a number
    assert "only its first 4,000 characters" in model.index(13, 0).data(TIP)
    assert model.index(0, 1).data(Qt.ItemDataRole.ForegroundRole) is not None  # dimmed NULL
    assert model.index(0, 2).data(Qt.ItemDataRole.ForegroundRole) is None


def test_a_table_without_rows_and_one_of_one_column(rows_view, tmp_path, qtbot):
    db = tmp_path / "small.db"
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE none_ (a, b); CREATE TABLE one (only_one);"
                       "INSERT INTO one VALUES ('x');")
    conn.close()
    view, model = rows_view
    shown(model, db, "none_")
    until(qtbot, lambda: model.exact)
    assert model.rowCount() == 0 and model.columnCount() == 2
    shown(model, db, "one")
    until(qtbot, lambda: model.exact and model.row(0) is not None)
    assert model.rowCount() == 1 and model.index(0, 0).data() == "x"


def test_a_table_of_2000_columns_shows_its_rows(rows_view, tmp_path, qtbot):
    # The rowid and 2,000 columns were more than SQLite gives in one SELECT: the page failed.
    db = tmp_path / "wide.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE w (%s)" % ", ".join(f"c{i}" for i in range(2000)))
    conn.executemany("INSERT INTO w (c0, c1999) VALUES (?, ?)",
                     [(n, f"last {n}") for n in range(1200)])
    conn.commit()
    conn.close()
    view, model = rows_view
    failed = []
    model.failed.connect(failed.append)
    shown(model, db, "w")
    until(qtbot, lambda: failed or (model.exact and model.row(0) is not None))
    assert not failed and model.columnCount() == 2000
    assert model.index(0, 1999).data() == "last 0" and model.index(0, 5).data() == "NULL"
    view.scrollToBottom()
    until(qtbot, lambda: failed or model.index(1199, 1999).data() == "last 1199")
    assert model.index(1199, 0).data() == "1199"


def test_a_database_locked_by_another_writer_holds_up_nothing_else(make_app, qtbot, tmp_path):
    # The page's reads ran on the service thread: while another program held the import
    # database's lock, the runs list and every command waited up to 10 s behind them.
    db = imported_db(tmp_path / "bank.db", "CREATE TABLE t (n); INSERT INTO t VALUES (7);", "t",
                     rows=1)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")  # another program, in the middle of a big write
    ta = make_app(f'[jobs.bank]\nkind = "import"\ndatabase = "{db}"\n')
    page = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    answered = []
    ta.service.call(lambda: "ok", answered.append)
    until(qtbot, lambda: answered, timeout=3000)  # not after the lock's 10 s
    writer.execute("COMMIT")
    writer.close()
    until(qtbot, lambda: page.table == "t" and page.model.row(0) is not None)
    assert page.model.index(0, 0).data() == "7"
    page.model.failed.emit("database is locked")  # as a read that waited 10 s in vain
    assert "another program is writing to it" in page.note.text() and "F5" in page.note.text()


def test_f5_reads_a_table_again_after_it_could_not_be_read(make_app, qtbot, tmp_path):
    db = imported_db(tmp_path / "bank.db", "CREATE TABLE t (n); INSERT INTO t VALUES (7);", "t",
                     rows=1)
    ta = make_app(f'[jobs.bank]\nkind = "import"\ndatabase = "{db}"\n')
    page = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.model.row(0) is not None)
    # The file is replaced by another program's: its table t has other rows now.
    other = imported_db(tmp_path / "other.db", "CREATE TABLE t (n); INSERT INTO t VALUES (8);",
                        "t", rows=1)
    other.replace(db)
    page.refresh()
    until(qtbot, lambda: page.model.index(0, 0).data() == "8")
    db.unlink()  # deleted while shown: it says so, and shows no rows it cannot read
    page.refresh()
    until(qtbot, lambda: page.tree.topLevelItemCount() == 1
          and page.tree.topLevelItem(0).child(0).text(0) == "nothing imported yet")
    assert page.model.rowCount() == 0 and "no longer in bank.db" in page.title.text()


def test_a_table_of_2000_columns_fits_only_the_columns_on_screen(make_app, qtbot, tmp_path):
    # Every page measured every cell of every column on screen rows: 2,000 columns froze
    # the window for about a second per page.
    from trayjobs.kinds.importer.store import _SIDE_TABLES
    db = tmp_path / "bank.db"
    conn = sqlite3.connect(db)
    conn.executescript(";".join(_SIDE_TABLES) + ";CREATE TABLE w (%s);" % ", ".join(
        f"c{i}" for i in range(1999)) + "INSERT INTO _imports (run_id, job, file, \"table\", "
        "rows, rejected) VALUES (1, 'bank', 'w.csv', 'w', 50, 0);")
    conn.executemany("INSERT INTO w (c0, c1998) VALUES (?, ?)",
                     [(n, "a rather long text at the far end") for n in range(50)])
    conn.commit()
    conn.close()
    ta = make_app(f'[jobs.bank]\nkind = "import"\ndatabase = "{db}"\n')
    page = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.table == "w" and page.model.row(0) is not None
          and page._fitted)
    header = page.view.horizontalHeader()
    assert len(page._fitted) < 100 and 1998 not in page._fitted
    page.view.scrollTo(page.model.index(0, 1998))  # scrolled to: fitted to its text
    until(qtbot, lambda: 1998 in page._fitted)
    assert header.sectionSize(1998) > page.view.fontMetrics().horizontalAdvance(
        "a rather long text")


def test_big_blobs_are_read_as_their_size(rows_view, tmp_path, qtbot):
    # A page read every blob whole: 500 rows of 4 MB each held 2 GB for one screenful.
    db = tmp_path / "blobs.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE b (k BLOB PRIMARY KEY, v) WITHOUT ROWID")
    conn.executemany("INSERT INTO b VALUES (?, ?)",
                     [(bytes([n]) * 100, v) for n, v in enumerate(
                         [b"x" * 4_000_000, b"\x00" * 64, b"\x01" * 65, b"", "0" * 20])])
    conn.commit()
    conn.close()
    view, model = rows_view
    shown(model, db, "b")
    until(qtbot, lambda: model.exact and model.row(0) is not None)
    assert [model.index(r, 1).data() for r in range(5)] == [
        "<4,000,000 bytes>", "<64 bytes>", "<65 bytes>", "<0 bytes>", "0" * 20]
    assert model.index(0, 0).data() == "<100 bytes>"  # the key, read whole
    assert sum(len(v.head) if hasattr(v, "head") else len(v)
               for v in (model.row(r)[1] for r in range(5))) < 1000


def test_a_table_name_with_a_line_break_shows_it_as_a_mark(make_app, qtbot, tmp_path):
    db = imported_db(tmp_path / "bank.db", 'CREATE TABLE "a\nb<i>" (n);', "a\nb<i>")
    ta = make_app(f'[jobs.bank]\nkind = "import"\ndatabase = "{db}"\n')
    page = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.table == "a\nb<i>" and page.model.exact)
    assert page.item_for(db, "a\nb<i>").text(0) == "a\u21b5b<i>"
    assert page.title.text().startswith("<b>a\u21b5b&lt;i&gt;</b>")


def test_fix_and_reimport_on_a_locked_database_holds_up_nothing_else(make_app, qtbot,
                                                                     tmp_path):
    from trayjobs.kinds.importer.store import _SIDE_TABLES
    db = tmp_path / "bank.db"
    source = tmp_path / "bank.csv"
    source.write_text("date,amount\n2024-01-02,lots\n")
    conn = sqlite3.connect(db)
    conn.executescript(";".join(_SIDE_TABLES) + ";CREATE TABLE bank (date, amount);")
    conn.execute("INSERT INTO _imports (id, run_id, job, file, path, \"table\", format, rows, "
                 "rejected) VALUES (1, 1, 'bank', 'bank.csv', ?, 'bank', 'csv', 0, 1)",
                 (str(source),))
    conn.execute("INSERT INTO _rejected (import_id, run_id, file, line, reason, raw, \"table\") "
                 "VALUES (1, 1, 'bank.csv', 2, 'not a number', '2024-01-02,lots', 'bank')")
    conn.commit()
    conn.close()
    ta = make_app(f'[jobs.bank]\nkind = "import"\ndatabase = "{db}"\n')
    page = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    page.show_rejected(db)
    until(qtbot, lambda: page.chosen_rejected() == (1, "bank.csv"))
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    page.fix_rows(open_file=False)
    answered = []
    ta.service.call(lambda: "ok", answered.append)
    until(qtbot, lambda: answered, timeout=3000)  # not after the lock's 10 s
    writer.execute("COMMIT")
    writer.close()
    until(qtbot, lambda: page.fix is not None)
    assert page.fix[1].read_text() == "date,amount\n2024-01-02,lots\n"


def test_a_line_separator_in_a_value_shows_as_its_code_point(rows_view, make_ctx, home,
                                                            tmp_path, qtbot):
    # U+2028, which JSON from JavaScript and text pasted from word processors hold, breaks
    # a cell's line as a line break does: the cell showed only "first" of "first\u2028second".
    from test_import_support import connect, run, write
    notes = write(tmp_path / "notes.jsonl",
                  '{"note": "first\\u2028second"}\n{"note": "one\\u2029two"}\n')
    run(make_ctx, notes, table="notes")
    conn = connect(home)
    assert [r[0] for r in conn.execute("SELECT note FROM notes")] == [
        "first\u2028second", "one\u2029two"]
    conn.close()
    view, model = rows_view
    shown(model, home.default_data_db, "notes")
    until(qtbot, lambda: model.exact and model.row(1) is not None)
    assert [model.index(r, 0).data() for r in range(2)] == [
        "first\u27e8U+2028\u27e9second", "one\u27e8U+2029\u27e9two"]
    assert model.index(0, 0).data(TIP) == "first\u2028second"
    # Laid out as the view lays it out: one line high, as a cell of "ab" is.
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    assert view.itemDelegate().sizeHint(option, model.index(0, 0)).height() < 2 * \
        view.fontMetrics().height()
