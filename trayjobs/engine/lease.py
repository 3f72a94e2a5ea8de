"""This process's worker row in the run store, and the heartbeat that keeps its lease.

A run belongs to the worker that claimed it (``runs.worker_id``) for as long as that
worker's lease lasts: ``lease`` seconds after its last heartbeat. The heartbeat is one
small UPDATE every sixth of the lease, on a thread of its own, so neither a long job, a
busy dispatcher nor the window's thread can make it late. After each beat, ``on_beat``
(the engine's look for runs whose worker is gone) runs on the same thread.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Callable

from .. import __version__
from ..errors import StoreBusy, StoreUnreachable
from ..store.api import RunStoreAPI

__all__ = ["Lease", "this_host", "this_machine", "use_host", "worker_state", "shown_state",
           "NO_QUEUE", "LEAVING", "LEFT", "pid_alive"]

log = logging.getLogger(__name__)

#: Seconds between this machine's clock and the store server's that are worth a warning.
CLOCK_WARN = 2.0


_configured_host: str | None = None


def use_host(name: str | None) -> None:
    """The name ``[cluster] host`` gives this machine (None: its host name)."""
    global _configured_host
    _configured_host = name


def this_host() -> str:
    """The name this machine's workers are known by: ``TRAYJOBS_HOST``, else ``[cluster]
    host``, else the host name."""
    return os.environ.get("TRAYJOBS_HOST") or _configured_host or socket.gethostname()


_machine: str | None = None
_boot = ""


def this_machine(*, boot: bool = True) -> str:
    """What tells this machine and pid namespace apart from every other: the machine id,
    this boot's id, the pid namespace's inode and the name it goes by (two homes of one
    computer that go by two host names play two machines, and are judged as such).

    The boot's id tells apart machines made from one image, which share a machine id
    (and, unlike containers, a pid namespace inode) and may share a host name: each took
    the other's live workers for dead processes of its own and ran their runs again.
    ``boot=False``: the same without it, for what outlives a reboot (a pid of before a
    reboot says nothing now either way)."""
    global _machine, _boot
    if _machine is None:
        ident = _read_id("/etc/machine-id", "/var/lib/dbus/machine-id")
        _boot = _read_id("/proc/sys/kernel/random/boot_id")
        try:
            ns = str(os.stat("/proc/self/ns/pid").st_ino)
        except OSError:
            ns = ""
        _machine = f"{ident or _boot or socket.gethostname()}:{ns}"
    if boot and _boot:
        return f"{_machine}:{_boot}:{this_host()}"
    return f"{_machine}:{this_host()}"


def _read_id(*paths: str) -> str:
    for path in paths:
        try:
            with open(path, encoding="ascii") as f:
                ident = f.read().strip()
        except (OSError, ValueError):
            continue
        if ident:
            return ident
    return ""


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs. A zombie does not: it ended,
    and only waits for its parent to hear of it, which may never come (a parent that does
    not reap its children, a container's first process); its runs were taken for going on
    until its lease ran out."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):  # no /proc here: the signal's answer stands
        return True


def worker_state(worker: dict | None) -> str:
    """``running``, ``stopped`` or ``lost`` (its lease is up; or, found at once, it was a
    process of this machine that is gone). A worker on another machine is alive while its
    lease lasts, whatever pids run here. No row at all: lost."""
    if worker is None:
        return "lost"
    if worker["state"] != "running":
        return worker["state"]
    if worker.get("expired"):
        return "lost"
    # Its pid says something only on the machine it ran on: a worker of another machine
    # with the same host name keeps its runs while it beats.
    if on_this_machine(worker) and not pid_alive(worker["pid"]):
        return "lost"
    return "running"


def on_this_machine(worker: dict) -> bool:
    """Whether ``worker`` ran on this machine (in this pid namespace): its pid says
    something here."""
    return (worker.get("machine") == this_machine() if worker.get("machine")
            else worker["host"] == this_host())


#: How a running worker that cannot reach its queue is shown (``workers``, ``cluster status``,
#: the Workers list): it beats, but takes no runs.
NO_QUEUE = "no queue"
#: How a running worker whose home left the cluster (`cluster leave`) is shown: it finishes
#: the runs it runs and takes no new one until its restart completes the leave.
LEAVING = "leaving"
#: The ``problem`` such a worker gives in its row.
LEFT = "has left the cluster (a restart completes it)"


def shown_state(worker: dict | None) -> str:
    """:func:`worker_state` as a person is shown it: a running worker that says it cannot
    run jobs (its ``problem``) reads :data:`LEAVING` when its home left the cluster, and
    :data:`NO_QUEUE` otherwise (its queue does not answer)."""
    state = worker_state(worker)
    problem = (worker or {}).get("problem")
    if state != "running" or not problem:
        return state
    return LEAVING if problem == LEFT else NO_QUEUE


class Lease:
    def __init__(self, store: RunStoreAPI, *, mode: str, lease: float,
                 on_beat: Callable[[], None] | None = None) -> None:
        self.store = store
        self.mode = mode
        self.lease = lease
        self.on_beat = on_beat
        self.on_lost: Callable[[int], None] | None = None  # told the id a new one replaced
        #: Told each beat that found the store's server away, and each that reached it
        #: (the engine's reconnect: the beat is its probe). While it is away, ``on_beat``
        #: is not called: every look it takes needs the store.
        self.on_unreachable: Callable[[StoreUnreachable], None] | None = None
        self.on_reached: Callable[[], None] | None = None
        self.id: int | None = None
        #: Why this worker cannot run jobs although it beats (see :meth:`set_problem`).
        self.problem: str | None = None
        self._problem_told = True  # whether the row says self.problem
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def every(self) -> float:
        return self.lease / 6

    def start(self) -> int:
        """Register this process as a worker and start beating; its id."""
        self._stop.clear()
        self.id = self._register()
        self._thread = threading.Thread(target=self._loop, name="trayjobs-heartbeat",
                                        daemon=True)
        self._thread.start()
        return self.id

    def _sync_clock(self) -> None:
        """Measure this machine's clock against the store's (a server's): the store writes
        and compares leases in the server's time; an offset worth knowing is said once."""
        try:
            offset = self.store.sync_clock()
        except Exception as exc:  # the beat that follows says what is wrong with the store
            log.debug("could not compare clocks with the store: %s", exc)
            return
        said = getattr(self, "_clock_said", False)
        if abs(offset) >= CLOCK_WARN and not said:
            log.warning("this machine's clock is %.1f s %s the run history's server; leases "
                        "are kept in the server's time, but schedules follow this clock: "
                        "turn on time sync (systemd-timesyncd or chrony)", abs(offset),
                        "behind" if offset > 0 else "ahead of")
            self._clock_said = True
        elif abs(offset) < CLOCK_WARN / 2:
            self._clock_said = False

    def _register(self) -> int:
        self._sync_clock()
        self._problem_told = True  # written with the row
        return self.store.register_worker(host=this_host(), pid=os.getpid(),
                                          version=__version__, mode=self.mode,
                                          lease=self.lease, machine=this_machine(),
                                          problem=self.problem)

    def set_problem(self, problem: str | None) -> None:
        """Say in this worker's row why it cannot run jobs now (None: it can again), for
        the other engines (they count it out) and ``cluster status``. Written by a beat
        that reaches the store, should it not answer now."""
        self.problem, self._problem_told = problem, False
        self._tell_problem()

    def _tell_problem(self) -> None:
        worker, problem = self.id, self.problem
        if self._problem_told or worker is None:
            return
        try:
            self.store.set_worker_problem(worker, problem)
        except Exception as exc:  # the next beat tries again
            log.debug("could not record this worker's problem: %s", exc)
            return
        if self.problem == problem:
            self._problem_told = True

    def stop(self, *, record: bool = True) -> None:
        """Stop beating and say this worker stopped (call once its runs have ended).
        ``record=False``: the store is away; the lease runs out by itself."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self.id is not None and not record:
            log.warning("could not record that this worker stopped (the run history cannot "
                        "be reached); its lease runs out by itself")
            self.id = None
        if self.id is not None:
            try:
                self.store.stop_worker(self.id)
            except StoreBusy as exc:  # its lease runs out by itself
                log.warning("could not record that this worker stopped: %s", exc)
            self.id = None

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.beat()
            except StoreUnreachable as exc:  # the next beat tries again
                if self.on_unreachable is not None:
                    try:
                        self.on_unreachable(exc)
                    except Exception:
                        log.exception("telling that the run history is away failed")
                continue
            except Exception:  # a store that is busy for a moment: the next beat tries again
                log.exception("heartbeat failed")
            else:
                if self.on_reached is not None:
                    try:
                        self.on_reached()
                    except Exception:
                        log.exception("catching up with the run history failed")
            if self.on_beat is not None and not self._stop.is_set():
                try:
                    self.on_beat()
                except StoreUnreachable as exc:  # gone since the heartbeat: said as such
                    if self.on_unreachable is not None:
                        try:
                            self.on_unreachable(exc)
                        except Exception:
                            log.exception("telling that the run history is away failed")
                except Exception:
                    log.exception("looking for the runs of lost workers failed")

    def beat(self) -> None:
        self._sync_clock()
        if self.id is None or self.store.beat(self.id):
            self._tell_problem()
            return
        # Another worker found our lease expired (this machine slept, or the store did not
        # answer for that long) and took our runs back: carry on under a new id. The runs
        # we are still executing are no longer ours; their ends are not recorded.
        old = self.id
        self.id = self._register()
        log.error("this worker (%d) was taken for lost by another, which recovered its "
                  "runs; it goes on as worker %d", old, self.id)
        if self.on_lost is not None:
            self.on_lost(old)
