"""Helpers shared by the import tests: run the kind on real files, read the database."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from trayjobs.errors import JobFailed
from trayjobs.kinds.importer import ImportKind, ImportParams

KIND = ImportKind()


def write(path: Path, content: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write exactly these bytes (no newline translation); ``.gz`` names are gzipped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content if isinstance(content, bytes) else content.encode(encoding)
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def params(**kw: Any) -> ImportParams:
    kw.setdefault("processed_dir", "leave")
    kw.setdefault("failed_dir", "leave")
    return ImportParams.model_validate(kw)


def run(make_ctx, *files: Path, run_id: int = 1, job: str = "job", ctx=None,
        **kw: Any) -> tuple[dict[str, Any], Any]:
    """Import ``files``; returns (result, ctx). Fails the test if the run fails."""
    ctx = ctx or make_ctx(job, run_id=run_id, files=files)
    return KIND.run(ctx, params(**kw)), ctx


def fail(make_ctx, *files: Path, run_id: int = 1, job: str = "job", ctx=None,
         **kw: Any) -> tuple[JobFailed, Any]:
    """Import ``files`` expecting the run to fail; returns (error, ctx)."""
    ctx = ctx or make_ctx(job, run_id=run_id, files=files)
    with pytest.raises(JobFailed) as info:
        KIND.run(ctx, params(**kw))
    return info.value, ctx


def connect(home) -> sqlite3.Connection:
    conn = sqlite3.connect(home.default_data_db)
    conn.row_factory = sqlite3.Row
    return conn


def rows(home, table: str, columns: str = "*", order: str = "rowid") -> list[dict[str, Any]]:
    with connect(home) as conn:
        got = [dict(r) for r in conn.execute(f'SELECT {columns} FROM "{table}" ORDER BY {order}')]
    conn.close()
    for r in got:
        r.pop("_import_id", None)
    return got


def schema(home, table: str) -> dict[str, str]:
    conn = connect(home)
    try:
        return {r["name"]: r["type"] for r in conn.execute(f"PRAGMA table_info(\"{table}\")")}
    finally:
        conn.close()


def tables(home) -> set[str]:
    if not Path(home.default_data_db).exists():
        return set()
    conn = connect(home)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def rejected(home) -> list[dict[str, Any]]:
    conn = connect(home)
    try:
        return [dict(r) for r in conn.execute(
            'SELECT file, line, reason, raw, "table" FROM _rejected ORDER BY id')]
    finally:
        conn.close()


def ledger(home) -> list[dict[str, Any]]:
    conn = connect(home)
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM _imports ORDER BY id")]
    finally:
        conn.close()
