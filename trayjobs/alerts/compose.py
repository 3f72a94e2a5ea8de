"""Which alert events a run makes, and the words of each message.

Pure functions over run rows and the config: the engine's thread calls
:func:`messages_for_run` as a run ends, so it must stay quick (no network, at most
one indexed query, and only when a channel asks for ``recovered``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from ..durations import format_duration
from ..store import outcome, run_warnings
from .spec import ChannelSpec, channel_wants, job_matches

__all__ = ["channels_for", "run_events", "messages_for_run", "missed_message",
           "stale_message", "summary_message", "run_link", "first_lines"]

#: How much of an error a message carries: its first lines, never a traceback wall.
ERROR_LINES, ERROR_CHARS = 6, 600


def run_link(run_id: int) -> str:
    """Opens the run in the app (``install-desktop`` registers the scheme)."""
    return f"trayjobs://run/{run_id}"


def first_lines(text: str | None, lines: int = ERROR_LINES, chars: int = ERROR_CHARS) -> str:
    text = (text or "").strip()
    kept = text.splitlines()[:lines]
    out = "\n".join(kept)
    if len(out) > chars:
        out = out[:chars - 1] + "…"
    elif len(kept) < len(text.splitlines()):
        out += "\n…"
    return out


def channels_for(cfg, job) -> dict[str, ChannelSpec]:
    """The channels that hear of ``job``: those its ``alerts`` names, else those whose
    ``jobs`` cover it."""
    if job is None:
        return {}
    named = job.common.alerts
    if named is not None:
        return {n: cfg.alerts[n] for n in named if n in cfg.alerts}
    tags = list(job.common.tags)
    return {n: c for n, c in cfg.alerts.items() if job_matches(c.jobs, job.name, tags)}


def run_events(run: dict[str, Any], previous: Callable[[], str | None]) -> list[str]:
    """The events of a run that ended for good: failure, warning or success, and
    recovered (a success after a failure; ``previous`` is asked only then)."""
    shown = outcome(run)
    if shown in ("failed", "interrupted"):  # interrupted: only one that is not run again
        return ["failure"]
    if run["state"] != "succeeded":
        return []
    events = ["warning" if shown == "warning" else "success"]
    if previous() == "failed":
        events.append("recovered")
    return events


def _how_long(run: dict[str, Any]) -> str:
    """How long the run took, from its first attempt (``started_at`` is the last one's)."""
    start = run.get("started_at") if (run.get("attempt") or 1) <= 1 else run.get("created_at")
    end = run.get("finished_at")
    return format_duration(end - start) if start and end else ""


def _footer(run: dict[str, Any]) -> str:
    return (f"Run {run['id']} · {run_link(run['id'])} · or: trayjobs show {run['id']}")


def _text(run: dict[str, Any], event: str) -> tuple[str, str]:
    job, took = run["job"], _how_long(run)
    attempts = run.get("attempt") or 1
    tries = f"after {attempts} attempts" if attempts > 1 else "on its first attempt"
    result = run.get("result") if isinstance(run.get("result"), dict) else {}
    summary = result.get("summary") or ""
    if event == "failure" and run["state"] == "interrupted":
        title = f"{job} was interrupted"
        head = (f"{job} was interrupted" + (f" after {took}" if took else "") + " and is not "
                "run again by itself: running it twice may not be safe.")
        body = f"{head}\n\n{first_lines(run.get('error')) or 'interrupted'}"
    elif event == "failure":
        title = f"{job} failed"
        head = f"{job} failed {tries}" + (f" ({took})" if took else "") + "."
        body = f"{head}\n\n{first_lines(run.get('error')) or 'failed'}"
    elif event == "warning":
        warnings = run_warnings(result)
        title = f"{job} finished with {len(warnings)} warning{'s' * (len(warnings) != 1)}"
        listed = "\n".join(f"- {first_lines(w, 2, 200)}" for w in warnings[:5])
        more = f"\n… and {len(warnings) - 5} more" if len(warnings) > 5 else ""
        body = "\n".join(p for p in (summary, listed + more) if p)
    elif event == "recovered":
        title = f"{job} recovered"
        body = f"{job} succeeded again" + (f" ({took})" if took else "") + (
            f": {summary}" if summary else ".")
    else:
        title = f"{job} succeeded"
        body = summary or f"{job} succeeded" + (f" in {took}" if took else "") + "."
    return title, f"{body}\n\n{_footer(run)}"


def messages_for_run(cfg, job, run: dict[str, Any],
                     previous: Callable[[], str | None]) -> list[dict[str, Any]]:
    """The outbox rows for a run that ended for good: one per channel and event wanted
    (never per attempt: ``dedupe`` names the run), and the job's ``deliver``."""
    channels = channels_for(cfg, job)
    rows: list[dict[str, Any]] = []
    wanted = channels
    if wanted:
        asked = None  # the previous outcome, read once and only when it matters
        def prev() -> str | None:
            nonlocal asked
            if asked is None:
                asked = previous() or ""
            return asked or None
        need_prev = any(channel_wants(s, "recovered") for s in wanted.values())
        events = run_events(run, prev if need_prev else lambda: None)
        for name, spec in wanted.items():
            for event in events:
                if not channel_wants(spec, event):
                    continue
                title, body = _text(run, event)
                urgent = event == "failure" and job_matches(spec.urgent, job.name,
                                                             list(job.common.tags))
                rows.append({"channel": name, "event": event, "job": run["job"],
                             "run_id": run["id"], "dedupe": f"{name}:{event}:run:{run['id']}",
                             "title": title, "body": body,
                             "data": {"urgent": True} if urgent else None})
    deliver = job.common.deliver if job is not None else None
    if deliver is not None and run["state"] == "succeeded":
        rows += _delivery(cfg, deliver, run)
    return rows


def _delivery(cfg, deliver, run: dict[str, Any]) -> list[dict[str, Any]]:
    result = run.get("result") if isinstance(run.get("result"), dict) else {}
    outputs = [str(p) for p in result.get("outputs") or []]
    files = [p for p in outputs if Path(p).suffix.lower().lstrip(".") in deliver.attach]
    html = next((p for p in outputs if p.lower().endswith((".html", ".htm"))), None)
    title = result.get("summary") or f"{run['job']}: run {run['id']}"
    body = f"{result.get('summary') or run['job']}\n\n{_footer(run)}"
    return [{"channel": to, "event": "report", "job": run["job"], "run_id": run["id"],
             "dedupe": f"{to}:report:run:{run['id']}", "title": title, "body": body,
             "data": {"attach": files, "html": html if deliver.body == "html" else None}}
            for to in deliver.to if to in cfg.alerts]


def missed_message(cfg, job, run: dict[str, Any]) -> list[dict[str, Any]]:
    """A scheduled job found runs missed (the computer slept, trayjobs was closed)."""
    note = run.get("note") or "missed scheduled runs"
    rows = []
    for name, spec in channels_for(cfg, job).items():
        if channel_wants(spec, "missed"):
            rows.append({"channel": name, "event": "missed", "job": run["job"],
                         "run_id": run["id"], "dedupe": f"{name}:missed:{run['job']}:{note}",
                         "title": f"{run['job']} missed runs",
                         "body": f"{run['job']}: {note}.\n\n{_footer(run)}"})
    return rows


def stale_message(cfg, job, *, since: float | None, stale_after: float, key: str,
                  now: float | None = None) -> list[dict[str, Any]]:
    now = time.time() if now is None else now
    what = (f"no successful run of {job.name} for {format_duration(now - since)}"
            if since else f"no successful run of {job.name} since it was added, "
                          f"{format_duration(stale_after)} or more ago")
    body = (f"{what[0].upper()}{what[1:]} (stale_after = {format_duration(stale_after)}). "
            f"Is it paused, failing, or was the computer off at its times?\n\n"
            f"Its runs: trayjobs runs --job {job.name}")
    return [{"channel": name, "event": "stale", "job": job.name,
             "dedupe": f"{name}:stale:{job.name}:{key}", "title": f"{job.name} is stale",
             "body": body}
            for name, spec in channels_for(cfg, job).items() if channel_wants(spec, "stale")]


#: Seconds after its newest message that a summary no longer says "in the last ...": it
#: went late (the channel was down), and tells since when.
LATE = 300.0


def summary_message(rows: list[dict[str, Any]], *, quiet: bool = False,
                    now: float | None = None) -> tuple[str, str]:
    """One message for a burst of them: "5 jobs failed in the last minute"; one that goes
    late (``now``, well after them: the channel was down) says "since 03:10" instead, or
    the failures of an hour ago read as just now."""
    failed = [r for r in rows if r["event"] == "failure"]
    jobs = sorted({r["job"] for r in rows if r.get("job")})
    first, last = min(r["created_at"] for r in rows), max(r["created_at"] for r in rows)
    span = last - first
    if quiet:
        when = "during quiet hours"
    elif now is not None and now - last > LATE:
        from ..textfmt import when as clock_time
        when = f"since {clock_time(first)}"
    else:
        when = "in the last minute" if span < 60 else f"in the last {format_duration(span)}"
    if failed and len(failed) == len(rows):
        nj = len({r["job"] for r in failed})
        title = f"{nj} job{'s' * (nj != 1)} failed {when}" if nj > 1 else \
            f"{failed[0]['job']} failed {len(failed)} times {when}"
    else:
        title = f"{len(rows)} alerts {when}" + (f", {len(failed)} failed" if failed else "")
    lines = [f"- {r['title']}" + (f" (run {r['run_id']})" if r.get("run_id") else "")
             for r in rows[:20]]
    if len(rows) > 20:
        lines.append(f"… and {len(rows) - 20} more")
    body = "\n".join(lines) + "\n\nSee them: trayjobs alerts log"
    if jobs and len(jobs) <= 3:
        body += "".join(f"\ntrayjobs runs --job {j}" for j in jobs)
    return title, body
