"""Runs job code in child processes that can always be stopped.

Huey's thread workers cannot stop a task whose code never checks (there is no
hard timeout and no cancel of a running task). So a Huey worker thread hands
each run to a job process from a small pool and waits on its message pipe.
Cancel and timeout first ask nicely (``ctx.check_cancelled()`` raises in the
job), then kill the process after a grace period; a process that dies on its
own (``os._exit``, a segfault) is noticed by the end of its pipe. Either way
the app keeps running, and a fresh process takes the dead one's place.

A foreground ``trayjobs run`` has no app to protect and runs one attempt at a
time: for kinds that allow it (``JobKind.in_process``) it runs the job on a
thread instead (:class:`ThreadJob`), which saves starting a second Python. The
messages, cancel and timeout work as with a process; what a thread cannot be
is killed: one that does not stop within the grace period is left behind, its
programs are killed, and the attempt ends without a retry so that the command
can exit (which ends the thread, as a killed process would).
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..leftovers import kill_tree
from ..paths import Home
from ..textfmt import escape_strings
from .launcher import PIPE_SIZE, widen
from .wire import Reader

__all__ = ["Executor", "Outcome", "Prepared", "RunHandle"]

log = logging.getLogger(__name__)

#: Bytes read from a message pipe at a time, at most, and the pipe's size (``widen``): a job
#: that logs a lot writes ahead without waiting for the engine, which reads it in a few
#: large reads.
READ = PIPE_SIZE


@dataclass
class Outcome:
    """How an attempt ended: ``succeeded``, ``failed``, ``cancelled``, ``timeout`` or ``crashed``."""

    state: str
    result: dict[str, Any] | None = None
    message: str | None = None
    traceback: str | None = None
    retry: bool = True
    #: The job's process died: it crashed, or was killed because it did not stop when asked.
    died: bool = False
    #: When the job said it ended (``time.time()``), if it did: the engine may hear of it
    #: later, its thread held up by a run history that does not answer.
    ended_at: float | None = None


@dataclass
class Prepared:
    """A run sent to a job process ahead of its claim (:meth:`Executor.prepare`)."""

    proc: "JobProcess"
    request: dict[str, Any]
    #: Handed to :meth:`Executor.run` or dropped (:meth:`Executor.abort`).
    used: bool = False
    #: Told to go on already (:meth:`Executor.go`).
    went: bool = False


class RunHandle:
    """Lets another thread cancel the attempt a worker thread is waiting on."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self._r, self._w = os.pipe()

    def request_cancel(self) -> None:
        self.cancel.set()
        try:
            os.write(self._w, b"x")
        except OSError:
            pass

    def close(self) -> None:
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass


def child_command() -> list[str]:
    if getattr(sys, "frozen", False):  # a bundled app runs its own executable in child mode
        return [sys.executable, "--trayjobs-child"]
    return [sys.executable, "-m", "trayjobs.engine.child"]


_buffers = threading.local()


def _read(fd: int) -> bytes:
    """Up to :data:`READ` bytes from ``fd``, read into a buffer this thread keeps. (With
    ``os.read(fd, READ)`` each read allocates its megabyte afresh, from new pages the
    kernel then faults in one by one: a chatty job's 0.6 MB of log cost the engine
    0.3 ms more than the copy made here.)"""
    buf = getattr(_buffers, "buf", None)
    if buf is None:
        buf = _buffers.buf = bytearray(READ)
    n = os.readv(fd, [buf])
    return bytes(memoryview(buf)[:n])


class _Messages:
    """The read end of a job's message pipe (messages as :mod:`.wire` writes them)."""

    fd: int
    _reader: Reader
    #: Process groups of programs the job started (each leads its own session, out of
    #: reach of a kill of the job's own group), until the job says they are gone.
    groups: set[int]

    def _open(self, fd: int) -> None:
        self.fd = fd
        self._reader = Reader(on_bad=lambda line: log.warning(
            "unreadable message from job process: %r", line[:200]))
        self.groups = set()
        widen(fd)

    def read(self, timeout: float) -> list[dict[str, Any]] | None:
        """Messages available within ``timeout``; ``None`` once the pipe has ended."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return []
        return self.read_ready()

    def read_ready(self) -> list[dict[str, Any]] | None:
        data = _read(self.fd)
        if not data:
            return None
        # Job code says what it likes: a file name that is not UTF-8 arrives as lone
        # surrogates, which neither SQLite nor a terminal takes. Escaped here, once, it
        # is plain text everywhere after.
        return [escape_strings(msg) for msg in self._reader.feed(data)]

    def kill_groups(self) -> None:
        for pgid in self.groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.groups.clear()


class JobProcess(_Messages):
    """One child process and the read end of its message pipe."""

    def __init__(self, stderr_path: Path) -> None:
        r, w = os.pipe()
        # The go pipe: one byte per run sent ahead of its claim, which the job process reads
        # on the thread that runs it (see Executor.prepare).
        go_r, self._go = os.pipe()
        self.stderr_path = stderr_path
        try:
            with open(stderr_path, "wb") as err:
                env = dict(os.environ, PYTHONUNBUFFERED="1")
                env.pop("QT_QPA_PLATFORM", None)
                self.proc = subprocess.Popen(
                    child_command() + [str(w), str(go_r)], stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL, stderr=err, pass_fds=(w, go_r), close_fds=True,
                    env=env, start_new_session=True)  # a Ctrl-C in the terminal reaches the app
        except BaseException:
            for fd in (r, w, go_r, self._go):
                os.close(fd)
            raise
        os.close(w)
        os.close(go_r)
        self._open(r)
        self.pid = self.proc.pid
        ready = self.read(timeout=60)
        if not ready or ready[0].get("t") != "ready":
            self.kill()
            raise RuntimeError(f"job process did not start: {self.stderr_tail()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, msg: dict[str, Any]) -> None:
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def tell(self, go: bool) -> None:
        """Whether the run sent ahead of its claim goes (``OSError`` if the process is gone)."""
        os.write(self._go, b"g" if go else b"a")

    def kill(self) -> None:
        # What its jobs left running outside its group (their adopted orphans among them)
        # first: once it is dead they would be reparented to init, out of reach. Only while
        # it is unreaped: a reaped one's pid may be another process's by now.
        if self.proc.poll() is None:
            kill_tree(self.proc.pid)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.kill_groups()  # the job's own programs too
        self.close()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.fd, self._go):
            try:
                os.close(fd)
            except OSError:
                pass

    def stderr_tail(self, lines: int = 15) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def death_message(self) -> str:
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            what = {"SIGSEGV": " (a segmentation fault, usually in a native library)",
                    "SIGKILL": " (killed from outside, often by the out-of-memory killer)",
                    "SIGABRT": " (aborted by a native library)"}.get(name, "")
            msg = f"The job's process crashed: killed by {name}{what}."
        else:
            msg = f"The job's process exited unexpectedly with code {code} before finishing."
        return msg + " trayjobs itself is fine; the next run starts in a fresh process."


class ThreadJob(_Messages):
    """One attempt on a thread of this process, answering on a pipe like a job process.

    Only the foreground ``trayjobs run`` uses it, for kinds whose code is ours and stops
    when asked (``JobKind.in_process``). Cancel sets the attempt's cancel event directly.
    """

    def __init__(self, request: dict[str, Any], cancel: threading.Event) -> None:
        from .child import _Pipe, _run
        r, w = os.pipe()
        self._open(r)
        self.pid = os.getpid()
        self._cancel = cancel
        pipe = _Pipe(w)

        def work() -> None:
            try:
                _run(request, pipe, cancel, capture_output=False)
            except OSError:  # the pipe's reader gave up on this thread (see kill)
                pass
            finally:
                pipe.close()  # the end of the messages, as a process's exit is

        self.thread = threading.Thread(target=work, name=f"run-{request.get('run_id')}",
                                       daemon=True)
        self.thread.start()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def send(self, msg: dict[str, Any]) -> None:
        if msg.get("op") == "cancel":
            self._cancel.set()

    def kill(self) -> None:
        """Kill the programs the job started; the thread itself cannot be stopped, so it
        is left to end with this process."""
        self.kill_groups()
        self.close()

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass

    def stderr_tail(self, lines: int = 15) -> str:
        return ""

    def death_message(self) -> str:
        return "The job's thread ended without saying how the run went (a bug in trayjobs)."


def _readable(fd: int) -> bool:
    """Whether ``fd`` has something to read right now."""
    return bool(select.select([fd], [], [], 0)[0])


class Executor:
    """A pool of warm job processes; ``run`` executes one request in one of them."""

    def __init__(self, home: Home, *, grace: float = 3.0, warm: int = 0) -> None:
        self.home = home
        self.grace = grace
        self._idle: list[JobProcess] = []
        self._lock = threading.Lock()
        self._closed = False
        self._seq = 0
        self._spawners: list[threading.Thread] = []
        home.log_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(warm):
            self._spawn_later()

    def _new_process(self) -> JobProcess:
        with self._lock:
            self._seq += 1
            n = self._seq % 8
        return JobProcess(self.home.log_dir / f"job-process-{n}.stderr")

    def _spawn_later(self) -> None:
        def spawn() -> None:
            try:
                p = self._new_process()
            except Exception:
                log.exception("could not start a job process")
                return
            with self._lock:
                if self._closed:
                    p.close()
                else:
                    self._idle.append(p)

        t = threading.Thread(target=spawn, name="job-process-spawn", daemon=True)
        with self._lock:
            self._spawners = [x for x in self._spawners if x.is_alive()] + [t]
        t.start()

    def _acquire(self) -> JobProcess:
        return self._take_idle() or self._new_process()

    def _take_idle(self) -> JobProcess | None:
        with self._lock:
            while self._idle:
                p = self._idle.pop()
                if p.alive():
                    return p
                p.close()
        return None

    def prepare(self, request: dict[str, Any]) -> Prepared | None:
        """Send ``request`` to an idle job process ahead of the run's claim: it makes the run
        ready (reads the kind's params; a command builds the program's environment and finds
        the program: see ``JobKind.starts_at_check``) and waits, while the claim commits.
        :meth:`run`, given it, tells it to go on; :meth:`abort` to drop it. None when no job
        process is idle: none is started for a run that may not be claimed."""
        proc = self._take_idle()
        if proc is None:
            return None
        try:
            proc.send({**request, "hold": True})
        except OSError:
            self._release(proc, reuse=False)
            return None
        return Prepared(proc, request)

    def go(self, prepared: Prepared, request: dict[str, Any]) -> None:
        """Tell the job process that a run sent ahead goes on, if ``request`` is still what
        was sent (else it is dropped), ahead of :meth:`run`, which then follows it."""
        if prepared.used or prepared.went:
            return
        if prepared.request != request:
            self.abort(prepared)
            return
        try:
            prepared.proc.tell(True)
        except OSError:  # it died meanwhile: run() sends the run to a new one
            prepared.used = True
            self._release(prepared.proc, reuse=False)
            return
        prepared.went = True

    def abort(self, prepared: Prepared) -> None:
        """Drop a run sent ahead of its claim (the claim failed, or the run is not the one
        sent): its job process ends it, nothing of it done, and is reused."""
        prepared.used = True
        proc = prepared.proc
        try:
            if prepared.went:  # it goes already: stopped as a cancel stops it
                proc.send({"op": "cancel"})
            else:
                proc.tell(False)
        except OSError:
            self._release(proc, reuse=False)
            return
        handle = RunHandle()
        try:
            _, reuse = self._follow(proc, handle, lambda msg: None, lambda: None, None,
                                    self.grace, 0.5)
        except Exception:
            log.exception("dropping a run sent ahead of its claim failed")
            reuse = False
        finally:
            handle.close()
        self._release(proc, reuse=reuse)

    def _release(self, p: JobProcess, *, reuse: bool) -> None:
        if reuse and p.alive():
            with self._lock:
                if not self._closed:
                    self._idle.append(p)
                    return
            p.close()
        else:
            p.kill()
            if not self._closed:
                self._spawn_later()  # keep a warm one ready for the next run

    def close(self) -> None:
        with self._lock:
            self._closed = True
            spawners = list(self._spawners)
        # A process being forked right now holds copies of our files (the home's lock among
        # them) until it execs: let it finish before the caller lets go of the lock.
        for t in spawners:
            t.join(10)
        with self._lock:
            idle, self._idle = self._idle, []
        for p in idle:
            p.close()

    def run(self, request: dict[str, Any], *, handle: RunHandle,
            on_message: Callable[[dict[str, Any]], None], on_tick: Callable[[], None],
            on_idle: Callable[[], None] | None = None,
            timeout: float | None = None, tick: float = 0.5,
            in_thread: bool = False, prepared: Prepared | None = None) -> Outcome:
        """Execute ``request`` in a job process (``in_thread``: on a thread of this one, see
        :class:`ThreadJob`) and follow it to its end. ``on_message`` is called with each
        message, ``on_tick`` after each wake-up (at least every ``tick`` seconds), and
        ``on_idle`` once the messages read are handled and no more are waiting. ``prepared``:
        the run as sent ahead of its claim (:meth:`prepare`), which goes on if ``request``
        is still what was sent, else is dropped."""
        if in_thread:
            proc: JobProcess | ThreadJob = ThreadJob(request, handle.cancel)
        else:
            proc = None
            if prepared is not None and prepared.went and not prepared.used:
                prepared.used = True
                proc = prepared.proc
            elif prepared is not None and prepared.used:
                pass  # dropped, or its process died: sent afresh below
            elif prepared is not None and prepared.request == request:
                prepared.used = True
                proc = prepared.proc
                try:
                    proc.tell(True)
                except OSError:  # it died meanwhile: the run goes to a new one
                    self._release(proc, reuse=False)
                    proc = None
            elif prepared is not None:
                self.abort(prepared)
            if proc is None:
                proc = self._acquire()
                try:
                    proc.send(request)
                except OSError:
                    self._release(proc, reuse=False)
                    proc = self._new_process()
                    proc.send(request)
        try:
            outcome, reuse = self._follow(proc, handle, on_message, on_tick, on_idle,
                                          timeout, tick)
        except Exception as exc:
            # Our own bookkeeping failed, not the job: stop the job (it must not go on
            # unwatched) and say so, rather than leave the attempt without an end.
            log.exception("following a job process failed")
            outcome, reuse = Outcome("failed", retry=False, traceback=traceback.format_exc(),
                                     message=f"trayjobs failed while following this run "
                                             f"({type(exc).__name__}: {exc})"), False
        if isinstance(proc, ThreadJob):
            outcome.died = False  # no process died, whatever happened
            proc.thread.join(1.0)  # one that has sent its end is done at once
            if proc.alive():
                # A thread that did not stop goes on until this process exits: no attempt
                # may start beside it.
                outcome.retry = False
                outcome.message = (f"{outcome.message}; its programs were killed, and the "
                                   f"job's own code stops when this command exits")
                proc.kill()
            else:
                proc.close()
        else:
            self._release(proc, reuse=reuse)
        return outcome

    def _follow(self, proc: JobProcess, handle: RunHandle,
                on_message: Callable[[dict[str, Any]], None], on_tick: Callable[[], None],
                on_idle: Callable[[], None] | None, timeout: float | None,
                tick: float) -> tuple[Outcome, bool]:
        start = time.monotonic()
        deadline = start + timeout if timeout else None
        grace = self.grace
        asked_at: float | None = None
        reason = ""
        outcome: Outcome | None = None
        reuse = True
        while outcome is None:
            now = time.monotonic()
            wait = tick
            if deadline is not None and asked_at is None:
                wait = min(wait, deadline - now)
            if asked_at is not None:
                wait = min(wait, asked_at + grace - now)
            ready, _, _ = select.select([proc.fd, handle._r], [], [], max(wait, 0))
            if handle._r in ready:
                os.read(handle._r, 1024)
            now = time.monotonic()
            if asked_at is None and handle.cancel.is_set():
                reason, asked_at = "cancelled", now
                self._ask_cancel(proc)
            elif asked_at is None and deadline is not None and now >= deadline:
                reason, asked_at = "timeout", now
                self._ask_cancel(proc)
            if asked_at is not None and now >= asked_at + grace:
                # The job did not stop when asked: stop it the hard way.
                reuse = False
                outcome = self._stopped(reason, timeout, forced=True, grace=grace)
                break
            if proc.fd in ready:
                msgs = proc.read_ready()
                if msgs is None:
                    reuse = False
                    outcome = (self._stopped(reason, timeout, forced=True, grace=grace) if reason
                               else Outcome("crashed", message=proc.death_message(),
                                            traceback=proc.stderr_tail() or None, died=True))
                    break
                for msg in msgs:
                    t = msg.get("t")
                    if t in ("done", "error"):
                        # The job process says whether it may take another run.
                        reuse = msg.get("reuse", True) and msg.get("kind") != "memory"
                    if t == "done":
                        outcome = Outcome("succeeded", result=msg.get("result") or {},
                                          ended_at=msg.get("ts"))
                    elif t == "error":
                        if msg.get("kind") == "cancelled" and reason:
                            outcome = self._stopped(reason, timeout, forced=False, grace=grace)
                        elif msg.get("kind") == "cancelled":
                            outcome = Outcome("cancelled", message="cancelled by the job itself",
                                              retry=False)
                        else:
                            outcome = Outcome("failed", message=msg.get("message"),
                                              traceback=msg.get("traceback"),
                                              retry=msg.get("retry", True),
                                              result=msg.get("result"),
                                              ended_at=msg.get("ts"))
                    elif t == "pgroup":
                        # A program the job started: stopped with this process should it
                        # die, and given its own grace period between TERM and KILL.
                        pgid = int(msg["pgid"])
                        if msg.get("open"):
                            proc.groups.add(pgid)
                            grace = max(grace, float(msg.get("grace") or 0) + 1)
                        else:
                            proc.groups.discard(pgid)
                    elif t == "grace":
                        # The job stops the programs it started itself, TERM then KILL
                        # after their grace (a python job's, see kinds.python.programs):
                        # it is killed outright only once that is over.
                        grace = max(grace, float(msg.get("grace") or 0) + 1)
                    else:
                        on_message(msg)
                if outcome is None and on_idle is not None and not _readable(proc.fd):
                    on_idle()
            on_tick()
        return outcome, reuse

    @staticmethod
    def _ask_cancel(proc: JobProcess) -> None:
        try:
            proc.send({"op": "cancel"})
        except OSError:
            pass

    def _stopped(self, reason: str, timeout: float | None, *, forced: bool,
                 grace: float) -> Outcome:
        from ..durations import format_duration
        how = (f" (stopped forcibly: it did not respond within {format_duration(grace)})"
               if forced else "")
        if reason == "timeout":
            return Outcome("timeout", message=f"timed out after {format_duration(timeout)}{how}",
                           died=forced)
        return Outcome("cancelled", message=f"cancelled{how}", retry=False)
