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
    cols = browse.columns(db, table)
    how = browse.paging(db, table)
    got: list[tuple] = []
    while True:
        rows = browse.rows_after(db, table, got[-1][0] if got else None, page, columns=cols,
                                 paging=how)
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
