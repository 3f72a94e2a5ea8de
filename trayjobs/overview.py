"""What each job is doing and how it has been doing: one overview for every screen.

``trayjobs jobs``, ``trayjobs stats``, the Jobs page and the tray all show rows from
:func:`job_overview` (status, next run, last result, health), so the window and the
command line never disagree. Qt-free; the SQL lives in :mod:`trayjobs.store.stats`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .durations import format_duration, parse_duration

__all__ = ["Health", "job_overview", "job_health", "HEALTH_WINDOW", "SPARK_RUNS",
           "jobs_tagged", "all_tags", "rate_text", "counts_text", "durations_text",
           "durations_tip", "DURATIONS_HEADING", "DURATIONS_MEANING", "next_run_text",
           "catch_up_text"]

#: The window health is counted over unless told otherwise.
HEALTH_WINDOW = parse_duration("7d")
#: How many of a job's last runs its sparkline shows.
SPARK_RUNS = 30


@dataclass(frozen=True)
class Health:
    """A job's runs that ended in a window, and a few facts beyond it."""

    runs: int = 0
    succeeded: int = 0  #: warnings included
    warned: int = 0
    failed: int = 0
    p50: float | None = None  #: duration of its successes, seconds
    p95: float | None = None
    last_success_at: float | None = None  #: whenever it was, even before the window
    waiting: int = 0  #: queued or waiting for its conditions, not started
    recent: tuple[str, ...] = field(default=())  #: how its last runs ended, oldest first

    @property
    def success_rate(self) -> float | None:
        """Succeeded out of succeeded + failed (0..1); None when neither happened."""
        judged = self.succeeded + self.failed
        return self.succeeded / judged if judged else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "recent": list(self.recent), "success_rate": self.success_rate}


def rate_text(h: Health, *, warned: bool = True) -> str:
    """"97 %", "100 % · 2 warned" (``warned``), or "" when nothing ended."""
    rate = h.success_rate
    if rate is None:
        return ""
    text = f"{100 * rate:.0f} %" if rate in (0, 1) or 0.01 < rate < 0.99 else f"{100 * rate:.1f} %"
    return text + (f" · {h.warned:,} warned" if h.warned and warned else "")


def counts_text(h: Health) -> str:
    """"11 of 13 succeeded (1 with warnings), 2 failed, 1 other"."""
    judged = h.succeeded + h.failed
    text = f"{h.succeeded:,} of {judged:,} succeeded"
    text += f" ({h.warned:,} with warnings)" if h.warned else ""
    text += f", {h.failed:,} failed" if h.failed else ""
    other = h.runs - judged
    return text + (f", {other:,} cancelled, skipped or interrupted" if other else "")


#: What the two durations are called where they are shown: the median and the 95th
#: percentile, in words a reader needs no statistics for.
DURATIONS_HEADING = "typical / slowest 5 %"
DURATIONS_MEANING = ("How long its successes took. Typical: half of them took less, half more "
                     "(the median). Slowest 5 %: one success in 20 took this long or longer "
                     "(the 95th percentile, nearest rank).")


def durations_text(h: Health) -> str:
    """"1.5 s / 4.0 s" (typical / slowest 5 %: p50 / p95), or ""."""
    if h.p50 is None:
        return ""
    return f"{format_duration(h.p50)} / {format_duration(h.p95)}"


def durations_tip(h: Health, window: str = "over the last 7 days") -> str:
    """The two durations in a sentence: "Typically 1.5 s; the slowest 5 % (1 in 20) took
    4.0 s or longer" ("its slowest success took …" under 20 successes, where that is what
    the 95th percentile is)."""
    if h.p50 is None:
        return ""
    slow = (f"the slowest 5 % (1 in 20) took {format_duration(h.p95)} or longer"
            if h.succeeded >= 20 else f"its slowest success took {format_duration(h.p95)}")
    return (f"Typically {format_duration(h.p50)} (half of its successes {window} took less, "
            f"half more); {slow}")


def job_health(store, jobs: Iterable[str], *, since: float | None = None,
               now: float | None = None) -> dict[str, Health]:
    """Each named job's health over ``[since, now)`` (default: the last 7 days)."""
    jobs = list(jobs)
    now = now if now is not None else time.time()
    since = since if since is not None else now - HEALTH_WINDOW
    counted = store.job_health(since=since, jobs=jobs)
    last_ok = store.last_successes(jobs)
    waiting = store.waiting_by_job()
    out = {}
    for name in jobs:
        c = counted.get(name, {})
        out[name] = Health(runs=c.get("runs") or 0, succeeded=c.get("succeeded") or 0,
                           warned=c.get("warned") or 0, failed=c.get("failed") or 0,
                           p50=c.get("p50"), p95=c.get("p95"),
                           last_success_at=last_ok.get(name), waiting=waiting.get(name, 0),
                           recent=tuple(store.recent_outcomes(name, limit=SPARK_RUNS)))
    return out


def jobs_tagged(config, tag: str | None) -> list[str]:
    """The names of the jobs that carry ``tag`` (all jobs for None)."""
    return [j.name for j in config.jobs.values() if tag is None or tag in j.common.tags]


def all_tags(config) -> list[str]:
    return sorted({t for j in config.jobs.values() for t in j.common.tags})


def job_overview(config, store, *, paused_all: bool, watches: dict[str, dict] | None = None,
                 health: bool = True, since: float | None = None,
                 now: float | None = None, running: bool = True) -> list[dict[str, Any]]:
    """One row per configured job: what it is, whether and when it runs, its last run
    and (``health``) its :class:`Health`. ``running``: whether an app or worker runs the
    jobs (else a slot gone by waits for one to start: ``catch_up`` says what it does then).

    ``watches`` are the watched folders' states as known to the caller (None: no app or
    worker is running, so nothing watches).
    """
    from .engine.control import SCHEDULE_PROBLEM
    from .kinds.registry import get_kind
    from .schedule import local_now
    states, last = store.job_states(), store.last_runs()
    # One-off runs ("Run with…" at 18:00, ``trayjobs run --at``) are a job's next run too.
    one_offs: dict[str, float] = {}
    for run in store.list_runs(state="scheduled", limit=1000):
        due = run.get("due_at")
        if due is not None and due < one_offs.get(run["job"], float("inf")):
            one_offs[run["job"]] = due
    healths = job_health(store, config.jobs, since=since, now=now) if health else {}
    rows = []
    for job in config.jobs.values():
        st = states.get(job.name, {})
        nxt = None
        if job.schedule:
            nxt = st.get("next_run_at") if st.get("schedule_spec") == job.schedule_spec else None
            if nxt is None:  # before the app first planned it: what the schedule gives
                nxt = job.schedule.next_after(local_now()).timestamp()
        one_off = one_offs.get(job.name)
        if one_off is not None and (nxt is None or one_off < nxt):
            nxt = one_off
        try:
            kind = get_kind(job.kind)
        except KeyError:
            kind = None
        watch = None
        if job.common.watch is not None:
            watch = (watches or {}).get(job.name)
            if watch is None and watches is not None:
                watch = {"state": "configured", "folder": job.common.watch.folder}
        paused = paused_all or bool(st.get("paused"))
        rows.append({
            "name": job.name, "kind": job.kind, "trigger": job.trigger_text(),
            "tags": list(job.common.tags), "description": job.common.description,
            "enabled": job.enabled, "paused": paused,
            "job_paused": bool(st.get("paused")), "next_run_at": nxt,
            "next_is_one_off": one_off is not None and nxt == one_off, "one_off_at": one_off,
            "catch_up": catch_up_text(job, st, paused=paused, now=now)
            if job.enabled and job.schedule and (paused or not running) else None,
            "unplanned": bool(job.schedule and job.enabled
                              and store.get_value(SCHEDULE_PROBLEM + job.name)),
            "watches": job.common.watch is not None, "watch": watch,
            "last": last.get(job.name), "health": healths.get(job.name),
            "accepts_files": bool(kind and kind.accepts_files),
            "supports_dry_run": bool(kind and kind.can_dry_run(job.params)),
            "run_params": job.param_keys() if kind else []})
    return rows


def catch_up_text(job, state: dict[str, Any] | None, *, paused: bool,
                  now: float | None = None) -> str | None:
    """What a job's schedule does once it is resumed (``paused``), or once trayjobs starts
    (not paused, while no app or worker runs), as its catch-up rules (``missed``) say:
    "paused · missed 4 since 09:00: runs once on resume", "paused · next slot 10:00",
    "overdue · missed 4 since 09:00: 4 runs when trayjobs starts". Its next time alone would
    be in the past for a job that does not run until then. None: not paused, and not due."""
    from datetime import datetime
    from .engine.scheduler import plan
    from .schedule import local_now
    lead, then = ("paused", "on resume") if paused else ("overdue", "when trayjobs starts")
    now_dt = local_now() if now is None else datetime.fromtimestamp(now).astimezone()
    try:
        p = plan(job, state, now_dt)
    except Exception:  # a schedule that cannot be worked out is said elsewhere
        return "paused" if paused else None
    if not p.runs:
        if not paused:
            return None
        return f"paused · next slot {_when(p.next_run_at)}" if p.next_run_at else "paused"
    runs = [r for r in p.runs if r.trigger != "skipped"]
    if not p.missed:
        return f"{lead} · due now: runs {then}"
    since = f"missed {p.missed:,} since {_when((state or {}).get('next_run_at'))}"
    if not runs:
        return f"{lead} · {since}: skipped {then}"
    if len(runs) == 1:
        return f"{lead} · {since}: runs once {then}"
    return f"{lead} · {since}: {len(runs):,} runs {then}"


def next_run_text(row: dict[str, Any]) -> str:
    """A job's Next run (a row of :func:`job_overview`): its time, or what resuming it
    (paused), or starting trayjobs (overdue), does; a one-off run starts even while its
    job is paused (an explicit wish)."""
    if row.get("catch_up"):
        text = row["catch_up"]
    elif row["paused"]:
        text = "paused"
    else:
        nxt = row.get("next_run_at")
        return _when(nxt) if nxt else ""
    if row["paused"] and row.get("one_off_at"):
        text += f" · a one-off run at {_when(row['one_off_at'])}"
    return text


def _when(ts: float) -> str:
    from .textfmt import when
    try:
        return when(ts)
    except (OverflowError, ValueError, OSError):  # a stored time beyond the calendar
        return "unknown"
