"""Reading what imports brought in, for a person to look at: tables, rows, rejected rows.

Everything here opens the target database read-only. The list of tables takes its row
counts from the ``_imports`` ledger, never from ``COUNT(*)`` over a million rows. A
table's rows are read by its key (:mod:`.positions` reads them a page at a time, at any
position): the ``rowid``, under whichever of its three names no column of the user's has
taken, or the primary key of a ``WITHOUT ROWID`` table; a view (the user may have put one
in an imported table's place) has no key and is read by position (OFFSET), where a page
far down costs a read past every row before it.
:func:`write_fix_file` is the one writer: it puts a file's rejected rows, under the
file's header line, into a new file for the person to correct and import again.
"""

from __future__ import annotations

import gzip
import re
import sqlite3
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from contextlib import contextmanager

from .params import RESERVED_TABLES
from .schema import IMPORT_ID
from .sniff import is_sep_line
from .store import made_without_rowid, q

__all__ = ["TableInfo", "Paging", "import_databases", "tables", "columns", "paging",
           "rejected_files", "rejected_count", "write_fix_file", "fix_folder", "fix_name",
           "fixed_run", "REJECTED_COLUMNS"]

#: The names SQLite gives a rowid table's rowid, each usable unless a column has taken it.
ROWID_NAMES = ("rowid", "_rowid_", "oid")


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int          # by the ledger: rows the imports still in effect brought in
    files: int
    rejected: int
    view: bool = False  # a view now stands under the name: the ledger's count is not its own


@dataclass(frozen=True)
class Paging:
    """How a table is read a page at a time: after the last row's ``key`` (SQL
    expressions that order the rows and tell each apart), or by position without one."""
    key: tuple[str, ...]

    @property
    def by_position(self) -> bool:
        return not self.key


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
    return _kind(conn, table) == "table"


def _kind(conn: sqlite3.Connection, name: str) -> str | None:
    """'table', 'view' (or another kind of thing) of that name, or None."""
    row = conn.execute("SELECT type FROM sqlite_master WHERE name = ? AND type IN "
                       "('table', 'view')", (name,)).fetchone()
    return row[0] if row else None


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
        kinds = {t: _kind(conn, t) for t, _r, _f in counts}
        return [TableInfo(t, rows, files, rejected.get(t, 0), view=kinds[t] == "view")
                for t, rows, files in counts if t and t not in RESERVED_TABLES and kinds[t]]


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


def paging(db: Path, table: str) -> Paging:
    """How to read ``table`` a page at a time (see the module's docstring)."""
    with _reading(db) as conn:
        return _paging(conn, table)


def _paging(conn: sqlite3.Connection, table: str) -> Paging:
    row = conn.execute("SELECT type, sql FROM sqlite_master WHERE name = ? AND type IN "
                       "('table', 'view')", (table,)).fetchone()
    if row is None or row[0] != "table":
        return Paging(())
    # table_xinfo: generated columns take a name too.
    info = conn.execute(f"PRAGMA table_xinfo({q(table)})").fetchall()
    if made_without_rowid(row[1]):
        # Its primary key: NOT NULL and unique (SQLite makes sure), the order it is stored in.
        return Paging(tuple(q(r[1]) for r in sorted((r for r in info if r[5]),
                                                    key=lambda r: r[5])))
    taken = {r[1].lower() for r in info}
    # Bare, not quoted: the name of the rowid itself, never of a column (none has it).
    return Paging(next(((name,) for name in ROWID_NAMES if name not in taken), ()))


REJECTED_COLUMNS = ["file", "line", "reason", "raw", "table", "run_id"]


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


_FIX_FOLDER = re.compile(r"rejected-run-(\d+)")
_SHEET_FORMATS = ("xlsx", "xls", "ods")
_NOT_IN_NAMES = re.compile(r'[\\/:*?<>|"\x00-\x1f]')  # in a file name, anywhere


def fixed_run(path: Path) -> int | None:
    """The run whose rejected rows ``path`` may hold: its folder is ``rejected-run-N``."""
    m = _FIX_FOLDER.fullmatch(path.parent.name)
    return int(m.group(1)) if m else None


def write_fix_file(db: Path, ledger: dict[str, Any], source: Path | None, *,
                   header: bool = True) -> Path:
    """Write the rejected rows of one imported file, under that file's header line, to a
    file of the same name (much: see :func:`fix_name`) in ``rejected-run-N/`` beside
    ``source`` (where the file is now: ``processed/``, or its own folder), so that
    importing it lands in the same table. ``header`` is the job's: without a header line
    the file's first line is a row, which the fix file would give again.
    Returns the path; an existing fix file is kept (the person may have edited it)."""
    original = Path(ledger["path"])
    source = source or original
    target = fix_folder(source, ledger["run_id"]) / fix_name(original, ledger.get("format"),
                                                              ledger.get("table"))
    if target.exists():
        return target
    with _reading(db) as conn:
        raws = [r[0] for r in conn.execute(
            "SELECT raw FROM _rejected WHERE import_id = ? ORDER BY line, id", (ledger["id"],))]
    header = _header_line(source, ledger.get("encoding")) \
        if header and ledger.get("format") in ("csv", "tsv") else None
    text = "".join(line + "\n" for line in ([header] if header is not None else []) + raws)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_encoded(text, ledger.get("encoding")))
    return target


def _encoded(text: str, encoding: str | None) -> bytes:
    """The fix file's bytes: in the encoding the file was read in, so that a job that sets
    ``encoding = "cp1250"`` reads its rows back as written (in UTF-8 it read "Kraków" as
    "KrakĂłw"); in UTF-8 when that encoding cannot hold them (a byte it could not read,
    kept as U+FFFD) or there is none (a sheet)."""
    if encoding:
        try:
            return text.encode(encoding)
        except (UnicodeEncodeError, LookupError):
            pass
    return text.encode("utf-8")


def fix_name(original: Path, fmt: str | None, table: str | None = None) -> str:
    """The fix file's name: the file's own, without ``.gz`` as it is written as plain text;
    for rows that are no CSV lines (JSON records, a sheet's rows as objects) ``.jsonl``,
    one record a line, as they are written. The stem, and so the table named after the
    file, stays the same; a sheet's is its table's (``book_sales.jsonl``), as each sheet of
    the workbook may have rows of its own to fix, and ``sheet = "*"`` gives it a table of
    its own. (The import of a fix file goes into the table its rows came from all the
    same: see :func:`fixed_run`.)"""
    if fmt in _SHEET_FORMATS and table:
        return _NOT_IN_NAMES.sub("_", table) + ".jsonl"
    name = original.name[:-3] if original.name.lower().endswith(".gz") else original.name
    return name if fmt in ("csv", "tsv") else f"{Path(name).stem}.jsonl"


def _header_line(path: Path, encoding: str | None) -> str | None:
    """The line of column names as the import read it: past blank lines, with Excel's
    "sep=;" line before it when the file has one (it names the delimiter), and whole when a
    quoted column name holds a line break."""
    kept: list[str] = []
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding=encoding or "utf-8-sig", errors="replace",
                    newline="") as f:
            for number, line in enumerate(f):
                line = line.lstrip("\ufeff") if number == 0 else line
                if kept and kept[-1].count('"') % 2:  # inside a quoted name
                    kept[-1] += line
                elif not line.rstrip("\r\n"):
                    continue  # a blank line before the header
                else:
                    kept.append(line)
                    if number == 0 and is_sep_line(line):
                        continue
                if kept[-1].count('"') % 2 == 0:
                    break
    except (OSError, LookupError, EOFError, zlib.error):
        return None
    return "".join(kept).rstrip("\r\n") or None
