"""The programs a python job's function started, stopped as a command's program is.

The function runs in the job process, so what it starts (``subprocess``, ``os.system``, a
pool's workers, and what those start, in sessions of their own or double-forked: orphans
come back to the job process, their reaper, see :mod:`trayjobs.leftovers`) are that
process's descendants. A cancel or a timeout sends them TERM at once, whether or not the
function itself looks at ``ctx.check_cancelled()``, and KILL after the job's
``kill_grace``; what is still running when the function ends is stopped the same way.
Killed with the job process alone, they had no chance to remove their temporary files or
write out what they held.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from ...context import JobContext
from ...durations import format_duration
from ...engine import launcher
from ...leftovers import GIVE_UP, adopt_orphans, children, descendants, reap

__all__ = ["Programs"]

POLL = 0.05  # seconds between looks for processes started or ended meanwhile
SHOWN = 8  # processes named in one log line at most


class Programs:
    """Follows a function's run: :meth:`watch` before it is called, :meth:`end` after."""

    def __init__(self, ctx: JobContext, *, grace: float) -> None:
        self.ctx, self.grace = ctx, grace
        self.kill_at: float | None = None  # set by a cancel, or by the function's end
        self.stopped: dict[int, str] = {}  # every process sent a signal, by pid
        self._sent: dict[int, int] = {}  # pid -> the last signal sent to it
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None
        self._why = ""
        adopt_orphans()  # in a job process already; a double fork's orphan comes back here
        # What this process had started before (a plug-in's server kept from run to run, a
        # test's own) is not the function's.
        self._known = children()

    def watch(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="python-programs",
                                        daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self.ctx.cancel_event.wait(POLL * 4):
            if self._ended.is_set():
                return
        with self._lock:
            if self._ended.is_set():
                return
            self._begin("the run was stopped")
            found = self._round()
        if found:
            # The engine gives the job process the grace and a second more before it
            # kills it, and all it started, outright.
            self.ctx.sink({"t": "grace", "grace": self.grace})
        while not self._ended.wait(POLL):
            with self._lock:
                self._round()

    def _begin(self, why: str) -> None:
        if self.kill_at is None:
            self.kill_at = time.monotonic() + self.grace
            self._why = why

    def _round(self) -> bool:
        """TERM the processes there are now (KILL once the grace is over), each once; True
        if any is still running."""
        late = time.monotonic() >= self.kill_at
        sig = signal.SIGKILL if late else signal.SIGTERM
        live = descendants(skip=self._known | _helpers())
        new, killed = [], []
        for pid, name in sorted(live.items()):
            if self._sent.get(pid) in (sig, signal.SIGKILL):
                continue
            (killed if pid in self._sent else new).append(f"{name} (pid {pid})")
            self._sent[pid] = sig
            self.stopped[pid] = name
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        if new:
            how = ("KILL: the grace is over" if late else
                   f"TERM, then KILL after {format_duration(self.grace)}")
            self._log(f"{self._why}: stopping the programs the function started ({how}): "
                      f"{_names(new)}")
        if killed:
            self._log(f"killed with KILL, as they had not stopped within "
                      f"{format_duration(self.grace)} of TERM: {_names(killed)}")
        return bool(live)

    def end(self) -> None:
        """The function has ended: what it left running is stopped (TERM, KILL after the
        grace, counted from a cancel if there was one), and reaped."""
        with self._lock:
            self._ended.set()
            self._begin("the function ended")
            give_up = max(self.kill_at, time.monotonic()) + GIVE_UP
            while self._round():
                if time.monotonic() >= give_up:
                    self._log("some processes the function started did not stop even when "
                              "killed (stuck in the kernel, on a hung network mount say)")
                    break
                time.sleep(0.01)
            reap(children() - self._known - _helpers())
        # The watcher sees the end within its next look, and does nothing more: the run's
        # end is not held up for it.

    def _log(self, message: str) -> None:
        self.ctx.log(message, "warning")


def _names(named: list[str]) -> str:
    shown = ", ".join(named[:SHOWN])
    return shown if len(named) <= SHOWN else f"{shown} and {len(named) - SHOWN} more"


def _helpers() -> set[int]:
    """Processes that are no program of the function's: the job process's spare shell and
    lifeline (:mod:`trayjobs.engine.launcher`), and multiprocessing's resource tracker,
    which ignores TERM (every stop would wait the grace for it) and ends with this process."""
    pids = launcher.own_pids()
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    pid = getattr(getattr(tracker, "_resource_tracker", None), "_pid", None)
    if isinstance(pid, int):
        pids.add(pid)
    return pids
