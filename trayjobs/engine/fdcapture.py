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


class FdCapture:
    """Redirect each fd of ``targets`` to a pipe whose text (UTF-8, other bytes as
    ``\\xNN`` escapes, as a command's output) is given to its target as it comes."""

    def __init__(self, targets: dict[int, Callable[[str], object]]) -> None:
        self._saved: dict[int, int] = {}
        self._threads: list[threading.Thread] = []
        self._wake_r, self._wake_w = os.pipe()
        for fd, write in targets.items():
            r, w = os.pipe()
            self._saved[fd] = os.dup(fd)
            os.dup2(w, fd)  # inheritable: the programs the job starts write to it
            os.close(w)
            thread = threading.Thread(target=self._read, args=(r, write), daemon=True,
                                      name=f"output-fd{fd}")
            thread.start()
            self._threads.append(thread)

    def _read(self, r: int, write: Callable[[str], object]) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("backslashreplace")
        try:
            while True:
                ready, _, _ = select.select([r, self._wake_r], [], [])
                if self._wake_r in ready:
                    break
                data = os.read(r, 65536)
                if not data:
                    break
                write(decoder.decode(data))
            # The run is over (or every writer is gone): what is in the pipe now is the
            # run's; a program left running behind it keeps the pipe open, so read what is
            # there without waiting for the end.
            os.set_blocking(r, False)
            for _ in range(_DRAIN_READS):
                try:
                    data = os.read(r, 65536)
                except BlockingIOError:
                    break
                if not data:
                    break
                write(decoder.decode(data))
            write(decoder.decode(b"", final=True))
        finally:
            os.close(r)

    def stop(self) -> None:
        """Give the fds back and wait for what was written to them to be given on. Once
        only; later calls do nothing."""
        if not self._saved:
            return
        for stream in (sys.__stdout__, sys.__stderr__):  # Python's own, buffered, on 1 and 2
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)
            os.close(saved)
        self._saved.clear()
        os.write(self._wake_w, b"x")
        for thread in self._threads:
            thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)
