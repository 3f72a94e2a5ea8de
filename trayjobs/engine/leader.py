"""The scheduler's lead: of the engines that share one history, one fires the schedules,
starts the one-off runs at their time, runs the stale-job timer and sends the alerts.

The lead is a row in the run store (``leader``), taken and renewed by a compare-and-set
(:meth:`~trayjobs.store.api.RunStoreAPI.take_lead`) at each heartbeat of the engine's
worker lease. It is free once its holder stops (released at once), stops beating (its
worker's lease is up) or is declared lost; whoever's heartbeat comes next takes it, with
a fencing token one higher. The holder counts itself leader only for half a lease after
its last renewal that the store confirmed, so a holder cut off from the store steps down
before anyone else may take over. Each schedule's slot is a compare-and-set of its own
(:meth:`~trayjobs.store.api.RunStoreAPI.advance_schedule`, fenced by the token), so even
two engines that both think they lead for a moment fire a slot once.

A lone engine (no ``[cluster]``) is the leader without asking: no row, no write.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from ..store.api import RunStoreAPI

__all__ = ["Leadership"]

log = logging.getLogger(__name__)


class Leadership:
    def __init__(self, store: RunStoreAPI, *, lease: float, enabled: bool,
                 on_change: Callable[[bool], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.lease = lease
        #: False: a lone engine, always the leader.
        self.enabled = enabled
        self.on_change = on_change
        self.clock = clock
        self.token: int | None = None
        self._until = 0.0  # monotonic time up to which the last renewal holds
        self._lock = threading.Lock()
        self._told = not enabled  # what on_change was last told

    @property
    def held(self) -> bool:
        """Whether this engine leads now."""
        if not self.enabled:
            return True
        return self.token is not None and self.clock() < self._until

    @property
    def fence(self) -> int | None:
        """The token writes by the leader carry (None for a lone engine: nothing to fence)."""
        return self.token if self.enabled else None

    def renew(self, worker_id: int | None) -> bool:
        """Take or keep the lead (at each heartbeat); whether this engine leads now."""
        if not self.enabled or worker_id is None:
            return self.held
        with self._lock:
            started = self.clock()
            try:
                token = self.store.take_lead(worker_id, lease=self.lease)
            except Exception as exc:  # the store is away: the lead runs out by itself
                log.warning("could not renew the scheduler's lead: %s", exc)
            else:
                if token is not None and token != self.token:
                    log.info("this engine now leads the cluster (token %d)", token)
                self.token = token
                self._until = started + self.lease / 2 if token is not None else 0.0
            held = self.held
        self._tell(held)
        return held

    def release(self, worker_id: int | None) -> None:
        """Give the lead up at once (a clean stop), so another engine takes it now."""
        if not self.enabled:
            return
        with self._lock:
            had, self.token, self._until = self.token, None, 0.0
        if had is not None and worker_id is not None:
            try:
                self.store.release_lead(worker_id)
            except Exception as exc:  # it expires after the lease instead
                log.warning("could not give up the scheduler's lead: %s", exc)
        self._tell(False)

    def _tell(self, held: bool) -> None:
        if held != self._told:
            self._told = held
            if self.on_change is not None:
                self.on_change(held)
