"""``[alerts.NAME]`` tables read into channels, and the checks that tie jobs to them.

Called by :func:`trayjobs.config.parse_config`: a bad channel is left out with an error
naming its key; a job naming a channel that is not there keeps running, with an error.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import ConfigError, unseen
from .spec import ChannelSpec

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["parse_alerts", "schedule_gap"]

#: Names no table may take: the app's own desktop notifications go by the first, and the
#: jobs' heartbeat pings by the second (in the outbox, ``trayjobs alerts log --channel
#: ping``): a channel named so had its messages taken for pings and dropped.
RESERVED = {"desktop": "the app's own desktop notifications",
            "ping": "the jobs' heartbeat pings (trayjobs alerts log --channel ping)"}


def parse_alerts(cfg: "Config", raw: Any, *, fname: str, locate, raw_jobs: Any = None) -> None:
    """``raw_jobs``: the ``[jobs]`` table as written, for the names and tags of the jobs
    left out for their own errors."""
    from ..config import _hostile, _messages
    if not isinstance(raw, dict):
        cfg.errors.append(ConfigError("write each alert channel as a table: [alerts.NAME] with "
                                      "url = \"...\"", file=fname, key="alerts",
                                      line=locate.top("alerts")))
        raw = {}
    for name, table in raw.items():
        def error(msg: str, key: str = "") -> None:
            cfg.errors.append(ConfigError(msg, file=fname, key=f"alerts.{name}"
                                          + (f".{key}" if key else ""),
                                          line=locate.key(["alerts", name], key)))
        if name in RESERVED:
            error(f"{name!r} is the name of {RESERVED[name]}; give this channel another "
                  f"name")
            continue
        control = next((c for c in name if unseen(c)), None)
        if control is not None:
            # As for a job's name: a terminal obeys them (trayjobs alerts, the log), and a
            # right-to-left override shows the name backwards.
            error(f"a channel name cannot hold control characters (it holds "
                  f"{ascii(control)}); rename the channel")
            continue
        if not isinstance(table, dict):
            error("write a table: [alerts.NAME] with url = \"...\"")
            continue
        hostile = _hostile(table)
        for loc, msg in hostile:
            error(msg, loc)
        if hostile:
            continue
        try:
            cfg.alerts[name] = ChannelSpec.model_validate(table)
        except ValidationError as exc:
            for loc, msg in _messages(exc, ChannelSpec):
                error(msg, loc)
    for job in cfg.jobs.values():
        _check_job(cfg, job, raw if isinstance(raw, dict) else {}, fname, locate)
    _check_covered(cfg, raw_jobs, fname, locate)


def _check_job(cfg: "Config", job, raw: dict, fname: str, locate) -> None:
    def error(msg: str, key: str) -> None:
        cfg.errors.append(ConfigError(msg, file=fname, job=job.name, key=key,
                                      line=locate.key(["jobs", job.name], key)))
    c = job.common
    named = [("alerts", n) for n in (c.alerts or [])]
    named += [("deliver.to", n) for n in (c.deliver.to if c.deliver else [])]
    for key, name in named:
        if name in cfg.alerts or name == "desktop" and key == "alerts":
            continue
        if name in raw:
            error(f"names the channel {name!r}, which has errors of its own (see above)", key)
        else:
            known = ", ".join(sorted(cfg.alerts)) or "none; add one as [alerts.NAME]"
            error(f"names {name!r}, which is not an alert channel (channels: {known})", key)
    if c.stale_after is not None:
        gap = schedule_gap(job)
        if gap is not None and c.stale_after < gap:
            from ..durations import format_duration
            error(f"{format_duration(c.stale_after)} is shorter than the time between two of "
                  f"the job's own runs ({format_duration(gap)}): it would be stale between "
                  f"every two runs; give at least {format_duration(gap)}", "stale_after")


def _check_covered(cfg: "Config", raw_jobs: Any, fname: str, locate) -> None:
    """A channel's ``jobs`` or ``urgent`` naming neither a job nor a tag: a typo there
    silently leaves a job without its alerts, found out when a failure goes untold."""
    known: set[str] = set(cfg.jobs)
    for name, job in cfg.jobs.items():
        known.update(job.common.tags)
    for name, table in (raw_jobs.items() if isinstance(raw_jobs, dict) else ()):
        known.add(name)  # one left out for an error of its own is told of that error
        tags = table.get("tags") if isinstance(table, dict) else None
        if isinstance(tags, list):
            known.update(t for t in tags if isinstance(t, str))
    import difflib
    nfc_known = {unicodedata.normalize("NFC", k) for k in known}
    for channel, spec in cfg.alerts.items():
        for key in ("jobs", "urgent"):
            for entry in getattr(spec, key):
                if entry == "*" or unicodedata.normalize("NFC", entry) in nfc_known:
                    continue
                close = difflib.get_close_matches(entry, sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                cfg.errors.append(ConfigError(
                    f"{entry!r} is neither a job nor a tag of one{hint}", file=fname,
                    key=f"alerts.{channel}.{key}", line=locate.key(["alerts", channel], key)))


def schedule_gap(job) -> float | None:
    """The longest time between two of the job's scheduled runs over the next few slots
    (cron spans vary: a weekday job waits three days over a weekend)."""
    sched = job.schedule
    if sched is None:
        return None
    seconds = getattr(sched, "seconds", None)
    if seconds is not None:
        return float(seconds)
    at = datetime.now(timezone.utc)
    gaps = []
    try:
        for _ in range(8):
            nxt = sched.next_after(at)
            gaps.append((nxt - at).total_seconds())
            at = nxt
    except Exception:  # a schedule that cannot be worked out is reported elsewhere
        return None
    return max(gaps[1:]) if len(gaps) > 1 else None
