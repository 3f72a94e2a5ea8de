"""A program's stdout and stderr as lines of the run's log.

Bytes arrive in chunks from two pipes. Each stream is cut into lines; a line
rewritten in place with carriage returns (a progress bar) counts once, as its
final state, though each state is read for progress. Text that is not UTF-8
is shown with backslash escapes, never lost or fatal. The first ``head`` bytes
of lines go to the log as they come; after that only the last ``tail`` bytes
are kept, and logged at the end after a line saying how much was left out.
Plain lines that arrive together (no progress, no carriage return) become one
log entry, so a chatty program costs a log entry per read, not per line.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from ...context import JobContext
from ...durations import format_size
from .progress import Progress, parse_progress

__all__ = ["OutputLog"]

MAX_LINE = 64 * 1024   # a "line" this long without a newline is logged as it is
ERROR_LINES = 20       # stderr lines kept for the run's error


def _plain(raw: bytes) -> bool:
    """No carriage return and nothing that could be progress: no need to look line by line."""
    return b"\r" not in raw and b"%" not in raw and b"PROGRESS" not in raw and b"{" not in raw


class OutputLog:
    def __init__(self, ctx: JobContext, *, head: int, tail: int,
                 on_progress: Callable[[Progress], None]) -> None:
        self.ctx = ctx
        self.on_progress = on_progress
        self._head_left = head
        self._tail_max = tail
        self._tail: deque[tuple[str, str, int, int]] = deque()  # level, text, bytes, lines
        self._tail_size = 0
        self._buf = {"stdout": b"", "stderr": b""}
        self.left_out_lines = self.left_out_bytes = 0
        self.lines = 0
        self.stderr_tail: deque[str] = deque(maxlen=ERROR_LINES)
        self.last_line = ""  # the program's last word: the run's summary when it succeeds

    def feed(self, stream: str, data: bytes) -> None:
        buf = self._buf[stream] + data
        if b"\n" in buf:
            done, _, buf = buf.rpartition(b"\n")
            if _plain(done):
                self._block(stream, done)  # the common case: many plain lines, logged as one entry
            else:
                for raw in done.split(b"\n"):
                    self._line(stream, raw)
        if b"\r" in buf:
            # A line being redrawn: read each finished state, keep the one being drawn.
            *states, buf = buf.split(b"\r")
            for raw in states:
                self._progress_of(raw)
        if len(buf) > MAX_LINE:
            self._line(stream, buf)
            buf = b""
        self._buf[stream] = buf

    def close(self) -> None:
        """The program is done: log what is left in the buffers, then the kept tail."""
        for stream, buf in self._buf.items():
            if buf:
                self._line(stream, buf)
            self._buf[stream] = b""
        if self.left_out_lines:
            self.ctx.log(f"[{self.left_out_lines:,} lines ({format_size(self.left_out_bytes)}) "
                         f"of output left out here]", "warning")
        for level, text, _, _ in self._tail:
            self.ctx.log(text, level)
        self._tail.clear()

    def _progress_of(self, raw: bytes) -> Progress | None:
        if b"%" not in raw and b"PROGRESS" not in raw and b"{" not in raw:
            return None  # the common case, without decoding
        p = parse_progress(raw.decode("utf-8", "backslashreplace"))
        if p is not None:
            self.on_progress(p)
        return p

    def _block(self, stream: str, raw: bytes) -> None:
        """Plain lines (no progress, no carriage return), logged together as one entry."""
        text = raw.decode("utf-8", "backslashreplace")
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if not lines:
            return
        if len(lines) == 1:
            self._text(stream, lines[0].rstrip(), len(raw) + 1)
            return
        level = "warning" if stream == "stderr" else "info"
        if stream == "stderr":
            self.stderr_tail.extend(ln.rstrip() for ln in lines[-ERROR_LINES:])
        self.last_line = lines[-1].strip()
        self.lines += len(lines)
        size = len(raw) + 1
        if self._head_left >= size:
            self._head_left -= size
            self.ctx.log("\n".join(lines), level)
            return
        # the head runs out inside this block: log what fits, keep the rest for the tail
        fits = 0
        for n, ln in enumerate(lines):
            need = len(ln.encode("utf-8", "surrogateescape")) + 1
            if need > self._head_left:
                break
            self._head_left -= need
            fits = n + 1
        if fits:
            self.ctx.log("\n".join(lines[:fits]), level)
        self._head_left = 0
        rest = "\n".join(lines[fits:])
        self._keep(level, rest, len(rest.encode("utf-8", "surrogateescape")) + 1, len(lines) - fits)

    def _keep(self, level: str, text: str, size: int, count: int) -> None:
        self._tail.append((level, text, size, count))
        self._tail_size += size
        while self._tail and self._tail_size > self._tail_max:
            _, dropped_text, dropped, n = self._tail[0]
            excess = self._tail_size - self._tail_max
            if n > 1 and dropped - excess > 0:  # drop only the oldest lines of a block
                lines = dropped_text.split("\n")
                cut = 0
                while cut < len(lines) - 1 and excess > 0:
                    excess -= len(lines[cut].encode("utf-8", "surrogateescape")) + 1
                    self.left_out_bytes += len(lines[cut].encode("utf-8", "surrogateescape")) + 1
                    cut += 1
                self.left_out_lines += cut
                kept = "\n".join(lines[cut:])
                ksize = len(kept.encode("utf-8", "surrogateescape")) + 1
                self._tail_size -= dropped - ksize
                self._tail[0] = (level, kept, ksize, n - cut)
                if excess <= 0:
                    break
                continue
            self._tail.popleft()
            self._tail_size -= dropped
            self.left_out_lines += n
            self.left_out_bytes += dropped

    def _text(self, stream: str, text: str, size: int) -> None:
        level = "warning" if stream == "stderr" else "info"
        if stream == "stderr":
            self.stderr_tail.append(text)
        self.last_line = text.strip()
        self.lines += 1
        if self._head_left >= size:
            self._head_left -= size
            self.ctx.log(text, level)
            return
        self._head_left = 0
        self._keep(level, text, size, 1)

    def _line(self, stream: str, raw: bytes) -> None:
        if b"\r" in raw:
            states = raw.split(b"\r")
            for state in states[:-1]:
                self._progress_of(state)
            raw = next((s for s in reversed(states) if s.strip()), b"")
        if not raw.strip():
            return
        p = self._progress_of(raw)
        if p is not None and p.protocol:
            return
        self._text(stream, raw.decode("utf-8", "backslashreplace").rstrip(), len(raw) + 1)
