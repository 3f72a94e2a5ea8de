"""Reversing a cleanup run from its journal, newest action first.

Each action is undone only when the disk still shows what the run left
there: a moved file that was changed since, or a place that is taken again,
is reported and left alone. What cannot be undone (a permanent delete, a
file the trash was emptied of) is reported with the reason.
"""

from __future__ import annotations

import os
import stat
import time
from typing import Any

from ...context import JobContext
from . import fsops
from .actions.base import Item, Workspace
from .actions.trash import reserve, send_to_trash, unreserve
from .dirs import Folders, LinkInTheWay, MountInTheWay, display
from .freedesktop import restore
from .journal import KEEP_DAYS, Journal, Row
from .report import PROBLEM_CAP, plural

__all__ = ["undo_run"]


#: rows that record no action of their own: folders the run made, items in a zip, its locations
_BOOKKEEPING = ("mkdir", "zip", "location")


class CannotUndo(Exception):
    pass


def _unchanged(row: Row, fd: int, name: str) -> None:
    if row.is_dir or row.size is None:
        return
    st = os.lstat(name, dir_fd=fd)
    if st.st_size != row.size or (row.mtime_ns and st.st_mtime_ns != row.mtime_ns):
        raise CannotUndo(f"{display(row.dest or row.src)} was changed after the run; left where it is")


def _exists(fd: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=fd)
        return True
    except FileNotFoundError:
        return False


def _open(ws: Workspace, folder: str, *, create: bool = False) -> int:
    """A folder the run acted in, reached from ``/`` without following a link: the journal
    holds real paths, so a link on the way appeared since and is refused, not followed."""
    try:
        return ws.fd(folder, create=create)
    except FileNotFoundError:
        raise CannotUndo(f"{display(folder)} is gone") from None
    except (LinkInTheWay, MountInTheWay) as exc:
        raise CannotUndo(f"{exc.strerror}; nothing written through it") from None


def _put_back(row: Row, ws: Workspace) -> None:
    if not row.dest:
        raise CannotUndo("the journal does not say where it went")
    dfd = _open(ws, os.path.dirname(row.dest))
    dname = os.path.basename(row.dest)
    if not _exists(dfd, dname):
        raise CannotUndo(f"no longer at {display(row.dest)}")
    sfd = _open(ws, os.path.dirname(row.src), create=True)
    sname = os.path.basename(row.src)
    if _exists(sfd, sname):
        raise CannotUndo("something is at the original place again")
    _unchanged(row, dfd, dname)
    fsops.move_at(dfd, dname, sfd, sname)


def _to_trash(fd: int, name: str, path: str, row: Row, ws: Workspace) -> None:
    st = os.lstat(name, dir_fd=fd)
    item = Item(path, name, os.path.dirname(path), os.path.dirname(path), row.is_dir,
                stat.S_ISLNK(st.st_mode), st.st_size, st.st_mtime, st.st_mtime_ns, st.st_dev, st.st_ino,
                action="trash")
    reserve(item, ws)
    try:
        send_to_trash(item, ws)
    except BaseException:
        unreserve(item)
        raise


def _already_back(row: Row, ws: Workspace) -> bool:
    """An earlier, interrupted undo put this item back already."""
    if not row.dest or os.path.lexists(row.dest) or not os.path.lexists(row.src):
        return False
    try:
        _unchanged(row, _open(ws, os.path.dirname(row.src)), os.path.basename(row.src))
    except (CannotUndo, OSError):
        return False
    return True


def _undo_one(row: Row, ws: Workspace) -> None:
    if row.action in ("trash", "move", "rename") and _already_back(row, ws):
        return
    name = os.path.basename(row.src)
    if row.action == "trash":
        if not row.dest:
            raise CannotUndo("it went to the system trash; restore it from there")
        fd = _open(ws, os.path.dirname(row.src), create=True)
        if _exists(fd, name):
            raise CannotUndo("something is at the original place again")
        try:
            restore(row.dest, row.info, fd, name)
        except FileNotFoundError:
            raise CannotUndo("no longer in the trash (was it emptied?)") from None
    elif row.action in ("move", "rename"):
        _put_back(row, ws)
    elif row.action == "copy":
        if not row.dest or not os.path.lexists(row.dest):
            return  # the copy is gone already
        if not os.path.lexists(row.src):
            raise CannotUndo(f"the original is gone, so the copy {display(row.dest)} was kept")
        fd = _open(ws, os.path.dirname(row.dest))
        _unchanged(row, fd, os.path.basename(row.dest))
        if row.is_dir:  # removing it is for good: only while it still holds just what was copied
            sfd = _open(ws, os.path.dirname(row.src))
            if not fsops.same_tree(sfd, os.path.basename(row.src), fd, os.path.basename(row.dest)):
                raise CannotUndo(f"{display(row.dest)} was changed after the run (or its original was); "
                                 f"left where it is")
        fsops.remove_at(fd, os.path.basename(row.dest), missing_ok=True)
    elif row.action == "archive":
        if not row.dest or not os.path.lexists(row.dest):
            return
        fd = _open(ws, os.path.dirname(row.dest))
        _unchanged(row, fd, os.path.basename(row.dest))
        # the originals come back from the trash; the zip goes there
        _to_trash(fd, os.path.basename(row.dest), row.dest, row, ws)
    elif row.action == "rmdir":
        fd = _open(ws, os.path.dirname(row.src), create=True)
        try:
            os.mkdir(name, dir_fd=fd)
        except FileExistsError:
            st = os.lstat(name, dir_fd=fd)
            if not stat.S_ISDIR(st.st_mode):
                raise CannotUndo("something else is at the folder's place") from None
    elif row.action == "delete":
        raise CannotUndo("it was deleted permanently")


def _workspace(rows: list[Row], locations: list[str]) -> Workspace:
    """Undo acts only through folders reached from ``/`` with no link on the way, below the
    run's locations also with no mount point on the way (as the run itself), and through
    the trash bins the run used (trayjobs' own, opened as they are)."""
    ws = Workspace(conflict="rename", dry_run=False, places=Folders(fallback="/"))
    for root in locations:
        try:
            ws.places.adopt(root, ws.places.open(root))
        except OSError:
            pass  # gone, or a link now: what was in it is refused item by item
    for row in rows:
        if row.action == "trash" and row.dest:
            try:
                ws.dests.add(os.path.dirname(row.dest), same_device=False)
            except OSError:
                pass  # that trash is gone: its rows say so one by one
    return ws


def undo_run(ctx: JobContext, journal: Journal, run_id: int, *, acted: int = 0) -> dict[str, Any]:
    """Undo run ``run_id``; ``acted`` is what its result said it did (to explain an empty journal)."""
    journal.reconcile(run_id)
    rows = list(journal.rows(run_id, status="done", newest_first=True))
    actions = [r for r in rows if r.action not in _BOOKKEEPING]
    if not actions:
        summary = f"nothing to undo for run {run_id}"
        if acted and not any(True for _ in journal.rows(run_id)):
            summary += f": its journal was cleared (runs are kept for {KEEP_DAYS} days)"
        ctx.log(summary)
        return {"summary": summary, "undone": 0, "not_undone": 0, "problems": []}
    ws = _workspace(actions, [r.src for r in rows if r.action == "location"])
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
                ws.release()
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
            problems.append({"path": display(row.src), "action": row.action, "reason": why})
            settled.append(row)
            ctx.log(f"could not undo {row.action} of {display(row.src)}: {why}", "warning")
        # bookkeeping rows follow their actions; folders the run created go if they are empty now
        for row in rows:
            if row.action == "mkdir":
                made = row.dest or row.src
                try:
                    with ws.places.at(os.path.dirname(made)) as fd:
                        os.rmdir(os.path.basename(made), dir_fd=fd)
                except OSError:
                    pass  # not empty (something else lives there now), or reached through a link
    finally:  # cancelled or not, the journal says what was put back
        journal.write(settled)
        ws.close()
    for row in rows:
        if row.action in _BOOKKEEPING:
            row.status = "undone"
    journal.write(r for r in rows if r.action in _BOOKKEEPING)
    ctx.progress(len(actions), len(actions), None, "actions")
    summary = f"undid {plural(n_undone, 'action')} of run {run_id}"
    summary += f", {len(problems):,} could not be undone" if problems else ""
    ctx.log(summary)
    return {"summary": summary, "undone": n_undone, "not_undone": len(problems),
            "problems": problems[:PROBLEM_CAP]}
