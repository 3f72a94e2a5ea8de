"""Read-only access to a report's databases.

A report may run any SELECT a person writes, so three independent locks keep
it from changing data: the file is opened with ``mode=ro`` (SQLite refuses
every write and never creates the file), ``PRAGMA query_only`` is on, and an
authorizer allows nothing but reading tables, calling the functions in
:data:`ALLOWED_FUNCTIONS` and a few introspection pragmas. Before any of that,
:func:`check_select` rejects text that is not exactly one SELECT (or
``WITH ... SELECT``) statement, which is also what load-time validation uses.

Functions are an allow-list rather than a deny-list because SQLite builds
differ: some expose functions that reach into its internals
(``fts3_tokenizer`` hands out, and accepts, raw C pointers, so a report could
crash its own process), and a newer SQLite may add more. A function a report
may not call is refused before the query runs, by name.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["check_select", "ReadOnlyDatabase", "QueryRefused", "NoDatabase",
           "ALLOWED_FUNCTIONS"]

_VERBS = {"SELECT", "VALUES", "INSERT", "UPDATE", "DELETE", "REPLACE"}


#: Seconds a read waits for another program's write lock on the database to go.
BUSY_TIMEOUT = 10.0

class QueryRefused(Exception):
    """The statement would do something other than read."""


class NoDatabase(Exception):
    """The database file does not exist (yet): nothing was created."""

    def __init__(self, path: Path) -> None:
        # No folder either: more likely a mistyped path than data still to come.
        folder = (f" (nor does its folder {path.parent}: check the path)"
                  if not path.parent.is_dir() else "")
        super().__init__(f"no data yet: {path} does not exist{folder}")
        self.path = path


def _tokens(sql: str) -> Iterator[tuple[str, int]]:
    """Yield ``(token, depth)`` for keywords/identifiers and punctuation, skipping
    comments, string literals and quoted identifiers."""
    i, n, depth = 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c in "'\"`[":
            close = "]" if c == "[" else c
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if close != "]" and sql.startswith(close * 2, j):
                        j += 2
                        continue
                    break
                j += 1
            yield ("'" if c == "'" else "ident"), depth
            i = j + 1
        elif c.isalnum() or c == "_":
            j = i
            while j < n and (sql[j].isalnum() or sql[j] in "_$"):
                j += 1
            yield sql[i:j].upper(), depth
            i = j
        else:
            if c == "(":
                depth += 1
            elif c == ")":
                depth = max(0, depth - 1)
            yield c, depth
            i += 1


def check_select(sql: str) -> None:
    """``QueryRefused`` unless ``sql`` is one SELECT or ``WITH ... SELECT`` statement."""
    toks = list(_tokens(sql))
    while toks and toks[-1][0] == ";":
        toks.pop()
    if not toks:
        raise QueryRefused("the query is empty")
    if any(t == ";" for t, _ in toks):
        raise QueryRefused("the query holds several statements; write exactly one SELECT")
    first = toks[0][0]
    if first not in ("SELECT", "WITH"):
        raise QueryRefused(f"only SELECT queries can be used in a report, not {first}")
    if first == "WITH":
        verb = next((t for t, d in toks[1:] if d == 0 and t in _VERBS), None)
        if verb not in ("SELECT", "VALUES"):
            raise QueryRefused(f"only SELECT queries can be used in a report, not WITH ... {verb}")


# Pragmas that only read, whatever their argument, and those that only read without one.
_INTROSPECTION = {"table_info", "table_xinfo", "table_list", "index_list", "index_info",
                  "index_xinfo", "foreign_key_list"}
_READ_WITHOUT_ARG = {"user_version", "application_id", "page_count", "page_size",
                     "freelist_count", "encoding", "data_version", "schema_version", "query_only"}
# Table-valued functions that only read (connected up front like virtual tables).
_TABLE_FUNCTIONS = ("json_each", "json_tree", *sorted(f"pragma_{p}" for p in _INTROSPECTION))
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}

# The SQL functions a report may call: SQLite's core, aggregate, window, date and
# time, math and JSON functions (including some only newer versions have), and
# the full-text search helpers that only read. Operators that SQLite runs as
# functions are here too (LIKE, GLOB, MATCH, ->, ->>). Everything else is refused,
# notably fts3_tokenizer, fts5, fts5_source_id, load_extension, optimize, the
# rtree* debugging functions, and the shell's readfile, writefile and edit.
ALLOWED_FUNCTIONS = frozenset("""
    abs changes char coalesce concat concat_ws format glob hex ifnull iif if instr
    last_insert_rowid length like likelihood likely lower ltrim max min nullif octet_length
    printf quote random randomblob replace round rtrim sign soundex sqlite_source_id
    sqlite_version substr substring total_changes trim typeof unhex unicode unistr
    unistr_quote unlikely upper zeroblob
    avg count group_concat string_agg sum total median percentile percentile_cont
    percentile_disc
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
    nth_value
    date time datetime julianday unixepoch strftime timediff current_date current_time
    current_timestamp
    acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log
    log10 log2 mod pi pow power radians sin sinh sqrt tan tanh trunc
    json json_array json_array_length json_error_position json_extract json_insert
    json_object json_patch json_pretty json_quote json_remove json_replace json_set json_type
    json_valid json_group_array json_group_object jsonb jsonb_array jsonb_extract
    jsonb_insert jsonb_object jsonb_patch jsonb_remove jsonb_replace jsonb_set
    jsonb_group_array jsonb_group_object -> ->>
    match highlight snippet bm25 offsets matchinfo
""".split())
_WHAT = {
    sqlite3.SQLITE_INSERT: "insert into {0}", sqlite3.SQLITE_UPDATE: "update {0}",
    sqlite3.SQLITE_DELETE: "delete from {0}", sqlite3.SQLITE_ATTACH: "attach a database",
    sqlite3.SQLITE_DETACH: "detach a database", sqlite3.SQLITE_PRAGMA: "run PRAGMA {0}",
    sqlite3.SQLITE_TRANSACTION: "start or end a transaction", sqlite3.SQLITE_ANALYZE: "analyze",
    sqlite3.SQLITE_REINDEX: "reindex", sqlite3.SQLITE_ALTER_TABLE: "alter table {1}",
}


def _describe(action: int, arg1: str | None, arg2: str | None) -> str:
    if (arg1 or "").lower() in ("sqlite_master", "sqlite_temp_master", "sqlite_schema"):
        return "change the database's schema (tables, indexes, views)"  # CREATE, DROP
    if action in _WHAT:
        return _WHAT[action].format(repr(arg1) if arg1 else "", repr(arg2) if arg2 else "").strip()
    names = [n for n in dir(sqlite3) if n.startswith("SQLITE_") and getattr(sqlite3, n) == action]
    verb = names[0][7:].lower().replace("_", " ") if names else f"action {action}"
    return f"{verb} {arg1!r}" if arg1 else verb


class ReadOnlyDatabase:
    """One SQLite file opened so that nothing can change it.

    ``cancelled`` is polled while a query runs; when it returns true the query
    is interrupted (``sqlite3.OperationalError: interrupted``).
    """

    def __init__(self, path: str | Path, *, cancelled: Callable[[], bool] | None = None,
                 busy_timeout: float | None = None) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise NoDatabase(self.path)
        uri = self.path.resolve().as_uri() + "?mode=ro"
        self.refused: str | None = None
        self.conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                                    timeout=BUSY_TIMEOUT if busy_timeout is None else busy_timeout,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA query_only = 1")
        self.bad_text = 0  # text cells that were not UTF-8, read with U+FFFD in their place
        self.conn.text_factory = self._text
        try:
            self._connect_virtual_tables()  # the first read of the file: it may be locked
        except sqlite3.Error:
            self.conn.close()
            raise
        self.conn.set_authorizer(self._authorize)
        if cancelled is not None:
            self.conn.set_progress_handler(lambda: 1 if cancelled() else 0, 20_000)

    def _text(self, raw: bytes) -> str:
        # A file written by another program may hold Latin-1 or broken text: one such
        # cell should not fail the whole report, nor go unnoticed (see bad_text).
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.bad_text += 1
            return raw.decode("utf-8", "replace")

    def _connect_virtual_tables(self) -> None:
        """Connect each virtual table (full-text search, R*Tree, ...) before the authorizer.

        When a connection first uses one, its module declares the columns and prepares
        its own statements, and SQLite puts those through the authorizer as if they were
        the query's: schema updates and writes that are compiled but never run. Done
        here, with our fixed SQL, the report's queries can read these tables (and call
        table-valued functions such as ``json_each``) like any other.
        """
        rows = self.conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' "
                                 "AND sql LIKE 'CREATE VIRTUAL TABLE%'").fetchall()
        for name in [r[0] for r in rows] + list(_TABLE_FUNCTIONS):
            try:
                self.conn.execute(f"SELECT 1 FROM {quote_ident(name)} LIMIT 0").fetchall()
            except sqlite3.Error:
                pass  # e.g. a module this SQLite lacks: a query of it will say so

    def _authorize(self, action: int, arg1: str | None, arg2: str | None,
                   db: str | None, source: str | None) -> int:
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            name = (arg2 or "").lower()
            if name in ALLOWED_FUNCTIONS:
                return sqlite3.SQLITE_OK
            self.refused = (f"reports cannot call the SQL function {arg2}(): only SQLite's "
                            f"ordinary text, number, date, aggregate, window and JSON "
                            f"functions are allowed")
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_PRAGMA and arg1:
            name = arg1.lower()
            if name in _INTROSPECTION or (name in _READ_WITHOUT_ARG and arg2 is None):
                return sqlite3.SQLITE_OK
        what = _describe(action, arg1, arg2)
        self.refused = f"reports can only read data, but the query tried to {what}"
        return sqlite3.SQLITE_DENY

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> sqlite3.Cursor:
        """Run one SELECT; ``QueryRefused`` for anything else, ``sqlite3.Error`` for SQL errors."""
        check_select(sql)
        return self._run(sql, params or {})

    def _run(self, sql: str, params: dict[str, Any] | tuple) -> sqlite3.Cursor:
        self.refused = None
        try:
            return self.conn.execute(sql, params)
        except sqlite3.ProgrammingError as exc:
            if "one statement" in str(exc):
                raise QueryRefused("the query holds several statements; write exactly one SELECT") from None
            raise
        except sqlite3.DatabaseError as exc:
            if self.refused:
                raise QueryRefused(self.refused) from exc
            raise

    # Introspection for the built-in reports (the names come from sqlite_schema).

    def tables(self) -> list[str]:
        """Every table but SQLite's own, by name; without the shadow tables in which a
        virtual table (full-text search, R*Tree) keeps its index, which are not the
        person's tables and would count its rows several times over."""
        rows = self._run("SELECT name FROM sqlite_schema WHERE type = 'table' "
                         "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name", ())
        names = [r[0] for r in rows]
        try:  # SQLite 3.37 and later know which tables are shadows
            shadows = {r[0] for r in self._run(
                "SELECT name FROM pragma_table_list WHERE schema = 'main' "
                "AND type = 'shadow'", ())}
        except sqlite3.Error:
            return names
        return [n for n in names if n not in shadows]

    def has_table(self, name: str) -> bool:
        row = self._run("SELECT 1 FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ?",
                        (name,)).fetchone()
        return row is not None

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self._run(f"PRAGMA table_info({quote_ident(table)})", ())]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "ReadOnlyDatabase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
