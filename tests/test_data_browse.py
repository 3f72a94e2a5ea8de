"""The Data page's reading of imported tables (trayjobs.kinds.importer.browse): every row
once, in order, a page at a time, whatever the table's shape; real imports, real SQLite."""

from __future__ import annotations

from test_import_support import connect, run, write
from trayjobs.kinds.importer import browse


def own(home, sql: str) -> None:
    """Tables and views the user made themselves, beside the imports."""
    home.default_data_db.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(home)
    conn.executescript(sql)
    conn.close()


def read_all(db, table: str, page: int = 2) -> list[tuple]:
    """Every row, as the page reads them: page after page, each after the last one's key."""
    from trayjobs.kinds.importer.positions import table_rows
    source = table_rows(db, table)
    got: list[tuple] = []
    while True:
        rows = source.page(len(got), page)
        got += rows
        if len(rows) < page:
            return [r[1:] for r in got]


def test_a_without_rowid_table_is_read_by_its_primary_key(make_ctx, home, tmp_path):
    own(home, "CREATE TABLE stock (shop TEXT, code TEXT, qty INTEGER, "
              "PRIMARY KEY (shop, code)) WITHOUT ROWID;")
    run(make_ctx, write(tmp_path / "s.csv", "shop,code,qty\nb,x,1\na,y,2\na,x,3\nb,a,4\nc,c,5\n"),
        table="stock")
    db = home.default_data_db
    assert [t.name for t in browse.tables(db)] == ["stock"]
    assert browse.paging(db, "stock") == browse.Paging(('"shop"', '"code"'))
    # Pages of two: each starts after the last (shop, code) shown, none lost or repeated.
    assert read_all(db, "stock") == [("a", "x", 3), ("a", "y", 2), ("b", "a", 4), ("b", "x", 1),
                                     ("c", "c", 5)]


def test_a_column_named_rowid_does_not_hide_the_rows(make_ctx, home, tmp_path):
    # The user's own "rowid" column (the import writes a file's rowid column to rowid_2):
    # SELECT rowid would read that column, NULL here, and the page would show no row.
    own(home, "CREATE TABLE t (rowid TEXT, v INTEGER);")
    run(make_ctx, write(tmp_path / "t.csv", "v\n" + "".join(f"{i}\n" for i in range(5))),
        table="t")
    db = home.default_data_db
    assert browse.paging(db, "t") == browse.Paging(("_rowid_",))
    assert read_all(db, "t") == [(None, i) for i in range(5)]


def test_a_column_named_oid_with_repeated_values_loses_no_row(make_ctx, home, tmp_path):
    own(home, "CREATE TABLE t (oid INTEGER, _rowid_ INTEGER, v TEXT);")
    run(make_ctx, write(tmp_path / "t.csv", "v\n" + "".join(f"r{i}\n" for i in range(5))),
        table="t")
    own(home, "UPDATE t SET oid = 1, _rowid_ = 1")  # a key by these would skip rows
    assert read_all(home.default_data_db, "t") == [(1, 1, f"r{i}") for i in range(5)]


def test_every_rowid_name_taken_reads_by_position(make_ctx, home, tmp_path):
    own(home, "CREATE TABLE t (rowid TEXT, oid TEXT, _rowid_ TEXT, v INTEGER);")
    run(make_ctx, write(tmp_path / "t.csv", "v\n" + "".join(f"{i}\n" for i in range(5))),
        table="t")
    db = home.default_data_db
    assert browse.paging(db, "t").by_position
    assert read_all(db, "t") == [(None, None, None, i) for i in range(5)]


def test_a_view_in_an_imported_tables_place_is_listed_and_read_by_position(make_ctx, home,
                                                                          tmp_path):
    run(make_ctx, write(tmp_path / "t.csv", "n,v\n" + "".join(f"{i},{i * i}\n"
                                                              for i in range(5))), table="t")
    own(home, "ALTER TABLE t RENAME TO t_2023; CREATE VIEW t AS SELECT n, v FROM t_2023;")
    db = home.default_data_db
    [info] = browse.tables(db)
    assert (info.name, info.view, info.rows) == ("t", True, 5)
    assert browse.columns(db, "t") == ["n", "v"]
    assert browse.paging(db, "t").by_position
    assert read_all(db, "t") == [(i, i * i) for i in range(5)]


# -- rows by position, anywhere in a table (the Data page's scroll bar) ---------------------

import random  # noqa: E402
import sqlite3  # noqa: E402

from trayjobs.kinds.importer import positions  # noqa: E402


def made(path, sql: str):
    conn = sqlite3.connect(path)
    conn.executescript(sql)
    conn.close()
    return path


COUNT_TO = ("WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n} - 1) ")


def every_page_in_any_order(source, want: list[tuple], page: int, *, measured=None):
    """Read every page, in a shuffled order (so from anchors above and below), and check
    each against the rows SQLite gives in the key's order."""
    starts = list(range(0, len(want), page))
    random.Random(7).shuffle(starts)
    for start in starts:
        got = [r[1:] for r in source.page(start, page, measured=measured)]
        assert got == want[start:start + page], start


def test_a_page_anywhere_in_a_table_with_sparse_rowids_is_the_right_rows(tmp_path):
    db = made(tmp_path / "d.db", "CREATE TABLE t (n INTEGER, v TEXT);"
              + COUNT_TO.format(n=30_000) + "INSERT INTO t SELECT i, 'v' || i FROM s;"
              # gaps of every size: alternate blocks, then scattered rows
              "DELETE FROM t WHERE (rowid / 700) % 2 = 1; DELETE FROM t WHERE rowid % 13 = 0;")
    want = sqlite3.connect(db).execute("SELECT n, v FROM t ORDER BY rowid").fetchall()
    source = positions.table_rows(db, "t")
    measured = source.measure(every=1000)
    assert measured.count == len(want)
    assert len(measured.positions) == len(want) // 1000
    # Each sampled key is the key of the row at its position.
    keys = [r[0] for r in sqlite3.connect(db).execute("SELECT rowid FROM t ORDER BY rowid")]
    assert list(measured.keys) == [keys[p] for p in measured.positions]
    every_page_in_any_order(source, want, 300, measured=measured)
    # Before the count is known too (from the start, or a page read before).
    every_page_in_any_order(positions.table_rows(db, "t"), want, 300)
    # The last page is short, and past the end there is nothing.
    assert len(source.page(len(want) - 5, 300, measured=measured)) == 5
    assert source.page(len(want), 300, measured=measured) == []



def test_a_page_holds_the_start_of_a_long_text_and_every_other_value_as_it_is(tmp_path):
    # Imported fields may be tens of MB: a page of them must not hold them whole.
    db = made(tmp_path / "d.db", "CREATE TABLE t (n INTEGER, note TEXT, b BLOB, r REAL);"
              "INSERT INTO t VALUES (12345678901234567, printf('%.*c', 3000000, 'x'), "
              "x'00ff', 1.5), (2, 'short', NULL, NULL);")
    for source in (positions.table_rows(db, "t"), positions.RowSource(
            db, "t", ["n", "note", "b", "r"], browse.Paging(()))):  # by key, by position
        assert [r[1:] for r in source.page(0, 10)] == [
            (12345678901234567, "x" * 4001, b"\x00\xff", 1.5),
            (2, "short", None, None)]

def test_a_without_rowid_table_and_a_view_are_read_by_position_anywhere(tmp_path):
    db = made(tmp_path / "d.db", "CREATE TABLE w (a TEXT, b INTEGER, v INTEGER, "
              "PRIMARY KEY (a, b)) WITHOUT ROWID;" + COUNT_TO.format(n=5_000)
              + "INSERT INTO w SELECT char(65 + i % 7), i, i * i FROM s;"
              "CREATE VIEW sq AS SELECT v FROM w WHERE b % 2 = 0;")
    conn = sqlite3.connect(db)
    want = conn.execute("SELECT a, b, v FROM w ORDER BY a, b").fetchall()
    source = positions.table_rows(db, "w")
    assert source.paging.key == ('"a"', '"b"')
    measured = source.measure(every=400)
    assert measured.keys[0] == tuple(want[400][:2])
    every_page_in_any_order(source, want, 150, measured=measured)

    view = positions.table_rows(db, "sq")
    assert view.by_position
    assert view.measure() == positions.Measure(2_500)
    every_page_in_any_order(view, conn.execute("SELECT v FROM sq").fetchall(), 150)


def test_rejected_rows_of_a_run_are_read_by_position(tmp_path):
    from trayjobs.kinds.importer.store import _SIDE_TABLES
    db = made(tmp_path / "d.db", ";".join(_SIDE_TABLES) + ";" + COUNT_TO.format(n=3_000)
              + "INSERT INTO _rejected (run_id, file, line, reason, raw, \"table\") "
              "SELECT 1 + i % 3, 'f' || (i % 2) || '.csv', i, 'bad', 'raw ' || i, 't' FROM s;")
    source = positions.rejected_rows(db, run_id=2, file="f1.csv")
    want = sqlite3.connect(db).execute(
        "SELECT file, line, reason, raw, \"table\", run_id FROM _rejected "
        "WHERE run_id = 2 AND file = 'f1.csv' ORDER BY id").fetchall()
    measured = source.measure(every=100)
    assert measured.count == len(want) == 500
    every_page_in_any_order(source, want, 40, measured=measured)
