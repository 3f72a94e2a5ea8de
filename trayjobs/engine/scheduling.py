"""The engine's scheduler thread: schedules, catch-up after sleep, retries and one-off runs
coming due, conditions looked at again, pruning; in a cluster only the leader plans.

A part of :class:`~trayjobs.engine.engine.Engine` (a mixin): it uses the engine's store,
bus, config and clock.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from ..errors import StoreUnreachable
from ..textfmt import when
from .control import SCHEDULE_PROBLEM
from .events import JobsChanged, Notice, RunChanged
from .scheduler import LATE_TOLERANCE, plan

__all__ = ["Scheduling"]

log = logging.getLogger("trayjobs.engine.engine")  # the engine's records, as before the split

WAKE_JUMP = 30.0      # wall clock ahead of the monotonic clock by this much: we slept
MAX_SLEEP = 60.0      # the scheduler looks at the clocks at least this often
PRUNE_EVERY = 6 * 3600


class Scheduling:
    # -- scheduling ------------------------------------------------------------------

    def _wake_scheduler(self) -> None:
        with self._cond:
            self._wakes += 1
            self._cond.notify_all()

    def tick(self, now: float | None = None) -> float | None:
        """Create the runs that are due at ``now``; returns the next time something is due.
        Schedules and one-off runs are the lead's (in a cluster, one engine's): the others
        only requeue due retries and look at the waiting runs."""
        now = self.clock() if now is None else now
        now_dt = datetime.fromtimestamp(now, timezone.utc)
        leads = self.leadership.held
        if leads:
            self._read_tz()
        token = self.leadership.fence
        states = self.store.job_states() if leads else {}
        all_paused = self.paused()
        next_due: list[float] = []
        changed = False
        for job in list(self.config.jobs.values()) if leads else ():
            if job.schedule is None:
                continue
            st = states.get(job.name)
            if not job.enabled:
                self._pass_over(job, st, now_dt, token)
                continue
            paused = all_paused or bool(st and st.get("paused"))
            try:
                p = plan(job, st, now_dt, tz=self.tz)
            except Exception as exc:  # one job's schedule must not stop the others'
                self._schedule_problem(job.name, exc)
                continue
            self._schedule_problem(job.name, None)
            if paused and p.runs:
                # Paused: keep the overdue time, so resuming counts what was missed.
                continue
            if p.next_run_at is not None:
                seen = ((st or {}).get("next_run_at"), (st or {}).get("schedule_spec"))
                if (p.runs or seen != (p.next_run_at, job.schedule_spec)) and \
                        not self.store.advance_schedule(
                            job.name, seen=seen, next_run_at=p.next_run_at,
                            schedule_spec=job.schedule_spec, token=token,
                            last_due_at=p.runs[-1].due_at if p.runs else None):
                    # Another scheduler planned this slot (two leads for a moment, or a
                    # lead that is no longer ours): its runs are that one's to create.
                    continue
            held = self.store.held(job.name) if p.runs else []
            queued = self._queued_slot(job) if p.runs and not held else None
            for planned in p.runs:
                if planned.trigger == "skipped":
                    self.record_skipped(job, trigger="schedule", note=planned.note)
                elif held and held[0]["trigger"] in ("schedule", "catch-up"):
                    # One waiting run stands for every slot that comes due meanwhile.
                    self.store.add_log(held[0]["id"], f"also due at {when(planned.due_at)}"
                                                      f"; this waiting run stands for it")
                elif queued is not None and planned.trigger == "schedule":
                    # So does a queued one behind a slow run: else a run slower than its
                    # interval piles up runs that go back to back for ever.
                    self.store.add_log(queued["id"], f"also due at {when(planned.due_at)}"
                                                     f"; this queued run stands for it")
                else:
                    self.submit(job.name, trigger=planned.trigger, note=planned.note,
                                scheduled_for=planned.due_at)
            if p.next_run_at is not None:
                changed = changed or bool(p.runs) or p.next_run_at != (st or {}).get("next_run_at")
                if not paused:
                    next_due.append(p.next_run_at)
        for run in self.store.due_retries(now):
            if self.store.requeue_retry(run["id"], now=now):
                self.bus.emit(RunChanged(self.store.get_run(run["id"])))
        if leads:
            self._start_one_offs(now)
        self.dispatch_pending()
        for at in (self.store.next_due_retry(), self.store.next_scheduled() if leads else None,
                   self.recheck_waiting(now)):
            if at is not None:
                next_due.append(at)
        if changed:
            self.bus.emit(JobsChanged("schedule"))
        return min(next_due) if next_due else None

    def _queued_slot(self, job) -> dict | None:
        """The run of ``job``'s schedule queued behind its running one and not started
        yet (``overlap = "queue"``), which a slot coming due now adds nothing to; else
        None."""
        if job.overlap != "queue":
            return None
        for run in self.store.list_runs(job=job.name, state="queued", limit=1):
            if run["trigger"] in ("schedule", "catch-up") and not run.get("attempt"):
                return run
        return None

    def _pass_over(self, job, st: dict | None, now_dt: datetime, token: int | None) -> None:
        """Keep a disabled job's next slot ahead of now: its slots go by unrun, and enabling
        it again catches up none of them (they were not missed while the computer slept:
        the job was off). A paused job keeps its overdue time instead, as resuming says."""
        seen = ((st or {}).get("next_run_at"), (st or {}).get("schedule_spec"))
        if seen[0] is None or seen[1] != job.schedule_spec or seen[0] > now_dt.timestamp():
            return
        try:
            nxt = job.schedule.next_after(now_dt, tz=self.tz).timestamp()
        except Exception:  # said when it is enabled and planned again
            return
        self.store.advance_schedule(job.name, seen=seen, next_run_at=nxt,
                                    schedule_spec=job.schedule_spec, token=token)

    def _schedule_problem(self, job: str, exc: Exception | None) -> None:
        """Note (``exc``) or clear (``None``) why ``job``'s schedule cannot be worked out:
        logged and told once, kept in the store for ``trayjobs jobs`` until it plans again."""
        text = None if exc is None else f"{type(exc).__name__}: {exc}"
        if self._plan_problems.get(job) == text:
            return
        key = SCHEDULE_PROBLEM + job
        if text is None:
            self._plan_problems.pop(job, None)
            self.store.set_value(key, None)
            return
        self._plan_problems[job] = text
        log.error("job %s: its schedule cannot be worked out (%s); the other jobs go on",
                  job, text)
        log.debug("job %s: the schedule's failure", job, exc_info=exc)
        self.store.set_value(key, text)
        self.bus.emit(Notice("error", f"job {job}: not scheduled ({text}); the other jobs "
                                      f"go on"))

    def _start_one_offs(self, now: float) -> None:
        """Queue the one-off runs (``trayjobs run JOB --at``) due at ``now``. One that came
        due while trayjobs was not running starts now, with a note saying so."""
        for run in self.store.start_scheduled(now):
            if now - run["due_at"] > LATE_TOLERANCE:
                due = datetime.fromtimestamp(run["due_at"], self.tz).strftime("%Y-%m-%d %H:%M")
                note = (f"was due at {due}, while trayjobs was not running "
                        f"(or the computer slept); started at {when(now)}")
                self.store.update_run(run["id"], note=note)
                self.store.add_log(run["id"], note, "warning")
                run = self.store.get_run(run["id"])
            self.bus.emit(RunChanged(run))

    def _prune_aside(self) -> None:
        """Prune the history on a thread of its own: a first prune of a big history takes
        a minute, and the runs due meanwhile started that late. One at a time: a prune
        still going when the next is due is left to finish."""
        if self._prune_thread is not None and self._prune_thread.is_alive():
            return
        self._prune_thread = threading.Thread(target=self._prune_now, name="trayjobs-prune",
                                              daemon=True)
        self._prune_thread.start()

    def _prune_now(self) -> None:
        s = self.config.settings
        try:
            self.prune_history(keep_days=s.keep_days, keep_runs=s.keep_runs,
                               keep_failed_days=s.keep_failed_days,
                               stop=lambda: self._stopping)
        except StoreUnreachable as exc:
            self._store_lost(exc)
        except Exception as exc:  # a locked store: the next prune tries again
            log.exception("pruning the history failed")
            self.bus.emit(Notice("error", f"cleaning up the history failed: {exc}"))

    def _scheduler_loop(self) -> None:
        last_wall, last_mono = time.time(), time.monotonic()
        last_prune = float("-inf")  # at start: the monotonic clock counts from the boot
        while not self._stopping:
            with self._cond:
                wakes = self._wakes  # a wake-up from here on makes this look again at once
            wall, mono = time.time(), time.monotonic()
            jump = (wall - last_wall) - (mono - last_mono)
            last_wall, last_mono = wall, mono
            if jump > WAKE_JUMP:
                delay = self.config.settings.catchup_delay
                self._catchup_after = mono + delay
                self.bus.emit(Notice("info", f"the computer was asleep for about "
                                             f"{jump / 60:.0f} min; catching up in {delay:.0f} s"))
            next_due = None
            try:
                if self._store_problem is not None:
                    pass  # nothing to plan with: the heartbeat wakes this when it answers
                elif mono >= self._catchup_after:
                    next_due = self.tick()
                if mono - last_prune > PRUNE_EVERY and self.leadership.held:
                    last_prune = mono
                    self._prune_aside()
            except StoreUnreachable as exc:
                self._store_lost(exc)
            except Exception as exc:  # a locked store or a bad job must not end scheduling
                log.exception("scheduler tick failed")
                self.bus.emit(Notice("error", f"scheduling failed: {exc}"))
            wait = MAX_SLEEP
            if next_due is not None:
                wait = min(wait, max(0.0, next_due - self.clock()) + 0.01)
            if self._catchup_after > mono:
                wait = min(wait, self._catchup_after - mono)
            with self._cond:
                if not self._stopping and self._wakes == wakes:
                    self._cond.wait(wait)
