"""A program's start made ready ahead of time: a spare shell waiting to become it.

Started through ``setpriv`` (see :mod:`trayjobs.kinds.command.process`), a
program costs an extra exec: ``setpriv``'s own start, then its exec of the
program, about 0.6 ms of a short command run's 2-3. A job process that runs commands keeps one *spare* instead:
``/bin/sh -c '. /dev/stdin'``, started after a command run ends, leading a
session of its own, its output pipes made, reading its stdin. The next run
writes it a script that enters the program's folder, sets its environment and
``exec``\\ s it: the program starts in the shell's place, in the session the
spare leads, at the cost of the shell reading a few lines.

A program from a spare dies with the job process as one started through
``setpriv`` does, its whole group with it, through the *lifeline*: a shell
started once, in a session of its own, reading on a pipe from the job process
which groups its programs lead (``+PGID`` as one starts, ``-PGID`` once it is
reaped; a program started the usual way in a job process is listed too, for
what it starts in its group, which its death signal does not reach). When the job process dies, however (``kill -9`` included),
the pipe ends and the lifeline kills the groups still listed. Two short lines
a run cost it a few microseconds, where ``setpriv``'s start in each spare cost
0.6 ms of CPU. Should the lifeline be gone, spares start through ``setpriv``
again (``--pdeathsig KILL``), as they did before it.

The script gives the program exactly what ``subprocess`` would: ``cd -P`` is a
``chdir``; the shell starts with an empty environment (so ``setpriv``, where it
is used, skips loading the locale, a third of its start), PWD and OLDPWD, which ``cd`` sets,
are unset or set back, and the program's variables are exported as they are
(single-quoted bytes); its stdin is ``/dev/null``; ``exec`` looks the program up
on its own PATH.

A spare is used only where that holds: ``/bin/sh`` is dash (a shell with read-only
variables, bash's ``PPID`` and ``UID``, would exit at an ``export``), and every
name in the program's environment is one a shell can set (not ``BASH_FUNC_f%%``, nor
dash's own ``OPTIND``, which must be a number). Otherwise, and in processes
that run one command and exit (the foreground ``trayjobs run``: only a job
process calls :func:`want`), the program is started the usual way.

A leaf module: the job process imports it at its start, and it imports nothing
of trayjobs.

The death signal follows the *thread* that started a process, not the process
(prctl(2)): spares are started by a thread of their own that lives as long as the
job process, so a spare taken by a run on another thread is not killed when the
thread that started it ends.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import threading

__all__ = ["want", "take", "ready", "Ready", "started", "refill", "run_ended", "spare_pid", "own_pids", "widen",
           "FAILED_EXEC", "PIPE_SIZE"]

#: Bytes a program may write ahead of its reader (Linux's default is 64 KiB): fewer, larger
#: reads for a chatty program.
PIPE_SIZE = 1 << 20

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: Names the shell sets itself or will not take any value for.
_SHELL_OWN = frozenset({"PWD", "OLDPWD"})
_REFUSED = frozenset({"OPTIND"})
#: What dash says on stderr (then exits 126 or 127) when its ``exec`` fails:
#: ``/bin/sh: 12: exec: PROGRAM: not found``.
FAILED_EXEC = re.compile(r"^(?:/bin/)?sh: \d+: exec: ")


def _quote(text: str) -> bytes:
    return b"'" + os.fsencode(text).replace(b"'", b"'\\''") + b"'"


def _usable(env: dict[str, str]) -> bool:
    return all(_NAME.match(k) and k not in _REFUSED for k in env)


def script(argv: list[str], cwd: str, env: dict[str, str]) -> bytes:
    """The lines that make a shell started with an empty environment become ``argv`` in
    ``cwd`` with the environment ``env``."""
    return preamble(cwd, env) + become(argv)


def preamble(cwd: str, env: dict[str, str]) -> bytes:
    """The lines of :func:`script` before its last: the shell in ``cwd`` with ``env``."""
    lines = [b"cd -P -- " + _quote(cwd) + b" || exit 126"]
    if "PATH" not in env:
        # Looked up where Popen (and setpriv) look without one, not on the shell's own
        # default path; set, not exported: the program gets no PATH, as it would directly.
        lines.append(b"PATH=" + _quote(os.defpath))
    gone = sorted(_SHELL_OWN - env.keys())
    if gone:
        lines.append(b"unset " + b" ".join(k.encode() for k in gone))
    lines += [b"export " + k.encode() + b"=" + _quote(v) for k, v in env.items()]
    return b"\n".join(lines) + b"\n"


def become(argv: list[str]) -> bytes:
    """The last line of :func:`script`: the shell becomes the program."""
    return b"exec " + b" ".join(map(_quote, argv)) + b" </dev/null\n"


#: The lifeline's script (dash's builtins only: it forks nothing while it waits).
_LIFELINE = r'''
set -f
g=" "
while IFS= read -r l; do
  case $l in
    +*) g="$g${l#+} " ;;
    -*) n=" "; for p in $g; do [ "$p" = "${l#-}" ] || n="$n$p "; done; g=$n ;;
  esac
done
for p in $g; do kill -9 "-$p" 2>/dev/null; done
'''


class _Lifeline:
    """The shell that kills the groups of programs from spares when this process dies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.broken = False  # it could not be started, or is gone: spares use setpriv

    def ready(self) -> bool:
        """Started (once, on first use); False if it cannot be, or is gone."""
        with self._lock:
            return self._start()

    def _start(self) -> bool:
        if self.proc is None and not self.broken:
            try:
                self.proc = subprocess.Popen(
                    ["/bin/sh", "-c", _LIFELINE], cwd="/", env={}, stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
                    start_new_session=True)
            except OSError:
                self.broken = True
            else:
                # A lifeline that stopped reading (stopped with SIGSTOP, say) must not stop a
                # run at its next line: a full pipe counts as gone.
                os.set_blocking(self.proc.stdin.fileno(), False)
        return not self.broken

    def tell(self, line: str) -> bool:
        """Say ``line`` (``+PGID`` or ``-PGID``); False if the lifeline is gone."""
        with self._lock:
            if self.proc is None or self.broken:
                return False
            data = line.encode() + b"\n"
            try:
                # Whole or not at all: a pipe takes a write this short in one piece.
                if os.write(self.proc.stdin.fileno(), data) == len(data):
                    return True
            except (OSError, ValueError):  # gone, or its pipe full
                pass
            self.broken = True
            return False


class _Spares:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made = threading.Condition(self._lock)
        self._making = False  # a spare is being started
        self._pending = False  # a spare is wanted once the run's end is sent
        self._spare: subprocess.Popen | None = None
        self._covered = False  # the spare's group is the lifeline's to kill, not setpriv's
        self._given: int | None = None  # the group of the program from the last spare taken
        self.lifeline = _Lifeline()
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self.wanted = False  # want(): this process runs many commands
        self.setpriv: str | None = None

    def take(self, argv: list[str], cwd: str, env: dict[str, str]) -> subprocess.Popen | None:
        ready = self.ready(argv, cwd, env)
        return ready.go() if ready is not None else None

    def ready(self, argv: list[str], cwd: str, env: dict[str, str]) -> "Ready | None":
        """The spare, told all but to become ``argv`` (see :class:`Ready`); None if there
        is none, or the program must be started the usual way."""
        if not _usable(env):
            return None
        with self._lock:
            # one being started (a run right after the last) is ready sooner than a new one
            self._made.wait_for(lambda: not self._making, timeout=0.02)
            spare, self._spare = self._spare, None
            covered = self._covered
        if spare is None:
            return None
        proc = spare
        if proc.poll() is not None or (covered and not self.lifeline.tell(f"+{proc.pid}")):
            _discard(proc)
            return None
        if covered:
            self._given = proc.pid
        try:
            proc.stdin.write(preamble(cwd, env))
            proc.stdin.flush()  # the shell goes to the folder and sets the environment now
        except OSError:
            self.drop(proc)
            return None
        return Ready(self, proc, argv)

    def drop(self, proc: subprocess.Popen) -> None:
        """A spare that will not become a program: stopped, and off the lifeline's list."""
        _discard(proc)
        self.released()  # no program of that group to wait for

    def started(self, pid: int) -> None:
        """A program started the usual way (a job process's first, or one a spare could not
        start): in a process that keeps spares, its group is the lifeline's to kill too
        (``setpriv``'s death signal reaches the program alone, not what it started)."""
        if self.wanted and _dash() and self.lifeline.ready() and self.lifeline.tell(f"+{pid}"):
            self._given = pid

    def released(self) -> None:
        """The program from the last :meth:`take` or :meth:`started` is reaped: its group is
        gone, and off the lifeline's list."""
        given, self._given = self._given, None
        if given is not None:
            self.lifeline.tell(f"-{given}")

    def refill(self, setpriv: str) -> None:
        """A program ended: a spare is wanted, started once the run's end is sent
        (:meth:`run_ended`), not while the job process still has that to do."""
        self.released()
        if not self.wanted or not _dash():
            return
        with self._lock:
            self.setpriv = setpriv
            self._pending = self._spare is None

    def run_ended(self) -> None:
        with self._lock:
            if not self._pending:
                return
            self._pending = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._make, name="spare-program",
                                                daemon=True)
                self._thread.start()
            self._making = True  # from now: a run that comes waits for it, not a new one
        self._wanted.set()

    def pid(self, wait: float = 0.0) -> int | None:
        """The spare's pid, if there is one (waiting up to ``wait`` for one being started)."""
        with self._made:
            self._made.wait_for(lambda: not self._making, timeout=wait)
            return self._spare.pid if self._spare else None

    def own(self, wait: float = 0.0) -> set[int]:
        """The processes this module keeps (the spare, waited for as :meth:`pid`, and the
        lifeline): children of this process that no program left."""
        spare, lifeline = self.pid(wait), self.lifeline.proc
        return {p for p in (spare, lifeline.pid if lifeline else None) if p is not None}

    def _make(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            with self._lock:
                if self._spare is not None:
                    self._making = False
                    self._made.notify_all()
                    continue
                self._making = True
            proc = None
            covered = self.lifeline.ready()
            try:
                shell = ["/bin/sh", "-c", ". /dev/stdin"]
                proc = subprocess.Popen(
                    shell if covered else [self.setpriv, "--pdeathsig", "KILL", "--", *shell],
                    cwd="/", env={},
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    close_fds=True, start_new_session=True)
                for pipe in (proc.stdout, proc.stderr):
                    widen(pipe.fileno())
            except OSError:
                pass
            finally:
                with self._lock:
                    self._spare, self._covered = proc, covered
                    self._making = False
                    self._made.notify_all()


class Ready:
    """A spare that has entered the program's folder and set its environment, and waits
    for its last line: :meth:`go` gives it, and the program starts at once (a run sent ahead
    of its claim is made ready this far while the claim commits), or :meth:`drop` stops it
    (the claim did not hold). One or the other, once."""

    def __init__(self, spares: _Spares, proc: subprocess.Popen, argv: list[str]) -> None:
        self._spares, self._proc, self._argv = spares, proc, argv

    @property
    def pid(self) -> int:
        """The spare's pid, the program's once it goes (a limit set on it is the program's)."""
        return self._proc.pid

    def go(self) -> subprocess.Popen | None:
        """The program, started; None if the spare is gone (it is started the usual way)."""
        proc = self._proc
        try:
            proc.stdin.write(become(self._argv))
            proc.stdin.close()
        except OSError:
            self._spares.drop(proc)
            return None
        proc.stdin = None
        proc.args = self._argv
        return proc

    def drop(self) -> None:
        self._spares.drop(self._proc)


def widen(fd: int) -> None:
    """Room in a pipe for :data:`PIPE_SIZE` bytes ahead of its reader; a system that refuses
    keeps its default."""
    try:
        import fcntl
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (ImportError, AttributeError, OSError):  # not Linux, or over the user's limit
        pass


@functools.cache
def _dash() -> bool:
    sh = shutil.which("sh", path="/bin")
    return bool(sh) and os.path.basename(os.path.realpath(sh)) == "dash"


def _discard(proc: subprocess.Popen) -> None:
    try:
        proc.kill()
    except OSError:
        pass
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


_spares = _Spares()
take = _spares.take
ready = _spares.ready
refill = _spares.refill
started = _spares.started
run_ended = _spares.run_ended
spare_pid = _spares.pid
own_pids = _spares.own


def want() -> None:
    """Keep a spare from the first command on: this process runs many (a job process)."""
    _spares.wanted = True
