"""Crash recovery: runs whose worker is gone (a crash, a kill -9, an expired lease) are
ended ``interrupted`` and, where their kind allows, resumed, exactly once, by whichever
engine notices first.

A part of :class:`~trayjobs.engine.engine.Engine` (a mixin): it uses the engine's store,
bus, lease and config.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from ..durations import format_duration
from ..kinds.registry import resumes_after_crash
from .events import Notice, RunChanged
from .lease import pid_alive as _alive, this_host, worker_state

__all__ = ["Recovery", "MAX_DEATHS", "claim_of", "died_text"]

log = logging.getLogger("trayjobs.engine.engine")  # the engine's records, as before the split

#: Attempts in a row, resumed runs included, that a run's job process may die in before
#: the run fails for good: code that takes its process down does so again.
MAX_DEATHS = 2


class Recovery:
    # -- crash recovery ----------------------------------------------------------------

    def recover(self) -> list[int]:
        """At start, after a crash or kill: runs whose worker is gone become interrupted
        and, for kinds that are safe to run again, resume as new runs; queued runs whose
        queue message was lost are dispatched again. Returns the ids of the resumed runs."""
        with self._recover_lock:
            cut_off = self._cut_off_ends()
            ended = self._end_lost(at_start=True)
            resumed = [self._resume(run) for run in self.store.unresumed_interrupted()]
            resumed = [rid for rid in resumed if rid is not None]
        self._send_lost()
        self._tell_cut_off(cut_off)
        self._tell_recovered(ended, resumed)
        return resumed

    def _recover_lost(self) -> list[int]:
        """While running (after each heartbeat): the runs of other workers whose lease
        is up, or that ran in a process of this machine that is gone, are recovered as at
        a start. Whoever notices first does it; the others' compare-and-sets find them
        taken. Returns the ids of the resumed runs."""
        if not self._started or self._stopping:
            return []
        with self._recover_lock:
            cut_off = self._cut_off_ends()
            ended = self._end_lost(at_start=False)
            resumed = [self._resume(row) for row in ended if row["state"] == "interrupted"]
            resumed = [rid for rid in resumed if rid is not None]
        self._tell_cut_off(cut_off)
        self._tell_recovered(ended, resumed)
        if resumed:
            self.dispatch_pending()
        return resumed

    def _cut_off_ends(self) -> list[dict[str, Any]]:
        """The runs that workers now found gone ended shortly before (within a lease of
        their last heartbeat): a crash just after a run's end was stored may have cut off
        its telling. Each gone worker is marked lost by a compare-and-set, so whoever
        marks it tells them, once."""
        rows: list[dict[str, Any]] = []
        for worker in self.store.workers(since=self.clock()):
            if (worker["id"] == self.lease.id or worker["state"] != "running"
                    or worker_state(worker) != "lost" or not self._gone(worker)):
                continue
            if self.store.mark_worker_lost(worker["id"]):
                rows += self.store.ended_before_loss(worker["id"], window=worker["lease"])
        return rows

    def _tell_cut_off(self, rows: list[dict[str, Any]]) -> None:
        # To the alerts alone (not the bus: hooks and watches saw these ends already):
        # the outbox's key per run and event keeps what was told from being told again.
        for row in rows:
            self.alerts.on_event(RunChanged(row, final=True))

    def _lost(self, run: dict[str, Any], *, at_start: bool) -> bool:
        """Whether ``run``, running, has no live worker: its worker's lease is up or it
        stopped; or its worker is a process of this machine that is gone (found at once,
        without waiting for the lease). A live worker on another machine keeps its runs,
        whatever pids run here."""
        me = os.getpid()
        worker = run["worker"]
        if run.get("worker_id") is None:
            # Claimed before workers were recorded (or by a bare claim): the old rule, at
            # start only, when holding the home's lock tells a live pid is a CLI run.
            pid = run.get("pid")
            return at_start and not (pid and pid != me and _alive(pid) and self.lock.held)
        if run["worker_id"] == self.lease.id:
            return False
        return self._gone(worker)

    def _gone(self, worker: dict[str, Any] | None) -> bool:
        """Whether ``worker`` is gone. Just after the store came back, a worker whose
        lease ran out is not taken for gone (it could not beat while the store was away)
        unless it is a process of this machine that is not running."""
        state = worker_state(worker)
        if state == "lost" and worker is not None and worker.get("expired") and \
                self._just_back():
            return worker["host"] == this_host() and not _alive(worker["pid"])
        return state != "running"

    def _end_lost(self, *, at_start: bool) -> list[dict[str, Any]]:
        """End the attempts of the running runs whose worker is gone, each by a
        compare-and-set (a run someone else ended first is left to them); their rows."""
        ended: list[dict[str, Any]] = []  # told as ended once resumed runs exist
        lost_workers = set()
        for run in self.store.running_runs():
            if not self._lost(run, at_start=at_start):
                continue
            worker = run["worker"]
            # The process that ran the job died with it. Again and again, perhaps because
            # of this very run (a job that takes the app down): then it is not resumed.
            if worker is not None and worker["host"] != this_host():
                error = (f"its worker on {worker['host']} (pid {worker['pid']}) stopped "
                         f"answering while this run was going (no heartbeat for "
                         f"{format_duration(worker['lease'])})")
            else:
                error = "trayjobs stopped while this run was going (closed, killed or crashed)"
            deaths = self.store.deaths_in_a_row(run["id"]) + 1
            expect = claim_of(run)
            ended_at = _last_heard(run, self.clock())
            if deaths >= MAX_DEATHS:
                row = self.store.end_attempt(run["id"], state="failed", died=True,
                                             error=f"{error}. {died_text(deaths)}",
                                             expect=expect, finished_at=ended_at)
                job = self.config.jobs.get(run["job"])
                if row is not None and job is not None:
                    self._start_hooks(row, job)
            else:
                row = self.store.end_attempt(run["id"], state="interrupted", died=True,
                                             error=error, expect=expect, finished_at=ended_at)
            if row is None:
                continue  # another worker recovered it first
            if worker is not None:
                lost_workers.add(worker["id"])
            ended.append(row)
        for worker_id in lost_workers:
            if self.store.mark_worker_lost(worker_id):
                log.warning("worker %d is gone; its runs were recovered", worker_id)
        return ended

    def _resume(self, run: dict[str, Any]) -> int | None:
        """The run that resumes interrupted ``run``, if its kind is safe to run again and
        nobody resumed it first; its id."""
        job = self.config.jobs.get(run["job"])
        if not resumes_after_crash(job):
            return None
        row = self.store.resume_run(run["id"], job=job.name, kind=job.kind,
                                    max_attempts=job.retry.attempts, priority=job.priority,
                                    inputs=run.get("inputs") or None,
                                    parent_run=run.get("parent_run"), host=run.get("host"),
                                    note=f"resumes run {run['id']}, which was interrupted")
        return None if row is None else row["id"]

    def _tell_recovered(self, ended: list[dict[str, Any]], resumed: list[int]) -> None:
        # Told as any run's end is: a failed one (or an interrupted one that is not run
        # again) makes its alert, exactly once, as only one worker ends each run.
        for row in ended:
            self.bus.emit(RunChanged(row, final=True))
        if resumed:
            self.bus.emit(Notice("info", f"resumed {len(resumed)} interrupted run(s)"))

    def _tell_other_versions(self, workers: list[dict[str, Any]] | None = None) -> None:
        """Name the live workers that run another version of trayjobs: they share the
        history, and one may not read what the other writes the same way. Told when the
        set of them changes (at start, then at the heartbeats that look at the others):
        a ``Notice`` with ``details["problem"] = "versions"``, cleared once none is left
        (one silent while the store was away is not gone: see :meth:`_gone`)."""
        from .. import __version__
        if workers is None:
            workers = self.store.workers(since=time.time())
        others = sorted((w["host"], w["pid"], w["version"]) for w in workers
                        if w["id"] != self.lease.id and w["version"] != __version__
                        and w["mode"] != "cli" and not self._gone(w))
        key = frozenset(others)
        if key == self._told_versions:
            return
        self._told_versions = key
        if not others:
            log.info("every worker runs this version of trayjobs again")
            self.bus.emit(Notice("info", "every worker runs this version of trayjobs again",
                                 {"problem": "versions", "clear": True, "logged": True}))
            return
        names = ", ".join(f"{host} (pid {pid}) runs {version}"
                          for host, pid, version in others)
        msg = (f"other workers run another version of trayjobs than this one "
               f"({__version__}): {names}. Install the same version on every machine.")
        log.warning("%s", msg)
        self.bus.emit(Notice("error", msg, {"problem": "versions", "logged": True,
                                            "short": "workers run other versions of trayjobs"}))

    def _tell_newer_history(self) -> None:
        """Name the migrations a newer trayjobs applied to the history (it was upgraded on
        another machine): this one may not write what the newer one reads. Told once, at
        start, even with no worker of the newer version running now."""
        from .. import __version__
        newer = self.store.unknown_migrations()
        if not newer:
            return
        msg = (f"the run history was changed by a newer trayjobs than this one ({__version__}; "
               f"migrations {', '.join(newer)}): update trayjobs on this machine")
        log.warning("%s", msg)
        self.bus.emit(Notice("error", msg, {"problem": "history-version", "logged": True,
                                            "short": "a newer trayjobs changed the history"}))

    def _taken_back(self, run: dict[str, Any]) -> None:
        """``run`` ended here, but another worker had recovered it (our lease expired
        meanwhile: the machine slept, or the store did not answer): its end is theirs."""
        msg = (f"run {run['id']} ({run['job']}) was recovered by another worker while this "
               f"one was not heard from; this attempt's end is not recorded")
        log.warning("%s", msg)
        self.bus.emit(Notice("error", msg))

    def _taken_for_lost(self, old_id: int) -> None:
        self.bus.emit(Notice("error", f"this trayjobs was not heard from for longer than its "
                                      f"lease ({format_duration(self.lease.lease)}); another "
                                      f"worker recovered its runs"))


def claim_of(run: dict[str, Any]) -> tuple[int | None, int]:
    """What a run's attempt is while it is ours: (its worker, its attempt)."""
    return run.get("worker_id"), run["attempt"]


def died_text(deaths: int) -> str:
    return f"The job process died {deaths} times in a row running this; not retried again."


def _last_heard(run: dict[str, Any], now: float) -> float:
    """When ``run`` last gave a sign of life (its progress, its worker's heartbeat): it
    ended then, not when it was found gone (``now``), which may be a night later."""
    worker = run.get("worker") or {}
    signs = [t for t in (run.get("started_at"), run.get("updated_at"),
                         worker.get("heartbeat_at")) if t]
    return min(max(signs), now) if signs else now
