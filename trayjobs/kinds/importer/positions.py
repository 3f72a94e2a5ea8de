"""Rows of a table by position, read cheaply anywhere in it: for the Data page's scroll bar.

A person drags the scroll bar to row 7,340,112 of ten million; that row has to be shown
without reading the seven million before it. A table with a key (:class:`browse.Paging`)
is read by key ranges from the nearest *anchor*, a (position, key) pair known to be right:
the first row, the last one (once the exact count is known), every ``every``-th row
(:func:`RowSource.measure`, once per table, one pass over the key that SQLite steps in C:
about 0.1 s for ten million rows) and the edges of each page read. From an anchor,
``OFFSET n`` in the key's order (up or down) steps over at most ``every`` keys. The
rowids need not be dense: gaps (deleted rows, undone imports) only move the anchors, so
row N is always the N-th in the key's order.

A view, or a table whose columns took every rowid name, has no key: it is read by
position from its first row (OFFSET), a page far down costing a read past every row before
it, as SQLite can do no better.

Nothing here keeps a connection open or knows about threads: each call opens the
database read-only, and :meth:`RowSource.page` is meant to be called by one thread at a
time (the anchors it learns are its only state).
"""

from __future__ import annotations

import bisect
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .browse import REJECTED_COLUMNS, Paging, _reading, columns, paging
from .problems import RAW_LIMIT
from .store import q

__all__ = ["RowSource", "Measure", "Blob", "SAMPLE", "table_rows", "rejected_rows"]

#: The most of a text a page holds (the view shows less, its tooltip RAW_LIMIT): imported
#: fields may be tens of MB, and pages of them would hold a page's worth of those.
CELL_CHARS = RAW_LIMIT + 1
#: The most of a blob a page holds: a page of 500 blobs of megabytes would take gigabytes,
#: and a blob is shown by its size.
BLOB_BYTES = 64
#: Keys between two sampled anchors (at least): the most a read by position steps over.
SAMPLE = 10_000
#: At most this many sampled anchors per table (a bigger table samples more sparsely).
MAX_ANCHORS = 4_000
#: Anchors learnt from pages read; past this many they are forgotten (the sample stays).
MAX_SEEN = 4_096


@dataclass(frozen=True)
class Measure:
    """What one pass over a table found: its exact row count and a sample of its keys."""
    count: int
    positions: tuple[int, ...] = ()   # ascending
    keys: tuple[Any, ...] = ()        # the key of the row at each position


@dataclass
class RowSource:
    """Pages of ``table`` (restricted by ``where`` with ``args``) in its key's order, by
    position. Each row read is led by its key (the position, when read by position)."""
    db: Path
    table: str
    columns: Sequence[str]
    paging: Paging
    where: str = ""
    args: tuple = ()
    _seen: dict[int, Any] = field(default_factory=dict, repr=False)
    _seen_at: list[int] = field(default_factory=list, repr=False)

    @property
    def by_position(self) -> bool:
        return self.paging.by_position

    # -- SQL pieces ---------------------------------------------------------------------

    def _cols(self) -> str:
        return ", ".join(_clipped(q(c)) for c in self.columns) or "NULL"

    def _key(self) -> str:
        return ", ".join(self.paging.key)

    def _order(self, desc: bool) -> str:
        return ", ".join(f"{k} DESC" if desc else k for k in self.paging.key)

    def _filter(self, extra: str = "") -> str:
        parts = [p for p in (self.where, extra) if p]
        return f" WHERE {' AND '.join(f'({p})' for p in parts)}" if parts else ""

    def _key_args(self, key: Any) -> tuple:
        return tuple(key) if len(self.paging.key) > 1 else (key,)

    def _compare(self, op: str) -> str:
        width = len(self.paging.key)
        return f"({self._key()}) {op} ({', '.join('?' * width)})"

    def _lead(self, rows: list[tuple]) -> list[tuple]:
        width = len(self.paging.key)
        return rows if width == 1 else [(tuple(r[:width]), *r[width:]) for r in rows]

    # -- counting and sampling -------------------------------------------------------------

    def count(self) -> int:
        with _reading(self.db) as conn:
            return conn.execute(f"SELECT count(*) FROM {q(self.table)}{self._filter()}",
                                self.args).fetchone()[0]

    def measure(self, *, every: int = SAMPLE,
                cancelled: Callable[[], bool] = lambda: False) -> Measure:
        """The exact count and, for a table with a key, the key of every ``every``-th row
        (sparser for a huge table): each found by stepping ``every`` keys past the last."""
        with _reading(self.db) as conn:
            count = conn.execute(f"SELECT count(*) FROM {q(self.table)}{self._filter()}",
                                 self.args).fetchone()[0]
            if self.by_position or count <= every:
                return Measure(count)
            every = max(every, -(-count // MAX_ANCHORS))
            positions: list[int] = []
            keys: list[Any] = []
            first = (f"SELECT {self._key()} FROM {q(self.table)}{self._filter()} "
                     f"ORDER BY {self._order(False)} LIMIT 1 OFFSET ?")
            after = (f"SELECT {self._key()} FROM {q(self.table)}"
                     f"{self._filter(self._compare('>'))} "
                     f"ORDER BY {self._order(False)} LIMIT 1 OFFSET ?")
            row = conn.execute(first, (*self.args, every)).fetchone()
            while row is not None and not cancelled():
                key = row[0] if len(row) == 1 else tuple(row)
                positions.append((positions[-1] if positions else 0) + every)
                keys.append(key)
                row = conn.execute(after, (*self.args, *self._key_args(key), every - 1)
                                   ).fetchone()
            return Measure(count, tuple(positions), tuple(keys))

    # -- reading a page ------------------------------------------------------------------

    def page(self, start: int, limit: int, *, measured: Measure | None = None
             ) -> list[tuple]:
        """Up to ``limit`` rows from position ``start`` (0 is the first row). ``measured``:
        the table's count and sample, once known; without it a page is found from the
        first row or an anchor a page read before left."""
        with _reading(self.db) as conn:
            if self.by_position:
                rows = conn.execute(f"SELECT {self._cols()} FROM {q(self.table)}"
                                    f"{self._filter()} LIMIT ? OFFSET ?",
                                    (*self.args, limit, start)).fetchall()
                return [(start + n, *r) for n, r in enumerate(_blobs(rows))]
            total = measured.count if measured is not None else None
            if total is not None:
                limit = max(0, min(limit, total - start))
                if not limit:
                    return []
            rows = _blobs(self._read(conn, start, limit, measured), lead=1)
        if rows:
            self._learn(start, rows[0][0])
            self._learn(start + len(rows) - 1, rows[-1][0])
        return rows

    def _read(self, conn: sqlite3.Connection, start: int, limit: int,
              measured: Measure | None) -> list[tuple]:
        end = start + limit - 1
        # (cost, ascending?, anchor position, anchor key or None for the table's edge)
        ways: list[tuple[int, bool, int, Any]] = [(start, True, 0, None)]
        if measured is not None:
            ways.append((measured.count - 1 - end, False, measured.count - 1, None))
        for at, keys in ((measured.positions, measured.keys) if measured else ((), ()),
                         (self._seen_at, None)):
            i = bisect.bisect_right(at, start) - 1
            if i >= 0:
                pos = at[i]
                ways.append((start - pos, True, pos, keys[i] if keys else self._seen[pos]))
            j = bisect.bisect_left(at, end)
            if j < len(at):
                pos = at[j]
                ways.append((pos - end, False, pos, keys[j] if keys else self._seen[pos]))
        _cost, up, pos, key = min(ways, key=lambda w: w[0])
        table = q(self.table)
        if up:
            where = self._filter(self._compare(">=") if key is not None else "")
            args = (*self.args, *(self._key_args(key) if key is not None else ()),
                    limit, start - pos)
        else:
            where = self._filter(self._compare("<=") if key is not None else "")
            args = (*self.args, *(self._key_args(key) if key is not None else ()),
                    limit, pos - end)
        tail = f" FROM {table}{where} ORDER BY {self._order(not up)} LIMIT ? OFFSET ?"
        if len(self.paging.key) + len(self.columns) <= conn.getlimit(sqlite3.SQLITE_LIMIT_COLUMN):
            rows = conn.execute(f"SELECT {self._key()}, {self._cols()}{tail}", args).fetchall()
        else:
            # 2,000 columns and the key are more than one SELECT may give: the same rows
            # twice, their keys then their values, in one read transaction.
            conn.execute("BEGIN")
            keys = conn.execute(f"SELECT {self._key()}{tail}", args).fetchall()
            values = conn.execute(f"SELECT {self._cols()}{tail}", args).fetchall()
            conn.execute("COMMIT")
            rows = [k + v for k, v in zip(keys, values)]
        return self._lead(rows if up else rows[::-1])

    def _learn(self, position: int, key: Any) -> None:
        if position in self._seen:
            return
        if len(self._seen) >= MAX_SEEN:
            self._seen.clear()
            self._seen_at.clear()
        self._seen[position] = key
        bisect.insort(self._seen_at, position)


@dataclass(frozen=True)
class Blob:
    """A blob too big to read whole for a page: its size and first bytes."""
    size: int
    head: bytes

    def __len__(self) -> int:
        return self.size


def _clipped(column: str) -> str:
    """The column's value, a text cut to CELL_CHARS, a blob past BLOB_BYTES to its first
    BLOB_BYTES and then its size as 20 digits (see :func:`_blobs`), a number as it is."""
    return (f"CASE WHEN typeof({column}) = 'text' AND length({column}) > {CELL_CHARS} "
            f"THEN substr({column}, 1, {CELL_CHARS}) "
            f"WHEN typeof({column}) = 'blob' AND length({column}) > {BLOB_BYTES} "
            f"THEN CAST(substr({column}, 1, {BLOB_BYTES}) || printf('%020d', length({column})) "
            f"AS BLOB) ELSE {column} END")


def _blobs(rows: list[tuple], *, lead: int = 0) -> list[tuple]:
    """Rows with each cut blob as a :class:`Blob`: no blob of the user's comes back longer
    than BLOB_BYTES, so one that does is a cut one, ending in its size. The first ``lead``
    values (the key, read whole) are left as they are."""
    def cell(v: Any) -> Any:
        if isinstance(v, bytes) and len(v) > BLOB_BYTES:
            return Blob(int(v[BLOB_BYTES:]), v[:BLOB_BYTES])
        return v
    return [(*r[:lead], *(cell(v) for v in r[lead:]))
            if any(isinstance(v, bytes) for v in r[lead:]) else r for r in rows]


def table_rows(db: Path, table: str) -> RowSource:
    """An imported table's rows (its columns and key read from the database)."""
    return RowSource(Path(db), table, columns(db, table), paging(db, table))


def rejected_rows(db: Path, *, run_id: int | None = None,
                  file: str | None = None) -> RowSource:
    """The rows imports set aside, of one run and/or file, in the order they were."""
    where, args = [], []
    if run_id is not None:
        where.append("run_id = ?")
        args.append(run_id)
    if file:
        where.append("file = ?")
        args.append(file)
    return RowSource(Path(db), "_rejected", REJECTED_COLUMNS, Paging(("id",)),
                     where=" AND ".join(where), args=tuple(args))
