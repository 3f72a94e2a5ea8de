"""Calls on a PostgreSQL server that takes connections but does not answer.

A server that is down refuses the connection, and every call fails within the store's
timeout. One that is stopped (SIGSTOP, a debugger, a virtual machine paused), frozen on a
dead disk, or behind a network that lost its route after the connection was made, leaves
a call waiting for its answer for ever: libpq has no time limit of its own on an answer,
the kernel keeps the connection up, and the engine would neither say that the history is
away nor keep runs' ends aside, as it does for a server that is down.

:class:`HungWatch` notes each connection while a call uses it. A call that has waited
longer than the store's timeout is not cut because it is long (a clean-up of a big
history, a lock another machine holds): the server is asked on a connection of its own
whether it answers at all, and only when it does not is the waiting call's socket shut,
which ends its wait with a broken connection, as a server that went down would, and the
store then says it cannot be reached.
"""

from __future__ import annotations

import inspect
import logging
import socket
import threading
import time
import weakref
from contextlib import contextmanager
from typing import Any, Callable, Iterator

__all__ = ["HungWatch"]

log = logging.getLogger(__name__)

#: Seconds between two looks of an idle watch (no call in flight).
IDLE_LOOK = 1.0


class HungWatch:
    """``answers()``: whether the server answers a new connection now (it may take up to
    ``probe_timeout`` seconds). A call waiting longer than ``after`` seconds makes the
    watch ask, at most once each ``after`` seconds. Once the server does not answer, every
    call waiting on it is cut, and :attr:`down_why` says so until it answers again (asked
    each ``recheck`` seconds): the store's calls fail at once meanwhile, as they would
    against a server that is down, rather than each wait for its own cut."""

    def __init__(self, answers: Callable[[], bool], *, after: float,
                 probe_timeout: float, recheck: float = 2.0) -> None:
        # Weakly: the watch's thread must not keep a store nobody holds alive (its pool is
        # closed when it is collected).
        self._answers = (weakref.WeakMethod(answers) if inspect.ismethod(answers)
                         else lambda: answers)
        self.after = after
        self.probe_timeout = probe_timeout
        self.recheck = recheck
        self._calls: dict[int, list[Any]] = {}  # id(conn) -> [conn, since]
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False
        #: Why the server is taken not to answer now, in words (None: it answers).
        self.down_why: str | None = None
        #: Why the calls last cut were cut (kept after the server answers again).
        self.cut_why: str | None = None
        self._down_since = 0.0
        self._cut: set[int] = set()

    @contextmanager
    def call(self, conn) -> Iterator[None]:
        """While the body runs, ``conn`` is watched."""
        key = id(conn)
        with self._lock:
            self._calls[key] = [conn, time.monotonic()]
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="trayjobs-pg-watch")
                self._thread.start()
            # Not woken: three calls a run would each wake it for nothing. Idle, it looks
            # every second; a call is so asked about within a second of its `after`.
        try:
            yield
        finally:
            with self._lock:
                self._calls.pop(key, None)

    def not_answering(self, why: str) -> None:
        """The server was found not to answer (a connection of its own timed out): calls
        fail at once until it answers again."""
        with self._lock:
            if self._closed:
                return
            self.down_why = why
            self._down_since = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="trayjobs-pg-watch")
                self._thread.start()
            self._wake.notify_all()

    def was_cut(self, conn) -> bool:
        """Whether ``conn``'s call ended because the watch cut it (said once)."""
        with self._lock:
            if id(conn) in self._cut:
                self._cut.discard(id(conn))
                return True
            return False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify_all()

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closed or self._answers() is None:  # closed, or its store gone
                    return
                now = time.monotonic()
                if self.down_why is None:
                    overdue = [c for c in self._calls.values() if now - c[1] >= self.after]
                    if not overdue:
                        oldest = min((c[1] for c in self._calls.values()), default=None)
                        self._wake.wait(IDLE_LOOK if oldest is None
                                        else max(0.05, oldest + self.after - now))
                        continue
                    since = min(c[1] for c in overdue)
                else:
                    overdue, since = [], self._down_since
                    self._wake.wait(self.recheck)
                    if self._closed:
                        return
            answers = self._asked_answers()
            with self._lock:
                now = time.monotonic()
                if answers:
                    if self.down_why is not None:
                        log.info("PostgreSQL answers again")
                    self.down_why = None
                    for c in overdue:  # a long call: asked again an `after` on
                        c[1] = now
                    continue
                if self.down_why is not None:
                    continue
                # It does not answer: every call waiting on it waits in vain.
                self.down_why = (f"it takes connections but has not answered for "
                                 f"{now - since:.0f} s: stopped, frozen, or the network "
                                 f"to it lost")
                self._down_since = since
                self.cut_why = self.down_why
                cut = [c[0] for c in self._calls.values()]
                self._cut.update(id(c) for c in cut)
            for conn in cut:
                _shut(conn)
            log.warning("PostgreSQL %s; %d call(s) waiting on it ended", self.down_why,
                        len(cut))

    def _asked_answers(self) -> bool:
        """``answers()``, on a thread of its own, bounded: a probe that hangs past its own
        connect timeout counts as no answer."""
        box: list[bool] = []

        answers = self._answers()
        if answers is None:  # its store is gone
            self.close()
            return True

        def ask() -> None:
            try:
                box.append(bool(answers()))
            except Exception:  # noqa: BLE001  (any failure to answer is no answer)
                box.append(False)
        t = threading.Thread(target=ask, daemon=True, name="trayjobs-pg-probe")
        t.start()
        t.join(self.probe_timeout + 2)
        return bool(box and box[0])


def _shut(conn) -> None:
    """End the wait of the call on ``conn``: its socket is shut (both ways), not closed,
    so that libpq, which owns the descriptor, sees the connection broken and closes it."""
    try:
        fd = conn.fileno()
    except Exception:  # noqa: BLE001  (closed meanwhile: nothing waits on it)
        return
    try:
        s = socket.socket(fileno=socket.dup(fd))
    except OSError:
        return
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        s.close()
