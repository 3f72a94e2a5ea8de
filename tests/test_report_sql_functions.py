"""Report SQL may call SQLite's ordinary functions only; the rest are refused by name.

``fts3_tokenizer`` is the reason: it returns a raw C pointer and, with a second
argument, installs one, after which a MATCH makes the process jump to it.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from helpers import trayjobs
from trayjobs.kinds.report.readonly import QueryRefused, ReadOnlyDatabase


@pytest.fixture
def fts_db(tmp_path):
    """A database with an FTS4 and an FTS5 table, as an import may well create."""
    path = tmp_path / "notes.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE VIRTUAL TABLE notes4 USING fts4(body)")
    conn.execute("CREATE VIRTUAL TABLE notes5 USING fts5(body)")
    conn.execute("CREATE TABLE amounts (day TEXT, amount REAL, tags TEXT)")
    for body in ("hello world", "goodbye world", "hello again"):
        conn.execute("INSERT INTO notes4 VALUES (?)", (body,))
        conn.execute("INSERT INTO notes5 VALUES (?)", (body,))
    conn.executemany("INSERT INTO amounts VALUES (?, ?, ?)", [
        ("2026-01-01", -3.5, '["a","b"]'), ("2026-01-02", 4.25, '["c"]')])
    conn.commit()
    conn.close()
    return path


REFUSED = [
    ("fts3_tokenizer", "SELECT fts3_tokenizer('simple')"),
    ("fts3_tokenizer", "SELECT hex(fts3_tokenizer('simple', x'4141414141414141'))"),
    ("fts3_tokenizer", "SELECT count(*) FROM notes4 WHERE body MATCH 'hello' "
                       "AND fts3_tokenizer('porter') IS NOT NULL"),
    ("fts5_source_id", "SELECT fts5_source_id()"),
    ("fts5", "SELECT fts5(NULL)"),
    ("load_extension", "SELECT load_extension('/tmp/evil.so')"),
    ("optimize", "SELECT optimize(notes4) FROM notes4 LIMIT 1"),
    ("rtreenode", "SELECT rtreenode(2, x'00')"),
]


@pytest.mark.parametrize("name, sql", REFUSED)
def test_internal_functions_are_refused_by_name(fts_db, name, sql):
    with ReadOnlyDatabase(fts_db) as db:
        with pytest.raises(QueryRefused, match=rf"cannot call the SQL function {name}\(\)"):
            db.execute(sql)
        # The connection still reads afterwards.
        assert db.execute("SELECT count(*) FROM amounts").fetchone() == (2,)


@pytest.mark.parametrize("name", ["readfile", "writefile", "edit"])
def test_functions_a_build_adds_are_refused_too(fts_db, name):
    """The SQLite shell's file functions (or any extension's) are not on the list."""
    with ReadOnlyDatabase(fts_db) as db:
        db.conn.create_function(name, -1, lambda *args: "ran")
        with pytest.raises(QueryRefused, match=rf"function {name}\(\)"):
            db.execute(f"SELECT {name}('/etc/passwd')")


def test_ordinary_functions_and_full_text_search_keep_working(fts_db):
    with ReadOnlyDatabase(fts_db) as db:
        row = db.execute("""
            SELECT count(*), sum(amount), total(amount), avg(amount), min(amount), max(amount),
                   group_concat(day, ';'), round(abs(min(amount)), 1), upper(max(day)),
                   substr(max(day), 1, 4), date(max(day), '+1 day'), strftime('%m', max(day)),
                   julianday(max(day)) - julianday(min(day)), coalesce(NULL, 'x'),
                   iif(count(*) > 1, 'many', 'one'), printf('%.2f', sum(amount)),
                   sqrt(16), floor(2.5), json_array_length(max(tags)),
                   max(tags) -> '$[0]', max(tags) ->> '$[0]', typeof(1.5),
                   length('héllo'), instr('abc', 'c'), replace('a-b', '-', '+'),
                   max(day) LIKE '2026%', max(day) GLOB '2026*'
            FROM amounts""").fetchone()
        assert row[:3] == (2, 0.75, 0.75) and row[6] == "2026-01-01;2026-01-02"
        assert row[10] == "2026-01-03" and row[-2:] == (1, 1)
        windows = db.execute("SELECT day, row_number() OVER (ORDER BY day), "
                             "sum(amount) OVER (ORDER BY day), lag(amount) OVER (ORDER BY day) "
                             "FROM amounts ORDER BY day").fetchall()
        assert windows[1] == ("2026-01-02", 2, 0.75, -3.5)
        assert db.execute("SELECT value FROM amounts, json_each(amounts.tags) "
                          "ORDER BY 1").fetchall() == [("a",), ("b",), ("c",)]
        assert db.execute("SELECT body, snippet(notes4), offsets(notes4) FROM notes4 "
                          "WHERE notes4 MATCH 'hello' ORDER BY 1").fetchall()[0][0] == "hello again"
        assert db.execute("SELECT highlight(notes5, 0, '[', ']'), bm25(notes5) FROM notes5 "
                          "WHERE notes5 MATCH 'goodbye'").fetchone()[0] == "[goodbye] world"
        assert db.execute("SELECT count(*) FROM notes5('world')").fetchone() == (2,)


def test_a_report_cannot_crash_its_job_process_through_the_tokenizer(home, fts_db):
    """Section one installs a bogus tokenizer pointer, section two runs a MATCH with it.

    Through the real command line: were the function allowed, the process running
    the job would die of SIGSEGV in the MATCH.
    """
    home.config_file.write_text(f"""
[jobs.search]
kind = "report"
database = {json.dumps(str(fts_db))}
formats = ["csv"]
[[jobs.search.sections]]
title = "Tokenizer"
query = "SELECT hex(fts3_tokenizer('simple', x'4141414141414141')) AS p"
[[jobs.search.sections]]
title = "Matches"
query = "SELECT count(*) AS n FROM notes4 WHERE notes4 MATCH 'hello'"
""", encoding="utf-8")
    run = trayjobs(home, "run", "search", "--wait", timeout=120)
    assert run.returncode == 1, (run.returncode, run.stdout, run.stderr)
    assert "section 'Tokenizer': reports cannot call the SQL function fts3_tokenizer()" \
        in run.stderr
    shown = trayjobs(home, "show", run.stdout.strip(), "--json")
    details = json.loads(shown.stdout)
    assert details["run"]["state"] == "failed"
    assert all("signal" not in (a.get("error") or "").lower() for a in details["attempts"])
