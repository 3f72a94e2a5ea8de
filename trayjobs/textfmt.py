"""Plain-text formatting shared by the CLI and the window (no Qt here)."""

from __future__ import annotations

import functools
import math
import os
import re
import time
import unicodedata
from datetime import datetime
from typing import Any, AnyStr

from .durations import format_duration

__all__ = ["when", "relative", "run_duration", "run_started", "run_took", "run_total",
           "attempt_of", "attempt_text", "state_text", "warnings_text", "table",
           "escape_undecodable", "path_text", "escape_strings", "unescape_bytes",
           "started_by_how", "for_terminal", "finite_numbers", "plain"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(m: re.Match) -> str:
    code = ord(m.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that os.fsdecode could not decode (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def escape_undecodable(text: str) -> str:
    """``text`` with what UTF-8 cannot hold written as escapes: a file name's stray byte
    0xff (``os.fsdecode`` makes it the lone surrogate U+DCFF) becomes ``\\xff``, any other
    lone surrogate ``\\udNNN``. Such text cannot be stored in SQLite nor printed; names
    that need to stay exact travel as bytes, this is what people read."""
    if text.isascii():
        return text
    return _SURROGATE.sub(_escape, text)


_PATH_CONTROL = re.compile("[\x00-\x1f\x7f]")
_PATH_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _path_control(m: re.Match) -> str:
    c = m.group()
    return _PATH_NAMED.get(c) or f"\\x{ord(c):02x}"


def path_text(path: str) -> str:
    """``path`` (a file's name, as ``os.fsdecode`` gives it) as text that can always be shown,
    stored and logged on one line: undecodable bytes as ``\\xff``, line breaks, tabs and other
    control characters as ``\\n``, ``\\t``, ``\\x1b``. A name such as ``"a\\nWARNING ..."``
    can then not pass for a line of the log of its own."""
    if path.isascii() and path.isprintable():
        return path
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        path = os.fsencode(path).decode("utf-8", "backslashreplace")
    return _PATH_CONTROL.sub(_path_control, path)


#: Control characters a terminal acts on (all but tab and line feed, C1 controls too), and
#: the escape sequences they start; a colour (SGR: ESC [ ... m) is let through.
_CONTROL = re.compile("\x1b\\[[0-9;:]*m|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _control(m: re.Match) -> str:
    text = m.group()
    if len(text) > 1:  # a colour
        return text
    return f"\\x{ord(text):02x}"


def for_terminal(text: str) -> str:
    """``text`` (from a job: its output, error, summary) as a terminal may show it: control
    characters and the escape sequences they start written as ``\\xNN``, so a program's
    output cannot move the cursor, rewrite what is above, set the window title or the
    clipboard (OSC), or ring; colours stay."""
    return _CONTROL.sub(_control, text)


_ESCAPED_BYTE = re.compile(r"\\x([89a-f][0-9a-f])")


def unescape_bytes(text: str) -> str:
    """The file name :func:`escape_undecodable` wrote as ``bad\\xff.txt``, as Python names it
    (its stray bytes lone surrogates again). A name that really holds a backslash and ``x``
    reads the same: try the text as it is first."""
    if "\\x" not in text:
        return text
    return _ESCAPED_BYTE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), text)


def escape_strings(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings, numbers) with every string, keys
    included, passed through :func:`escape_undecodable`."""
    if isinstance(value, str):
        return escape_undecodable(value)
    if isinstance(value, dict):
        return {escape_strings(k): escape_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_strings(v) for v in value]
    return value


def finite_numbers(value: Any, *, _at: str = "", _found: list[str] | None = None
                   ) -> tuple[Any, list[str]]:
    """``value`` (JSON-like data) with each NaN or infinite number made ``None``, which JSON
    can hold (``NaN`` and ``Infinity`` are not JSON, though Python writes them), and where
    each was, e.g. ``["ratio (NaN)", "by_month.2026-02 (inf)", "deltas[1] (-inf)"]``.
    Containers are copied only where something changed."""
    found = [] if _found is None else _found
    if isinstance(value, float) and not math.isfinite(value):
        found.append(f"{_at or 'value'} ({'NaN' if value != value else value})")
        return None, found
    if isinstance(value, dict):
        items = {k: finite_numbers(v, _at=f"{_at}.{k}" if _at else str(k), _found=found)[0]
                 for k, v in value.items()}
        return (items if any(items[k] is not value[k] for k in items) else value), found
    if isinstance(value, (list, tuple)):
        items = [finite_numbers(v, _at=f"{_at}[{i}]", _found=found)[0]
                 for i, v in enumerate(value)]
        return (items if any(a is not b for a, b in zip(items, value)) else value), found
    return value, found


def when(ts: float | None, *, seconds: bool = False) -> str:
    if not ts:
        return ""
    # A log's lines come many a second: each second is written out once (a million lines
    # took `trayjobs show` 8 s here, most of its time).
    return _when(math.floor(ts), seconds, datetime.now().date())


@functools.lru_cache(maxsize=256)
def _when(ts: int, seconds: bool, today) -> str:
    dt = datetime.fromtimestamp(ts)
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
    # A moment in words, not "34 ms ago"; whole seconds, not "5.0 s ago" (a duration's
    # tenths mean something, a time's do not). One ahead is rounded to the nearest: a
    # retry due in 0.98 s, a second's backoff just set, is "in 1 s", not "now".
    gap = abs(delta) if delta < 0 else round(delta)
    if gap < 1:
        return "now" if delta >= 0 else "just now"
    text = f"{int(gap)} s" if gap < 60 else format_duration(gap)
    return f"in {text}" if delta >= 0 else f"{text} ago"


def start_time(run: dict[str, Any]) -> float | None:
    """What a list shows as a run's start: when it started; for one that ended without
    starting (skipped, cancelled while it waited), when it was made; none for one that has
    not started yet (a one-off due in two hours did not start now)."""
    if run.get("started_at"):
        return run["started_at"]
    waiting = run.get("state") in ("scheduled", "queued", "waiting", "retrying")
    return None if waiting else run.get("created_at")


def run_duration(run: dict[str, Any], now: float | None = None) -> str:
    start = run.get("started_at")
    if not start:
        return ""
    end = run.get("finished_at") or (now or time.time()) if run["state"] == "running" else (
        run.get("finished_at") or run.get("updated_at"))
    return format_duration((end or start) - start)


def _first_start(run: dict[str, Any], attempts: list[dict[str, Any]]) -> float | None:
    """When the run's first attempt started, if it took several (a run's ``started_at`` is
    its last one's): from its attempts, or from a list's ``first_started_at``."""
    starts = [a["started_at"] for a in attempts if a.get("started_at")]
    if run.get("first_started_at"):
        starts.append(run["first_started_at"])
    first = min(starts) if starts else None
    last = run.get("started_at")
    return first if first is not None and last and first < last else None


def run_total(run: dict[str, Any], now: float | None = None) -> tuple[str, str]:
    """A list's Started and Took: from the first attempt of a run that took several (given
    as ``first_started_at``), as :func:`run_started` and :func:`run_took` say in full."""
    first = _first_start(run, [])
    if first is None:
        return when(start_time(run)), run_duration(run, now)
    end = run.get("finished_at") or ((now or time.time()) if run["state"] == "running" else None)
    took = format_duration(end - first) if end is not None else run_duration(run, now)
    return when(first), took


def run_started(run: dict[str, Any], attempts: list[dict[str, Any]]) -> str:
    """When the run started, with the start of its latest attempt if it took several:
    "18:35:30 (attempt 3 at 18:35:56)"."""
    first = _first_start(run, attempts)
    if first is None:
        return when(run.get("started_at"), seconds=True)
    return (f"{when(first, seconds=True)} (attempt {run.get('attempt') or len(attempts)} at "
            f"{when(run['started_at'], seconds=True)})")


def run_took(run: dict[str, Any], attempts: list[dict[str, Any]],
             now: float | None = None) -> str:
    """How long the run took, from its first attempt: "32 s in all, the last attempt 5.0 s"
    (the last attempt's alone, :func:`run_duration`, when it took one)."""
    last = run_duration(run, now)
    first = _first_start(run, attempts)
    end = run.get("finished_at") or ((now or time.time()) if run["state"] == "running" else None)
    if first is None or end is None:
        return last
    return f"{format_duration(end - first)} in all, the last attempt {last}"


def attempt_of(run: dict[str, Any]) -> str:
    """"1 of up to 3" ("1 of 3" read as two attempts still to come, of a run that succeeded
    at once), or "1" for a job without retries."""
    most = run.get("max_attempts") or 1
    return f"{run['attempt']} of up to {most}" if most > 1 else str(run["attempt"])


def attempt_text(run: dict[str, Any]) -> str:
    if not run.get("attempt") or (run["attempt"] <= 1 and run["state"] != "retrying"):
        return ""
    return f"{run['attempt']}/{run['max_attempts']}"


def state_text(run: dict[str, Any], now: float | None = None) -> str:
    """E.g. "retrying: attempt 2/4 in 40 s", "waiting until 18:00 (in 2 h 05 min)",
    "waiting: on battery (18 %)",
    "running 42 %", "failed"."""
    state = run["state"]
    if state == "retrying" and run.get("next_attempt_at"):
        return (f"retrying: attempt {run['attempt'] + 1}/{run['max_attempts']} "
                f"{relative(run['next_attempt_at'], now)}")
    if state == "scheduled" and run.get("due_at"):
        return f"waiting until {when(run['due_at'])} ({relative(run['due_at'], now)})"
    if state == "waiting" and run.get("wait_reason"):
        return f"waiting: {run['wait_reason']}"
    if state == "running" and run.get("progress_total"):
        pct = 100 * (run.get("progress_done") or 0) / run["progress_total"]
        return f"running {pct:.0f} %"
    if state == "succeeded" and run.get("warnings"):
        return f"succeeded with {warnings_text(run['warnings'])}"
    return state


def warnings_text(n: int) -> str:
    """"1 warning", "3 warnings"."""
    return f"{n:,} warning{'s' * (n != 1)}"


def text_width(text: str) -> int:
    """The columns ``text`` takes in a terminal: a CJK character takes two, an accent
    written apart (``e`` and U+0301) or a zero-width joiner none. (What ``len`` counts
    put a job named 日本 two columns off the rest of its row.)"""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf")
               else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def table(rows: list[list[str]], headers: list[str]) -> str:
    # One line per row: a tab or a line break in a cell (`du -sh` writes "4.0K<tab>/x")
    # would push the columns after it out of line.
    cells = [[plain(str(c), one_line=True) for c in r] for r in [headers, *rows]]
    widths = [max(text_width(x) for x in col) for col in zip(*cells)]

    def line(row: list[str]) -> str:
        return "  ".join(c + " " * (w - text_width(c)) for c, w in zip(row, widths)).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths])]
                     + [line(r) for r in cells[1:]])


def started_by_how(run: dict[str, Any]) -> tuple[str, str]:
    """For a run a hook started: how ("on_failure", "then", "always", or "retry" for a
    retry of one) and its state in words ("succeeded with warnings")."""
    parent = (run.get("inputs") or {}).get("parent")
    hook = parent.get("hook") if isinstance(parent, dict) else None
    how = "retry" if run["trigger"] == "retry" else (hook or run["trigger"])
    state = ("succeeded with warnings" if run["state"] == "succeeded" and run.get("warnings")
             else run["state"])
    return how, state


def final_state(line: AnyStr) -> AnyStr:
    """A line redrawn with carriage returns (a progress bar) as it was left: its last state
    that is not blank (a CRLF line end, or a bar wiped before its newline, is not one)."""
    cr = b"\r" if isinstance(line, bytes) else "\r"
    if cr not in line:
        return line
    return next((s for s in reversed(line.split(cr)) if s.strip()), line[:0])


# -- text from jobs, shown as plain text ---------------------------------------------------
# A run's error, summary, warnings and log come from programs, and may hold colour codes and
# other escape sequences (a terminal obeys them: moves the cursor, sets the window title or
# the clipboard), a progress bar's carriage returns, NUL bytes, or a right-to-left override
# that shows ``invoice\u202egnp.exe`` as ``invoiceexe.png``. What an alert channel is handed,
# ``trayjobs alerts log`` and the window show passes :func:`plain`; the store keeps what
# was written, unchanged.

#: Escape sequences: CSI (colours, cursor moves), OSC (window title, clipboard, links; up
#: to BEL or ST, or to the end of a cut-off text) and the two-character ones.
_PLAIN_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -~]?)|\x9b[0-?]*[ -/]*[@-~]?")
#: Control characters (all but tab and line feed, C1 too) and the bidirectional embeddings,
#: overrides and isolates, which reorder what follows them.
_PLAIN_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _shown(m: re.Match) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(text: str, *, one_line: bool = False) -> str:
    """``text`` with escape sequences taken out, a line redrawn with carriage returns as it
    was left, and any other control character written as ``\\xNN`` / ``\\uNNNN`` (visible,
    obeyed by nothing). ``one_line``: line breaks and tabs become spaces (a title, a cell)."""
    if text.isascii() and text.isprintable():
        return text
    text = _PLAIN_SEQUENCE.sub("", text).replace("\u2028", "\n").replace("\u2029", "\n")
    if "\r" in text:
        text = "\n".join(final_state(line) for line in text.replace("\r\n", "\n").split("\n"))
    if one_line:
        text = " ".join(text.replace("\t", " ").split("\n"))
    return _PLAIN_CONTROL.sub(_shown, text)
