"""Writing the archives a run gathered, then trashing their originals.

A zip is written under a hidden temporary name beside its destination and
renamed into place only when complete; its rows (one for the zip, one per
item in it) are journalled as pending before, done after. Only then do the
originals go to the trash, as ordinary journalled trash actions.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING

from .acting import execute
from .actions import Item, Skip
from .actions.archive import write_zip
from .actions.base import item_from_stat
from .actions.conflict import unique
from .actions.move import make_parent
from .actions.trash import reserve, send_to_trash, unreserve
from .fsops import reason, remove_at, rename_noreplace, temp_name

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["flush_archives"]


def _destination(run: Runner, target: str) -> tuple[str, Item | None]:
    """Where the zip goes under the conflict policy, and the old zip it replaces (if any)."""
    taken = target in run.ws.claimed or os.path.lexists(target)
    dest, replaces = target, None
    if taken and run.p.conflict == "skip":
        raise Skip("the archive already exists")
    if taken and (run.p.conflict == "rename" or target in run.ws.claimed or not os.path.isfile(target)):
        dest = unique(target, run.ws)
    elif taken:
        replaces = item_from_stat(target, os.path.dirname(target), os.lstat(target), is_dir=False,
                                  is_link=os.path.islink(target))
        replaces.action, replaces.note = "trash", "replaced by a new archive"
    run.ws.claimed.add(dest)
    return dest, replaces


def flush_archives(run: Runner) -> None:
    for target, items in run.groups.items():
        run.tick()
        try:
            dest, replaces = _destination(run, target)
        except Skip as why:
            for item in items:
                run.problem(item.path, "skip", str(why))
            continue
        for item in items:
            item.dest = dest
        run.tally.archives += 1
        if run.dry:
            for item in items:
                run.succeeded(item)
        else:
            _write(run, dest, replaces, items)


def _write(run: Runner, dest: str, replaces: Item | None, items: list[Item]) -> None:
    assert run.journal is not None
    zip_item = Item(dest, os.path.basename(dest), os.path.dirname(dest), os.path.dirname(dest),
                    False, False, 0, 0.0, 0, 0, action="archive", dest=dest)
    try:
        if replaces is not None:
            reserve(replaces, run.ws)
    except OSError as exc:
        for item in items:
            run.action_error(item.path, f"could not replace the archive: {reason(exc)}")
        return
    steps = [s for s in (replaces, zip_item) if s is not None]
    for s in steps + items:
        run.number(s)
    pending = [run.row(s, "pending") for s in steps]
    pending += [replace(run.row(i, "pending"), action="zip") for i in items]
    run.journal.write(pending)
    tmp = temp_name(os.path.basename(dest))
    dfd = -1
    try:
        make_parent(dest, run.ws)
        dfd = run.ws.fd(os.path.dirname(dest))
        remove_at(dfd, tmp, missing_ok=True)
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd)
        with open(out, "wb") as fh:
            failed = {id(i): e for i, e in write_zip(fh, items, run.ws, between=run.tick)}
        if replaces is not None:
            send_to_trash(replaces, run.ws)
        rename_noreplace(tmp, os.path.basename(dest), src_dir_fd=dfd, dst_dir_fd=dfd)
        st = os.stat(os.path.basename(dest), dir_fd=dfd, follow_symlinks=False)
    except BaseException as exc:
        if dfd >= 0:
            remove_at(dfd, tmp, missing_ok=True)
        run.ws.release()
        if replaces is not None:
            unreserve(replaces)
        if isinstance(exc, Skip):
            exc = OSError(str(exc))
        elif not isinstance(exc, OSError):  # cancelled: as if never started
            run.journal.forget(pending)
            raise
        run.journal.write(replace(r, status="failed", note=reason(exc)) for r in pending)
        for item in items:
            run.action_error(item.path, f"could not archive: {reason(exc)}")
        return
    run.ws.release()
    zip_item.size, zip_item.mtime_ns = st.st_size, st.st_mtime_ns
    rows = [run.row(s, "done") for s in steps]
    ok = []
    for item in items:
        if id(item) in failed:
            rows.append(replace(run.row(item, "failed", reason(failed[id(item)])), action="zip"))
            run.failed(item, failed[id(item)])
        else:
            rows.append(replace(run.row(item, "done", item.note), action="zip"))
            ok.append(item)
    run.journal_made_dirs(rows)
    run.journal.write(rows)
    for item in ok:
        run.succeeded(item)
    if run.action.removes_source:
        for item in ok:
            item.action, item.dest, item.replaces = "trash", None, None
        execute(run, ok, count=False)

