"""The engine while the history's server (PostgreSQL) is away: what it says, the ends of
runs it keeps in the local spool meanwhile, and their writing once the server answers.

A part of :class:`~trayjobs.engine.engine.Engine` (a mixin): it uses the engine's store,
bus, spool and locks.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any

from ..errors import StoreFull, StoreUnreachable, disk_full
from .events import Notice
from .executor import Outcome

__all__ = ["StoreOutage"]

log = logging.getLogger("trayjobs.engine.engine")  # the engine's records, as before the split

#: A history (or queue) on a full disk is taken to answer again once this much is free.
FULL_UNTIL = 1024 * 1024


class StoreOutage:
    # -- the history's server away --------------------------------------------------------

    @property
    def store_problem(self) -> str | None:
        """Why the run history cannot be reached now (None: it answers)."""
        return self._store_problem

    def _store_lost(self, exc: StoreUnreachable) -> None:
        """The store's server did not answer: say so once; until it answers again (the
        heartbeat tries), nothing is claimed, dispatched or planned."""
        first = self._store_problem is None
        self._store_problem = str(exc)
        # A full disk is not over until there is room: a beat that fits in a page the
        # history has is no sign of it (the next write would fail again, said again).
        self._full_where = exc.where if isinstance(exc, StoreFull) else None
        if first:
            msg = (f"{exc} Runs going on here finish; their ends are kept on this machine and "
                   f"written when it answers. No run starts until then; trayjobs keeps trying.")
            log.warning("%s", msg)
            where = getattr(exc, "where", "") or "its server"
            self.bus.emit(Notice("error", msg, {
                "problem": "store", "logged": True,
                "short": f"the run history ({where}) cannot be reached"}))

    def _just_back(self) -> bool:
        """Whether the store answered again less than a lease ago (other workers may not
        have beaten since: their leases are not a sign they are gone)."""
        return time.monotonic() - self._store_back_at < self.lease.lease

    def _store_reached(self) -> None:
        """The store answered (a heartbeat, or the start): if it had been away, write the
        ends kept meanwhile, hand the runs taken from the queue meanwhile to it again,
        dispatch and plan."""
        if self._store_problem is None:
            return
        full = self._full_where
        if full and disk_full(os.path.dirname(full), room=FULL_UNTIL):
            return
        with self._replay_lock:
            if self._store_problem is None:
                return
            self._store_problem = None  # ends from now on go to the store themselves
            try:
                kept = self.replay_spool()
            except StoreUnreachable as exc:
                # Away again (a beat fits in a full disk where an end does not): still the
                # problem already said, not a new one to say at each beat.
                self._store_problem = str(exc)
                return
            self._store_back_at = time.monotonic()
        msg = "the run history answers again"
        if kept:
            msg += f"; {kept} run end(s) kept meanwhile were written"
        log.info("%s", msg)
        self.bus.emit(Notice("info", msg, {"problem": "store", "clear": True, "logged": True}))
        if self._started and not self._stopping:
            self._send_lost()  # messages dropped while it was away; dispatches
            self._wake_scheduler()

    def _spool_end(self, run: dict[str, Any], outcome: Outcome, *, logs, stopping: bool,
                   user_cancel: bool = False, ended_at: float | None = None) -> None:
        """Keep how ``run``'s attempt ended (at ``ended_at``, in the store's time) on this
        machine, to be written when the store answers (:meth:`replay_spool`)."""
        entry = {"run": run, "outcome": dataclasses.asdict(outcome),
                 "logs": [list(line) for line in logs], "user_cancel": user_cancel,
                 "stopping": stopping, "spooled_at": time.time(), "pid": os.getpid(),
                 "ended_at": self.store.now() if ended_at is None else ended_at}
        try:
            self.spool.put(run["id"], run["attempt"], entry)
        except OSError as exc:  # a full disk as well (the history's own, often)
            # Held here until the history can be written: the lease of a worker that
            # lives on never runs out, so no one would end the run, and its job would wait
            # for it for good. (If this process stops first, the run is recovered.)
            with self._replay_lock:
                self._held_ends.append(entry)
            log.error("run %s: its end could not be kept on this machine's disk either "
                      "(%s); it is held by this process and written once the run history "
                      "can be (if this process stops first, the run is recovered as "
                      "interrupted)", run["id"], exc)
        else:
            msg = (f"run {run['id']} ({run['job']}) {outcome.state}; the run history cannot "
                   f"be reached, so its end is kept on this machine until it answers")
            log.warning("%s", msg)
            self.bus.emit(Notice("info", msg, {"logged": True}))
        if self._store_problem is None:  # it came back while this end was being kept
            try:
                self.replay_spool()
            except StoreUnreachable as exc:
                self._store_lost(exc)

    def replay_spool(self) -> int:
        """Write the ends kept in the spool, each once, by the compare-and-set that any
        end is written with (see :mod:`.spool`); how many were kept. Raises
        :class:`StoreUnreachable` (the rest kept) when the store is away again."""
        done = 0
        with self._replay_lock:
            while self._held_ends:  # those the disk had no room for, first
                entry = self._held_ends[0]
                try:
                    self._replay_entry(entry)
                except StoreUnreachable:
                    raise
                except Exception:  # a bug, not the server: not tried forever
                    log.exception("run %s: its held end could not be written",
                                  entry["run"].get("id"))
                else:
                    done += 1
                self._held_ends.pop(0)
            for path, entry in self.spool.entries():
                run = entry["run"]
                try:
                    self._replay_entry(entry)
                except StoreUnreachable:
                    raise
                except Exception:  # a bug, not the server: set aside, not tried forever
                    log.exception("run %s: its kept end could not be written; set aside "
                                  "as %s", run.get("id"), path.with_suffix(".bad").name)
                    os.replace(path, path.with_suffix(".bad"))
                    continue
                self.spool.remove(path)
                done += 1
        return done

    def _replay_entry(self, entry: dict[str, Any]) -> None:
        fields = {f.name for f in dataclasses.fields(Outcome)}
        outcome = Outcome(**{k: v for k, v in entry["outcome"].items() if k in fields})
        self._record_outcome(entry["run"], outcome, user_cancel=bool(entry.get("user_cancel")),
                             logs=[tuple(line) for line in entry.get("logs") or ()],
                             stopping=bool(entry.get("stopping")), replayed=True,
                             ended_at=entry.get("ended_at"))

    def _ended_already(self, run: dict[str, Any], state: str) -> bool:
        """Whether ``run``'s attempt ended ``state`` already: a kept end written once, by an
        engine that died before it could forget it (not an end another worker wrote)."""
        for a in self.store.attempts(run["id"]):
            if a["attempt"] == run["attempt"]:
                return a["finished_at"] is not None and a["state"] == state
        return False
