"""The job process: runs job code for the engine, one run at a time.

It reads requests as JSON lines on stdin (job code sees ``/dev/null`` there) and
answers on the message pipe whose fd is its first argument (in the format of
:mod:`.wire`); its second, if any, is the go pipe, which says whether a run sent
ahead of its claim goes (see :class:`_Gate`). Job code may block,
spin or crash: the engine can always kill this process, and knows from the
pipe's end that it died.

It is the reaper of its orphaned descendants (:mod:`trayjobs.leftovers`): what a
job's program daemonizes out of its process group is stopped when the run ends,
and when this process exits because the engine went away.

Kept free of Qt and of the engine: it imports only the job kinds it runs (and
:mod:`.wire`, the format of its messages, :mod:`.fdcapture`, which reads what job code
writes to fds 1 and 2 into the run's log, and :mod:`trayjobs.leftovers`).
"""

from __future__ import annotations

import codecs
import faulthandler
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from pathlib import Path
from typing import Any

from ..leftovers import adopt_orphans, kill_children, reap_exited, run_begins
from . import launcher
from .fdcapture import FdCapture
from .wire import encode

__all__ = ["main"]


#: The message pipes of this process (one, but tests make more), for :func:`_pipes_forked`.
_PIPES: "weakref.WeakSet[_Pipe]" = weakref.WeakSet()


def _pipes_forked() -> None:
    """In a child that job code forked (multiprocessing, say): a thread of the parent (one
    reading a program's output into the log) may have held a pipe's lock as it forked,
    which would hang the child's first print() for ever. That thread is not in the child."""
    for pipe in list(_PIPES):
        pipe._lock._at_fork_reinit()


os.register_at_fork(after_in_child=_pipes_forked)


class _Pipe:
    def __init__(self, fd: int) -> None:
        self._f = os.fdopen(fd, "wb", buffering=0)
        self._lock = threading.Lock()
        _PIPES.add(self)
        #: Process groups that job code started and has not reaped yet (``pgroup`` messages).
        self.groups: set[int] = set()
        #: Messages that may wait to go with the next one (see :meth:`send`).
        self._later = b""

    def send(self, msg: dict[str, Any]) -> None:
        """Send ``msg``. That a process group is gone (a program reaped) goes with the
        next message, which always comes (the run's end, at the latest): each message is a
        write that wakes the engine, and this one need not be heard at once."""
        if msg.get("t") == "pgroup":
            (self.groups.add if msg.get("open") else self.groups.discard)(int(msg["pgid"]))
            if not msg.get("open"):
                with self._lock:
                    self._later += self.encode(msg)
                return
        self.send_encoded(self.encode(msg))

    @staticmethod
    def encode(msg: dict[str, Any]) -> bytes:
        """``msg`` as sent (see :mod:`.wire`): every secret the run read is masked here,
        whichever kind or program printed it, so no value reaches the engine, its store or
        notifications."""
        from ..secrets import mask
        try:
            msg = {k: v if k in _PROTOCOL_KEYS else mask(v) for k, v in msg.items()}
        except RecursionError:
            raise ValueError("it holds itself") from None
        return encode(msg)

    def send_encoded(self, data: bytes) -> None:
        with self._lock:
            if self._later:
                data, self._later = self._later + data, b""
            view = memoryview(data)
            # A signal may cut a write to a pipe short (a run on a thread of a process
            # that handles Ctrl-C): a message is whole or it is not one.
            while view:
                view = view[self._f.write(view):]

    def close(self) -> None:
        self._f.close()

    def kill_groups(self) -> None:
        for pgid in list(self.groups):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


#: Message fields that are words of the protocol, never text from a job: left unmasked.
_PROTOCOL_KEYS = frozenset({"t", "kind", "level", "unit"})



#: Characters of a run's summary kept: it is one line in lists, notifications and reports.
SUMMARY_LIMIT = 1000


def tidy_result(result: Any) -> dict[str, Any]:
    """A kind's result as a run's: a dict whose ``summary``, if any, is text of at most
    :data:`SUMMARY_LIMIT` characters (a plug-in's or a user's function may give anything)."""
    if not result:
        return {}
    if not isinstance(result, dict):
        result = {"summary": result}
    summary = result.get("summary")
    if summary is None:
        return result
    text = summary if isinstance(summary, str) else str(summary)
    if len(text) > SUMMARY_LIMIT:
        # masked before the cut, which could leave the start of a secret that the masking
        # of the whole message would no longer recognise
        from ..secrets import mask
        text = mask(text)
    if len(text) > SUMMARY_LIMIT:
        text = f"{text[:SUMMARY_LIMIT - 1]}… ({len(text):,} characters in all)"
    return result if text is summary else {**result, "summary": text}


#: Bytes of a run's result (as sent, JSON) kept in the run history at most. Each list of runs
#: reads the results it shows: one of megabytes (a function returning a whole table) would
#: weigh on every look at the history. A bigger one is kept in a file of the run's outputs.
RESULT_LIMIT = 256 * 1024


def _set_aside(end: dict[str, Any], encoded: bytes, ctx, pipe: "_Pipe") -> bytes:
    """``end`` (a run's end message, ``encoded`` as sent) as it goes to the engine: as it is,
    or, when its result is over :data:`RESULT_LIMIT`, with the result written to
    ``outputs/RUN/result.json`` under the data folder and only its summary, the file among
    the run's outputs and a warning saying where it is kept."""
    result = end.get("result")
    if len(encoded) <= RESULT_LIMIT or not isinstance(result, dict):
        return encoded
    from ..durations import format_size
    folder = ctx.home.run_outputs(ctx.run_id)
    path = folder / "result.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # As the engine stores it: what was sent, secrets masked, as JSON.
        path.write_text(json.dumps(json.loads(encoded)["result"], indent=1), encoding="utf-8")
    except (OSError, ValueError) as exc:
        kept, where = None, f"it could not be written to {path} ({exc})"
    else:
        kept, where = str(path), f"it is kept in {path}"
    outputs = [o for o in result.get("outputs") or [] if isinstance(o, str)][:100]
    small = {"summary": result.get("summary"), "outputs": outputs + ([kept] if kept else []),
             "result_file": kept,
             "warnings": [f"the result was too big for the run history "
                          f"({format_size(len(encoded))}): {where}"]}
    return pipe.encode({**end, "result": {k: v for k, v in small.items() if v is not None}})


def _finite(result: Any, ctx) -> Any:
    """``result`` with NaN and infinite numbers as ``null``: a history holding ``NaN``
    could not be read by strict JSON readers (a report's, ``show --json`` piped on,
    PostgreSQL). The run's log says which values were changed."""
    from ..textfmt import finite_numbers
    try:
        result, found = finite_numbers(result)
    except RecursionError:  # it holds itself: encoding it says so
        return result
    if found:
        shown = ", ".join(found[:5]) if len(found) <= 5 else (
            ", ".join(found[:4]) + f" and {len(found) - 4} more")
        if 1 < len(found) <= 5:
            shown = " and ".join(shown.rsplit(", ", 1))
        ctx.log(f"the result's {shown} {'is no JSON number' if len(found) == 1 else 'are no JSON numbers'}"
                f": stored as null", "warning")
    return result


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # job code's own exception class may fail even at this
        text = "(its message could not be read)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


#: Characters of a failed run's error and of its traceback kept at most: an exception can
#: carry megabytes (a whole response, a table), which the history, `trayjobs show`, each
#: list of runs and each alert would then carry too. The start and the end are kept.
ERROR_LIMIT, TRACEBACK_LIMIT = 64 * 1024, 256 * 1024


def _bounded_error(msg: dict[str, Any]) -> dict[str, Any]:
    """``msg`` (a run's end) with its ``message`` and ``traceback`` within their limits."""
    for key, limit in (("message", ERROR_LIMIT), ("traceback", TRACEBACK_LIMIT)):
        text = msg.get(key)
        if isinstance(text, str) and len(text) > limit:
            head, tail = limit * 3 // 4, limit // 4
            left = len(text) - head - tail
            msg = {**msg, key: f"{text[:head]}\n[… {left:,} characters left out …]\n"
                                f"{text[-tail:]}"}
    return msg


#: Bytes of what job code prints kept from the start and from the end of a run's output,
#: unless its job says otherwise (``log_head``, ``log_tail``), as for a command's output.
LOG_HEAD = LOG_TAIL = 1_000_000


class _Printed:
    """What job code prints, on stdout and stderr alike, as log lines of the run, within
    bounds: the first ``head`` bytes of lines go to the log as they come; after that only
    the last ``tail`` bytes are kept (here, a line at a time, the oldest dropped) and
    logged when the run ends, after a line saying how much was left out between them.
    The command kind keeps a program's output so (:mod:`trayjobs.kinds.command.output`):
    a function that prints 50 MB fills neither the run history nor this process."""

    def __init__(self, ctx, *, head: int = LOG_HEAD, tail: int = LOG_TAIL) -> None:
        self.ctx = ctx
        self._log = ctx.log  # the run's log itself, whatever later takes ctx.log's place
        self._closed = False
        self.head_left, self.tail_max = head, tail
        self._tail: deque[tuple[str, str, int]] = deque()  # (text, level, bytes)
        self._tail_size = 0
        self.left_out = 0  # bytes of lines left out, not logged
        # Job code prints on its thread while what its programs write arrives on others
        # (see :mod:`.fdcapture`): the streams take turns.
        self.lock = threading.RLock()
        self.fds: FdCapture | None = None  # what programs write to fd 1 and 2, if read

    def limit(self, *, head: int | None, tail: int | None) -> None:
        """The job's own bounds, known once its params are read (before its code runs)."""
        if head is not None:
            self.head_left = head
        if tail is not None:
            self.tail_max = tail

    def room(self) -> int:
        """The longest line that can still be kept whole."""
        return max(self.head_left, self.tail_max)

    def logged(self, message: str, level: str = "info") -> None:
        """``ctx.log`` for job code: its lines share the bounds of what it prints, in order
        with them (a function logging in a loop would otherwise fill the run history). Once
        the run's output is closed, lines (the job process's own notes) go straight in."""
        if self._closed:
            self._log(message, level)
        else:
            self.line(str(message), level)

    def line(self, text: str, level: str) -> None:
        with self.lock:  # whichever thread it comes from (see __init__)
            if self.fds is not None:
                self.fds.poll()  # what a program it ran wrote before goes first
            self._line(text, level)

    def _line(self, text: str, level: str) -> None:
        size = _size(text) + 1  # with its newline, as a file of the output would hold it
        if size <= self.head_left:
            self.head_left -= size
            self._log(text, level)
            return
        self.head_left = 0  # the head ends with the first line that does not fit in it
        if size > self.tail_max:
            text = self.cut(text)
            size = _size(text) + 1
        self._tail.append((text, level, size))
        self._tail_size += size
        while self._tail_size > self.tail_max:
            _, _, old = self._tail.popleft()
            self._tail_size -= old
            self.left_out += old

    def cut(self, text: str) -> str:
        """The end of a line too long to keep whole: what fits in ``tail``, the rest
        counted as left out. Secrets are masked first: a cut through one would leave its
        end, which the masking of the message no longer recognises."""
        from ..secrets import mask
        text = mask(text)
        room = max(self.tail_max - 1, 0)  # and its newline
        if text.isascii():
            kept = text[len(text) - room:] if room else ""
        else:  # counted in bytes; a character cut in two is left out whole
            data = text.encode("utf-8", "surrogatepass")
            end = data[len(data) - room:] if room else b""
            start = next((i for i, b in enumerate(end[:4]) if b & 0xC0 != 0x80), len(end))
            kept = end[start:].decode("utf-8", "surrogatepass")
        self.left_out += _size(text) - _size(kept)
        return kept

    def clear(self) -> None:
        self._tail.clear()
        self._tail_size = 0

    def close(self) -> None:
        """The run is over: say what was left out, then log the kept tail."""
        with self.lock:
            self._close()

    def _close(self) -> None:
        if self.left_out:
            from ..durations import format_size
            self._log(f"[{format_size(self.left_out)} of output left out here]", "warning")
            self.left_out = 0
        while self._tail:
            text, level, _ = self._tail.popleft()
            self._log(text, level)
        self._tail_size = 0
        self._closed = True


def _bound(params: Any, key: str) -> int | None:
    """A job's ``log_head`` or ``log_tail`` (a python job's, say), if its kind has one."""
    value = getattr(params, key, None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _size(text: str) -> int:
    """``text``'s length in bytes, as written to a file (counted without a copy when ASCII)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class _LogStream(io.TextIOBase):
    """print() in job code becomes log lines of the run (see :class:`_Printed`). It stands
    in for ``sys.stdout`` or ``sys.stderr`` in code written for a terminal, so it has
    their ``buffer``, ``encoding``, ``reconfigure()`` and ``fileno()`` (the fd that
    :mod:`.fdcapture` reads into the same log, for ``subprocess.run(stdout=sys.stdout)``)."""

    encoding = "utf-8"
    errors = "backslashreplace"
    line_buffering = True

    def __init__(self, out: _Printed, level: str, *, fd: int | None = None) -> None:
        # The line not ended yet, in pieces: adding each piece to one text copied all of it
        # every time, so a million dots printed one at a time never ended.
        self.out, self.level, self._parts = out, level, []
        self._size = 0  # characters in _parts
        self._cap = 0  # more than this in _parts: see whether so much may be held
        self._fd = fd
        self.buffer = _LogBuffer(self)

    def fileno(self) -> int:
        if self._fd is None:
            raise io.UnsupportedOperation("fileno")
        return self._fd

    def reconfigure(self, **_options: Any) -> None:
        """Scripts set an encoding or line buffering for a terminal; a log needs neither."""

    def isatty(self) -> bool:
        return False

    @property
    def _buf(self) -> str:
        text = "".join(self._parts)
        self._parts = [text] if text else []
        return text

    @_buf.setter
    def _buf(self, text: str) -> None:
        self._parts = [text] if text else []
        self._size = len(text)

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):  # as a real text stream says it
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        with self.out.lock:
            return self._write(s)

    def _write(self, s: str) -> int:
        if "\n" not in s:
            self._parts.append(s)
            self._size += len(s)
            if len(self._parts) >= 4096:
                self._parts = ["".join(self._parts)]
            if "\r" in s:
                self._redrawn()
            if self._size > self._cap:
                self._hold_less()
            return len(s)
        # One split for the whole write: taking a line at a time copied the rest of the
        # buffer for each, so one write of a million lines never ended.
        *lines, self._buf = (self._buf + s).split("\n")
        for line in lines:
            if "\r" in line:
                from ..textfmt import final_state
                line = final_state(line)
            if line.strip():
                self.out.line(line, self.level)
        return len(s)

    def _redrawn(self) -> None:
        """A line rewritten in place with carriage returns (a progress bar: tqdm, a
        program's percentage) is held, and logged once, as its latest state, by the rule a
        command's output follows (:func:`~trayjobs.textfmt.final_state`): only the last
        state drawn before the one being drawn is kept. (A carriage return at the very end
        may be a CRLF's first half.)"""
        from ..textfmt import final_state
        text = self._buf
        body, end = (text[:-1], "\r") if text.endswith("\r") else (text, "")
        if "\r" in body:
            *states, drawing = body.split("\r")
            self._buf = final_state("\r".join(states)) + "\r" + drawing + end

    def _hold_less(self) -> None:
        """A line longer than can be kept whole is not held whole either: the head is over,
        and of the line only what the tail can keep stays. (Cut once it holds twice that: a
        cut at each piece written would copy the tail each time.)"""
        self._cap = 2 * self.out.room() + 4096
        if self._size > self._cap:
            self.out.head_left = 0
            self._buf = self.out.cut(self._buf)
            self._cap = 2 * self.out.room() + 4096

    def flush(self) -> None:
        """A line not ended yet is logged as far as it goes (``print(..., end="",
        flush=True)`` shows at once), but for what may be the start of a secret, which
        waits for the rest: logged apart, its two halves would each pass the masking."""
        from ..secrets import begun_at_end
        with self.out.lock:
            if "\r" in self._buf:  # being redrawn: its last state is logged with its newline
                return
            keep = begun_at_end(self._buf)
            if self._buf[:len(self._buf) - keep].strip():
                self.out.line(self._buf[:len(self._buf) - keep], self.level)
            self._buf = self._buf[len(self._buf) - keep:]

    def finish(self) -> None:
        """The run is over: log whatever is left."""
        with self.out.lock:
            from ..textfmt import final_state
            text = final_state(self._buf)
            if text.strip():
                self.out.line(text, self.level)
            self._buf = ""


class _LogBuffer(io.RawIOBase):
    """``sys.stdout.buffer`` of a :class:`_LogStream`: bytes written there are its text,
    UTF-8 with other bytes shown as ``\\xNN``, as a command's output is."""

    def __init__(self, stream: _LogStream) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")("backslashreplace")

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        data = bytes(b)
        self._stream.write(self._decoder.decode(data))
        return len(data)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()


def _finish_streams(printed: _Printed | None = None, fds: FdCapture | None = None) -> None:
    """What job code printed is all in the run's log (or written out, on a thread)."""
    if fds is not None:
        fds.stop()
    for stream in (sys.stdout, sys.stderr):
        (stream.finish if isinstance(stream, _LogStream) else stream.flush)()
    if printed is not None:
        printed.close()


_homes: dict[tuple, Any] = {}


def _home(cls, d: dict[str, str]):
    """The (frozen) Home the engine sent, built once: it is the same for every run."""
    key = tuple(sorted(d.items()))
    home = _homes.get(key)
    if home is None:
        _homes.clear()
        home = _homes[key] = cls.from_dict(d)
    return home


class _Gate:
    """The cancel event of a run sent ahead of its claim (``hold`` in the request): the
    engine sends the run before it commits the claim, so that this process makes it ready
    meanwhile; the first look at whether it is cancelled waits until the engine says, with
    one byte on the go pipe, ``g`` (the claim held) or ``a`` (it did not: the run reads as
    cancelled, and nothing of it was done). The byte is read on this thread itself: a word
    on stdin would wait for the reader thread to get its turn first."""

    def __init__(self, cancel: threading.Event, go_fd: int) -> None:
        self._cancel, self._fd = cancel, go_fd
        self.opened = False
        self._aborted = False

    def open(self) -> None:
        """Wait for the engine's word (once); for a run that ended before it asked, so that
        the word is not taken for the next run's."""
        if not self.opened:
            self.opened = True
            self._aborted = os.read(self._fd, 1) != b"g"  # b"": the engine is gone

    def is_set(self) -> bool:
        self.open()
        return self._aborted or self._cancel.is_set()

    def set(self) -> None:
        self._cancel.set()

    def clear(self) -> None:
        self._cancel.clear()

    def wait(self, timeout: float | None = None) -> bool:
        if self.is_set():
            return True
        return self._cancel.wait(timeout)


def _run(req: dict[str, Any], pipe: _Pipe, cancel: threading.Event, *,
         capture_output: bool = True, go_fd: int | None = None) -> bool:
    """Run one request; returns False when this process should not be reused.
    ``capture_output``: what job code prints becomes log lines of the run (in a job
    process; a run on a thread of a bigger process leaves the process's streams alone).
    ``go_fd``: where the engine says whether a run sent ahead of its claim goes (see
    :class:`_Gate`)."""
    from ..context import JobContext
    from ..errors import Cancelled, JobFailed, UserError
    from ..kinds.registry import get_kind
    from ..paths import Home
    from ..secrets import forget_revealed

    gate = _Gate(cancel, go_fd) if req.get("hold") and go_fd is not None else None
    ctx = JobContext(run_id=req["run_id"], job=req["job"], home=_home(Home, req["home"]),
                     sink=pipe.send, attempt=req["attempt"], max_attempts=req["max_attempts"],
                     trigger=req["trigger"], files=[Path(f) for f in req.get("files") or []],
                     dry_run=bool(req.get("dry_run")), params=dict(req.get("run_params") or {}),
                     resumes=req.get("resumes"), parent=req.get("parent"),
                     scheduled_for=req.get("scheduled_for"), plan=req.get("plan"),
                     cancel_event=gate or cancel)
    out, err = sys.stdout, sys.stderr
    env, cwd = dict(os.environ), _cwd()
    printed = _Printed(ctx)
    fds = None
    if capture_output:
        sys.stdout = _LogStream(printed, "info", fd=1)
        sys.stderr = _LogStream(printed, "warning", fd=2)
    reuse = True

    def send_end(msg: dict[str, Any]) -> None:
        if capture_output:  # the kept end of what it printed goes before the run's end
            _finish_streams(printed, fds)
        msg = {**_bounded_error(msg), "ts": time.time()}  # when it ended: see Outcome
        pipe.send(msg if reuse else {**msg, "reuse": False})

    try:
        kind_cls = get_kind(req["kind"])
        reuse = not kind_cls.fresh_process
        if capture_output and not kind_cls.bounds_own_log:
            ctx.log = printed.logged
        if capture_output and kind_cls.captures_fds:
            # What the programs it starts write, and what is written to fd 1 and 2 directly,
            # is the run's output too: it went to /dev/null and the job process's log before.
            fds = printed.fds = FdCapture({1: sys.stdout.write, 2: sys.stderr.write},
                                          printed.lock)
        kind = kind_cls()
        params = req.get("params_model")  # a thread's: validated already (see the engine)
        if params is None and req["params"] is not None:  # None: an undo from the journal alone
            params = kind.parse_params(req["params"])
        printed.limit(head=_bound(params, "log_head"), tail=_bound(params, "log_tail"))
        if gate is not None and not kind_cls.starts_at_check:
            ctx.check_cancelled()  # the claim held (else: Cancelled, nothing done)
        if req.get("op") == "undo":
            result = kind.undo(ctx, params, req["run"])
        else:
            result = kind.run(ctx, params)
        _finish_streams(printed if capture_output else None, fds)
        end = {"t": "done", "result": tidy_result(result), "ts": time.time()}
        if not reuse:
            end["reuse"] = False
        try:
            done = pipe.encode(end)
            if b"NaN" in done or b"Infinity" in done:  # perhaps as numbers, which JSON has not
                end["result"] = _finite(end["result"], ctx)
                done = pipe.encode(end)
        except ValueError as exc:
            # Said to whoever wrote the code: a python job's own function, often.
            raise JobFailed(f"the job's result could not be stored: it is not JSON data ({exc}); "
                            f"a result holds text, numbers, true or false and None, in lists "
                            f"and dicts with text keys", retry=False) from None
        pipe.send_encoded(_set_aside(end, done, ctx, pipe))
    except Cancelled:
        send_end({"t": "error", "kind": "cancelled", "message": "cancelled"})
    except JobFailed as exc:
        end = {"t": "error", "kind": "failed", "message": str(exc), "retry": exc.retry}
        try:
            # What the job found before it failed is kept with the run, if it is JSON data.
            send_end({**end, "result": _finite(exc.result, ctx)} if exc.result else end)
        except ValueError:
            send_end(end)
    except UserError as exc:
        send_end({"t": "error", "kind": "failed", "message": str(exc), "retry": False})
    except MemoryError as exc:
        reuse = False  # the heap may be in a poor state: start afresh
        printed.clear()  # what it printed last may be what took the memory: kept no longer
        pipe.send({"t": "error", "kind": "memory",
                   "message": f"the job ran out of memory ({exc or 'MemoryError'})"})
    except BaseException as exc:  # job code is foreign: report anything, then go on
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            reuse = False
        send_end({"t": "error", "kind": "exception", "message": _describe(exc),
                  "traceback": traceback.format_exc()})
    finally:
        if capture_output:
            _finish_streams(printed, fds)
            sys.stdout, sys.stderr = out, err
        # The process runs other jobs next: what job code set in os.environ reached every
        # later run's programs, and os.chdir() moved later relative paths.
        if os.environ != env:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None and _cwd() != cwd:
            try:
                os.chdir(cwd)
            except OSError:
                pass
        forget_revealed()
        if gate is not None:
            gate.open()  # ended before it asked (its params were bad, say): the word is its
    return reuse


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # removed under it
        return None


def _keep_freed_memory() -> None:
    """Have glibc keep what it frees for the next piece of the same size. A chatty
    program's output is read 256 KiB at a time: by default each piece is memory fresh from
    the kernel (mapped, zeroed and faulted in page by page, unmapped when freed), about a
    tenth of a millisecond per megabyte read. Pieces up to 4 MiB now come from the heap,
    and up to 16 MiB of freed heap is kept rather than given back at once."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt  # glibc's; another C library may not have it
    except (OSError, AttributeError):
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    mallopt(M_MMAP_THRESHOLD, 4 << 20)
    mallopt(M_TRIM_THRESHOLD, 16 << 20)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The pipes to the engine came inheritable (pass_fds): kept so, they went on to every
    # program job code starts without closing files (os.system(), close_fds=False), and a
    # program left running kept the message pipe open after this process died, so that
    # the engine, which learns of a death from the pipe's end, waited for it.
    for fd in argv[:2]:
        os.set_inheritable(int(fd), False)
    pipe = _Pipe(int(argv[0]))
    # Requests come on stdin. Job code, and the programs it starts, get /dev/null there
    # instead: one that reads its stdin (input(), a program's prompt) would otherwise
    # wait on the engine's requests forever, or take the cancel meant for it.
    requests_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # What job code daemonizes (out of its process group) is reparented here, not to
    # init: a command run stops it when it ends, and it dies with this process.
    adopt_orphans()
    # A segfault leaves its Python traceback in our log file, which is stderr but during
    # a run, when fd 2 is the run's output (see .fdcapture): a pipe that dies with us.
    faulthandler.enable(os.fdopen(os.dup(2), "w"))
    launcher.want()  # programs run here one after the other: start each ahead of its run
    _keep_freed_memory()
    requests: list[dict[str, Any]] = []
    have = threading.Condition()
    cancel = threading.Event()
    # The engine's word on a run sent ahead of its claim (see _Gate), when it gives one.
    go_fd = int(argv[1]) if len(argv) > 1 else None

    def reader() -> None:
        # stdin carries requests and, while a job runs, "cancel": read it on the side.
        for line in requests_in:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            op = msg.get("op")
            if op == "cancel":
                cancel.set()
            else:
                with have:
                    cancel.clear()  # in stream order: a cancel after this request applies to it
                    requests.append(msg)
                    have.notify()
        # The engine closes our stdin only when it is done with us or has died (killed with
        # SIGKILL, say): either way no one will read our results, so stop at once, even in
        # the middle of a job (a database transaction in progress rolls back), and take the
        # programs the job started along, and what they left running outside their groups.
        pipe.kill_groups()
        kill_children()
        os._exit(0)

    threading.Thread(target=reader, name="requests", daemon=True).start()
    try:
        pipe.send({"t": "ready", "pid": os.getpid()})
        while True:
            with have:
                have.wait_for(lambda: requests)
                req = requests.pop(0)
            run_begins()
            if not _run(req, pipe, cancel, go_fd=go_fd):
                return 0
            launcher.run_ended()  # the next program's start made ready while the engine records
            reap_exited()  # what the run left that has exited since (a command's are reaped)
    finally:
        # However this process ends: after a run that may not be followed by another, or
        # with its message pipe broken because the engine died (the reader above may not
        # get to finish then: this thread's exit ends the process), nothing its jobs
        # started outlives it.
        pipe.kill_groups()
        kill_children()


if __name__ == "__main__":
    sys.exit(main())
