"""Run a report's sections: one read-only query each, rows kept for display,
every row streamed to the section's CSV file."""

from __future__ import annotations

import csv
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ...errors import Cancelled, JobFailed
from .params import SectionParams
from .readonly import NoDatabase, QueryRefused, ReadOnlyDatabase

__all__ = ["SectionResult", "Databases", "run_section", "csv_cell", "shown_cell",
           "CHART_POINTS", "SHOWN_CHARS", "FORMULA_START"]

CHART_POINTS = 1000  # rows a chart plots at most; the CSV still has them all
SHOWN_CHARS = 2000  # characters of a cell the HTML and PDF show; the CSV has them all


@dataclass
class SectionResult:
    section: SectionParams
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # the first rows, for display
    row_count: int = 0
    csv_path: Path | None = None
    missing: str | None = None  # "no data yet" reason: the database does not exist
    cut: bool = False  # the query gave more than csv_max_rows: reading stopped there
    bad_text: int = 0  # cells whose text was not UTF-8 (shown with U+FFFD)

    @property
    def empty(self) -> bool:
        return self.missing is not None or self.row_count == 0


class Databases:
    """The read-only databases a report opens, each once, by path."""

    def __init__(self, *, cancelled: Callable[[], bool] | None = None, runs=None) -> None:
        self._cancelled = cancelled
        self._runs = runs  # a RunsHistory: where the home's runs.db is really read
        self._open: dict[Path, ReadOnlyDatabase | NoDatabase] = {}

    def get(self, path: Path) -> ReadOnlyDatabase | NoDatabase:
        key = path.expanduser().absolute()
        if self._runs is not None and key == self._runs.home_file:
            key = self._runs.path()
        if key not in self._open:
            if key.exists() and not key.is_file():  # not "no data yet": it will not come
                what = "a folder" if key.is_dir() else "not a regular file"
                raise JobFailed(f"cannot open the database {key}: it is {what}; set database "
                                f"to a SQLite file", retry=False)
            try:
                self._open[key] = ReadOnlyDatabase(key, cancelled=self._cancelled)
            except NoDatabase as exc:
                self._open[key] = exc
            except sqlite3.Error as exc:
                # Another program writing to it holds the lock: that passes, so try again
                # (as a query that meets the lock does); anything else stays so.
                busy = getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
                why = " (another program is writing to it)" if busy else ""
                if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
                    why = "; set database to a SQLite file"  # a CSV, say: import it first
                why = _HALF_WRITTEN if _half_written(exc) else why
                raise JobFailed(f"cannot open the database {key}: {exc}{why}",
                                retry=busy) from None
        return self._open[key]

    def close(self) -> None:
        for db in self._open.values():
            if isinstance(db, ReadOnlyDatabase):
                db.close()
        self._open.clear()
        if self._runs is not None:
            self._runs.close()


# "attempt to write a readonly database" on opening one reads as if the report tried to
# write: SQLite means the file holds a write a crashed program left half done (its hot
# journal), which only a connection that may write can roll back.
_HALF_WRITTEN = (" (a program that was writing to it stopped midway and left its "
                 "-journal file beside it; open the database once with that program, or "
                 "with sqlite3, to roll the unfinished write back: a report only reads, so "
                 "it cannot)")


def _half_written(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "") == "SQLITE_READONLY_ROLLBACK"


# What makes a spreadsheet read a cell as a formula (OWASP's "CSV injection" list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Thousands separators too: an import keeps "-1,234.50" as text, and a ' before it showed
# in the spreadsheet and made the amount text that no sum counts. It runs nothing.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+\.?\d*|\.\d+)"
                           r"(?:[eE][+-]?\d+)?")


def csv_cell(v: Any, *, formula_guard: bool = True) -> Any:
    """``v`` as written to a CSV file: blobs as hex; text a spreadsheet would run as a
    formula behind a ``'``. Numbers, and text that is just a number ("-3"), are unchanged."""
    if isinstance(v, bytes):
        return v.hex()
    if (formula_guard and isinstance(v, str) and v.startswith(FORMULA_START)
            and not _PLAIN_NUMBER.fullmatch(v)):
        return "'" + v
    return v


def shown_cell(v: Any) -> Any:
    """``v`` as kept for the HTML and PDF: text past :data:`SHOWN_CHARS` cut with "…", a
    blob past it as a placeholder naming its size (the CSV gets every cell whole)."""
    if isinstance(v, str) and len(v) > SHOWN_CHARS:
        return v[:SHOWN_CHARS] + "…"
    if isinstance(v, bytes) and len(v) > SHOWN_CHARS:
        return f"<{len(v):,} bytes>"
    return v


def cut_note(result: SectionResult) -> str:
    """What a section whose query gave more rows than ``csv_max_rows`` says of it."""
    return (f"the query gives more than {result.row_count:,} rows; the report stops there "
            f"(csv_max_rows: raise it, or narrow the query)")


def _tables_there(db: ReadOnlyDatabase) -> str:
    """What ``db`` holds instead, for a query that named a table it does not have."""
    try:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")]
    except (sqlite3.Error, QueryRefused):
        return ""
    if not tables:
        return " (it holds no tables: is it the database you meant?)"
    more = f" and {len(tables) - 20} more" if len(tables) > 20 else ""
    return f" (its tables and views: {', '.join(tables[:20])}{more})"


def run_section(db: ReadOnlyDatabase | NoDatabase, section: SectionParams,
                params: dict[str, Any], *, csv_path: Path | None, formula_guard: bool = True,
                bom: bool = True) -> SectionResult:
    """Run ``section``'s query; ``JobFailed`` naming the section and SQLite's message.

    Every row goes to ``csv_path`` (when given), through :func:`csv_cell`, in UTF-8
    with a byte order mark if ``bom``.
    """
    result = SectionResult(section)
    if isinstance(db, NoDatabase):
        result.missing = str(db)
        return result
    name = f"section {section.title!r}"
    keep = 1 if section.show == "figure" else section.max_rows
    if section.show in ("bar", "line"):
        keep = max(keep, CHART_POINTS)
    bad_before = db.bad_text
    try:
        cur = db.execute(section.query, params)
        result.columns = [d[0] for d in cur.description or ()]
        if section.show in ("bar", "line") and len(result.columns) < 2:
            raise JobFailed(f"{name}: a {section.show} chart needs at least two columns (labels, "
                            f"then values); the query gives {len(result.columns)}", retry=False)
        writer = out = None
        if csv_path is not None:
            out = open(csv_path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8")
            writer = csv.writer(out)
            writer.writerow([csv_cell(c, formula_guard=formula_guard) for c in result.columns])
        limit = section.csv_max_rows
        try:
            # Row by row, not in batches: a row may hold megabytes, and only the rows
            # shown are kept (their long cells cut), so memory stays small whatever the
            # query gives.
            for row in cur:
                if result.row_count == limit:  # one row past it: there is more
                    result.cut = True
                    break
                if len(result.rows) < keep:
                    result.rows.append(tuple(shown_cell(v) for v in row))
                result.row_count += 1
                if writer is not None:
                    writer.writerow([csv_cell(v, formula_guard=formula_guard) for v in row])
        finally:
            if out is not None:
                out.close()
        result.csv_path = csv_path
        result.bad_text = db.bad_text - bad_before
    except QueryRefused as exc:
        raise JobFailed(f"{name}: {exc}", retry=False) from None
    except sqlite3.ProgrammingError as exc:
        msg = str(exc).rstrip(".")
        if "binding" in msg.lower():  # ":foo" or "?": say which names there are
            msg += "; a report's query can use " + ", ".join(f":{k}" for k in params)
        raise JobFailed(f"{name}: {msg}", retry=False) from None
    except sqlite3.OperationalError as exc:
        msg = str(exc)
        if msg == "interrupted":
            raise Cancelled() from None
        busy = getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
        if _half_written(exc):
            raise JobFailed(f"{name}: cannot read {db.path}: {msg}{_HALF_WRITTEN}",
                            retry=False) from None
        if msg.startswith("no such table"):  # a typo, or another database than meant
            msg += f" in {db.path}{_tables_there(db)}"
        raise JobFailed(f"{name}: {msg}", retry=busy) from None
    except sqlite3.DatabaseError as exc:
        raise JobFailed(f"{name}: {exc} ({db.path})", retry=False) from None
    return result
