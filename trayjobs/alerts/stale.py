"""The dead-man timer: ``stale_after = "3d"`` alerts when a job has had no successful run
for that long, whether it failed, was paused, or never ran at all (the computer slept
through every slot). It looks at the history, not at the scheduler, so it fires in all
of those cases alike; each stale spell is told once (its ``dedupe`` names the last
success it is counted from).
"""

from __future__ import annotations

from typing import Any

from .compose import stale_message

__all__ = ["stale_rows", "SEEN_KEY"]

#: The store's key (then the job's name) for when a job was first seen without a
#: success: a job that never succeeds is stale counted from then.
SEEN_KEY = "alerts:first_seen:"


def stale_rows(cfg, store, now: float) -> tuple[list[dict[str, Any]], float | None]:
    """The stale alerts due at ``now``, and when the next job may go stale."""
    rows: list[dict[str, Any]] = []
    upcoming: list[float] = []
    for job in cfg.jobs.values():
        after = job.common.stale_after
        if after is None or not job.enabled:
            continue
        last = store.last_success_at(job.name)
        since = last
        if since is None:
            seen = store.get_value(SEEN_KEY + job.name)
            if seen is None:
                store.set_value(SEEN_KEY + job.name, repr(now))
                seen = repr(now)
            since = float(seen)
        if now - since >= after:
            key = f"after:{last:.3f}" if last is not None else f"never:{since:.3f}"
            rows += stale_message(cfg, job, since=last, stale_after=after, key=key, now=now)
        else:
            upcoming.append(since + after)
    return rows, min(upcoming) if upcoming else None
