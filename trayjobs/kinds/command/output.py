"""A program's stdout and stderr as lines of the run's log.

Bytes arrive in chunks from two pipes. Each stream is cut into lines; a line
rewritten in place with carriage returns (a progress bar) counts once, as its
final state, though each state is read for progress. Text that is not UTF-8
is shown with backslash escapes, never lost or fatal. The first ``head`` bytes
of lines go to the log as they come; after that only the last ``tail`` bytes
are kept, and logged at the end after a line saying how much was left out.
Blank lines are counted but not logged.

A chatty program must cost little more than ``cat`` to a file, so plain lines
(no carriage return, no line written for trayjobs) are handled a chunk at a
time, as bytes, never one by one: the lines that arrive together become one log
entry (or a few, of at most :data:`ENTRY` bytes each); lines are counted, and
cut at head and tail, with bytes methods; blank lines are looked for only in
what is logged; and only the last lines of a chunk are read for a percentage
(progress is reported a few times a second at most, so the latest is what
counts).
"""

from __future__ import annotations

import re
from collections import deque
from typing import Callable

from ...context import JobContext
from ...durations import format_size
from .progress import Progress, parse_progress

__all__ = ["OutputLog"]

MAX_LINE = 64 * 1024   # a "line" this long without a newline is logged as it is
ENTRY = 64 * 1024      # plain lines that arrive together: one log entry per this many bytes
ERROR_LINES = 20       # stderr lines kept for the run's error
PERCENT_LINES = 8      # a chunk's last lines with a "%" read for progress, at most

#: A newline that ends a line of nothing but spaces and tabs, or of nothing (such lines are
#: not logged); the text searched starts with a newline of its own.
_BLANK = re.compile(rb"\n[ \t\v\f]*(?=\n)")
_SPACES = (b" ", b"\t", b"\v", b"\f")


def _plain(raw: bytes, end: int) -> bool:
    """No carriage return and no line written for trayjobs in ``raw[:end]``: nothing to
    look at line by line. (A search for one byte is several times faster than for a word:
    the words are looked for only where a byte of theirs is there.)"""
    return (raw.find(b"\r", 0, end) < 0
            and (raw.find(b"G", 0, end) < 0 or raw.find(b"PROGRESS", 0, end) < 0)
            and (raw.find(b'"', 0, end) < 0 or raw.find(b'"progress"', 0, end) < 0))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _without_blanks(lines: bytes) -> bytes:
    """Whole lines (ending with a newline) without the blank ones. (Text of short lines
    without spaces, a column of numbers, say, is told apart first with searches that take
    a fraction of the pattern's time, which is tried at each line.)"""
    if (not lines.startswith(b"\n") and all(lines.find(c) < 0 for c in _SPACES)
            and lines.find(b"\n\n") < 0):
        return lines
    return _BLANK.sub(b"", b"\n" + lines)[1:]


class OutputLog:
    def __init__(self, ctx: JobContext, *, head: int, tail: int,
                 on_progress: Callable[[Progress], None]) -> None:
        self.ctx = ctx
        self.on_progress = on_progress
        self._head_left = head
        self._tail_max = tail
        #: Whole lines kept for the end: (level, chunk, start, stop), ``chunk[start:stop]``
        #: (a chunk is kept as it was read, not copied).
        self._tail: deque[tuple[str, bytes, int, int]] = deque()
        self._tail_size = 0
        self._into_tail = [0, 0]  # lines and bytes that went to the tail, kept or not
        self._buf = {"stdout": b"", "stderr": b""}
        self.left_out_lines = self.left_out_bytes = 0
        #: Lines of output, blank ones included (lines written for trayjobs are not).
        self.lines = 0
        self.stderr_tail: deque[str] = deque(maxlen=ERROR_LINES)
        self.last_line = ""  # the program's last word: the run's summary when it succeeds

    def feed(self, stream: str, data: bytes) -> None:
        buf = self._buf[stream] + data if self._buf[stream] else data
        end = buf.rfind(b"\n") + 1
        if end:
            if _plain(buf, end):
                self._block(stream, buf, end)  # the common case: many plain lines, in bulk
            else:
                for raw in buf[:end - 1].split(b"\n"):
                    self._line(stream, raw)
            buf = buf[end:]
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
        lines, size = self._into_tail
        self.left_out_lines = lines - sum(data.count(b"\n", a, b) for _, data, a, b in self._tail)
        self.left_out_bytes = size - self._tail_size
        if self.left_out_lines:
            self.ctx.log(f"[{self.left_out_lines:,} lines ({format_size(self.left_out_bytes)}) "
                         f"of output left out here]", "warning")
        for level, data, start, stop in self._tail:
            self._log(data[start:stop], level)
        self._tail.clear()

    def _progress_of(self, raw: bytes) -> Progress | None:
        if b"%" not in raw and b"PROGRESS" not in raw and b"{" not in raw:
            return None  # the common case, without decoding
        p = parse_progress(_text(raw))
        if p is not None:
            self.on_progress(p)
        return p

    def _block(self, stream: str, buf: bytes, end: int, *, progress: bool = True) -> None:
        """The whole plain lines ``buf[:end]`` (ending with a newline): counted, logged or
        kept for the tail, and read for progress (``progress``), with bytes methods, not
        line by line, and copying only what is logged."""
        level = "warning" if stream == "stderr" else "info"
        count = buf.count(b"\n", 0, end)
        self.lines += count
        if progress and buf.find(b"%", 0, end) >= 0:
            self._percent(buf, end)
        last = _last_lines(buf, end, ERROR_LINES if stream == "stderr" else 1)
        if last:
            self.last_line = _text(last[-1]).strip()
            if stream == "stderr":
                self.stderr_tail.extend(_text(ln).rstrip() for ln in last)
        start = 0
        if self._head_left:
            # the lines that fit in what is left of the head (all of them, or the head ends here)
            start = end if end <= self._head_left else buf.rfind(b"\n", 0, self._head_left) + 1
            self._head_left = self._head_left - start if start == end else 0
            if start:
                self._log(buf[:start], level)
                count -= buf.count(b"\n", 0, start)
        if start < end:
            self._keep(level, buf, start, end, count)

    def _percent(self, buf: bytes, end: int) -> None:
        """Progress from the last lines of ``buf[:end]`` that hold a "%" (the latest one that
        reads as progress is what a report a few times a second would show)."""
        at = buf.rfind(b"%", 0, end)
        for _ in range(PERCENT_LINES):
            if at < 0:
                return
            start = buf.rfind(b"\n", 0, at) + 1
            if self._progress_of(buf[start:buf.index(b"\n", at)]) is not None:
                return
            at = buf.rfind(b"%", 0, start)

    def _log(self, data: bytes, level: str) -> None:
        """Whole lines, blank ones left out, as log entries of at most :data:`ENTRY` bytes
        (a longer line alone)."""
        data = _without_blanks(data)
        view = memoryview(data)  # entries are decoded from it where they lie, not copied first
        start, size = 0, len(data)
        while start < size:
            cut = size
            if cut - start > ENTRY:
                cut = (data.rfind(b"\n", start, start + ENTRY) + 1
                       or data.find(b"\n", start + ENTRY) + 1 or size)
            text = str(view[start:cut - 1], "utf-8", "backslashreplace")
            self.ctx.log(text if "\n" in text else text.rstrip(), level)
            start = cut

    def _keep(self, level: str, buf: bytes, start: int, stop: int, count: int) -> None:
        """Keep the ``count`` whole lines ``buf[start:stop]`` for the tail; drop the oldest
        beyond ``tail`` bytes, whole lines at a time (what was left out is counted at the
        end)."""
        self._tail.append((level, buf, start, stop))
        self._tail_size += stop - start
        self._into_tail[0] += count
        self._into_tail[1] += stop - start
        while self._tail_size > self._tail_max:
            kept_level, oldest, a, b = self._tail[0]
            excess = self._tail_size - self._tail_max
            cut = oldest.find(b"\n", a + excess - 1, b) + 1 if excess < b - a else b
            if cut == b:
                self._tail.popleft()
            else:
                self._tail[0] = (kept_level, oldest, cut, b)
            self._tail_size -= cut - a

    def _line(self, stream: str, raw: bytes) -> None:
        """One line that is not plain (it was redrawn, or may be written for trayjobs)."""
        if b"\r" in raw:
            states = raw.split(b"\r")
            for state in states[:-1]:
                self._progress_of(state)
            raw = next((s for s in reversed(states) if s.strip()), b"")
        if not raw.strip():
            self.lines += 1
            return
        p = self._progress_of(raw)
        if p is not None and p.protocol:
            return
        line = raw.rstrip() + b"\n"
        self._block(stream, line, len(line), progress=False)  # read for progress above


def _last_lines(buf: bytes, end: int, n: int) -> list[bytes]:
    """The last ``n`` lines of ``buf[:end]`` that are not blank, at most, in order (a few
    more blank ones are looked past, not a whole chunk of them)."""
    out: list[bytes] = []
    stop = end - 1  # the newline that ends the last line
    for _ in range(4 * n):
        if stop < 0 or len(out) == n:
            break
        start = buf.rfind(b"\n", 0, stop) + 1
        line = buf[start:stop]
        if line.strip():
            out.append(line)
        stop = start - 1
    return out[::-1]
