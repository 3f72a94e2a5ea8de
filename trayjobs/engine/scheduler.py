"""When scheduled jobs are due, and what to do about runs that were missed.

:func:`plan` is pure: given a job, its stored state and ``now`` it says which
runs to create and the next due time. The engine's scheduler thread calls it;
tests call it with any clock they like.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any

from ..config import JobConfig
from ..schedule import Interval

__all__ = ["Planned", "Plan", "plan", "LATE_TOLERANCE", "MAX_CATCHUP"]

#: A due time reached this late (or later) counts as missed, not merely late.
LATE_TOLERANCE = 90.0
#: Never create more than this many catch-up runs for one job at once.
MAX_CATCHUP = 100
#: A next due time this much later than the schedule's next one from now: the clock went back.
CLOCK_BACK = 3 * 3600.0


@dataclass(frozen=True)
class Planned:
    trigger: str  # "schedule", "catch-up" or "skipped"
    note: str | None = None
    due_at: float | None = None


@dataclass(frozen=True)
class Plan:
    runs: list[Planned]
    next_run_at: float | None
    missed: int = 0


def _ts(dt: datetime) -> float:
    return dt.timestamp()


def plan(job: JobConfig, state: dict[str, Any] | None, now: datetime, *,
         tz: tzinfo | None = None) -> Plan:
    """Runs due for ``job`` at ``now`` and its next due time."""
    sched = job.schedule
    if sched is None:
        return Plan([], None)
    stored = (state or {}).get("next_run_at")
    if stored is None or (state or {}).get("schedule_spec") != job.schedule_spec:
        # New job or changed schedule: start counting from now, nothing is missed.
        return Plan([], _ts(sched.next_after(now, tz=tz)))
    if stored > _ts(now):
        # The clock was set back (or was ahead when this was planned: a bad hardware clock,
        # a wrong date typed in): waiting for the stored time could take days or years.
        # As cron, a step back of a few hours past a slot that ran only waits, so that
        # slot does not run twice.
        last = (state or {}).get("last_due_at")
        fresh = _ts(sched.next_after(now, tz=tz))
        back = (last - _ts(now)) if last is not None else (stored - fresh)
        if back > CLOCK_BACK and fresh < stored:
            return Plan([], fresh)
        return Plan([], stored)

    first = datetime.fromtimestamp(stored, timezone.utc)
    # The last slot due and how many came due, computed: not by walking each of them (a
    # minute's cron a year behind: half a million slots, seconds per tick while paused).
    last = sched.last_by(now, first, tz=tz)
    # The stored time counts as one whether or not it is a slot now (a laptop taken to
    # another time zone keeps the time planned in the old one), as each after it does.
    count = 1 if _ts(last) <= _ts(first) else 1 + sched.count(
        sched.next_after(first, anchor=first, tz=tz), last, tz=tz)
    nxt = _ts(sched.next_after(last, anchor=first, tz=tz))
    late = _ts(now) - _ts(last)
    if count == 1 and late <= LATE_TOLERANCE:
        return Plan([Planned("schedule", due_at=_ts(first))], nxt)

    # Everything before the last due time was missed; the last one too when it is this late.
    missed = count if late > LATE_TOLERANCE else count - 1
    runs: list[Planned] = []
    if late <= LATE_TOLERANCE:
        runs.append(Planned("schedule", due_at=_ts(last)))
    words = f"missed {missed} run{'s' if missed != 1 else ''}"
    since = datetime.fromtimestamp(stored).astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if job.common.missed == "skip":
        runs.insert(0, Planned("skipped", note=f"{words} since {since}; skipped by policy",
                               due_at=_ts(first)))
    elif job.common.missed == "once":
        if not runs:  # an on-time run covers the catch-up already
            # It stands for the newest slot missed (a daily report run once after three
            # days away is yesterday's, not the first day's), as TRAYJOBS_SCHEDULED_FOR says.
            runs.append(Planned("catch-up", note=f"{words} since {since}; running once",
                                due_at=_ts(last)))
        else:
            runs.insert(0, Planned("skipped", note=f"{words} since {since}; the on-time run "
                                                   f"covers them", due_at=_ts(first)))
    else:
        n = min(missed, MAX_CATCHUP)
        extra = f" (the first {n})" if n < missed else ""
        due = first
        for i in range(n):
            runs.insert(i, Planned("catch-up", note=f"{words} since {since}; running each{extra}",
                                   due_at=_ts(due)))
            due = sched.next_after(due, anchor=first, tz=tz)
    return Plan(runs, nxt, missed=missed)
