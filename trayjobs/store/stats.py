"""Health and metrics of the run history, counted by SQL.

Kept beside the store because it is SQL over the runs; :class:`RunStore` exposes each
as a method. Counts come from ``run_hours`` (migration ``007_run_hours``): per hour and
job sums that triggers keep up to date as runs are written, so a 30-day view of a
million runs reads a few thousand rows. Windows therefore start and end on whole hours
(UTC; the hour a run was created in).

Durations are those of succeeded runs (``finished_at - started_at``); percentiles are
nearest-rank (the p95 of 20 runs is the 19th fastest) over the job's newest
:data:`PERCENTILE_RUNS` successes in the window. The success rate counts succeeded
(with or without warnings) against failed; cancelled, skipped and interrupted runs are
neither.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["job_health", "metrics", "recent_outcomes", "last_successes", "waiting_by_job",
           "PERCENTILE_RUNS", "nearest_rank"]

Query = Callable[..., list[dict[str, Any]]]

#: How many of a job's newest successes its p50 / p95 are taken over: enough to be a
#: steady figure, few enough that it costs the same in any history.
PERCENTILE_RUNS = 1000

_ENDED = "('succeeded', 'failed', 'cancelled', 'skipped', 'interrupted')"


def _hour(ts: float) -> int:
    return math.floor(ts / 3600)


def _jobs_clause(jobs: Iterable[str] | None) -> tuple[str, list[Any]]:
    if jobs is None:
        return "", []
    jobs = list(jobs)
    return f" AND job IN ({', '.join('?' * len(jobs))})", jobs


def nearest_rank(values: list[float], pct: float) -> float | None:
    """The nearest-rank percentile of sorted ``values``."""
    if not values:
        return None
    return values[max(1, math.ceil(pct / 100 * len(values))) - 1]


def job_health(query: Query, *, since: float, until: float | None = None,
               jobs: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per job, its runs created in the hours of the window that have ended: ``runs``,
    ``succeeded`` (warnings included), ``warned``, ``failed``, and the ``p50`` / ``p95``
    duration of its successes."""
    only, jp = _jobs_clause(jobs)
    hours = [_hour(since)] + ([] if until is None else [_hour(until)])
    rows = query(
        "SELECT job, sum(ended) AS runs, sum(succeeded) AS succeeded, sum(warned) AS warned,"
        " sum(failed) AS failed FROM run_hours WHERE hour >= ?"
        + ("" if until is None else " AND hour < ?") + only + " GROUP BY job HAVING sum(ended) > 0",
        (*hours, *jp))
    # The lowest number of a run in the window bounds each job's walk back through its
    # successes, which otherwise went on through all its older ones (2 s for 200 jobs over
    # two years of runs, whatever the window). Taken from the window's runs, not the first
    # created: numbers need not follow the clocks (a shared history's machines).
    first = query("SELECT min(id) AS id FROM runs INDEXED BY runs_created_at"
                  " WHERE created_at >= ?", (hours[0] * 3600,)) if rows else []
    first_id = (first[0]["id"] if first else None) or 0
    out = {}
    for r in rows:
        durations = sorted(d["d"] for d in query(
            "SELECT finished_at - started_at AS d FROM runs INDEXED BY runs_job_succeeded"
            " WHERE job = ? AND state = 'succeeded' AND id >= ? AND created_at >= ?"
            + ("" if until is None else " AND created_at < ?")
            + " AND finished_at - started_at IS NOT NULL ORDER BY id DESC LIMIT ?",
            (r["job"], first_id, hours[0] * 3600, *[h * 3600 for h in hours[1:]],
             PERCENTILE_RUNS)))
        r["p50"], r["p95"] = nearest_rank(durations, 50), nearest_rank(durations, 95)
        out[r.pop("job")] = r
    return out


def recent_outcomes(query: Query, job: str, *, limit: int = 30) -> list[str]:
    """How the job's last ``limit`` ended runs ended, oldest first (``warning`` for a
    success with warnings): what a sparkline draws."""
    rows = query(
        "SELECT state, warnings FROM runs INDEXED BY runs_job_id"
        f" WHERE job = ? AND state IN {_ENDED} ORDER BY id DESC LIMIT ?", (job, limit))
    return ["warning" if r["state"] == "succeeded" and r["warnings"] else r["state"]
            for r in reversed(rows)]


def last_successes(query: Query, jobs: Iterable[str]) -> dict[str, float]:
    """When each job last succeeded (its newest success's end)."""
    out = {}
    for job in jobs:
        rows = query("SELECT finished_at FROM runs INDEXED BY runs_job_succeeded"
                     " WHERE job = ? AND state = 'succeeded' ORDER BY id DESC LIMIT 1", (job,))
        if rows and rows[0]["finished_at"] is not None:
            out[job] = rows[0]["finished_at"]
    return out


def waiting_by_job(query: Query) -> dict[str, int]:
    """Runs queued or waiting for their conditions, not yet started, per job."""
    return {r["job"]: r["n"] for r in query(
        "SELECT job, count(*) AS n FROM runs INDEXED BY runs_state_id"
        " WHERE state IN ('queued', 'waiting') GROUP BY job")}


def metrics(query: Query, *, since: float, until: float, bucket: float,
            jobs: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The window cut into ``bucket``-second slices (whole hours) counted back from
    ``until``: the newest ends there, the oldest starts at ``since``'s hour and may be
    shorter, so the slices hold the hours :func:`job_health` counts for that ``since``.
    Each (empty ones included, oldest first): ``start``, ``runs`` created, ``ended``,
    ``failed``, ``warned``, the mean duration of its successes (``duration_avg``) and the
    mean queue wait (``wait_avg``: from ready to start, ``queued_at``, to started; not a
    one-off's planned delay nor a retry's pause between attempts)."""
    only, jp = _jobs_clause(jobs)
    per = max(1, round(bucket / 3600))
    first, end = _hour(since), _hour(until - 1) + 1
    count = max(1, math.ceil((end - first) / per))
    rows = query(
        "SELECT (? - 1 - hour) / ? AS b, sum(runs) AS runs, sum(ended) AS ended,"
        " sum(failed) AS failed, sum(warned) AS warned,"
        " sum(duration_sum) / nullif(sum(duration_n), 0) AS duration_avg,"
        " sum(wait_sum) / nullif(sum(wait_n), 0) AS wait_avg"
        f" FROM run_hours WHERE hour >= ? AND hour < ?{only} GROUP BY b",
        (end, per, first, end, *jp))
    found = {count - 1 - r.pop("b"): r for r in rows}
    empty = {"runs": 0, "ended": 0, "failed": 0, "warned": 0, "duration_avg": None,
             "wait_avg": None}
    return [{"start": max(since, (end - (count - i) * per) * 3600), **found.get(i, empty)}
            for i in range(count)]
