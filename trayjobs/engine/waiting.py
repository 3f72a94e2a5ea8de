"""Run conditions (``when = {...}``): a run whose conditions do not hold waits in the state
``waiting``, its reason kept current, until they hold or its ``max_wait`` is up. The
engine's part, on its threads; what the conditions are and how they are told is
:mod:`trayjobs.conditions`."""

from __future__ import annotations

from typing import Any

from ..conditions import Decision, evaluate, said
from ..config import JobConfig
from ..durations import format_duration
from .control import EXPLICIT_TRIGGERS
from .events import Notice, RunChanged

__all__ = ["Waiting"]

GONE = "its job is not in the jobs file"


class Waiting:
    """The :class:`~.engine.Engine`'s run conditions (a part of it, kept apart)."""

    def _follow_conditions(self) -> bool:
        """Start following the system services once any job has conditions; whether they
        are followed."""
        if self.system is None and any(job.conditions(self.config.settings)
                                       for job in self.config.jobs.values()):
            from ..conditions.system import SystemWatch
            self.system = SystemWatch(self._conditions_changed)
            self.system.start()
        return self.system is not None

    def _stop_conditions(self) -> None:
        if self.system is not None:
            self.system.stop()
            self.system = None

    def _conditions_changed(self) -> None:
        """A system service said something changed (on the thread following them)."""
        if self._started and not self._stopping and self.recheck_waiting() is not None:
            self._wake_scheduler()  # a time to look again came nearer

    def conditions_of(self, job: JobConfig, run: dict[str, Any]) -> dict[str, Any]:
        """The conditions ``run`` waits for: its job's, except for a run a person started
        (unless they asked for them, ``inputs["conditions"]``)."""
        if run["trigger"] in EXPLICIT_TRIGGERS and not (run.get("inputs") or {}).get(
                "conditions"):
            return {}
        return job.conditions(self.config.settings)

    def _decide(self, job: JobConfig, conditions: dict[str, Any], now: float) -> Decision:
        if not self._follow_conditions() or not self.system.ready.is_set():
            return Decision(True, "finding out whether its conditions hold")
        return evaluate(conditions, self.system.facts(), now, when_unknown=job.when_unknown)

    def _hold(self, run: dict[str, Any]) -> bool:
        """Hold ``run`` back in the state ``waiting`` when its conditions do not hold;
        whether it was. A run that has started once (a retry's next attempt) goes on."""
        if run.get("attempt"):
            return False
        job = self.config.jobs.get(run["job"])
        conditions = self.conditions_of(job, run) if job is not None else {}
        if not conditions:
            return False
        now = self.clock()
        if run.get("wait_until") and now >= run["wait_until"]:
            return False  # it waited all that max_wait allows already
        decision = self._decide(job, conditions, now)
        if not decision.wait:
            self._tell_unknown(job, run["id"], decision)
            return False
        until = _due(run) + job.max_wait if job.max_wait else None
        row = self.store.hold(run["id"], reason=decision.reason, until=until)
        if row is None:
            return False
        self.store.add_log(run["id"], f"waiting: {decision.reason}")
        self.bus.emit(RunChanged(row))
        self._wake_scheduler()  # it may have a time to look again, or a max_wait
        return True

    def _tell_unknown(self, job: JobConfig, run_id: int, decision: Decision) -> None:
        """A run goes although some condition could not be told (``when_unknown =
        "run"``): its log says so, and the window once per job and reason."""
        if not decision.unknown:
            return
        why = said(decision.unknown)
        msg = f"{why}; running anyway (when_unknown = \"run\")"
        self.store.add_log(run_id, msg, "warning")
        if (job.name, why) not in self._told_unknown:
            self._told_unknown.add((job.name, why))
            self.bus.emit(Notice("info", f"job {job.name}: {msg}"))

    def recheck_waiting(self, now: float | None = None) -> float | None:
        """Start the waiting runs whose conditions hold now or whose ``max_wait`` is up;
        keep the others' reasons current. Returns when to look again although no
        service says anything (None: only when one does)."""
        if not self._started or self._stopping or self._store_problem is not None:
            return None
        with self._recheck_lock:
            now = self.clock() if now is None else now
            again: list[float] = []
            reasons: dict[int, str] = {}
            moved: list[int] = []
            released = False
            for run in self.store.held():
                job = self.config.jobs.get(run["job"])
                if job is None:
                    # Its lines cut to be pasted back, the file saved by moving it away:
                    # started now, the run could only fail. It waits for its job (or a
                    # cancel), which it follows should its conditions come back changed.
                    if run.get("wait_reason") != GONE:
                        reasons[run["id"]] = GONE
                    continue
                conditions = self.conditions_of(job, run) if job is not None else {}
                decision = self._decide(job, conditions, now) if conditions else None
                until = _due(run) + job.max_wait if job.max_wait else None
                if until != run.get("wait_until"):  # max_wait changed while it waited
                    self.store.update_run(run["id"], wait_until=until)
                    moved.append(run["id"])
                if decision is not None and decision.wait and not (until and now >= until):
                    if decision.reason != run.get("wait_reason"):
                        reasons[run["id"]] = decision.reason
                    again += [t for t in (decision.recheck_at, until) if t is not None]
                    continue
                row = self.store.release(run["id"])
                if row is None:
                    continue
                waited = format_duration(max(0.0, now - _due(run)))
                if decision is not None and decision.wait:  # max_wait is up
                    msg = (f"waited {waited} for its conditions ({decision.reason}); "
                           f"starting anyway: max_wait is {format_duration(job.max_wait)}")
                    self.store.update_run(run["id"], note=_joined(run.get("note"), msg))
                    self.store.add_log(run["id"], msg, "warning")
                    row = self.store.get_run(run["id"])
                else:
                    if decision is not None:
                        self._tell_unknown(job, run["id"], decision)
                    self.store.add_log(run["id"], f"its conditions hold; starting after "
                                                  f"waiting {waited}")
                self.bus.emit(RunChanged(row))
                released = True
            # The battery's level is in the reasons: one commit for them all.
            for row in self.store.set_wait_reasons(reasons) if reasons else ():
                self.bus.emit(RunChanged(row))
            for run_id in (i for i in moved if i not in reasons):
                self.bus.emit(RunChanged(self.store.get_run(run_id)))
        if released:
            self.dispatch_pending()
        return min(again) if again else None


def _due(run: dict[str, Any]) -> float:
    """When ``run`` came due, which its wait counts from: a one-off's time (``--at``), not
    when it was asked for, hours before perhaps."""
    return run.get("due_at") or run["created_at"]


def _joined(note: str | None, more: str) -> str:
    return f"{note}; {more}" if note else more
