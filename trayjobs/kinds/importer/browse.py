"""Reading what imports brought in, for a person to look at: tables, rows, rejected rows.

Everything here opens the target database read-only and reads in pages: a table
is walked by ``rowid`` (keyset paging, so page 5,000 costs what page 1 does) and
row counts come from the ``_imports`` ledger, never from ``COUNT(*)`` over a
million rows. :func:`write_fix_file` is the one writer: it puts a file's rejected
rows, under the file's header line, into a new file for the person to correct
and import again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from contextlib import contextmanager

from .params import RESERVED_TABLES
from .schema import IMPORT_ID
from .sniff import is_sep_line
from .store import q

__all__ = ["TableInfo", "import_databases", "tables", "columns", "rows_after", "rejected_after",
           "rejected_files", "rejected_count", "write_fix_file", "fix_folder"]


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int          # by the ledger: rows the imports still in effect brought in
    files: int
    rejected: int


def import_databases(config: Any, home: Any) -> list[tuple[str, Path]]:
    """(job name, database) of each import job, in config order; several jobs may share one."""
    out = []
    for name, job in config.jobs.items():
        if job.kind != "import":
            continue
        db = job.params.database
        out.append((name, home.data_dir / Path(db).expanduser() if db else home.default_data_db))
    return out


@contextmanager
def _reading(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"{Path(db).as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def _has(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (table,)).fetchone() is not None


def tables(db: Path) -> list[TableInfo]:
    """The tables imports wrote to that still exist, with ledger counts; [] without a database."""
    if not Path(db).exists():
        return []
    with _reading(db) as conn:
        if not _has(conn, "_imports"):
            return []
        counts = conn.execute(
            'SELECT "table", sum(coalesce(rows, 0)), count(*) FROM _imports '
            'WHERE superseded_by IS NULL GROUP BY "table" ORDER BY "table"').fetchall()
        rejected = dict(conn.execute('SELECT "table", count(*) FROM _rejected GROUP BY "table"')
                        .fetchall()) if _has(conn, "_rejected") else {}
        return [TableInfo(t, rows, files, rejected.get(t, 0)) for t, rows, files in counts
                if t and t not in RESERVED_TABLES and _has(conn, t)]


def rejected_count(db: Path) -> int:
    """Rows set aside in ``db``, by the ledger."""
    if not Path(db).exists():
        return 0
    with _reading(db) as conn:
        if not _has(conn, "_imports"):
            return 0
        return conn.execute("SELECT coalesce(sum(rejected), 0) FROM _imports").fetchone()[0]


def columns(db: Path, table: str) -> list[str]:
    """The table's columns as imported (the ledger link ``_import_id`` left out)."""
    with _reading(db) as conn:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({q(table)})")
                if r[1] != IMPORT_ID]


def rows_after(db: Path, table: str, after: int, limit: int, *,
               columns: list[str]) -> list[tuple]:
    """Up to ``limit`` rows of ``table`` with a rowid above ``after``, each led by its rowid."""
    cols = ", ".join(q(c) for c in columns)
    with _reading(db) as conn:
        return conn.execute(f"SELECT rowid, {cols} FROM {q(table)} WHERE rowid > ? "
                            f"ORDER BY rowid LIMIT ?", (after, limit)).fetchall()


REJECTED_COLUMNS = ["file", "line", "reason", "raw", "table", "run_id"]


def _rejected_where(run_id: int | None, file: str | None) -> tuple[str, list[Any]]:
    where, args = [], []
    if run_id is not None:
        where.append("run_id = ?")
        args.append(run_id)
    if file:
        where.append("file = ?")
        args.append(file)
    return (" AND " + " AND ".join(where)) if where else "", args


def rejected_after(db: Path, after: int, limit: int, *, run_id: int | None = None,
                   file: str | None = None) -> list[tuple]:
    """Rejected rows (id, then :data:`REJECTED_COLUMNS`) above id ``after``, filtered."""
    if not Path(db).exists():
        return []
    where, args = _rejected_where(run_id, file)
    with _reading(db) as conn:
        if not _has(conn, "_rejected"):
            return []
        cols = ", ".join(q(c) for c in REJECTED_COLUMNS)
        return conn.execute(f"SELECT id, {cols} FROM _rejected WHERE id > ?{where} ORDER BY id "
                            f"LIMIT ?", (after, *args, limit)).fetchall()


def rejected_files(db: Path, *, run_id: int | None = None) -> list[dict[str, Any]]:
    """Per imported file with rejected rows: the ledger's run, file, path, table, counts."""
    if not Path(db).exists():
        return []
    with _reading(db) as conn:
        if not _has(conn, "_imports"):
            return []
        cur = conn.execute(
            'SELECT id, run_id, job, file, path, "table", format, encoding, rows, rejected '
            "FROM _imports WHERE rejected > 0" + (" AND run_id = ?" if run_id is not None else "")
            + " ORDER BY id DESC", () if run_id is None else (run_id,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def fix_folder(source: Path, run_id: int) -> Path:
    return source.parent / f"rejected-run-{run_id}"


def write_fix_file(db: Path, ledger: dict[str, Any], source: Path | None) -> Path:
    """Write the rejected rows of one imported file, under that file's header line, to a
    file of the same name in ``rejected-run-N/`` beside ``source`` (where the file is now:
    ``processed/``, or its own folder), so that importing it lands in the same table.
    Returns the path; an existing fix file is kept (the person may have edited it)."""
    original = Path(ledger["path"])
    source = source or original
    target = fix_folder(source, ledger["run_id"]) / original.name
    if target.exists():
        return target
    with _reading(db) as conn:
        raws = [r[0] for r in conn.execute(
            "SELECT raw FROM _rejected WHERE import_id = ? ORDER BY line, id", (ledger["id"],))]
    header = _header_line(source, ledger.get("encoding")) \
        if ledger.get("format") in ("csv", "tsv") else None
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="") as out:
        for line in ([header] if header is not None else []) + raws:
            out.write(line + "\n")
    return target


def _header_line(path: Path, encoding: str | None) -> str | None:
    """The line of column names as the import read it: past blank lines, and with Excel's
    "sep=;" line before it when the file has one (it names the delimiter)."""
    kept: list[str] = []
    try:
        with open(path, encoding=encoding or "utf-8-sig", errors="replace", newline="") as f:
            for number, line in enumerate(f):
                line = line.lstrip("\ufeff") if number == 0 else line
                text = line.rstrip("\r\n")
                if text:
                    kept.append(text)
                    if not (number == 0 and is_sep_line(line)):
                        break
    except (OSError, LookupError):
        return None
    return "\n".join(kept) or None
