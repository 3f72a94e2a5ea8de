"""Per-attempt bookkeeping of progress and log lines.

Listeners in this process (the window) get every update at once through the
bus; the store gets progress at most a few times a second per run and log
lines in batches, so a job reporting thousands of updates a second costs the
database almost nothing. A batch is written once it holds 500 lines or
:data:`LOG_BATCH` characters, or with the progress, or as soon as the job pauses
with :data:`IDLE_BATCH` characters waiting: a chatty program's output is stored
while it runs (where the job process is busy anyway), not after its end, when
writing it would delay the run's outcome.

While the store's server is away (``store_away()``), nothing is written: the log lines
wait here (up to :data:`MAX_KEPT`, then the oldest beyond the first ones are counted, not
kept) and go with the attempt's end, which the engine keeps in its spool if need be.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable

from ..errors import StoreUnreachable
from ..store import RunStore
from ..textfmt import unescape_bytes
from .events import EventBus, RunLog, RunProgress

__all__ = ["AttemptTracker"]

STORE_INTERVAL = 0.5  # seconds between progress writes of one run
#: Log lines of one attempt kept in memory while the store is away, at most.
MAX_KEPT = 20_000
#: Characters of waiting log lines that make a batch (a few of a command's 64 KiB entries):
#: a commit costs about as much as storing 64 KiB, so smaller batches would cost more.
LOG_BATCH = 256 * 1024
#: Characters of waiting log lines stored as soon as the job pauses (see
#: :meth:`AttemptTracker.idle`): half an entry of a command's output. Fewer wait for the
#: next tick: a pause after each of a few lines would otherwise cost a commit each.
IDLE_BATCH = 32 * 1024


class AttemptTracker:
    def __init__(self, store: RunStore, bus: EventBus, run: dict[str, Any], *,
                 clock: Callable[[], float] = time.monotonic,
                 store_away: Callable[[], bool] = lambda: False,
                 on_unreachable: Callable[[StoreUnreachable], None] | None = None,
                 watched: str | None = None) -> None:
        self.store, self.bus = store, bus
        self.store_away = store_away
        self.on_unreachable = on_unreachable
        self._dropped = 0  # log lines not kept while the store was away
        self.clock = clock
        self.run_id, self.job = run["id"], run["job"]
        #: The job's watched folder: files the run says it wrote there are recorded as seen
        #: by the watch, so they do not start the job again.
        self.watched = None if watched is None else os.path.join(os.path.realpath(watched), "")
        self._logs: list[tuple[float, str, str]] = []
        self._log_size = 0  # characters in _logs
        # Counting from now (not "long ago") lets a short run's log lines reach the store
        # with its outcome, in one commit.
        self._last_write = self.clock()
        self._dirty = False
        self._start: tuple[float, float] | None = None  # (time, done) at the first report
        self.done = self.total = None
        self.unit = self.message = None

    def on_message(self, msg: dict[str, Any]) -> None:
        t = msg.get("t")
        if t == "progress":
            self._progress({"done": _number(msg.get("done")), "total": _number(msg.get("total")),
                            "unit": _str(msg.get("unit")), "message": _str(msg.get("message"))})
        elif t == "produced":
            self._produced(msg.get("paths"))
        elif t == "log":
            line = (_number(msg.get("ts")) or time.time(), _str(msg.get("level")) or "info",
                    _str(msg.get("message")) or "")
            self._logs.append(line)
            self._log_size += len(line[2])
            self.bus.emit(RunLog(self.run_id, *line))
            if len(self._logs) >= 500 or self._log_size >= LOG_BATCH:
                self.flush()
            if len(self._logs) > MAX_KEPT:  # the store is away: keep the first lines
                del self._logs[MAX_KEPT // 2]
                self._dropped += 1

    def _produced(self, paths: Any) -> None:
        if self.watched is None or not isinstance(paths, list):
            return
        versions = []
        for p in paths:
            if not isinstance(p, str):
                continue
            # as the watch sees it: its folder's links resolved, and a name that is not UTF-8
            # as it is on disk (it came here escaped, as every text from a job does)
            for name in dict.fromkeys((p, unescape_bytes(p))):
                try:
                    name = os.path.join(os.path.realpath(os.path.dirname(name)), os.path.basename(name))
                    if not name.startswith(self.watched):
                        break
                    st = os.stat(name)  # as the watch takes a version: links followed
                except (OSError, ValueError):
                    continue
                versions.append((name, st.st_size, st.st_mtime_ns))
                break
        if versions and not self.store_away():
            try:
                self.store.record_versions(self.job, self.run_id, versions)
            except StoreUnreachable as exc:
                self._away(exc)

    def _progress(self, msg: dict[str, Any]) -> None:
        now = self.clock()
        done, total = msg.get("done"), msg.get("total")
        if msg.get("unit") != self.unit or self._start is None or (
                done is not None and self.done is not None and done < self.done):
            self._start = (now, done or 0)  # a new phase: measure its rate afresh
        self.done, self.total = done, total
        self.unit, self.message = msg.get("unit"), msg.get("message")
        rate = eta = None
        t0, d0 = self._start
        if done is not None and now - t0 > 0.2 and done > d0:
            rate = (done - d0) / (now - t0)
            if total:
                eta = max(0.0, (total - done) / rate)
        self.bus.emit(RunProgress(self.run_id, self.job, done, total, self.unit, self.message,
                                  rate, eta))
        self._dirty = True
        if now - self._last_write >= STORE_INTERVAL:
            self.flush()  # progress and the log lines waiting with it: one timer for both

    def _write_progress(self, now: float) -> None:
        self.store.set_progress(self.run_id, self.done, self.total, self.unit, self.message)
        self._last_write = now
        self._dirty = False

    def _away(self, exc: StoreUnreachable | None = None) -> bool:
        """Whether the store is away (``exc``: a write just found it so)."""
        if exc is not None and self.on_unreachable is not None:
            self.on_unreachable(exc)
        return exc is not None or self.store_away()

    def tick(self) -> None:
        if (self._dirty or self._logs) and self.clock() - self._last_write >= STORE_INTERVAL:
            self.flush()

    def idle(self) -> None:
        """The job has nothing more to say for now: :data:`IDLE_BATCH` characters or more
        of log lines waiting are stored now, while the engine would only wait, rather than
        with the attempt's end, where the run's outcome would wait for them (a program's
        last half megabyte of output, say, written after it exits)."""
        if self._log_size >= IDLE_BATCH:
            self.flush()

    def take_logs(self) -> list[tuple[float, str, str]]:
        """Write pending progress; hand over the log lines not yet stored (the attempt's end
        writes them in its own transaction)."""
        if self._dirty and not self._away():
            try:
                self._write_progress(self.clock())
            except StoreUnreachable as exc:
                self._away(exc)
        lines, self._logs, self._log_size = self._logs, [], 0
        if self._dropped:
            lines.insert(MAX_KEPT // 2, (time.time(), "warning", (
                f"{self._dropped} log line(s) here were not kept: the run history could not "
                f"be reached while they came")))
            self._dropped = 0
        return lines

    def flush(self) -> None:
        """Store the waiting log lines and progress, so that other processes (``trayjobs
        show --follow``, a window opened later) see them while the run goes on."""
        self._last_write = self.clock()
        if self._away():
            return  # kept for the attempt's end
        try:
            if self._logs and not self._dropped:
                lines, self._logs, size, self._log_size = self._logs, [], self._log_size, 0
                try:
                    self.store.add_logs(self.run_id, lines)
                except StoreUnreachable:
                    self._logs, self._log_size = lines + self._logs, size + self._log_size
                    raise
            if self._dirty:
                self._write_progress(self.clock())
        except StoreUnreachable as exc:
            self._away(exc)


# Messages come from job code: what would not fit a column is made to, rather than
# failing the run's bookkeeping.

def _number(value: Any) -> float | None:
    """``value`` as a finite float, else None: job code may send NaN or infinity (JSON
    carries both), which no bar, rate or time stamp can use."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _str(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else str(value)
