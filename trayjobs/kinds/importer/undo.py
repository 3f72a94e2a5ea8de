"""Undoing a run: its rows out, the rows its upserts overwrote back in.

Imports are undone newest first, so that when one run updated rows an earlier
import of the same run had written, those come back before being removed in
turn. A row saved before an upsert is only put back if nothing else has taken
its key since (a later run's row is left alone).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from .schema import IMPORT_ID, fold
from .store import Store, q

__all__ = ["undo_run"]


def _columns(store: Store, table: str) -> dict[str, str]:
    """Folded name -> name of the columns of ``table`` (empty if there is no such table)."""
    rows = store.conn.execute("SELECT name FROM pragma_table_info(?)", (table,)).fetchall()
    return {fold(r[0]): r[0] for r in rows}


def _restore(store: Store, table: str, import_id: int, columns: dict[str, str]) -> int:
    restored = 0
    saved = store.conn.execute("SELECT row FROM _import_replaced WHERE import_id = ? ORDER BY id",
                               (import_id,)).fetchall()
    for (text,) in saved:
        # Values were stored as SQL literals by SQLite's quote(): exact, and safe to inline.
        values = {columns[fold(k)]: v for k, v in json.loads(text).items() if fold(k) in columns}
        if not values:
            continue
        names = ", ".join(q(k) for k in values)
        literals = ", ".join(str(v) for v in values.values())
        cur = store.conn.execute(f"INSERT OR IGNORE INTO {q(table)} ({names}) VALUES ({literals})")
        restored += cur.rowcount
    return restored


def undo_imports(store: Store, run_id: int, job: str, extra_ids: set[int]) -> dict[str, Any]:
    found = store.conn.execute(
        'SELECT id, "table", file, mode FROM _imports WHERE (run_id = ? AND job = ?) '
        f"OR id IN ({', '.join('?' for _ in extra_ids)}) ORDER BY id DESC",
        (run_id, job, *extra_ids)).fetchall()
    removed: Counter[str] = Counter()
    restored = 0
    replaced_tables: set[str] = set()
    replaced_files: dict[str, None] = {}  # the imports whose rows a replace emptied
    for import_id, table, file, mode in found:
        if mode == "replace":
            for old_file, old_run in store.conn.execute(
                    "SELECT file, run_id FROM _imports WHERE superseded_by = ? ORDER BY id",
                    (import_id,)):
                replaced_files[f"{old_file} (run {old_run})"] = None
        columns = _columns(store, table)
        if fold(IMPORT_ID) in columns:
            cur = store.conn.execute(f"DELETE FROM {q(table)} WHERE {q(IMPORT_ID)} = ?",
                                     (import_id,))
            removed[table] += cur.rowcount
            restored += _restore(store, table, import_id, columns)
        store.conn.execute("DELETE FROM _import_replaced WHERE import_id = ? OR old_import_id = ?",
                           (import_id, import_id))
        store.conn.execute("DELETE FROM _rejected WHERE import_id = ?", (import_id,))
        store.conn.execute("DELETE FROM _imports WHERE id = ?", (import_id,))
        if mode == "replace":
            replaced_tables.add(table)
    total = sum(removed.values())
    if not found:
        summary = f"nothing to undo: run {run_id} left no imports in {store.path.name}"
    else:
        where = ", ".join(sorted(removed)) or "tables that no longer exist"
        summary = (f"removed {total:,} row{'s' if total != 1 else ''} from {where} "
                   f"({len(found)} file{'s' if len(found) != 1 else ''})")
        if restored:
            summary += f"; put back {restored:,} row{'s' if restored != 1 else ''} it had updated"
        if replaced_tables:
            summary += (f"; the rows it replaced in {', '.join(sorted(replaced_tables))} were "
                        f"not kept and cannot be put back")
            if replaced_files:
                # Their ledger entries stay superseded: importing the files is not skipped.
                names = list(replaced_files)
                more = f" and {len(names) - 5:,} more" if len(names) > 5 else ""
                summary += (f": import {', '.join(names[:5])}{more} again to bring them "
                            f"back")
    return {"summary": summary, "removed": total, "restored": restored,
            "imports": [r[0] for r in found], "tables": dict(removed)}


def undo_run(store: Store, run_id: int, job: str, import_ids: set[int]) -> dict[str, Any]:
    """Undo every import of the run (and any listed id) in one transaction."""
    store.begin()
    try:
        result = undo_imports(store, run_id, job, import_ids)
        store.commit()
    except BaseException:
        store.rollback()
        raise
    return result
