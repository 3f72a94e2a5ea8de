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


def _plain(raw: bytes) -> bool:
    """No carriage return and no line written for trayjobs: nothing to look at line by line."""
    return b"\r" not in raw and b"PROGRESS" not in raw and b'"progress"' not in raw


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _without_blanks(lines: bytes) -> bytes:
    """Whole lines (ending with a newline) without the blank ones."""
    return _BLANK.sub(b"", b"\n" + lines)[1:]


class OutputLog:
    def __init__(self, ctx: JobContext, *, head: int, tail: int,
                 on_progress: Callable[[Progress], None]) -> None:
        self.ctx = ctx
        self.on_progress = on_progress
        self._head_left = head
        self._tail_max = tail
        self._tail: deque[tuple[str, bytes]] = deque()  # level, whole lines
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
            done, buf = buf[:end], buf[end:]
            if _plain(done):
                self._block(stream, done)  # the common case: many plain lines, in bulk
            else:
                for raw in done[:-1].split(b"\n"):
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
        lines, size = self._into_tail
        self.left_out_lines = lines - sum(data.count(b"\n") for _, data in self._tail)
        self.left_out_bytes = size - self._tail_size
        if self.left_out_lines:
            self.ctx.log(f"[{self.left_out_lines:,} lines ({format_size(self.left_out_bytes)}) "
                         f"of output left out here]", "warning")
        for level, data in self._tail:
            self._log(data, level)
        self._tail.clear()

    def _progress_of(self, raw: bytes) -> Progress | None:
        if b"%" not in raw and b"PROGRESS" not in raw and b"{" not in raw:
            return None  # the common case, without decoding
        p = parse_progress(_text(raw))
        if p is not None:
            self.on_progress(p)
        return p

    def _block(self, stream: str, done: bytes, *, progress: bool = True) -> None:
        """Whole plain lines (``done`` ends with a newline): counted, logged or kept for the
        tail, and read for progress (``progress``), with bytes methods, not line by line."""
        level = "warning" if stream == "stderr" else "info"
        count = done.count(b"\n")
        self.lines += count
        if progress and b"%" in done:
            self._percent(done)
        last = done.rsplit(b"\n", ERROR_LINES + 1)  # the last lines, then ""
        last = [ln for ln in last[len(last) > ERROR_LINES + 1:] if ln.strip()]
        if last:
            self.last_line = _text(last[-1]).strip()
            if stream == "stderr":
                self.stderr_tail.extend(_text(ln).rstrip() for ln in last[-ERROR_LINES:])
        if self._head_left:
            if len(done) <= self._head_left:
                head, done = done, b""
                self._head_left -= len(head)
            else:  # the head runs out in this chunk: the lines that fit, the rest to the tail
                head = done[:done.rfind(b"\n", 0, self._head_left) + 1]
                done = done[len(head):]
                self._head_left = 0
            self._log(head, level)
            count -= head.count(b"\n")
        if done:
            self._keep(level, done, count)

    def _percent(self, done: bytes) -> None:
        """Progress from the last lines of ``done`` that hold a "%" (the latest one that
        reads as progress is what a report a few times a second would show)."""
        at = done.rfind(b"%")
        for _ in range(PERCENT_LINES):
            if at < 0:
                return
            start = done.rfind(b"\n", 0, at) + 1
            if self._progress_of(done[start:done.index(b"\n", at)]) is not None:
                return
            at = done.rfind(b"%", 0, start)

    def _log(self, data: bytes, level: str) -> None:
        """Whole lines, blank ones left out, as log entries of at most :data:`ENTRY` bytes
        (a longer line alone)."""
        data = _without_blanks(data)
        while data:
            cut = len(data)
            if cut > ENTRY:
                cut = data.rfind(b"\n", 0, ENTRY) + 1 or data.find(b"\n", ENTRY) + 1 or cut
            part, data = data[:cut], data[cut:]
            text = _text(part[:-1])
            self.ctx.log(text if "\n" in text else text.rstrip(), level)

    def _keep(self, level: str, data: bytes, count: int) -> None:
        """Keep ``count`` whole lines for the tail; drop the oldest beyond ``tail`` bytes,
        whole lines at a time (what was left out is counted at the end)."""
        self._tail.append((level, data))
        self._tail_size += len(data)
        self._into_tail[0] += count
        self._into_tail[1] += len(data)
        while self._tail_size > self._tail_max:
            kept_level, oldest = self._tail[0]
            excess = self._tail_size - self._tail_max
            cut = oldest.find(b"\n", excess - 1) + 1 if excess < len(oldest) else len(oldest)
            if cut == len(oldest):
                self._tail.popleft()
            else:
                self._tail[0] = (kept_level, oldest[cut:])
            self._tail_size -= cut

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
        self._block(stream, raw.rstrip() + b"\n", progress=False)  # read for progress above
