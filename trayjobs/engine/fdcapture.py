"""What job code writes to the job process's stdout and stderr themselves, file
descriptors 1 and 2, rather than through ``print()``: the programs a python job starts
(``subprocess.run``, ``os.system``), C libraries, ``os.write``. During a run both are
pipes read here into the run's log, as ``print()`` is; between runs they are again what
they were (``/dev/null``, and the job process's own log file).

Kept apart from :mod:`.child` so that it stays about the protocol; this is only about
file descriptors and threads.
"""

from __future__ import annotations

import codecs
import os
import select
import sys
import threading
from typing import Callable

__all__ = ["FdCapture"]

#: Reads of what is still in a pipe once the run is over. A program the run left running
#: may write for ever; the run's end does not wait for it (it is stopped with the run).
_DRAIN_READS = 64


class _Pipe:
    def __init__(self, fd: int, write: Callable[[str], object]) -> None:
        self.fd, self.write = fd, write
        self.r, w = os.pipe()
        os.set_blocking(self.r, False)
        self.saved = os.dup(fd)
        os.dup2(w, fd)  # inheritable: the programs the job starts write to it
        os.close(w)
        self.decoder = codecs.getincrementaldecoder("utf-8")("backslashreplace")
        self.open = True

    def take(self) -> None:
        """Hand on one read of what is in the pipe, if anything."""
        try:
            data = os.read(self.r, 65536)
        except BlockingIOError:
            return
        if data:
            self.write(self.decoder.decode(data))
        else:  # every writer is gone
            self.open = False
            self.write(self.decoder.decode(b"", final=True))


def _waiting(fds: list[int], timeout_ms: int | None) -> list[int]:
    """Those of ``fds`` with something to read (poll, not select: a job process with many
    files open may give a pipe a number above select's 1024)."""
    p = select.poll()
    for fd in fds:
        p.register(fd, select.POLLIN)
    return [fd for fd, _ in p.poll(timeout_ms)]


#: The capture of the run going on, if any (see :meth:`FdCapture._forked`).
_active: "FdCapture | None" = None


def _after_fork_in_child() -> None:
    if _active is not None:
        _active._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)


class FdCapture:
    """Redirect each fd of ``targets`` to a pipe whose text (UTF-8, other bytes as
    ``\\xNN`` escapes, as a command's output) is given to its target as it comes. Targets
    are called holding ``lock``, which job code's own prints hold too: one piece of text
    is handed on at a time, in the order read."""

    def __init__(self, targets: dict[int, Callable[[str], object]], lock) -> None:
        self._lock = lock
        self._handing = False  # a piece is being handed on: no other is read meanwhile
        self._stopped = False
        self._pipes = [_Pipe(fd, write) for fd, write in targets.items()]
        self._wake_r, self._wake_w = os.pipe()
        # Asked at each line printed: kept, as registering anew costs more than asking.
        self._ready = select.poll()
        for p in self._pipes:
            self._ready.register(p.r, select.POLLIN)
        self._threads = [threading.Thread(target=self._read, args=(p,), daemon=True,
                                          name=f"output-fd{p.fd}") for p in self._pipes]
        for thread in self._threads:
            thread.start()
        global _active
        _active = self

    def _forked(self) -> None:
        """In a child that job code forked (multiprocessing, say): the reading threads are
        the parent's alone, and the lock may have been held by one of them as it forked,
        which would hang the child's first print() for ever."""
        self._stopped = True
        self._handing = False
        self._lock._at_fork_reinit()  # as the logging module does for its own locks

    def _hand_on(self, pipes: list[_Pipe]) -> None:
        """Read each of ``pipes`` once and hand the text on; call holding the lock. Handing
        on is writing to a stream, which polls (below): not read again from within, or a
        later piece would be handed on before the one being handed on."""
        if self._handing:
            return
        self._handing = True
        try:
            for pipe in pipes:
                if pipe.open:
                    pipe.take()
        finally:
            self._handing = False

    def poll(self) -> None:
        """Hand on what is waiting in the pipes now. Job code printing a line calls this
        first, so that what a program it ran wrote before comes before the line, not after
        it, when the reading thread had not got to it yet."""
        with self._lock:
            if self._handing or self._stopped:
                return
            ready = {fd for fd, _ in self._ready.poll(0)}
            self._hand_on([p for p in self._pipes if p.r in ready])

    def _read(self, pipe: _Pipe) -> None:
        while pipe.open:
            if self._wake_r in _waiting([pipe.r, self._wake_r], None):
                break
            with self._lock:
                self._hand_on([pipe])
        # The run is over (or every writer is gone): what is in the pipe now is the run's;
        # a program left running behind it keeps the pipe open, so read what is there
        # without waiting for the end.
        with self._lock:
            for _ in range(_DRAIN_READS):
                if not pipe.open or not _waiting([pipe.r], 0):
                    break
                self._hand_on([pipe])

    def stop(self) -> None:
        """Give the fds back and wait for what was written to them to be given on. Once
        only; later calls do nothing."""
        if self._stopped:
            return
        for stream in (sys.__stdout__, sys.__stderr__):  # Python's own, buffered, on 1 and 2
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass
        for pipe in self._pipes:
            os.dup2(pipe.saved, pipe.fd)
            os.close(pipe.saved)
        os.write(self._wake_w, b"x")
        for thread in self._threads:
            thread.join()
        with self._lock:
            self._stopped = True
        global _active
        if _active is self:
            _active = None
        # Closed only now, when no thread reads them and poll() no longer does: a number
        # closed while in use could be another file's by the next read.
        for pipe in self._pipes:
            os.close(pipe.r)
        os.close(self._wake_r)
        os.close(self._wake_w)
