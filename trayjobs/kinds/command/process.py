"""Starting a program in a process group of its own, and stopping all of it.

The program leads a new session, so one ``killpg`` reaches everything it
started. On Linux it also dies with the job process that started it
(``PR_SET_PDEATHSIG``): were the job process killed outright, the program
would otherwise run on with no one reading its output. Its own children are
stopped through the group: by the job process when its run ends or its engine
goes away, and by the engine when the job process itself dies (the group is
reported to it). Those that left the group (``setsid``) are found as orphans
the job process adopted (:mod:`trayjobs.leftovers`).

The death signal is set by util-linux's ``setpriv --pdeathsig KILL``, which then
execs the program in its place, not by a ``preexec_fn``: Python forks a process
that runs Python code after the fork in full (and the job process's pages are
then copied as both write to them), 5-10 ms of CPU a run, where without it
``subprocess`` uses ``vfork`` and the extra exec costs about 1 ms. A system
without that ``setpriv`` gets the ``preexec_fn``.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from ...engine import launcher
from ..memory import limit_child, limiter

__all__ = ["Start", "spawn", "ready_next", "spare", "signal_group", "exited", "dumped_core",
           "find_program", "startable",
           "exec_failure",
           "missing"]

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the line above: follow it
            os._exit(1)

    return preexec


@functools.cache
def _setpriv() -> str | None:
    """The path of a ``setpriv`` that knows ``--pdeathsig`` (util-linux 2.33 and later)."""
    if not sys.platform.startswith("linux"):
        return None
    path = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--help"], stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return path if b"--pdeathsig" in out else None


#: What ``setpriv`` says on stderr, exiting 126 or 127, when it cannot exec the program.
_SETPRIV_FAILED = "setpriv: failed to execute "


#: Why a program that is there cannot be started, said as "not found" (the spare shell) or
#: "No such file or directory" (``setpriv``, ``Popen``).
BAD_INTERPRETER = "the interpreter its first line (#!) names is not there"


def exec_failure(argv: list[str], code: int, last_stderr: str | None, *,
                 cwd: Path, path: str | None) -> str | None:
    """Why the program could not be started, when ``setpriv`` or a spare shell could not
    exec it (they then exit 126 or 127 with a line on stderr, where ``Popen`` would raise),
    else ``None``."""
    if code not in (126, 127) or not last_stderr or not _setpriv():
        return None
    line = last_stderr.strip()
    prefix = f"{_SETPRIV_FAILED}{argv[0]}: "
    if line.startswith(prefix):
        return missing(argv[0], line[len(prefix):], cwd=cwd, path=path)
    m = launcher.FAILED_EXEC.match(line)
    if m and line.startswith(f"{argv[0]}: ", m.end()):
        return missing(argv[0], line[m.end() + len(argv[0]) + 2:], cwd=cwd, path=path)
    return None


def missing(program: str, why: str, *, cwd: Path, path: str | None) -> str:
    """``why`` the program could not be started, in the same words whoever started it."""
    if why in ("not found", "No such file or directory"):
        return BAD_INTERPRETER if find_program(program, cwd=cwd, path=path) is None else \
            "No such file or directory"
    return why


class Start:
    """A program's start, made ready as far as it can be before it happens: with a spare
    shell (in a job process, see :mod:`trayjobs.engine.launcher`), the shell has entered
    the program's folder and set its environment, and :meth:`go` only has it ``exec`` the
    program. (A run sent ahead of its claim does this much while the claim commits.)
    Either :meth:`go` or :meth:`drop`, once."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str],
                 memory: int | None = None) -> None:
        self.argv, self.cwd, self.env, self.memory = argv, cwd, env, memory
        self._ready: launcher.Ready | None = None
        if _setpriv():
            where = _spare_cwd(cwd)
            self._ready = launcher.ready(argv, where, env) if where else None
        if self._ready is not None and memory and not limit_child(self._ready.pid, memory):
            self.drop()  # the usual start sets the limit in the program's process itself

    def go(self) -> subprocess.Popen:
        """``argv`` started in ``cwd`` with the environment ``env``, its stdout and stderr
        piped, leading a session of its own, dying with this process (on Linux)."""
        ready, self._ready = self._ready, None
        proc = ready.go() if ready is not None else None
        return proc if proc is not None else _popen(self.argv, cwd=self.cwd, env=self.env,
                                                    memory=self.memory)

    def drop(self) -> None:
        """The program will not be started: the spare told about it goes, a new one is made."""
        ready, self._ready = self._ready, None
        if ready is not None:
            ready.drop()
            ready_next()


def spawn(argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """``argv`` started in ``cwd`` with the environment ``env`` (see :meth:`Start.go`)."""
    return Start(argv, cwd=cwd, env=env).go()


def _popen(argv: list[str], *, cwd: Path, env: dict[str, str],
           memory: int | None = None) -> subprocess.Popen:
    setpriv = _setpriv()
    if setpriv:
        argv, preexec = [setpriv, "--pdeathsig", "KILL", "--", *argv], None
    else:
        preexec = _die_with_parent()
    if memory:  # set in the new process before it becomes the program (a fork, not a vfork)
        preexec = _limited(preexec, memory)
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
                            start_new_session=True, preexec_fn=preexec)
    for pipe in (proc.stdout, proc.stderr):
        launcher.widen(pipe.fileno())
    launcher.started(proc.pid)
    return proc


def _limited(preexec: Callable[[], None] | None, memory: int) -> Callable[[], None] | None:
    limit = limiter(memory)
    if limit is None or preexec is None:
        return limit or preexec

    def limited() -> None:
        preexec()
        limit()

    return limited


def _spare_cwd(cwd: Path) -> str | None:
    """``cwd`` as the spare, which runs in ``/``, must be told it; ``None`` where the
    program is to be started the usual way: a folder it cannot enter (``Popen`` then says
    why, where the spare's ``cd`` only fails), or a relative one in this process's own
    folder when that is gone (removed after the app or worker started there), which
    ``chdir`` still finds but ``getcwd`` cannot name."""
    try:
        where = os.path.join(os.getcwd(), cwd) if not cwd.is_absolute() else str(cwd)
    except OSError:
        return None
    return where if os.access(where, os.X_OK) else None


def ready_next() -> None:
    """A program has ended: have the next one's start made ready (a job process keeps a
    spare, see :mod:`trayjobs.engine.launcher`) once the run's end is sent."""
    setpriv = _setpriv()
    if setpriv:
        launcher.refill(setpriv)


def spare() -> set[int]:
    """The processes this one keeps for its next programs (a spare shell, one being started
    waited for a moment, and the lifeline): no leftovers of the run that started them."""
    return launcher.own_pids(wait=1.0)


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def exited(proc: subprocess.Popen) -> bool:
    """Has the program ended? Unlike ``poll()`` this leaves it unreaped, so its process
    group id cannot be taken by a new process while the rest of the group is stopped."""
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def dumped_core(proc: subprocess.Popen) -> bool:
    """Whether the program, exited and not yet reaped, dumped core as it died (what a shell
    says as "(core dumped)"; ``Popen``'s return code does not tell)."""
    if proc.returncode is not None or not hasattr(os, "CLD_DUMPED"):
        return False
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return info is not None and info.si_code == os.CLD_DUMPED


def wait_exited(proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not exited(proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def find_program(program: str, *, cwd: Path, path: str | None) -> str | None:
    """Why ``program`` cannot be started, or ``None`` when it can."""
    if "/" in program:
        file = Path(program) if Path(program).is_absolute() else cwd / program
        if not file.exists():
            return f"the program {program!r} does not exist; check the path"
        if file.is_dir():
            return f"{program!r} is a folder, not a program; name the program in it"
        if not os.access(file, os.X_OK):
            return (f"{program!r} is not an executable program; "
                    f"make it executable (chmod +x) or run it through its interpreter")
        return None
    if shutil.which(program, path=path) is None:
        return (f"the program {program!r} was not found on PATH; install it "
                f"or give its full path")
    return None


#: Where each program named without a folder was found last, by (name, PATH): a job
#: process runs the same programs again and again.
_found: dict[tuple[str, str | None], str] = {}
_FOUND_MAX = 256


def startable(program: str, *, cwd: Path, path: str | None) -> str | None:
    """:func:`find_program`, as asked before each start: a program found on PATH before is
    looked for where it was found first (a look at one file, where a walk of PATH is a
    few system calls per folder before it). Still there and executable, it can be
    started (the first of that name on PATH, which the start runs, may be another)."""
    if "/" in program:
        return find_program(program, cwd=cwd, path=path)
    key = (program, path)
    known = _found.get(key)
    if known is not None and os.access(known, os.X_OK) and not os.path.isdir(known):
        return None
    found = shutil.which(program, path=path)
    if found is None:
        _found.pop(key, None)
        return find_program(program, cwd=cwd, path=path)
    if os.path.isabs(found):  # one found in a relative folder of PATH depends on the cwd
        if len(_found) >= _FOUND_MAX:
            _found.clear()
        _found[key] = found
    return None
