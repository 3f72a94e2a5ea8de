"""Plain-text formatting shared by the CLI and the window (no Qt here)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from .durations import format_duration

__all__ = ["when", "relative", "run_duration", "attempt_text", "state_text", "table"]


def when(ts: float | None, *, seconds: bool = False) -> str:
    if not ts:
        return ""
    dt = datetime.fromtimestamp(ts)
    today = datetime.now().date()
    fmt = "%H:%M:%S" if seconds else "%H:%M"
    if dt.date() == today:
        return dt.strftime(fmt)
    if abs((dt.date() - today).days) < 7:
        return dt.strftime(f"%a {fmt}")
    return dt.strftime(f"%Y-%m-%d {fmt}")


def relative(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return ""
    delta = ts - (now or time.time())
    return f"in {format_duration(delta)}" if delta >= 0 else f"{format_duration(-delta)} ago"


def run_duration(run: dict[str, Any], now: float | None = None) -> str:
    start = run.get("started_at")
    if not start:
        return ""
    end = run.get("finished_at") or (now or time.time()) if run["state"] == "running" else (
        run.get("finished_at") or run.get("updated_at"))
    return format_duration((end or start) - start)


def attempt_text(run: dict[str, Any]) -> str:
    if not run.get("attempt") or (run["attempt"] <= 1 and run["state"] != "retrying"):
        return ""
    return f"{run['attempt']}/{run['max_attempts']}"


def state_text(run: dict[str, Any], now: float | None = None) -> str:
    """E.g. "retrying: attempt 2/4 in 40 s", "running 42 %", "failed"."""
    state = run["state"]
    if state == "retrying" and run.get("next_attempt_at"):
        return (f"retrying: attempt {run['attempt'] + 1}/{run['max_attempts']} "
                f"{relative(run['next_attempt_at'], now)}")
    if state == "running" and run.get("progress_total"):
        pct = 100 * (run.get("progress_done") or 0) / run["progress_total"]
        return f"running {pct:.0f} %"
    return state


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*(str(c) for c in r)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
