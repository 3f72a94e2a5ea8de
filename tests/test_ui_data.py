"""The Data page: imported tables paged as they scroll, rejected rows with their reason and
raw text, and "Fix and re-import" of a file's rejected rows; a real app, engine and SQLite."""

from __future__ import annotations

import time
from textwrap import dedent

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QDesktopServices

from trayjobs.store import outcome
from trayjobs.ui.data_model import PAGE

from ui_support import find_run, make_app, until  # noqa: F401


def import_job(tmp_path, **extra: str) -> str:
    lines = "".join(f"{k} = {v}\n" for k, v in extra.items())
    return dedent(f"""
        [jobs.bank]
        kind = "import"
        database = "{tmp_path / 'bank.db'}"
    """) + lines


def finished(ta, job: str, after: int = 0) -> dict | None:
    for r in ta.window.runs_model.loaded_runs():
        if r["job"] == job and r["id"] > after and r["state"] in ("succeeded", "failed"):
            return r
    return None


def test_the_data_page_lists_tables_and_pages_through_100000_rows(make_app, qtbot, tmp_path):
    ta = make_app(import_job(tmp_path, processed_dir='"leave"'))
    csv = tmp_path / "big.csv"
    csv.write_text("n,name,amount\n" + "".join(f"{i},row {i},{i * 1.5}\n"
                                               for i in range(100_000)))
    ta.run_job("bank", files=[str(csv)])
    until(qtbot, lambda: finished(ta, "bank"), timeout=60_000)
    assert finished(ta, "bank")["state"] == "succeeded"

    page = ta.window.data_page
    started = time.perf_counter()
    ta.window.tabs.setCurrentWidget(page)  # shown: the list is read, the first table opened
    until(qtbot, lambda: page.model.row(0) is not None, timeout=5000)
    first_page = time.perf_counter() - started
    assert first_page < 1.0, f"first page took {first_page:.3f} s"
    item = page.item_for(tmp_path / "bank.db", "big")
    assert item.isSelected() and item.text(1) == "100,000"  # the count from the ledger
    assert page.item_for(tmp_path / "bank.db", None) is None  # nothing was rejected
    assert page.model.rowCount() == 100_000  # the scroll bar spans the table...
    assert list(page.model.pages) == [0]     # ... of which one page was read
    assert [page.model.headerData(c, Qt.Orientation.Horizontal)
            for c in range(page.model.columnCount())] == ["n", "name", "amount"]
    assert page.model.index(0, 1).data() == "row 0"
    until(qtbot, lambda: page.note.text() == "100,000 rows")  # counted

    # Scrolling down reads the page shown; the end is one read away.
    page.view.verticalScrollBar().setValue(PAGE + 10)
    until(qtbot, lambda: page.model.index(PAGE + 10, 0).data() == str(PAGE + 10))
    page.view.scrollToBottom()
    until(qtbot, lambda: page.model.index(99_999, 1).data() == "row 99999")
    assert sorted(page.model.pages) == [0, 1, 199]


def test_rejected_rows_are_shown_then_fixed_and_imported_again(make_app, qtbot, tmp_path,
                                                               monkeypatch):
    opened: list[str] = []
    # The system edge: the desktop's editor for the fix file.
    monkeypatch.setattr(QDesktopServices, "openUrl",
                        staticmethod(lambda url: opened.append(url.toLocalFile()) or True))
    ta = make_app(import_job(tmp_path, types='{ amount = "real" }'))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    csv = inbox / "bank.csv"
    csv.write_text("date,amount\n2024-01-01,1.5\n2024-01-02,lots\n2024-01-03,2\n"
                   "2024-01-04,a few\n2024-01-05,3\n")
    ta.run_job("bank", files=[str(csv)], trigger="drop")
    until(qtbot, lambda: finished(ta, "bank"), timeout=30_000)
    first = finished(ta, "bank")
    assert outcome(first) == "warning"

    # From the run's details to its rejected rows in the Data page.
    dlg = ta.open_run(first["id"])
    until(qtbot, lambda: dlg.run is not None)
    dlg.open_link(f"trayjobs-rejected:{first['id']}")
    from trayjobs.ui.details import RejectedRows
    rejected = dlg.findChild(RejectedRows)
    until(qtbot, lambda: rejected.table.rowCount() == 2)
    rejected.data_btn.click()
    page = ta.window.data_page
    assert ta.window.tabs.currentWidget() is page
    until(qtbot, lambda: page.model.rowCount() == 2 and not page.model.loading)
    assert page.rejected_filter() == (first["id"], None)
    rows = [[page.model.index(r, c).data() for c in range(6)] for r in range(2)]
    assert [r[0] for r in rows] == ["bank.csv", "bank.csv"]
    assert [r[1] for r in rows] == ["3", "5"]
    assert "amount" in rows[0][2] and "lots" in rows[0][2]
    assert [r[3] for r in rows] == ["2024-01-02,lots", "2024-01-04,a few"]
    dlg.close()

    # Fix: the rejected rows under the header, in a file of the same name to edit.
    page.view.selectionModel().select(page.model.index(0, 0), QItemSelectionModel.SelectionFlag
                                      .ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
    assert page.fix_btn.isEnabled() and not page.reimport_btn.isEnabled()
    page.fix_btn.click()
    until(qtbot, lambda: opened)
    fix = tmp_path / "inbox" / "processed" / "rejected-run-{}".format(first["id"]) / "bank.csv"
    assert opened == [str(fix)]
    assert fix.read_text() == "date,amount\n2024-01-02,lots\n2024-01-04,a few\n"
    fix.write_text("date,amount\n2024-01-02,4.25\n2024-01-04,0.5\n")  # as the person would
    assert page.reimport_btn.isEnabled() and "bank.csv" in page.reimport_btn.text()

    page.reimport_btn.click()
    until(qtbot, lambda: finished(ta, "bank", after=first["id"]), timeout=30_000)
    again = finished(ta, "bank", after=first["id"])
    assert again["state"] == "succeeded" and outcome(again) == "succeeded", again
    assert again["result"]["rows"] == 2 and again["result"]["rejected"] == 0
    assert not page.reimport_btn.isEnabled()
    page.reload()
    until(qtbot, lambda: page.item_for(tmp_path / "bank.db", "bank") is not None
          and page.item_for(tmp_path / "bank.db", "bank").text(1) == "5")


def app_with_a_view(make_app, make_ctx, home, qtbot, tmp_path, columns: str, *,
                    run_id: int = 1):
    """An app on its Data page, where the table "old" an import made (n: 1, 2, 3) has been
    put aside by the user and a view ``SELECT columns FROM old_2023`` put in its place."""
    from test_import_support import connect, run, write
    run(make_ctx, write(tmp_path / "o.csv", "n\n1\n2\n3\n"), table="old", run_id=run_id)
    conn = connect(home)
    conn.executescript("ALTER TABLE old RENAME TO old_2023; "
                       f"CREATE VIEW old AS SELECT {columns} FROM old_2023;")
    conn.close()
    ta = make_app('[jobs.bank]\nkind = "import"\n')
    page = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    db = home.default_data_db
    until(qtbot, lambda: page.item_for(db, "old") is not None)
    # The page opens its first table by itself: shown before a test opens one, so that a
    # lock the test arms at the next model reset is not armed by that one (on a busy
    # machine its reset came after, and the test's own open waited on the lock).
    until(qtbot, lambda: page.model.headers and not page.model.loading)
    return ta, page, db


def test_a_without_rowid_table_and_a_view_show_their_rows(make_app, make_ctx, home, qtbot,
                                                         tmp_path):
    from test_import_support import connect, run, write
    home.default_data_db.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(home)
    conn.executescript("CREATE TABLE codes (code TEXT PRIMARY KEY, qty REAL) WITHOUT ROWID;")
    conn.close()
    run(make_ctx, write(tmp_path / "c.csv", "code,qty\nb,1\na,2\n"), table="codes")
    ta, page, db = app_with_a_view(make_app, make_ctx, home, qtbot, tmp_path,
                                   "n * 10 AS n", run_id=2)

    page.show_table(db, "codes")
    until(qtbot, lambda: page.model.rowCount() == 2 and not page.model.loading)
    assert [page.model.index(r, 0).data() for r in range(2)] == ["a", "b"]
    until(qtbot, lambda: page.note.text() == "2 rows")

    view = page.item_for(db, "old")
    assert view.text(1) == "view" and view.toolTip(0).startswith("A view now")
    page.show_table(db, "old")
    until(qtbot, lambda: page.model.rowCount() == 3 and not page.model.loading)
    assert [page.model.index(r, 0).data() for r in range(3)] == ["10", "20", "30"]
    until(qtbot, lambda: page.note.text().startswith("3 rows; read by position"))


def test_the_window_opening_on_the_data_page_reads_it_once_the_engine_runs(make_app, make_ctx,
                                                                          home, qtbot, tmp_path):
    # Left on the Data page last time: the window opens on it before the engine has started.
    from test_import_support import run, write
    run(make_ctx, write(tmp_path / "c.csv", "code\na\n"), table="codes")
    (home.config_dir / "window.ini").write_text("[window]\ntab=2\n")
    ta = make_app('[jobs.bank]\nkind = "import"\n')
    page = ta.window.data_page
    assert ta.window.tabs.currentWidget() is page
    until(qtbot, lambda: page.item_for(home.default_data_db, "codes") is not None)
    until(qtbot, lambda: page.model.rowCount() == 1)


def test_a_view_read_by_position_does_not_hold_up_the_windows_other_work(make_app, make_ctx,
                                                                         home, qtbot, tmp_path):
    import sqlite3
    ta, page, db = app_with_a_view(make_app, make_ctx, home, qtbot, tmp_path, "n")

    # A page of a view may take seconds (an OFFSET far down, a view that groups): here
    # the database is locked for the time, from the moment the view's columns are known.
    lock = sqlite3.connect(db, isolation_level=None)
    assert lock.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # readers wait
    page.model.modelReset.connect(
        lambda: page.model.headers and not lock.in_transaction and lock.execute("BEGIN EXCLUSIVE"))
    page.show_table(db, "old")
    until(qtbot, lambda: page.model.loading)
    ran = []
    ta.service.call(lambda: "read", ran.append)  # as a click on Run now would
    until(qtbot, lambda: ran, timeout=2000)
    assert page.model.rowCount() == 0 and page.model.loading
    lock.execute("ROLLBACK")
    lock.close()
    until(qtbot, lambda: page.model.rowCount() == 3)


def test_the_rejected_rows_run_filter_takes_only_a_run_number(make_app, qtbot, tmp_path):
    # Anything else was taken and then ignored: "abc" showed every run's rows under the
    # title of all of them, as if the filter were not there.
    from PySide6.QtTest import QTest
    ta = make_app(import_job(tmp_path))
    page = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    QTest.keyClicks(page.run_filter, "run abc")
    assert page.run_filter.text() == ""
    QTest.keyClicks(page.run_filter, "#12x")
    assert page.run_filter.text() == "#12"
    assert page.rejected_filter() == (12, None)


def test_a_fix_file_of_a_job_without_a_header_line_holds_only_the_rejected_rows(
        make_app, qtbot, tmp_path, monkeypatch):
    # With header = false the file's first line is a row: the fix file put it above the
    # rejected rows as their "header", and Re-import imported it a second time.
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: True))
    ta = make_app(import_job(tmp_path, header="false", types='{ column_2 = "integer" }',
                             processed_dir='"leave"'))
    csv = tmp_path / "nh.csv"
    csv.write_text("1,5\n2,x\n3,7\n")
    ta.run_job("bank", files=[str(csv)])
    until(qtbot, lambda: finished(ta, "bank"), timeout=30_000)
    first = finished(ta, "bank")
    page = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    page.show_rejected(tmp_path / "bank.db", run_id=first["id"])
    until(qtbot, lambda: page.model.rowCount() == 1 and not page.model.loading)
    page.view.selectionModel().select(page.model.index(0, 0), QItemSelectionModel.SelectionFlag
                                      .ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
    page.fix_btn.click()
    fix = tmp_path / f"rejected-run-{first['id']}" / "nh.csv"
    until(qtbot, lambda: page.reimport_btn.isEnabled())
    assert fix.read_text() == "2,x\n"
    fix.write_text("2,9\n")
    page.reimport_btn.click()
    until(qtbot, lambda: finished(ta, "bank", after=first["id"]), timeout=30_000)
    again = finished(ta, "bank", after=first["id"])
    assert again["result"]["rows"] == 1, again
    import sqlite3
    conn = sqlite3.connect(tmp_path / "bank.db")
    assert conn.execute("SELECT column_1, column_2 FROM nh ORDER BY column_1").fetchall() == [
        (1, 5), (2, 9), (3, 7)]
    conn.close()


def test_a_database_that_cannot_be_read_leaves_the_others_listed(make_app, qtbot, tmp_path):
    # One import job's database was not an SQLite file: the whole list failed to load, the
    # other job's tables went missing, and the note named no database.
    broken = tmp_path / "notes.db"
    broken.write_text("my notes, not a database\n")
    ta = make_app(import_job(tmp_path, processed_dir='"leave"')
                  + f'[jobs.other]\nkind = "import"\ndatabase = "{broken}"\n')
    csv = tmp_path / "fruit.csv"
    csv.write_text("name,qty\napple,3\n")
    ta.run_job("bank", files=[str(csv)])
    until(qtbot, lambda: finished(ta, "bank"), timeout=30_000)
    page = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.item_for(tmp_path / "bank.db", "fruit") is not None)
    tops = {page.tree.topLevelItem(i).toolTip(0): page.tree.topLevelItem(i)
            for i in range(page.tree.topLevelItemCount())}
    assert set(tops) == {str(tmp_path / "bank.db"), str(broken)}
    problem = tops[str(broken)].child(0)
    assert problem.text(0) == "cannot be read: file is not a database"
    assert str(broken) in problem.toolTip(0)
    assert broken.read_text() == "my notes, not a database\n"


def test_an_import_ending_while_its_table_is_shown_updates_the_counts_and_rows(
        make_app, qtbot, tmp_path):
    ta = make_app(import_job(tmp_path, table='"tx"', processed_dir='"leave"'))
    first = tmp_path / "first.csv"
    first.write_text("n,name\n" + "".join(f"{i},row {i}\n" for i in range(1200)))
    ta.run_job("bank", files=[str(first)])
    until(qtbot, lambda: finished(ta, "bank"), timeout=30_000)
    before = finished(ta, "bank")["id"]
    page = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.note.text() == "1,200 rows")
    page.view.verticalScrollBar().setValue(600)
    until(qtbot, lambda: page.model.row(600) is not None)
    shown_at = page.view.verticalScrollBar().value()
    page.view.setCurrentIndex(page.model.index(610, 1))

    # Another file into the shown table, one row of it bad: the list, the count and the
    # rows say so without F5, and the rows stay where they were scrolled to.
    second = tmp_path / "second.csv"
    second.write_text("n,name\n" + "".join(f"{i},new {i}\n" for i in range(1200, 1250))
                      + "1,2,3\n")
    ta.run_job("bank", files=[str(second)])
    until(qtbot, lambda: finished(ta, "bank", after=before), timeout=30_000)
    db = tmp_path / "bank.db"
    until(qtbot, lambda: page.note.text() == "1,250 rows")
    assert page.model.rowCount() == 1250
    assert page.item_for(db, "tx").text(1) == "1,250"
    assert page.item_for(db, None).text(1) == "1"
    assert page.view.verticalScrollBar().value() == shown_at
    assert (page.view.currentIndex().row(), page.view.currentIndex().column()) == (610, 1)
    page.view.scrollToBottom()
    until(qtbot, lambda: page.model.row(1249) is not None)
    assert page.model.row(1249)[:2] == (1249, "new 1249")

    # One ending while another page is shown is read once this page is shown again.
    ta.window.tabs.setCurrentIndex(0)
    third = tmp_path / "third.csv"
    third.write_text("n,name\n1250,last\n")
    ta.run_job("bank", files=[str(third)])
    until(qtbot, lambda: finished(ta, "bank", after=before + 1), timeout=30_000)
    ta.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.note.text() == "1,251 rows")
    assert page.item_for(db, "tx").text(1) == "1,251"

    # Undone in the window: its row is gone from the list, the count and the rows.
    ta.undo_run(finished(ta, "bank", after=before + 1)["id"])
    until(qtbot, lambda: page.note.text() == "1,250 rows")
    assert page.item_for(db, "tx").text(1) == "1,250"


def test_a_table_upserts_updated_lists_the_rows_it_has_not_the_rows_imported(
        make_app, qtbot, tmp_path):
    ta = make_app(import_job(tmp_path, table='"accounts"', mode='"upsert"', pk='["id"]',
                             processed_dir='"leave"'))
    before = 0
    for n, balance in enumerate((10, 11)):
        csv = tmp_path / f"accounts-{n}.csv"
        csv.write_text("id,balance\n" + "".join(f"{i},{balance}\n" for i in range(3)))
        ta.run_job("bank", files=[str(csv)])
        until(qtbot, lambda: finished(ta, "bank", after=before), timeout=30_000)
        before = finished(ta, "bank", after=before)["id"]
    page = ta.window.data_page
    ta.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.note.text() == "3 rows")
    # The second file updated the first's 3 rows: the ledger counts 6 imported, the table
    # has 3, and the list says what the table has.
    item = page.item_for(tmp_path / "bank.db", "accounts")
    assert item.text(1) == "3"
    assert "6 rows imported from 2 files" in item.toolTip(0)
