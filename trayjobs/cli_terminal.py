"""What a command writes to a terminal, and says while it waits: kept apart from the
commands themselves (:mod:`trayjobs.cli`)."""

from __future__ import annotations

import importlib
import io
import sys
import time

__all__ = ["TerminalOut", "say_waits", "WAIT_NOTICE"]


#: Seconds a command waits for the history's server before it says so.
WAIT_NOTICE = 1.0


def say_waits() -> None:
    """Say on standard error when the command waits for the run history's server (down,
    or slow to answer), rather than be silent until it gives up: once per server."""
    said: set[str] = set()
    while True:
        time.sleep(WAIT_NOTICE / 4)
        if "trayjobs.store.postgres" not in sys.modules:  # imported only for a server
            continue
        # The command's thread may be importing it still (a module half run has no
        # `waiting` yet): an import waits for the other thread's to end.
        postgres = importlib.import_module("trayjobs.store.postgres")
        for address, timeout in postgres.waiting(WAIT_NOTICE):
            if address not in said:
                said.add(address)
                print(f"trayjobs: waiting for the run history's PostgreSQL server at "
                      f"{address} (for up to {timeout:.0f} s)...", file=sys.stderr, flush=True)


class TerminalOut(io.TextIOBase):
    """Standard output when it is a terminal: what commands print there holds text from
    jobs (log lines, summaries, errors), which may hold escape sequences a terminal acts
    on; they are shown as text (:func:`~trayjobs.textfmt.for_terminal`)."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        from .textfmt import for_terminal
        self._stream.write(for_terminal(s))
        return len(s)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return self._stream.encoding
