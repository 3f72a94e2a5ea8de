"""The SQL a :class:`.load.TableWriter` stores a batch's rows with.

One prepared INSERT of many rows at once, its parameters slices of the batch's values in
one list; a batch the database refuses is rolled back to its savepoint and written row by
row, so that only the rows it refuses are set aside. An upsert first makes sure the
table has the unique index its ``ON CONFLICT`` needs.
"""

from __future__ import annotations

import sqlite3
from itertools import chain
from typing import TYPE_CHECKING, Any, Callable

from .problems import BadRow, FileProblem
from .schema import IMPORT_ID, fold, sql_value
from .store import q

if TYPE_CHECKING:
    from .columns import Column
    from .readers import Reader
    from .store import Store

__all__ = ["Inserting", "flat_values"]

_ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.DataError,
               OverflowError, UnicodeEncodeError)
_ROWS_PER_INSERT = 50


def flat_values(rows: list[Any]) -> list[Any]:
    """A batch's values in one list, row after row (in C).

    Made once per batch: a column is then a slice of it (``flat[i::width]``), and so are
    the parameters of each multi-row INSERT. No tuple or list per row or per statement.
    """
    return list(chain.from_iterable(rows))


def _row_reason(exc: BaseException, row: Any, conn: sqlite3.Connection) -> str:
    if isinstance(exc, UnicodeEncodeError):
        return "holds text that is not valid Unicode (a lone surrogate)"
    # SQLite's "string or blob too big", and Python's OverflowError past 2 GB (which
    # also stands for an integer beyond 64 bits): a value longer than one may be.
    if isinstance(exc, (sqlite3.DataError, OverflowError)) and "string" in str(exc):
        longest = max((len(v) for v in row if isinstance(v, (str, bytes))), default=0)
        most = conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH)
        return (f"holds a value too long for SQLite: {longest:,} characters, where SQLite "
                f"stores {most:,} bytes at most in one value")
    if isinstance(exc, OverflowError):
        return "holds a number too large for SQLite"
    return f"refused by the database: {exc}"


class Inserting:
    """The writing half of :class:`.load.TableWriter`: what it needs of the writer."""

    store: Store
    reader: Reader
    table: str
    mode: str
    import_id: int
    text: bool
    pk: list[str]
    pk_index: list[int]
    columns: list[Column]
    convert: set[int]
    rows: int
    sql: str | None
    sql_many: str
    per: int
    _sql_width: int
    log: Callable[[str], None]
    _reject: Callable[[list[BadRow]], None]  # sets rows aside (TableWriter._reject)

    def _ensure_conflict_target(self) -> None:
        """Upsert needs a primary key or unique index on exactly the pk columns."""
        conn = self.store.conn
        want = set(self.pk)
        declared = {fold(r[0]) for r in conn.execute(
            "SELECT name FROM pragma_table_info(?) WHERE pk > 0", (self.table,))}
        if declared == want:
            return
        for name, unique in conn.execute("SELECT name, [unique] FROM pragma_index_list(?)",
                                         (self.table,)).fetchall():
            cols = {fold(r[0]) for r in conn.execute("SELECT name FROM pragma_index_info(?)",
                                                     (name,))}
            if unique and cols == want:
                return
        names = [self.columns[i].name for i in self.pk_index]
        index = f"{self.table}_{'_'.join(names)}_key"
        try:
            conn.execute(f"CREATE UNIQUE INDEX {q(index)} ON {q(self.table)} "
                         f"({', '.join(q(n) for n in names)})")
        except sqlite3.IntegrityError:
            raise FileProblem(f"cannot upsert on {', '.join(names)}: table {self.table} already "
                              f"holds rows with the same {', '.join(names)}") from None
        self.log(f"added unique index {index} so that rows can be matched on "
                 f"{', '.join(names)}")

    def _statement(self, rows: int = 1) -> str:
        """INSERT of ``rows`` rows at once: parameters ?1.. are row 1's fields, then row 2's..."""
        width = len(self.columns)
        used = [(i, c) for i, c in enumerate(self.columns) if c.in_table]
        names = [c.name for _, c in used] + [IMPORT_ID]
        # An empty cell is NULL. CASE compares in the VDBE itself; NULLIF(?, '') would be
        # a function call per cell (a tenth of the INSERT's cost).
        place = "CASE ?{0} WHEN '' THEN NULL ELSE ?{0} END" if self.text else "?{0}"
        last = used[-1][0] if used else -1
        tuples = []
        for r in range(rows):
            base = r * width
            values = [place.format(base + i + 1) for i, _ in used]
            # Every parameter must appear in the statement, even an unused last field's.
            values.append(f"coalesce({self.import_id}, ?{base + width})"
                          if width and last != width - 1 else str(self.import_id))
            tuples.append(f"({', '.join(values)})")
        sql = (f"INSERT INTO {q(self.table)} ({', '.join(q(n) for n in names)}) "
               f"VALUES {', '.join(tuples)}")
        if self.mode == "upsert":
            target = ", ".join(q(self.columns[i].name) for i in self.pk_index)
            sets = ", ".join(f"{q(n)} = excluded.{q(n)}" for n in names if fold(n) not in self.pk)
            sql += f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
        return sql

    def _prepare(self) -> None:
        width = len(self.columns)
        self._sql_width = width
        self.sql = self._statement()
        # Several rows per statement save a third of SQLite's per-row cost; stay under
        # the 999 parameters older SQLite builds allow.
        self.per = max(1, min(_ROWS_PER_INSERT, 999 // max(width, 1)))
        self.sql_many = self._statement(self.per) if self.per > 1 else self.sql

    # -- writing ------------------------------------------------------------------------
    def _insert(self, rows: list[Any], flat: list[Any],
                line_numbers: Callable[[], list[int]]) -> None:
        if self.convert:
            todo = [(i, self.columns[i].level) for i in self.convert]
            rows = [self._converted(r, todo) for r in rows]
            flat = flat_values(rows)
        conn = self.store.conn
        per = self.per
        whole = len(rows) // per * per
        conn.execute("SAVEPOINT _trayjobs_batch")
        try:
            if whole and per > 1:
                # Each statement's parameters are a slice of the batch's values.
                step = per * len(rows[0])
                conn.executemany(self.sql_many, [flat[i:i + step]
                                                 for i in range(0, whole * len(rows[0]), step)])
                conn.executemany(self.sql, rows[whole:])
            else:
                conn.executemany(self.sql, rows)
        except _ROW_ERRORS:
            conn.execute("ROLLBACK TO _trayjobs_batch")
            self._one_by_one(rows, line_numbers())
        else:
            self.rows += len(rows)
        conn.execute("RELEASE _trayjobs_batch")

    @staticmethod
    def _converted(row: Any, todo: list[tuple[int, str]]) -> list[Any]:
        row = list(row)
        for i, level in todo:
            row[i] = sql_value(row[i], level)
        return row

    def _one_by_one(self, rows: list[Any], lines: list[int]) -> None:
        bad = []
        for row, line in zip(rows, lines):
            try:
                self.store.conn.execute(self.sql, row)
                self.rows += 1
            except _ROW_ERRORS as exc:
                bad.append(BadRow(line, _row_reason(exc, row, self.store.conn),
                                  self.reader.raw(row)))
        if bad:
            self._reject(bad)
