"""Processes a job leaves running, found and stopped even when they left its process group.

A program that daemonizes something (``setsid server &``, or a double fork as many
"start a server" scripts do) puts it in a session of its own, out of reach of a ``killpg``
of the program's group, and its parent exits: the orphan is then reparented to init and
nothing links it to the run any more. On Linux the process that starts programs makes
itself a *child subreaper* (:func:`adopt_orphans`): orphaned descendants are reparented to
it instead, so they stay its children, where :class:`Leftovers` finds, stops and reaps them
when the run ends, and :func:`kill_tree` reaches them when the engine kills that process.

Reaping is done pid by pid, only for processes known to be leftovers: a ``waitpid(-1)``
would also take the exit status of a child that a ``subprocess.Popen`` still waits for.
Between a job process's runs, when no job code runs, :func:`reap_exited` reaps whatever
has exited.

What is not covered: a process that was never a descendant of ours (a program that asks
``systemd-run --user`` or a D-Bus service to start something), and leftovers of a process
that itself dies by ``kill -9`` from outside (they go to init then, as before).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
from typing import Callable

__all__ = ["adopt_orphans", "children", "descendants", "Leftovers", "run_begins", "reap_exited", "kill_children", "kill_tree", "reap"]

PR_SET_CHILD_SUBREAPER = 36
#: How long, after KILL, processes are waited for at most: one in uninterruptible sleep (a
#: hung network file system) may never go, and the run must still end.
GIVE_UP = 2.0
POLL = 0.01


@functools.cache
def adopt_orphans() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux 3.4+); once, for good."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # here: the engine process, which only kills trees, never needs it
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children(pid: int | None = None) -> set[int]:
    """The child processes of ``pid`` (this process when ``None``), zombies included."""
    base = f"/proc/{pid or 'self'}/task"
    try:
        tasks = os.listdir(base)
    except OSError:
        return set()
    out: set[int] = set()
    for tid in tasks:  # a child belongs to the thread that forked it (or adopted it)
        try:
            with open(f"{base}/{tid}/children", "rb") as f:
                out.update(int(p) for p in f.read().split())
        except FileNotFoundError:
            if os.path.isdir(f"{base}/{tid}"):  # a kernel without CONFIG_PROC_CHILDREN
                return _scan_children(pid or os.getpid())
        except OSError:  # a thread that ended meanwhile
            pass
    return out


def descendants(pid: int | None = None, *, skip: set[int] = frozenset()) -> dict[int, str]:
    """The live descendants of ``pid`` (this process when ``None``), by pid, with their
    names: its children, theirs, and so on, but for zombies (exited, only to be reaped) and
    those in ``skip`` with all below them. A process forked while they are read may be
    missed: who stops them looks again until none is left."""
    found: dict[int, str] = {}
    queue = [pid or os.getpid()]
    while queue:
        for child in children(queue.pop()) - skip:
            info = _stat(child)
            if info is None or child in found:
                continue
            if info[1] not in ("Z", "X"):
                found[child] = info[0]
            queue.append(child)
    return found


def reap(pids) -> None:
    """Reap those of ``pids`` that have exited (children of this process, no one else's
    to wait for any more)."""
    for pid in pids:
        _reap(pid)


def _scan_children(parent: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info and info[2] == parent:
                out.add(int(entry))
    return out


def _stat(pid: int) -> tuple[str, str, int, int] | None:
    """``(name, state, parent, process group)`` of ``pid``, or ``None`` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    name, rest = text[text.find("(") + 1:].rsplit(")", 1)
    state, ppid, pgid = rest.split()[:3]
    return name, state, int(ppid), int(pgid)


def _reap(pid: int) -> bool:
    """Reap ``pid`` if it has exited; True once it is no child of ours any more."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


def _signal(pid: int, sig: int, *, group: bool) -> None:
    try:
        if group:  # it leads a group of its own (it did setsid): its workers go with it
            os.killpg(pid, sig)
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _Calm:
    """The children this process had when a run's leftovers were all gone (see
    :meth:`Leftovers.stop`), and the run that left it so: the next run's start needs no
    look at ``/proc`` (one read per thread of this process) if nothing ran between, as
    nothing but job code starts processes here."""

    def __init__(self) -> None:
        self.runs = 0  # runs begun in this process (counted by a job process alone)
        self.after: int | None = None
        self.children: frozenset[int] = frozenset()


_calm = _Calm()


def run_begins() -> None:
    """A job process begins a run: the children seen at the last one's end hold for it."""
    _calm.runs += 1


class Leftovers:
    """What a program leaves in this process's care: children of this process that were
    not children when the program started (orphans reparented here), other than the
    program itself.

    Made just before the program starts. This process must start nothing else of its own
    while the program runs (a job process runs one run at a time; a foreground
    ``trayjobs run`` one attempt at a time), or that would count as a leftover too.
    """

    def __init__(self, *, log: Callable[[str], None] | None = None,
                 known: set[int] | None = None,
                 own: Callable[[], set[int]] = set) -> None:
        adopt_orphans()
        if known is None:
            known = (set(_calm.children) if _calm.after is not None
                     and _calm.after == _calm.runs - 1 else children())
        self.known = known
        #: Children this process started meanwhile for its own ends, no leftovers (a job
        #: process's spare shell for its next program and its lifeline, see
        #: trayjobs.engine.launcher).
        self._own = own
        self._log = log
        self._sent: dict[int, int] = {}  # pid -> the last signal sent to it
        self.program: int | None = None
        self._seen: set[int] = set()  # the children the last round found
        self._by_itself = False  # the program ended by itself, not by a cancel's TERM

    def started(self, program: int) -> None:
        """The program's pid, which is no leftover (its group is stopped by its starter)."""
        self.known.add(program)
        self.program = program

    def _round(self, sig: int) -> tuple[bool, bool]:
        """Signal the live leftovers with ``sig`` (once each) and reap the exited ones.
        Returns (any left, any reaped)."""
        left = reaped = False
        named = []
        self._seen = children()
        for pid in sorted(self._seen - self.known - self._own()):
            info = _stat(pid)
            if info is None or info[1] in ("Z", "X"):  # exited: only to be reaped
                if _reap(pid):
                    self._sent.pop(pid, None)
                    reaped = True
                else:
                    left = True
                continue
            left = True
            if self._sent.get(pid) in (sig, signal.SIGKILL):
                continue
            name, _, _, pgid = info
            # What stayed in the program's group is named when the program ended by itself
            # (its background jobs); after a cancel the group had its TERM and its KILL.
            if pid not in self._sent and (pgid != self.program or self._by_itself):
                named.append(f"{name} (pid {pid})")
            self._sent[pid] = sig
            if not (self._by_itself and pgid == self.program and sig == signal.SIGTERM):
                _signal(pid, sig, group=pgid == pid)  # (the group's TERM is its starter's)
        if named and self._log:
            self._log(f"stopping what the program left running in the background: "
                      f"{', '.join(named)}" + (" (a run ends when its program does; end a "
                                               "shell line with `wait` to have it wait for "
                                               "them)" if self._by_itself else ""))
        return left, reaped

    def term(self, *, by_itself: bool = False) -> None:
        """Ask the leftovers there are now to stop (a cancel, with the program's group).
        ``by_itself``: the program ended without a cancel, and what it left in its group
        is named too, before its starter sends the group TERM (once: a TERM trap runs
        once), so that one that stops at once is named all the same."""
        self._by_itself = by_itself
        self._round(signal.SIGTERM)

    def stop(self, *, kill_at: float, ended: Callable[[], bool], by_itself: bool = False) -> bool:
        """Stop and reap every leftover: TERM, then KILL from ``kill_at`` (monotonic time)
        on. ``ended()`` says the program has exited: its orphans are all here by then, and
        those of each leftover by the time it is reaped. ``by_itself``: the program ended
        without a cancel, and what it left in its group is named too. False if some would
        not go."""
        self._by_itself = by_itself
        give_up = max(kill_at, time.monotonic()) + GIVE_UP
        while True:
            done = ended()
            late = time.monotonic() >= kill_at
            left, reaped = self._round(signal.SIGKILL if late else signal.SIGTERM)
            # A round that reaped one may have read the children just before that one's
            # own were reparented here: only a round that reaped none finds all there are.
            if done and not left and not reaped:
                # What is here now is what the next run's start would find (its program,
                # exited, is about to be reaped: its pid is no longer this run's to know).
                _calm.after = _calm.runs
                _calm.children = frozenset(self._seen - {self.program})
                return True
            if time.monotonic() >= give_up:
                return False
            if not reaped:
                time.sleep(POLL)


def reap_exited() -> None:
    """Reap the children of this process that have exited: for a job process between runs,
    where no job code waits for one. Orphans that job code other than a command's
    program left (a plug-in's ``sh -c 'tool &'``) are adopted here, and would otherwise
    stay zombies, one more each run, for as long as the process is reused. (A ``Popen`` that
    job code keeps from one run to the next and waits for later then reads exit code 0.)

    Asked of the kernel one exited child at a time, left unreaped until then (``WNOWAIT``):
    after most runs there is none, and that answer costs one system call, not a read of
    each thread's children in ``/proc``."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # no children at all
            return
        if info is None or not _reap(info.si_pid):
            return


def kill_children() -> None:
    """SIGKILL every child of this process, and the children each leaves in turn: for a
    process about to exit, whose orphans would otherwise go on under init."""
    Leftovers(known=set()).stop(kill_at=0, ended=lambda: True)


def kill_tree(pid: int) -> None:
    """SIGKILL the descendants of ``pid``, a child of this process about to be killed
    itself, so that none is orphaned to init on the way. Each process is stopped
    (SIGSTOP) before its children are read, so the tree cannot fork or reap meanwhile
    (a pid read cannot be taken by a new process), and they are killed leaves first."""
    order: list[int] = []
    queue = [pid]
    seen = {pid}
    try:
        os.kill(pid, signal.SIGSTOP)
    except (ProcessLookupError, PermissionError):
        return
    while queue:
        parent = queue.pop(0)
        for child in children(parent) - seen:
            seen.add(child)
            try:
                os.kill(child, signal.SIGSTOP)
            except (ProcessLookupError, PermissionError):
                continue
            order.append(child)
            queue.append(child)
    for child in reversed(order):
        try:
            os.kill(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
