"""Reversing a cleanup run from its journal, newest action first.

Each action is undone only when the disk still shows what the run left
there: a moved file that was changed since, or a place that is taken again,
is reported and left alone. What cannot be undone (a permanent delete, a
file the trash was emptied of) is reported with the reason.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ...context import JobContext
from . import fsops
from .actions.base import Item, Workspace
from .actions.trash import reserve, send_to_trash, unreserve
from .freedesktop import restore
from .journal import KEEP_DAYS, Journal, Row
from .report import PROBLEM_CAP, plural

__all__ = ["undo_run"]


class CannotUndo(Exception):
    pass


def _unchanged(row: Row, path: str) -> None:
    if row.is_dir or row.size is None:
        return
    st = os.lstat(path)
    if st.st_size != row.size or (row.mtime_ns and st.st_mtime_ns != row.mtime_ns):
        raise CannotUndo(f"{path} was changed after the run; left where it is")


def _put_back(row: Row) -> None:
    if not row.dest or not os.path.lexists(row.dest):
        raise CannotUndo(f"no longer at {row.dest}")
    if os.path.lexists(row.src):
        raise CannotUndo("something is at the original place again")
    _unchanged(row, row.dest)
    fsops.make_dirs(os.path.dirname(row.src))
    fsops.move(row.dest, row.src)


def _to_trash(path: str, row: Row, ws: Workspace) -> None:
    st = os.lstat(path)
    item = Item(path, os.path.basename(path), os.path.dirname(path), os.path.dirname(path), row.is_dir,
                os.path.islink(path), st.st_size, st.st_mtime, st.st_mtime_ns, st.st_dev, action="trash")
    reserve(item, ws)
    try:
        send_to_trash(item, ws)
    except BaseException:
        unreserve(item)
        raise


def _already_back(row: Row) -> bool:
    """An earlier, interrupted undo put this item back already."""
    if not row.dest or os.path.lexists(row.dest) or not os.path.lexists(row.src):
        return False
    try:
        _unchanged(row, row.src)
    except CannotUndo:
        return False
    return True


def _undo_one(row: Row, ws: Workspace) -> None:
    if row.action in ("trash", "move", "rename") and _already_back(row):
        return
    if row.action == "trash":
        if not row.dest:
            raise CannotUndo("it went to the system trash; restore it from there")
        if os.path.lexists(row.src):
            raise CannotUndo("something is at the original place again")
        try:
            restore(row.dest, row.info, row.src)
        except FileNotFoundError:
            raise CannotUndo("no longer in the trash (was it emptied?)") from None
    elif row.action in ("move", "rename"):
        _put_back(row)
    elif row.action == "copy":
        if not row.dest or not os.path.lexists(row.dest):
            return  # the copy is gone already
        if not os.path.lexists(row.src):
            raise CannotUndo(f"the original is gone, so the copy {row.dest} was kept")
        _unchanged(row, row.dest)
        fsops.remove(row.dest)
    elif row.action == "archive":
        if not row.dest or not os.path.lexists(row.dest):
            return
        _unchanged(row, row.dest)
        _to_trash(row.dest, row, ws)  # the originals come back from the trash; the zip goes there
    elif row.action == "rmdir":
        fsops.make_dirs(row.src)
    elif row.action == "delete":
        raise CannotUndo("it was deleted permanently")


def undo_run(ctx: JobContext, journal: Journal, run_id: int, *, acted: int = 0) -> dict[str, Any]:
    """Undo run ``run_id``; ``acted`` is what its result said it did (to explain an empty journal)."""
    journal.reconcile(run_id)
    rows = list(journal.rows(run_id, status="done", newest_first=True))
    actions = [r for r in rows if r.action not in ("mkdir", "zip")]
    if not actions:
        summary = f"nothing to undo for run {run_id}"
        if acted and not any(True for _ in journal.rows(run_id)):
            summary += f": its journal was cleared (runs are kept for {KEEP_DAYS} days)"
        ctx.log(summary)
        return {"summary": summary, "undone": 0, "not_undone": 0, "problems": []}
    ws = Workspace(conflict="rename", dry_run=False)
    problems: list[dict[str, str]] = []
    settled: list[Row] = []  # undone or given up on, not yet written
    n_undone, last = 0, 0.0
    try:
        for n, row in enumerate(actions):
            ctx.check_cancelled()
            if len(settled) >= 500:
                journal.write(settled)
                settled.clear()
            if time.monotonic() - last >= 0.05:
                last = time.monotonic()
                ctx.progress(n, len(actions), f"undoing: {n:,} of {len(actions):,}", "actions")
            try:
                _undo_one(row, ws)
            except CannotUndo as exc:
                why = str(exc)
            except OSError as exc:
                why = "permission denied" if isinstance(exc, PermissionError) else f"{exc.strerror or exc}"
            else:
                row.status = "undone"
                n_undone += 1
                settled.append(row)
                continue
            row.note = f"undo failed: {why}"
            problems.append({"path": row.src, "action": row.action, "reason": why})
            settled.append(row)
            ctx.log(f"could not undo {row.action} of {row.src}: {why}", "warning")
    finally:  # cancelled or not, the journal says what was put back
        journal.write(settled)
    # bookkeeping rows follow their actions; folders the run created go if they are empty now
    for row in rows:
        if row.action == "mkdir":
            try:
                os.rmdir(row.dest or row.src)
            except OSError:
                pass  # not empty: something else lives there now
        if row.action in ("mkdir", "zip"):
            row.status = "undone"
    journal.write(r for r in rows if r.action in ("mkdir", "zip"))
    ctx.progress(len(actions), len(actions), None, "actions")
    summary = f"undid {plural(n_undone, 'action')} of run {run_id}"
    summary += f", {len(problems):,} could not be undone" if problems else ""
    ctx.log(summary)
    return {"summary": summary, "undone": n_undone, "not_undone": len(problems),
            "problems": problems[:PROBLEM_CAP]}
