"""The dry run: what an import of these files would do, without writing anything.

The job editor shows it: per file the detected format, encoding and dialect,
the columns with the types they would get, the first rows as they would be
stored, and the rows that would be rejected. The database is only read (and
only if it exists), never created.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...context import JobContext
from ...errors import JobFailed
from .columns import too_wide
from .params import ImportParams
from .plan import Plan, open_reader, plan_file
from .problems import RAW_LIMIT, BadRow, FileProblem, printable
from .results import plural
from .runner import database_path
from .schema import (Namer, classify_text, classify_value, fits_text, fits_value, fold,
                     sql_value, type_of_declared, wider)

__all__ = ["preview"]

_TYPE_SAMPLE = 1000  # rows read to guess types in a preview
_MAX_FILES = 10


def _existing_types(database: Path, table: str) -> dict[str, str] | None:
    if not database.exists():
        return None
    try:
        conn = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT name, type FROM pragma_table_info(?)", (table,)).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return {fold(n): type_of_declared(t or "") for n, t in rows} or None


def _column_limit() -> int:
    """The most columns a table may have (SQLite's build decides: 2,000 by default)."""
    conn = sqlite3.connect(":memory:")
    try:
        return conn.getlimit(sqlite3.SQLITE_LIMIT_COLUMN)
    finally:
        conn.close()


def _clipped(value: Any) -> Any:
    """A long text's start: a field of tens of MB would make the preview (kept in the run
    history, shown in the editor) as big, and twice, with the first file's sample."""
    if isinstance(value, str) and len(value) > RAW_LIMIT:
        return value[:RAW_LIMIT] + "…"
    return value


def _shown(value: Any, t: str, text: bool) -> Any:
    """The value as the column would store it (SQLite's column affinity, imitated)."""
    if not text:
        value = sql_value(value, t)
        if t == "text" and isinstance(value, (int, float)):
            return str(int(value) if isinstance(value, bool) else value)
        if not isinstance(value, str):
            return value
    elif value == "":
        return None
    try:
        return int(value) if t == "integer" else float(value) if t == "real" else value
    except ValueError:
        return value


def _files(path: Path, params: ImportParams, database: Path) -> list[dict[str, Any]]:
    """The file's preview; a workbook's is one per chosen sheet."""
    try:
        plan = plan_file(path, params)
    except FileProblem as exc:
        return [{"file": str(path), "error": exc.for_file(path.name)}]
    if not plan.sheets:
        return [_file(path, plan, params, database)]
    return [_file(path, replace(plan, sheet=s, table=s.table), params, database)
            for s in plan.sheets]


def _file(path: Path, plan: Plan, params: ImportParams, database: Path) -> dict[str, Any]:
    try:
        rows: list[tuple[int, Any]] = []
        bad: list[BadRow] = []
        limited = params.model_copy(update={"batch_size": min(params.batch_size, _TYPE_SAMPLE)})
        # A few rows: decode numbers too large for a float as the import would store them.
        with open_reader(replace(plan, exact_numbers=True), limited) as (reader, _):
            for batch in reader.batches():
                bad += batch.bad
                rows += zip(reader.line_numbers(batch), batch.rows)
                if len(rows) >= _TYPE_SAMPLE:
                    break
            fields = list(reader.fields)
    except FileProblem as exc:
        return {"file": str(path), "error": exc.for_file(plan.label)}
    limit = _column_limit()
    if len(fields) + 1 > limit:  # the import fails such a file before writing: so does this
        return {"file": str(path), "error": FileProblem(
            too_wide(f"{len(fields):,} columns", limit)).for_file(plan.label)}
    is_text = reader.values == "text"
    names = Namer().names(fields)
    explicit = {fold(k): v for k, v in params.types.items()}
    existing = _existing_types(database, plan.table) or {}
    classify, fits = (classify_text, fits_text) if is_text else (classify_value, fits_value)
    types: dict[str, str] = {}
    for i, name in enumerate(names):
        t = existing.get(fold(name), "empty")
        for _, row in rows:
            if i < len(row):
                t = wider(t, classify(row[i]))
        types[name] = explicit.get(fold(name)) or ("text" if t == "empty" else t)
    good = []
    for line, row in rows:
        misfit = next((n for i, n in enumerate(names) if n in types and fold(n) in explicit
                       and i < len(row) and not fits(row[i], types[n])), None)
        if misfit:
            shown = printable(repr(row[names.index(misfit)]), limit=60)
            bad.append(BadRow(line, f"{misfit}: {shown} is not {types[misfit]} "
                                    f"(types.{misfit})", reader.raw(row)))
        else:
            good.append(row)
    sample = [{n: _clipped(_shown(row[i] if i < len(row) else None, types[n], is_text))
               for i, n in enumerate(names)} for row in good[:params.preview_rows]]
    return {"file": str(path), "table": plan.table, "table_exists": bool(existing),
            "format": plan.format, "encoding": plan.encoding.codec,
            **({"sheet": plan.sheet.name} if plan.sheet else {}),
            "dialect": plan.dialect.describe() if plan.dialect else None,
            "columns": names, "types": types, "sample": sample,
            "rows_read": len(rows),
            "notes": [*filter(None, [plan.encoding.guess_warning()]),
                      *getattr(reader, "warnings", ()), *_notes(fields)],
            "rejects": [{"line": b.line, "reason": b.reason, "raw": b.raw}
                        for b in sorted(bad, key=lambda b: b.line or 0)[:100]]}


def _notes(fields: list[str]) -> list[str]:
    namer = Namer()
    namer.names(fields)
    return namer.notes


def preview(ctx: JobContext, params: ImportParams) -> dict[str, Any]:
    if not ctx.files:
        raise JobFailed("no files to preview: choose one or more files", retry=False)
    database = database_path(ctx, params)
    files = [one for f in ctx.files[:_MAX_FILES]
             for one in _files(Path(f).expanduser().absolute(), params, database)]
    first = next((f for f in files if "error" not in f), {})
    errors = [f["error"] for f in files if "error" in f]
    if first:
        shown = Path(first["file"]).name + (f" [{first['sheet']}]" if "sheet" in first else "")
        summary = (f"preview of {shown}: {plural(len(first['columns']), 'column')}, "
                   f"{plural(first['rows_read'], 'row')} read, {len(first['rejects'])} would be "
                   f"rejected -> table {first['table']}")
    else:
        summary = "preview: no file can be imported"
    if errors:
        summary += "; " + "; ".join(errors)
    return {"summary": summary, "dry_run": True, "files": files,
            "columns": first.get("columns", []), "types": first.get("types", {}),
            "sample": first.get("sample", []), "rejects": first.get("rejects", [])}
