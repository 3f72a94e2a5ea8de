"""A program's stdout and stderr as lines of the run's log.

Bytes arrive in chunks from two pipes. Each stream is cut into lines; a line
rewritten in place with carriage returns (a progress bar) counts once, as its
final state, though each state is read for progress. Text that is not UTF-8
is shown with backslash escapes, never lost or fatal. Secrets the run read are
masked as the bytes come, before any of this cuts them (``secrets.StreamMask``).
The first ``head`` bytes of lines go to the log as they come; after that only the last ``tail`` bytes
are kept, and logged at the end after a line saying how much was left out.
Blank lines are logged as they were written, among the lines around them (a
log entry of nothing but blank lines is not).

A chatty program must cost little more than ``cat`` to a file, so plain lines
(no carriage return, no line written for trayjobs) are handled a chunk at a
time, as bytes, never one by one: the lines that arrive together become one log
entry (or a few, of at most :data:`ENTRY` bytes each); lines are counted, and
cut at head and tail, with bytes methods; and only the last lines of a chunk
are read for a percentage (progress is reported a few times a second at most,
so the latest is what counts).

Past the head, output is not read at all as it comes, only kept: the chunks as
they were read, in order, the oldest dropped once the newer ones hold ``tail``
bytes. A chunk is glanced at for progress at its end, and a dropped one for the
last lines of stderr (the run's error) and of the program (its summary). At the
end what is kept is cut to ``tail`` bytes of whole lines and read like the head.
A program that writes 40 MB so costs about what ``cat`` to a file does, not
the reading of 5 million lines; the part left out is told in bytes, its lines
uncounted.
"""

from __future__ import annotations

import sys
from collections import deque
from typing import Callable

from ...context import JobContext
from ...durations import format_size
from ...secrets import StreamMask
from ...textfmt import final_state as _final_state
from .progress import Progress, parse_progress

__all__ = ["OutputLog"]

MAX_LINE = 64 * 1024   # a "line" this long without a newline is logged as it is
ENTRY = 64 * 1024      # plain lines that arrive together: one log entry per this many bytes
ERROR_LINES = 20       # stderr lines kept for the run's error
PERCENT_LINES = 8      # a chunk's last lines with a "%" read for progress, at most
GLANCE = 4096          # bytes at the end of a chunk past the head read for progress

def _plain(raw: bytes, end: int) -> bool:
    """No carriage return and no line written for trayjobs in ``raw[:end]``: nothing to
    look at line by line. (A search for one byte is several times faster than for a word:
    the words are looked for only where a byte of theirs is there.)"""
    return (raw.find(b"\r", 0, end) < 0
            and (raw.find(b"G", 0, end) < 0 or raw.find(b"PROGRESS", 0, end) < 0)
            and (raw.find(b'"', 0, end) < 0 or raw.find(b'"progress"', 0, end) < 0))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


class OutputLog:
    def __init__(self, ctx: JobContext, *, head: int, tail: int,
                 on_progress: Callable[[Progress], None]) -> None:
        self.ctx = ctx
        self.on_progress = on_progress
        self._head_left = head
        self._tail_max = tail
        #: Past the head: the chunks as read, in order, ``(stream, data)``; the oldest are
        #: dropped while the rest hold ``tail`` bytes.
        self._raw: deque[tuple[str, bytes]] = deque()
        self._raw_size = 0
        #: Per stream: the start of a line left out whose end was not yet (at most
        #: :data:`MAX_LINE` bytes of it), read with its end for the run's error and summary.
        self._begun = {"stdout": b"", "stderr": b""}
        self._buf = {"stdout": b"", "stderr": b""}
        #: Per stream: a line longer than a log entry was logged in part, its end not come
        #: yet: the newline that ends it is not the start of a blank line, nor another line.
        self._cut = {"stdout": False, "stderr": False}
        #: Secrets masked as the bytes come, before any cut could split one (see StreamMask).
        self._masks = {"stdout": StreamMask(), "stderr": StreamMask()}
        self._quiet = False  # reading the kept tail at the end: its progress is old news
        #: Bytes of output, and those left out between the head and the tail.
        self.output_bytes = self.left_out_bytes = 0
        #: Lines of output read, blank ones included (lines written for trayjobs are not):
        #: all of them unless some were left out (``left_out_bytes``), which are not counted.
        self.lines = 0
        self.stderr_tail: deque[str] = deque(maxlen=ERROR_LINES)
        self.last_line = ""  # the program's last word: the run's summary when it succeeds

    def feed(self, stream: str, data: bytes) -> None:
        self.output_bytes += len(data)
        data = self._masks[stream].feed(data)
        if data:
            self._feed(stream, data)

    def _feed(self, stream: str, data: bytes) -> None:
        if not self._head_left:
            self._keep(stream, data)
            self._glance(data)
            return
        buf = self._buf[stream] + data if self._buf[stream] else data
        end = buf.rfind(b"\n") + 1
        if end and self._cut[stream]:
            # the end of a line logged in part: a piece of it, not a line of its own
            self._cut[stream] = False
            if buf.startswith(b"\n"):  # print(big) writes its newline apart
                buf, end = buf[1:], end - 1
            else:
                self.lines -= 1
        read = not end and b"\r" in self._buf[stream]  # the state kept below, read already
        if end:
            if _plain(buf, end):
                self._block(stream, buf, end)  # the common case: many plain lines, in bulk
            else:
                for raw in buf[:end - 1].split(b"\n"):
                    self._line(stream, raw)
            buf = buf[end:]
        if not self._head_left:
            # The head is full: what is left of a line goes with the chunks kept from now on
            # (a line the other stream began is kept before what follows it).
            self._buf[stream] = b""
            for other, rest in self._buf.items():
                if rest:
                    self._keep(other, rest)
                    self._buf[other] = b""
            self._keep(stream, buf)
            return
        if b"\r" in buf:
            # A line being redrawn: read each finished state, keep the last one with the one
            # being drawn (a line ending "\r\n" across two reads is left in its last state).
            *states, drawing = buf.split(b"\r")
            for raw in states[read:]:
                self._progress_of(raw)
            buf = _final_state(b"\r".join(states)) + b"\r" + drawing
        if len(buf) > MAX_LINE:
            cut = _char_cut(buf, len(buf))  # a character's start waits for its end
            self._line(stream, buf[:cut], ended=False)
            buf = buf[cut:]
            if not self._head_left:  # that piece ended the head: the rest is kept after it
                self._keep(stream, buf)
                buf = b""
        self._buf[stream] = buf

    def close(self) -> None:
        """The program is done: log what is left in the buffers, then the kept tail."""
        for stream, mask in self._masks.items():
            held = mask.flush()
            if held:
                self._feed(stream, held)
        for stream, buf in self._buf.items():
            if buf:
                self._line(stream, buf, ended=False)
            self._buf[stream] = b""
        kept = self._tail_lines()
        if self.left_out_bytes:
            self.ctx.log(f"[{format_size(self.left_out_bytes)} of output left out here]",
                         "warning")
        # What is kept is read as the head was, all of it logged: room without end, as a
        # line longer than a log entry takes a newline more than its bytes for each piece.
        self._head_left, self._quiet = sys.maxsize, True
        if self.left_out_bytes:  # the tail starts with a line (else it goes on from the head)
            self._cut = {stream: False for stream in self._cut}
        for stream, data in kept:
            self._feed(stream, data)
        for stream, buf in self._buf.items():
            if buf:
                self._line(stream, buf, ended=False)
            self._buf[stream] = b""

    def _keep(self, stream: str, data: bytes) -> None:
        """Keep ``data`` for the tail; drop the oldest chunks that the newer ones make
        unneeded, glancing at what they say last."""
        if not data:
            return
        self._raw.append((stream, data))
        self._raw_size += len(data)
        while self._raw and self._raw_size - len(self._raw[0][1]) >= self._tail_max:
            old_stream, old = self._raw.popleft()
            self._raw_size -= len(old)
            self._drop(old_stream, old)

    def _drop(self, stream: str, data: bytes) -> None:
        """Leave ``data`` out, reading the last lines it ends for the run's error and
        summary. A line is often in pieces (a program that writes its stderr unbuffered,
        a line across two reads): its start is kept until its end comes."""
        self.left_out_bytes += len(data)
        begun = self._begun[stream]
        first = data.find(b"\n") + 1
        if not first:
            if len(begun) < MAX_LINE:
                self._begun[stream] = begun + data[:MAX_LINE - len(begun)]
            return
        end = data.rfind(b"\n") + 1
        wanted = ERROR_LINES if stream == "stderr" else 1
        last = _last_lines(data, end, wanted, first)
        if len(last) < wanted:
            last.insert(0, begun + data[:first - 1])
        self._note(stream, [ln for ln in map(_final_state, last) if _is_word(ln)])
        self._begun[stream] = data[end:end + MAX_LINE]

    def _tail_lines(self) -> list[tuple[str, bytes]]:
        """The kept chunks cut to the last ``tail`` bytes, whole lines of each stream."""
        excess = self._raw_size - self._tail_max
        kept: list[tuple[str, bytes]] = []
        for stream, data in self._raw:
            if excess > 0:
                if len(data) <= excess:
                    excess -= len(data)
                    self._drop(stream, data)
                    continue
                # to the end of the line the last byte in excess is in, which may go on in
                # the stream's next chunk; a line longer than a log entry is cut where it
                # must be, as in the head
                nl = data.find(b"\n", excess - 1, excess + MAX_LINE)
                before = data.rfind(b"\n", 0, excess)  # the line's start, if in this chunk
                line = (len(data) - before - 1 if before >= 0
                        else len(self._begun[stream]) + len(data))
                if nl >= 0:
                    self._drop(stream, data[:nl + 1])
                    data = data[nl + 1:]
                elif line <= MAX_LINE:  # it goes on in the stream's next chunk
                    self._drop(stream, data)
                    excess = 0
                    continue
                else:
                    excess = _char_cut(data, excess)
                    self._drop(stream, data[:excess])
                    data, self._begun[stream] = data[excess:], b""
                excess = 0
            if self._begun[stream]:  # the end of a line whose start was left out
                room = MAX_LINE - len(self._begun[stream])  # of the line, its newline after
                nl = data.find(b"\n", 0, room + 1)
                if nl < 0 and len(data) <= room:
                    self._drop(stream, data)
                    continue
                cut = nl + 1 if nl >= 0 else _char_cut(data, room)
                self._drop(stream, data[:cut])
                data, self._begun[stream] = data[cut:], b""
            if data:
                kept.append((stream, data))
        self._raw.clear()
        self._raw_size = 0
        for stream, begun in self._begun.items():
            # a last line left out whole, though it never ended: still the program's last word
            line = _final_state(begun)
            self._note(stream, [line] if _is_word(line) else [])
            self._begun[stream] = b""
        return kept

    def _glance(self, data: bytes) -> None:
        """Progress from the last finished lines (or redrawn states) at the end of a chunk
        past the head, which is not otherwise read."""
        window = data[-GLANCE:]
        if (window.find(b"%") < 0 and window.find(b"PROGRESS") < 0
                and window.find(b'"progress"') < 0):
            return
        # after the first line end (what comes before may be a line's end only), the last
        # one included: a state being redrawn is written whole, it reads as what it says
        parts = window.replace(b"\r", b"\n").split(b"\n")[1:]
        for raw in reversed(parts[-PERCENT_LINES:]):
            if self._progress_of(raw) is not None:
                return

    def _progress_of(self, raw: bytes) -> Progress | None:
        if b"%" not in raw and b"PROGRESS" not in raw and b"{" not in raw:
            return None  # the common case, without decoding
        p = parse_progress(_text(raw))
        if p is not None and not self._quiet:
            self.on_progress(p)
        return p

    def _block(self, stream: str, buf: bytes, end: int, *, progress: bool = True,
               ended: bool = True) -> None:
        """The whole plain lines ``buf[:end]`` (ending with a newline): counted, logged or
        kept for the tail, and read for progress (``progress``), with bytes methods, not
        line by line, and copying only what is logged. Not ``ended``: the newline was added
        to a line the program has not ended (yet), and is not kept with it."""
        stop = end if ended else end - 1
        if not ended:
            self._piece(stream)
        level = "warning" if stream == "stderr" else "info"
        if progress and buf.find(b"%", 0, end) >= 0:
            self._percent(buf, end)
        # the lines that fit in what is left of the head (all of them, or the head ends here);
        # the others are kept for the tail, and read if they stay in it
        start = end if end <= self._head_left else buf.rfind(b"\n", 0, self._head_left) + 1
        if not start and buf.find(b"\n", 0, MAX_LINE + 1) < 0:
            # a line longer than a log entry: as much as fits is a piece of it, a line of
            # its own as the pieces the head cuts such a line into are
            start, self._head_left = _char_cut(buf, self._head_left), 0
            piece = buf[:start] + b"\n"
            self.lines += 1
            if ended:  # (else counted as one above)
                self._piece(stream)
            self._note(stream, [piece[:-1]])
            self._log(piece, level)
            self._keep(stream, buf[start:stop])
            return
        self._head_left = self._head_left - start if start == end else 0
        if not start:
            self._keep(stream, buf[:stop])
            return
        self.lines += buf.count(b"\n", 0, start)
        self._note(stream, _last_lines(buf, start, ERROR_LINES if stream == "stderr" else 1))
        self._log(buf[:start], level)
        if start < end:
            self._keep(stream, buf[start:stop])

    def _piece(self, stream: str) -> None:
        """A piece of a line whose end is still to come is logged (and counted): the line
        is counted once, however many pieces it comes in."""
        if self._cut[stream]:
            self.lines -= 1
        self._cut[stream] = True

    def _note(self, stream: str, last: list[bytes]) -> None:
        """The last lines of ``stream`` read so far: the run's summary, and its error."""
        if last:
            self.last_line = _text(last[-1]).strip()
            if stream == "stderr":
                self.stderr_tail.extend(_text(ln).rstrip() for ln in last)

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
        """Whole lines as log entries of at most :data:`ENTRY` bytes (a longer line alone)."""
        view = memoryview(data)  # entries are decoded from it where they lie, not copied first
        start, size = 0, len(data)
        while start < size:
            cut = size
            if cut - start > ENTRY:
                cut = (data.rfind(b"\n", start, start + ENTRY) + 1
                       or data.find(b"\n", start + ENTRY) + 1 or size)
            text = str(view[start:cut - 1], "utf-8", "backslashreplace")
            if "\n" not in text:
                text = text.rstrip()
            if text.strip():
                self.ctx.log(text, level)
            start = cut

    def _line(self, stream: str, raw: bytes, *, ended: bool = True) -> None:
        """One line that is not plain (it was redrawn, or may be written for trayjobs), or
        not ``ended``: a piece of a line longer than a log entry, or the last, unended."""
        if b"\r" in raw:
            for state in raw.split(b"\r")[:-1]:
                self._progress_of(state)
            raw = _final_state(raw)
        if not raw.strip():
            self.lines += 1
            return
        p = self._progress_of(raw)
        if p is not None and p.protocol:
            return
        line = raw.rstrip() + b"\n"
        self._block(stream, line, len(line), progress=False, ended=ended)  # read above


def _is_word(line: bytes) -> bool:
    """Not blank, nor a progress line written for trayjobs (JSON, ``PROGRESS``): a line
    that may be the run's summary or error."""
    if not line.strip():
        return False
    if b"PROGRESS" not in line and b'"progress"' not in line:
        return True  # the common case, without decoding
    p = parse_progress(_text(_final_state(line)))
    return p is None or not p.protocol


def _char_cut(data: bytes, cut: int) -> int:
    """``cut``, a place a line longer than a log entry is cut at, moved back to the start of
    the UTF-8 character it would split (so both pieces show text, not escapes of halves)."""
    for at in range(cut - 1, max(cut - 4, 0), -1):
        b = data[at]
        if b & 0xC0 != 0x80:  # not a continuation byte: where the character starts
            size = (2 if b & 0xE0 == 0xC0 else 3 if b & 0xF0 == 0xE0
                    else 4 if b & 0xF8 == 0xF0 else 1)
            return at if at + size > cut else cut
    return cut


def _last_lines(buf: bytes, end: int, n: int, first: int = 0) -> list[bytes]:
    """The last ``n`` lines of ``buf[first:end]`` that are words of the program, at most, in
    order: blank lines and lines written for trayjobs are not (a few more of them are
    looked past, not a whole chunk of them)."""
    out: list[bytes] = []
    stop = end - 1  # the newline that ends the last line
    for _ in range(4 * n):
        if stop < first or len(out) == n:
            break
        start = max(buf.rfind(b"\n", first, stop) + 1, first)
        line = buf[start:stop]
        if _is_word(line):
            out.append(line)
        stop = start - 1
    return out[::-1]
