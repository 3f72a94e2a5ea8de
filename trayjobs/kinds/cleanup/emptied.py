"""``remove_empty_folders``: afterwards, remove the folders a run left empty.

Only folders the run took something out of are candidates, deepest first,
then their parents in turn; never a location itself. ``rmdir`` only ever
removes an empty folder, so nothing but the folder can be lost, and the
journal lets undo put it back.
"""

from __future__ import annotations

import heapq
import os
from typing import TYPE_CHECKING

from .actions import Item
from .dirs import display
from .safety import inside
from .scan import list_dir

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["remove_emptied"]


def remove_emptied(run: Runner) -> None:
    heap = [(-p.count(os.sep), p) for p in run.touched]
    heapq.heapify(heap)
    seen: set[str] = set()
    while heap:
        _, d = heapq.heappop(heap)
        if d in seen or d in run.roots or not inside(d, run.roots):
            continue
        seen.add(d)
        try:
            if run.dry:
                if any(e.path not in run.env.gone for e in list_dir(d, run.ws.places)):
                    continue
                run.env.gone.add(d)
            else:
                with run.ws.places.at(os.path.dirname(d)) as fd:  # reached through no link
                    st = os.lstat(os.path.basename(d), dir_fd=fd)
                    os.rmdir(os.path.basename(d), dir_fd=fd)
                gone = Item(d, os.path.basename(d), os.path.dirname(d), d, True, False, 0, st.st_mtime,
                            st.st_mtime_ns, 0, action="rmdir")
                run.number(gone)
                run.journal.write([run.row(gone, "done")])
        except OSError:
            continue  # not empty, or not ours to remove
        run.tally.folders_removed += 1
        run.tally.add(display(d), "remove emptied folder", None, 0, run.env.now, cap=run.cap, count=False)
        run.ctx.log(f"{'would remove' if run.dry else 'removed'} emptied folder {display(d)}")
        heapq.heappush(heap, (-(d.count(os.sep) - 1), os.path.dirname(d)))
