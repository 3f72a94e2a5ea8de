"""A report can never change data: statement checks, and the read-only connection itself."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from trayjobs.context import JobContext
from trayjobs.errors import JobFailed
from trayjobs.kinds.report.params import ReportParams
from trayjobs.kinds.report.readonly import NoDatabase, QueryRefused, ReadOnlyDatabase, check_select

WRITES = [
    "DELETE FROM t",
    "INSERT INTO t VALUES (3, 'c')",
    "UPDATE t SET b = 'z'",
    "DROP TABLE t",
    "CREATE TABLE u (x)",
    "ATTACH DATABASE 'other.db' AS other",
    "PRAGMA query_only = 0",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA user_version = 5",
    "SELECT 1; DELETE FROM t",
    "WITH x AS (SELECT 1) DELETE FROM t",
    "BEGIN",
    "VACUUM",
    "REPLACE INTO t VALUES (1, 'q')",
]


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "data.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")  # what the store and imports use
    conn.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "a"), (2, "b")])
    conn.commit()
    conn.close()
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("sql", [
    "SELECT * FROM t", "select 1;", "  -- a comment\n/* another */ SELECT ';' AS semi",
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3) SELECT x FROM n",
    'SELECT "a;b" FROM (SELECT 1 AS "a;b")',
])
def test_single_selects_pass_the_check(sql):
    check_select(sql)


@pytest.mark.parametrize("sql", WRITES + ["", "   ;", "EXPLAIN SELECT 1"])
def test_anything_else_fails_the_check(sql):
    with pytest.raises(QueryRefused):
        check_select(sql)


@pytest.mark.parametrize("sql", WRITES)
def test_the_connection_itself_refuses_writes(db_path, tmp_path, sql):
    """Even past the statement check, the connection refuses and the file is unchanged."""
    before = digest(db_path)
    with ReadOnlyDatabase(db_path) as db:
        with pytest.raises((QueryRefused, sqlite3.DatabaseError)) as info:
            db._run(sql, ())  # no statement check: the connection's own guards only
        assert db.conn.execute("SELECT count(*) FROM t").fetchone() == (2,)
    assert digest(db_path) == before
    assert not (tmp_path / "other.db").exists()
    if isinstance(info.value, QueryRefused):
        assert "read" in str(info.value) or "several statements" in str(info.value)


def test_refusal_names_what_the_query_tried(db_path):
    with ReadOnlyDatabase(db_path) as db:
        with pytest.raises(QueryRefused, match=r"tried to delete from 't'"):
            db._run("DELETE FROM t", ())
        with pytest.raises(QueryRefused, match=r"attach a database"):
            db._run("ATTACH 'x.db' AS x", ())
        with pytest.raises(QueryRefused, match=r"PRAGMA 'query_only'"):
            db._run("PRAGMA query_only = OFF", ())
        with pytest.raises(QueryRefused, match=r"change the database's schema"):
            db._run("CREATE TABLE u (x)", ())
        # Reading still works afterwards, and read-only pragmas are allowed.
        assert db.execute("SELECT b FROM t ORDER BY a").fetchall() == [("a",), ("b",)]
        assert db.columns("t") == ["a", "b"]
        assert db.conn.execute("PRAGMA query_only").fetchone() == (1,)


def test_missing_database_is_not_created(tmp_path):
    path = tmp_path / "nothing-yet.db"
    with pytest.raises(NoDatabase, match="no data yet"):
        ReadOnlyDatabase(path)
    assert not path.exists()


def test_a_write_in_a_report_fails_the_run_naming_the_section(db_path, home):
    from trayjobs.kinds.report import ReportKind
    from trayjobs.kinds.report.params import SectionParams
    from trayjobs.kinds.report.query import Databases, run_section

    # Sections are validated when loaded; build one past that check to reach the run-time guard.
    section = SectionParams.model_construct(title="Sneaky", query="DELETE FROM t", show="table",
                                            note="", database=None, stack=False, max_rows=10,
                                            format={})
    dbs = Databases()
    with pytest.raises(JobFailed, match=r"section 'Sneaky'.*only SELECT"):
        run_section(dbs.get(db_path), section, {}, csv_path=None)
    dbs.close()
    before = digest(db_path)
    params = ReportParams.model_construct(
        builtin=None, title="T", database=str(db_path), period="last_7_days", formats=["html"],
        keep=3, template=None, sections=[section])
    with pytest.raises(JobFailed, match="Sneaky"):
        ReportKind().run(JobContext(run_id=1, job="sneaky", home=home, sink=[].append), params)
    assert digest(db_path) == before
    # Nothing half-written is left behind.
    assert [p.name for p in (home.reports_dir / "sneaky").iterdir()] == []


def test_a_long_query_stops_when_the_run_is_cancelled(db_path):
    from trayjobs.errors import Cancelled
    from trayjobs.kinds.report.params import SectionParams
    from trayjobs.kinds.report.query import Databases, run_section

    endless = SectionParams(title="Forever", query=(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"))
    dbs = Databases(cancelled=lambda: True)
    with pytest.raises(Cancelled):
        run_section(dbs.get(db_path), endless, {}, csv_path=None)
    dbs.close()
