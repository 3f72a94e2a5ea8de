"""What other machines do to the runs, told on this engine's bus.

An engine's bus hears of the runs it submits and executes. In a cluster the others'
runs (a NAS's backup, a run another machine started or recovered) change only in the
shared store; the window of a machine would not see them until it read the store
again. The follower reads, once a second, the runs created since it last looked and the
runs it saw going, and emits ``RunChanged(remote=True)`` for each that changed, which
the window shows like any other (the alerts leave them to the engine that ran them).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from ..store import FINAL_STATES
from ..store.api import RunStoreAPI
from .events import EventBus, RunChanged

__all__ = ["Follower"]

log = logging.getLogger(__name__)

#: Seconds between two looks.
EVERY = 1.0


class Follower:
    def __init__(self, store: RunStoreAPI, bus: EventBus, *, mine: Callable[[dict], bool],
                 every: float = EVERY) -> None:
        self.store, self.bus, self.mine, self.every = store, bus, mine, every
        self._seen: dict[int, tuple[Any, ...]] = {}   # runs going: id -> what was told
        self._last = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._last = self.store.max_run_id()
        self._seen = {r["id"]: _mark(r) for r in self.store.active_runs()}
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="trayjobs-follower",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.look()
            except Exception as exc:  # the store is busy or away: the next look tries again
                log.debug("following the cluster's runs: %s", exc)

    def look(self) -> int:
        """One look; how many runs were told as changed."""
        rows = self.store.runs_since(self._last, ids=list(self._seen))
        told = 0
        for run in rows:
            self._last = max(self._last, run["id"])
            mark = _mark(run)
            final = run["state"] in FINAL_STATES
            if final:
                before = self._seen.pop(run["id"], None)
            else:
                before = self._seen.get(run["id"])
                self._seen[run["id"]] = mark
            if before == mark or self.mine(run):
                continue
            self.bus.emit(RunChanged(run, final=final, remote=True))
            told += 1
        return told


def _mark(run: dict[str, Any]) -> tuple[Any, ...]:
    return (run["state"], run.get("updated_at"), run.get("attempt"))
