"""Health and metrics of the run history, counted by SQL over the stats indexes.

Kept beside the store because it is SQL over the runs table; :class:`RunStore` exposes
each as a method. Every query reads a time window (``created_at``) through a covering
index (migration ``007_stats_indexes``), so its cost follows the runs in the window,
not the size of the history.

Durations are those of succeeded runs (``finished_at - started_at``); percentiles are
nearest-rank (the p95 of 20 runs is the 19th fastest). The success rate counts
succeeded (with or without warnings) against failed; cancelled, skipped and
interrupted runs are neither.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["job_health", "metrics", "recent_outcomes", "last_successes", "waiting_by_job"]

Query = Callable[..., list[dict[str, Any]]]

_ENDED = "('succeeded', 'failed', 'cancelled', 'skipped', 'interrupted')"
_DURATION = "finished_at - started_at"


def _jobs_clause(jobs: Iterable[str] | None) -> tuple[str, list[Any]]:
    if jobs is None:
        return "", []
    jobs = list(jobs)
    return f" AND job IN ({', '.join('?' * len(jobs))})", jobs


def _window(since: float, until: float | None) -> tuple[str, list[Any]]:
    if until is None:
        return "created_at >= ?", [since]
    return "created_at >= ? AND created_at < ?", [since, until]


def job_health(query: Query, *, since: float, until: float | None = None,
               jobs: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per job, its runs that ended in the window: ``runs``, ``succeeded`` (warnings
    included), ``warned``, ``failed``, and the ``p50`` / ``p95`` duration of its successes."""
    window, params = _window(since, until)
    only, jp = _jobs_clause(jobs)
    rows = query(
        "SELECT job, count(*) AS runs, sum(state = 'succeeded') AS succeeded,"
        " sum(state = 'succeeded' AND warnings > 0) AS warned,"
        " sum(state = 'failed') AS failed,"
        " sum(state = 'succeeded' AND started_at IS NOT NULL AND finished_at IS NOT NULL)"
        " AS timed"
        f" FROM runs INDEXED BY runs_created_stats WHERE {window} AND state IN {_ENDED}{only}"
        " GROUP BY job", (*params, *jp))
    out = {}
    for r in rows:
        r["p50"] = _percentile(query, r["job"], window, params, r["timed"], 50)
        r["p95"] = _percentile(query, r["job"], window, params, r["timed"], 95)
        out[r.pop("job")] = r
    return out


def _percentile(query: Query, job: str, window: str, params: list[Any], n: int,
                pct: float) -> float | None:
    if not n:
        return None
    rank = max(1, math.ceil(pct / 100 * n))
    rows = query(
        f"SELECT {_DURATION} AS d FROM runs INDEXED BY runs_job_created_stats"
        f" WHERE job = ? AND {window} AND state = 'succeeded'"
        " AND started_at IS NOT NULL AND finished_at IS NOT NULL"
        " ORDER BY d LIMIT 1 OFFSET ?", (job, *params, rank - 1))
    return rows[0]["d"] if rows else None


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
    """Runs queued and not yet started, per job."""
    return {r["job"]: r["n"] for r in query(
        "SELECT job, count(*) AS n FROM runs INDEXED BY runs_state_id"
        " WHERE state = 'queued' GROUP BY job")}


def metrics(query: Query, *, since: float, until: float, bucket: float,
            jobs: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The window cut into ``bucket``-second slices, each (empty ones included, oldest
    first): ``start``, ``runs`` created, ``failed``, ``warned``, mean and longest duration
    of its successes (``duration_avg``, ``duration_max``) and mean queue wait
    (``wait_avg``: created to started)."""
    only, jp = _jobs_clause(jobs)
    index = "runs_created_stats" if jobs is None else "runs_job_created_stats"
    rows = query(
        "SELECT CAST((created_at - ?) / ? AS INTEGER) AS b, count(*) AS runs,"
        " sum(state = 'failed') AS failed, sum(state = 'succeeded' AND warnings > 0) AS warned,"
        f" avg(CASE WHEN state = 'succeeded' THEN {_DURATION} END) AS duration_avg,"
        f" max(CASE WHEN state = 'succeeded' THEN {_DURATION} END) AS duration_max,"
        " avg(started_at - created_at) AS wait_avg"
        f" FROM runs INDEXED BY {index} WHERE created_at >= ? AND created_at < ?{only}"
        " GROUP BY b", (since, bucket, since, until, *jp))
    found = {r.pop("b"): r for r in rows}
    count = max(1, math.ceil((until - since) / bucket))
    empty = {"runs": 0, "failed": 0, "warned": 0, "duration_avg": None, "duration_max": None,
             "wait_avg": None}
    return [{"start": since + i * bucket, **found.get(i, empty)} for i in range(count)]
