"""Dispatch: runs waiting in the store handed to the queue, within each job's limits and
by priority, and a run about to be claimed sent ahead to a job process (see
:meth:`Dispatching._prepare`). The engine's part, on whichever thread submits or frees a
slot; the queue itself is :mod:`trayjobs.queue`."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import StoreUnreachable
from ..queue import QueueUnavailable
from .control import EXPLICIT_TRIGGERS
from .events import Notice
from .executor import Prepared
from .lease import this_host

__all__ = ["Dispatching"]

log = logging.getLogger("trayjobs.engine.engine")


class Dispatching:
    """The :class:`~.engine.Engine`'s dispatch (a part of it, kept apart)."""

    def _limit(self, job_name: str) -> int:
        job = self.config.jobs.get(job_name)
        if job is not None and job.overlap == "parallel":
            # As many at once as there are workers (in a cluster: on all its engines).
            return self.workers * (self._live_engines if self.clustered else 1)
        return 1

    def dispatch_pending(self) -> None:
        """Hand waiting runs to the queue: by priority, within each job's concurrency and
        never far beyond what the workers can take, so a burst of 10,000 runs waits in the
        store in arrival order rather than flooding the queue.

        Calls from several threads coalesce: one that finds another dispatching leaves it
        a note to look once more, instead of queueing up behind it."""
        if (not self._started or self._stopping or self._store_problem is not None
                or self._queue_problem is not None or self._left is not None):
            # Nothing is marked handed over that cannot reach the queue: another engine
            # hands it over, or it waits; _send_lost dispatches once the queue answers.
            return
        self._dispatch_again = True
        while self._dispatch_again:
            if not self._dispatch_lock.acquire(blocking=False):
                return
            try:
                self._dispatch_again = False
                self._dispatch_once()
            except StoreUnreachable as exc:  # dispatched again once it answers
                self._store_lost(exc)
                return
            finally:
                self._dispatch_lock.release()

    def _dispatch_once(self) -> None:
        inflight = self.store.inflight_by_job()
        budget = self._budget(inflight)
        if budget <= 0:
            self._backlog = True  # whatever waits, waits for a slot
            return
        waiting = self.store.waiting_jobs()  # one index probe per job, not per run
        if not waiting:
            self._backlog = False
            return
        hosts = self._dispatch_hosts()
        all_paused, states, heads, left = self.paused(), None, [], False
        for job in waiting:
            slots = self._limit(job) - inflight.get(job, 0)
            if slots <= 0:
                left = True
                continue
            if states is None:
                states = self.store.job_states()
            paused = all_paused or states.get(job, {}).get("paused")
            want = min(slots, budget)
            got = self.store.undispatched(job, limit=want,
                                          triggers=EXPLICIT_TRIGGERS if paused else None,
                                          hosts=hosts)
            left = left or len(got) >= want
            heads += got
        self._backlog = left or len(heads) > budget
        heads.sort(key=lambda r: (-(r["priority"] or 0), r["id"]))
        for run in heads[:budget]:
            if self._hold(run):
                self._dispatch_again = True  # the next runs in line may take its place
                continue
            if self.store.mark_dispatched(run["id"], by=self.lease.id):
                self._send_ahead(run)
                try:
                    self.queue.enqueue(run["id"], priority=run["priority"] or 0,
                                       host=run.get("host") if self.clustered else None)
                except QueueUnavailable as exc:
                    # The run stays marked handed over; it is sent again once the queue's
                    # server answers (Queue.on_lost).
                    self._queue_down(exc)
                    return

    def _budget(self, inflight: dict[str, int]) -> int:
        """How many more runs to hand to the queue now: about two per worker thread."""
        if not self.clustered:
            return self.workers * 2 - sum(inflight.values())
        if self.queue.shared:  # the queue is everyone's: the cluster's workers take from it
            return self.workers * 2 * self._live_engines - sum(inflight.values())
        with self._handles_lock:  # the queue is this home's file: what waits in it
            running = len(self._handles)
        return self.workers * 2 - running - self.queue.pending_count()

    def _dispatch_hosts(self) -> list[str] | None:
        """The hosts whose pinned runs this engine may hand to the queue (None: any run).
        On Redis: those with a live worker (each has its own queue there); without, a
        queue file is this home's: only this host's."""
        if not self.clustered:
            return None
        if self.queue.shared:
            return sorted(self._live_hosts | {this_host()})
        return [this_host()]

    def _queue_down(self, exc: QueueUnavailable) -> None:
        """The queue's server does not answer: say so once, with what to check; until it
        answers (:meth:`_send_lost`), this engine hands no run to the queue, and its worker
        row says why, so that the other engines neither count on it nor wait for it."""
        with self._queue_lock:
            if self._queue_problem is not None:
                return
            self._queue_problem = str(exc)
        check = exc.advice or (
            f"check that Redis runs there and takes connections from this machine (its "
            f"bind address, protected-mode, a firewall), and that [cluster] redis in "
            f"{self.home.config_file} names it")
        # A server that answers and refuses (a full one) is not said not to answer.
        how = "refuses it" if exc.advice else "does not answer"
        msg = (f"this worker cannot reach its queue: the Redis server at {exc.url} {how} "
               f"({exc.reason}); {check}. Until it answers, this worker takes no runs "
               f"(other workers run them, or they wait); it keeps trying.")
        log.error("%s", msg)
        # (A worker that left says so still: it takes no run either way.)
        self.lease.set_problem(self._left or f"cannot reach its queue at {exc.url} "
                                             f"({exc.reason})")
        short = ("the queue's server refuses runs" if exc.advice
                 else "the queue's server cannot be reached")  # (the tray's tooltip)
        self.bus.emit(Notice("error", msg, {"problem": "queue", "logged": True,
                                            "short": short}))

    def _send_lost(self) -> None:
        """Queued runs handed to the queue whose message is not there (lost with a restarted
        Redis, or never sent) are handed to it again. A run whose message did arrive
        meanwhile may get a second one: its claim makes that harmless."""
        if self._queue_problem is not None:
            try:
                # A write too: a full server answers reads and takes nothing, and was said
                # to answer again at each heartbeat, and not to, at the next hand-over.
                self.queue.ping()
            except QueueUnavailable:
                return  # told already; looked at again at the next heartbeat
        try:
            with self._dispatch_lock:
                mine = self.clustered and not self.queue.shared  # a file: only its own
                lost = self.store.redispatch_lost(self.queue.pending_run_ids(),
                                                  worker_id=self.lease.id if mine else None)
        except QueueUnavailable as exc:
            self._queue_down(exc)
            return
        except StoreUnreachable as exc:  # sent again when it answers (_store_reached)
            self._store_lost(exc)
            return
        if self._queue_problem is not None:
            with self._queue_lock:
                self._queue_problem = None
            self.lease.set_problem(self._left)
            log.info("the queue's Redis server answers again: this worker takes runs again")
            self.bus.emit(Notice("info", "the queue's server answers again",
                                 {"problem": "queue", "clear": True, "logged": True}))
        if lost:
            log.info("%d queued run(s) sent to the queue again", lost)
        self.dispatch_pending()

    def _send_ahead(self, run: dict[str, Any]) -> None:
        """A run just dispatched that a sleeping worker takes at once (it is handed over in
        memory) is sent to a job process now, by the dispatcher: the job process makes it
        ready while the worker wakes and claims it (see :meth:`_prepare`)."""
        doorbell = self.queue.doorbell
        if (self.clustered or self._stopping or doorbell.asleep <= len(doorbell.handed())
                or run["id"] in self._ahead):  # dispatched again: the first is still there
            return
        prepared = self._prepare(run["id"], row=run)
        if prepared is not None:
            with self._ahead_lock:
                prepared, self._ahead[run["id"]] = self._ahead.get(run["id"]), prepared
            if prepared is not None:
                self.executor.abort(prepared)

    def _send_early(self, run: dict[str, Any]) -> bool:
        """A run just submitted to an engine with nothing waiting and a worker asleep is
        sent to a job process before the dispatcher looks at the job's limits and
        priorities (a few reads of the store): it is most likely handed over next, and the
        job process makes it ready meanwhile. Whether it was sent; one the dispatcher
        then does not hand over is dropped (:meth:`_unless_dispatched`)."""
        if (self.clustered or self._backlog or self._store_problem is not None
                or self._queue_problem is not None or run["state"] != "queued"):
            return False
        job = self.config.jobs.get(run["job"])
        if job is None or self.conditions_of(job, run):  # it may wait for them
            return False
        with self._ahead_lock:
            if run["id"] in self._ahead:
                return False
        self._send_ahead(run)
        with self._ahead_lock:
            return run["id"] in self._ahead

    def _unless_dispatched(self, run_id: int) -> None:
        """Drop a run sent early (:meth:`_send_early`) that the dispatcher did not hand to
        the queue (the job is paused or at its limit, another run comes first): the job
        process it went to is free for another. (Handed over later, it is sent afresh.)"""
        try:
            row = self.store.get_run(run_id)
        except Exception:  # the claim finds out and says so; the run is dropped here
            row = None
        if row is not None and (row.get("dispatched") or row["state"] != "queued"):
            return  # handed over (or claimed already): its worker takes it as sent
        with self._ahead_lock:
            prepared = self._ahead.pop(run_id, None)
        if prepared is not None:
            self.executor.abort(prepared)

    def _prepare(self, run_id: int, *, row: dict[str, Any] | None = None) -> Prepared | None:
        """Send a run about to be claimed to an idle job process, which makes it ready while
        the claim commits (a command's environment built, its program found: a few tenths
        of a millisecond that its start no longer waits for) and starts it only once told
        that the claim held. The request is the one the claim will make: the run as it is
        now (``row``, as the dispatcher read it; else read here), one attempt further;
        should the claimed run differ (a reload of the jobs file between), it is dropped
        and the run sent afresh. Not in a cluster, whose store may be a server: a read
        more before each claim would cost more than it saves."""
        if self.clustered:
            return None
        try:
            row = row or self.store.get_run(run_id)
        except Exception:  # the claim finds out and says so
            return None
        if row is None or row["state"] != "queued" or row.get("cancel_requested"):
            return None
        job = self.config.jobs.get(row["job"])
        if job is None:
            return None
        return self.executor.prepare(self._request(dict(row, attempt=row["attempt"] + 1), job,
                                                   in_thread=False))
