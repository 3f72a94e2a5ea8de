"""Read-only access to a report's databases.

A report may run any SELECT a person writes, so three independent locks keep
it from changing data: the file is opened with ``mode=ro`` (SQLite refuses
every write and never creates the file), ``PRAGMA query_only`` is on, and an
authorizer allows nothing but reading tables, calling functions and a few
introspection pragmas. Before any of that, :func:`check_select` rejects text
that is not exactly one SELECT (or ``WITH ... SELECT``) statement, which is
also what load-time validation uses.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["check_select", "ReadOnlyDatabase", "QueryRefused", "NoDatabase"]

_VERBS = {"SELECT", "VALUES", "INSERT", "UPDATE", "DELETE", "REPLACE"}


class QueryRefused(Exception):
    """The statement would do something other than read."""


class NoDatabase(Exception):
    """The database file does not exist (yet): nothing was created."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no data yet: {path} does not exist")
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
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            sqlite3.SQLITE_RECURSIVE}
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
                 busy_timeout: float = 10.0) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise NoDatabase(self.path)
        uri = self.path.resolve().as_uri() + "?mode=ro"
        self.refused: str | None = None
        self.conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA query_only = 1")
        self.conn.set_authorizer(self._authorize)
        if cancelled is not None:
            self.conn.set_progress_handler(lambda: 1 if cancelled() else 0, 20_000)

    def _authorize(self, action: int, arg1: str | None, arg2: str | None,
                   db: str | None, source: str | None) -> int:
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and arg1:
            name = arg1.lower()
            if name in _INTROSPECTION or (name in _READ_WITHOUT_ARG and arg2 is None):
                return sqlite3.SQLITE_OK
        self.refused = _describe(action, arg1, arg2)
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
                raise QueryRefused(f"reports can only read data, but the query tried to {self.refused}") from exc
            raise

    # Introspection for the built-in reports (the names come from sqlite_schema).

    def tables(self) -> list[str]:
        """Every table but SQLite's own, by name."""
        rows = self._run("SELECT name FROM sqlite_schema WHERE type = 'table' "
                         "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name", ())
        return [r[0] for r in rows]

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
