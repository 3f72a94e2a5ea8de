"""Acting on a folder's planned items: journalled as pending, done one by one, journalled as
done or failed.

An item that replaces something (``conflict = "overwrite"``) is two steps, the replaced
thing going to the trash first. A cancel between items forgets the pending rows of those
not started, so the journal never claims what was not done.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .actions import Item, Skip
from .actions.delete import PartlyDeleted
from .actions.trash import reserve, send_to_trash, unreserve
from .dirs import display
from .fsops import reason
from .journal import Row

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["execute"]

_LOGGED_LINES = 500  # lines about one half-deleted folder, of each kind; the rest are counted


def execute(run: Runner, items: list[Item], *, count: bool = True) -> None:
    """Journal then do ``items`` (each after what it replaces, if anything)."""
    assert run.journal is not None
    batch: list[tuple[Item, list[Item]]] = []
    for item in items:
        steps = [s for s in (item.replaces, item) if s is not None]
        try:
            for s in steps:
                if s.action == "trash":
                    reserve(s, run.ws)
        except OSError as exc:
            for s in steps:
                unreserve(s)
            run.action_error(item.path, f"could not {item.action}: {reason(exc)}")
            continue
        for s in steps:
            run.number(s)
        batch.append((item, steps))
    if not batch:
        return
    run.journal.write(run.row(s, "pending") for _, steps in batch for s in steps)
    rows: list[Row] = []
    try:
        for n, (item, steps) in enumerate(batch):
            if run.ctx.cancelled:
                rest = [s for _, later in batch[n:] for s in later]
                for s in rest:
                    unreserve(s)
                run.journal.write(rows)
                run.journal.forget(run.row(s, "") for s in rest)
                run.ctx.check_cancelled()
            if _do_steps(run, item, steps, rows):
                run.succeeded(item, count=count)
            run.journal_made_dirs(rows)
            run._progress()
    finally:
        run.ws.release()
    run.journal.write(rows)


def _do_steps(run: Runner, item: Item, steps: list[Item], rows: list[Row]) -> bool:
    for s in steps:
        try:
            if s.action == "trash":
                send_to_trash(s, run.ws)
            else:
                run.action.apply(s, run.ws)
        except Skip as why:  # the destination cannot be reached safely
            unreserve(s)
            rows.append(run.row(s, "failed", str(why)))
            run.action_error(item.path, f"could not {item.action}: {why}")
            return False
        except OSError as exc:
            unreserve(s)
            if s is item.replaces and isinstance(exc, FileNotFoundError):
                rows.append(run.row(s, "failed", "already gone"))
                continue  # what was in the way went away by itself
            if isinstance(exc, PartlyDeleted):
                _partly_deleted(run, exc)
            rows.append(run.row(s, "failed", reason(exc)))
            if s is not item:
                rows.append(run.row(item, "failed", "what is in the way could not be trashed"))
            run.failed(item, exc)
            return False
        rows.append(run.row(s, "done"))
    return True


def _partly_deleted(run: Runner, exc: PartlyDeleted) -> None:
    """Say exactly what a delete that stopped half-way removed and what it left."""
    folder = exc.item.path
    for rel in exc.removed[:_LOGGED_LINES]:
        run.ctx.log(f"deleted {display(os.path.join(exc.item.folder, rel))}", "warning")
    for rel, why in exc.failed[:_LOGGED_LINES]:
        run.ctx.log(f"not deleted: {display(os.path.join(exc.item.folder, rel))}: {reason(why)}", "warning")
    hidden = max(0, len(exc.removed) - _LOGGED_LINES) + max(0, len(exc.failed) - _LOGGED_LINES)
    if hidden:
        run.ctx.log(f"... and {hidden:,} more lines about {display(folder)}", "warning")
