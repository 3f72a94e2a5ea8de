"""The engine: the process that runs jobs (the app, or ``trayjobs worker``).

It owns the Huey consumer, the pool of job processes, the scheduler thread
(:mod:`.scheduling`) and crash recovery (:mod:`.recovery`). It is a worker in the run store, with a lease kept by a heartbeat
(see :mod:`.lease`): the runs it claims are its own while the lease lasts. Runs
flow: ``submit`` writes a queued run to the store; the dispatcher hands run ids to
the queue within each job's concurrency and in priority order; a consumer worker
claims the run (a compare-and-set in the store, so a doubled message is harmless)
and executes it in a job process; the outcome becomes success, a retry with
backoff, or a final failure. (On a Redis queue, a run a person starts of a parallel job
that any worker may run skips the dispatchers: its submitter enqueues it.)

Several engines (each in its own home) may share one history and one Redis queue
(``[cluster]``). Then one of them leads (:mod:`.leader`): it alone fires the schedules,
starts the one-off runs, prunes and sends the alerts. Every engine dispatches and
executes. A run pinned to a host (``runs.host``) is handed to that host's queue on Redis,
or, without Redis, dispatched only by an engine of that host into its own queue file;
while that host has no live worker the run waits, and the leader writes why in its
``wait_reason``. At each heartbeat an engine also renews (or takes) the lead, reads the
control messages of the other homes when they come through the store, asks its runs
that someone cancelled elsewhere to stop, and dispatches.

The history's server (PostgreSQL) may be away, at start or later. The engine then starts
anyway and says so (a :class:`Notice` with ``details["problem"] = "store"``, cleared by one
with ``"clear"``); it claims no run and plans nothing until the server answers, which the
heartbeat tries with the pool reconnecting under it. Runs already executing go on to
their end; their progress and log lines wait in memory, and their end is kept in the local
spool (:mod:`.spool`) and written when the server answers, exactly once (:mod:`.outage`). For a lease after
the server came back, an engine takes no other worker for lost because its lease ran out:
they could not beat either.

The queue's server (Redis) may be away too, or never reachable from this machine (a wrong
``[cluster] redis``). The engine then says so once, with what to check; it hands no run to
the queue, and its worker row says why (``problem``), so that the other engines neither
count on it for pinned runs nor leave it the lead. It takes runs again once the queue
answers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import threading
import time
from datetime import tzinfo
from typing import Any, Callable

from ..alerts.service import Alerts
from ..cluster import clustered
from ..config import Config, JobConfig
from ..errors import StoreBusy, StoreUnreachable, UserError
from ..instance import LOST_HOME, InstanceLock
from ..kinds.registry import get_kind, resumes_after_crash
from ..paths import Home
from ..queue import QueueUnavailable
from ..schedule import local_zone
from ..store import FINAL_STATES, HANDED_BY_SUBMITTER, SCHEDULED
from ..watch import WatchManager, jobs_accepting
from .control import SCHEDULE_PROBLEM, Control, last_good_path
from .dispatch import Dispatching
from .events import JobsChanged, Notice, RunChanged
from .executor import Executor, Outcome, Prepared, RunHandle
from .leader import Leadership
from .follower import Follower
from .outage import StoreOutage
from .recovery import MAX_DEATHS, Recovery, claim_of, died_text
from .scheduling import Scheduling
from .waiting import Waiting
from .lease import LEFT, Lease, this_host
from .spool import Spool
from .tracker import AttemptTracker

__all__ = ["Engine", "backoff_delay"]

log = logging.getLogger(__name__)

#: Cancels of runs not running here remembered, at most (see Engine._cancel_running).
EARLY_CANCELS = 1000
#: Handed runs the leader looks for on Redis at a time, at most (see Engine._unhand_lost).
UNHAND_LOOK = 5000
#: Longest wait, in seconds, between two tries of a history server that is away at start.
STORE_RETRY_MAX = 15.0


class Halted(UserError):
    """The engine was asked to stop while it waited for the history's server."""


def backoff_delay(attempt: int, *, base: float, cap: float, jitter: bool,
                  rand: Callable[[], float] = random.random) -> float:
    """Seconds before the attempt after ``attempt``: base·2^(attempt-1), ±25 % jitter,
    never more than ``cap`` (it is documented as the longest wait, jitter included)."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    if jitter:
        delay *= 0.75 + 0.5 * rand()
    return min(cap, delay)


class Engine(StoreOutage, Recovery, Scheduling, Waiting, Dispatching, Control):
    def __init__(self, home: Home, *, config: Config | None = None, workers: int | None = None,
                 scheduler: bool = True, grace: float = 3.0, tz: tzinfo | None = None,
                 clock: Callable[[], float] = time.time, mode: str = "app") -> None:
        # The app and the worker start while the store's server is away (start() waits
        # for it, saying so); a foreground run needs it at once, as any command.
        super().__init__(home, config=config, connect=mode == "cli")
        self.workers = workers or self.config.settings.workers
        self._tz = tz
        self._tz_given = tz is not None  # else the machine's, read again at each tick
        self.clock = clock
        self.mode = mode
        self._follower: Follower | None = None
        self.lock = InstanceLock(home)
        self.executor = Executor(home, grace=grace)
        self._with_scheduler = scheduler
        self._handles: dict[int, RunHandle] = {}
        # Reentrant: a foreground run's Ctrl-C handler cancels through it, on the thread that
        # may be holding it when the signal lands.
        self._handles_lock = threading.RLock()
        self._early_cancels: dict[int, None] = {}  # runs told to stop before they ran here
        self._handed_seen: dict[int, float] = {}  # handed runs found on Redis, and when
        self._unhand_next = 0.0  # (monotonic) when the leader looks for lost messages next
        self._dispatch_lock = threading.Lock()
        #: Runs sent to a job process as they were dispatched, before their claim (see
        #: _send_ahead), by run id, until their worker takes them.
        self._ahead: dict[int, Prepared] = {}
        self._ahead_lock = threading.Lock()
        self._dispatch_again = False
        # Whether runs may still wait for this dispatcher (it left some behind, or could
        # not tell): then the end of any run dispatches; else only the end of one that a
        # dispatcher handed over (its slot frees), not of one its submitter queued itself.
        self._backlog = True
        self._cond = threading.Condition()
        self._wakes = 0  # wake-ups asked for: one asked while the scheduler looked is not lost
        self._stopping = False
        self._started = False
        self._sched_thread: threading.Thread | None = None
        self._prune_thread: threading.Thread | None = None  # the scheduler's, while it prunes
        self._catchup_after = 0.0  # monotonic time before which missed runs wait (after wake)
        self._plan_problems: dict[str, str] = {}  # job: why its schedule failed, as told
        self.on_control: Callable[[dict[str, Any]], None] | None = None  # extra ops (the UI's "show")
        self.watches = WatchManager(self)
        # Alerts and heartbeat pings: queued in the store as runs start and end, sent by a
        # thread of their own (started with the engine; a foreground run flushes them).
        self.alerts = Alerts(self.store, lambda: self.config, bus=self.bus, clock=clock)
        #: What the system services say (power, network, idle), for run conditions; started
        #: once a job has conditions.
        self.system = None
        self._recheck_lock = threading.Lock()
        self._told_unknown: set[tuple[str, str]] = set()
        self._queue_problem: str | None = None  # why the queue's server is unreachable, as told
        self._home_lost = False  # the data folder's deletion, told
        self._queue_lock = threading.Lock()
        self.queue.on_lost = self._send_lost
        self.queue.on_down = self._queue_down
        # This process as a worker: registered as it starts (a foreground run: as it runs),
        # its heartbeat on a thread of its own. After each beat it looks for running runs
        # whose worker is gone; a foreground ``trayjobs run`` leaves that to the others, and
        # looks only whether its run was asked to stop (`trayjobs cancel` elsewhere, whose
        # message has no listener in this process).
        self.lease = Lease(self.store, mode=mode, lease=self.config.cluster.lease,
                           on_beat=self._stop_cancelled if mode == "cli" else self._on_beat)
        self.lease.on_lost = self._taken_for_lost
        self._recover_lock = threading.Lock()
        # One scheduler per cluster; a lone engine leads without asking anyone.
        self.leadership = Leadership(self.store, lease=self.config.cluster.lease,
                                     enabled=self.clustered, on_change=self._lead_changed)
        self._lead_lock = threading.Lock()
        self._live_hosts: set[str] = set()  # hosts with a live worker, as of the last beat
        self._live_engines = 1
        self._able_others = 0  # live engines besides this one that can read the queue
        self._troubled_hosts: dict[str, str] = {}  # hosts with no able worker: why not
        self._control_seen = 0  # the last control message read from the store
        # The history's server away: why (as told), since when it answers again, and the
        # ends of runs kept meanwhile.
        self.spool = Spool(home.data_dir / "spool")
        #: Ends of runs that neither the history nor the spool had room for (see
        #: :meth:`_spool_end`), written with the spool's once the history answers.
        self._held_ends: list[dict[str, Any]] = []
        self._store_problem: str | None = None
        self._full_where: str | None = None  # the file on a full disk (_store_lost)
        self._store_back_at = float("-inf")  # monotonic
        self._replay_lock = threading.RLock()
        self._halt = threading.Event()
        self.lease.on_unreachable = self._store_lost
        self.lease.on_reached = self._store_reached
        self._told_versions: frozenset = frozenset()
        #: Why this engine takes no new shared run: [cluster] was removed from the jobs file
        #: (`cluster leave`), and the leave is complete only at a restart.
        self._left: str | None = None

    @property
    def tz(self) -> tzinfo:
        """The zone schedules are planned in: the machine's, looked up when first needed (a
        foreground ``trayjobs run`` plans nothing), and again at each tick: see
        :meth:`_read_tz`."""
        if self._tz is None:
            self._tz = local_zone()
        return self._tz

    def _read_tz(self) -> None:
        """Look at the machine's zone again: a laptop taken to another one has it set there
        while trayjobs runs, and its schedules follow from their next slot on."""
        if not self._tz_given:
            self._tz = local_zone(fresh=True)

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        """Take the home's lock, recover from a crash, start consuming and scheduling."""
        self.lock.acquire(self.mode)
        try:
            self._wait_for_store()
            # Ends kept while the server was away are written before anything else looks
            # at the runs: recovery would take their runs for lost.
            self.replay_spool()
            if self.queue.shared:
                # Looked at before this worker registers: one that cannot reach its queue
                # says so now, and is registered as such (the others count it out).
                try:
                    self.queue.ping()
                except QueueUnavailable as exc:
                    self._queue_down(exc)
            self.lease.start()
            self._tell_other_versions()
            self._tell_newer_history()
            if self.clustered:
                self._refresh_peers()
                self._control_seen = self.store.last_control_id()
                self._renew_lead()
            self.recover()
            if self.leadership.held:
                # Problems told by an earlier start; this one's scheduler finds its own.
                self.store.delete_values(SCHEDULE_PROBLEM)
            self.executor_warm()
            self.queue.start_consumer(self._execute, workers=self.workers,
                                      control=self._on_control)
            if self.clustered and self.queue.shared:
                # Messages missed while unsubscribed are gone: look at the store again.
                self.queue.start_subscriber(self._on_cluster_message,
                                            on_connect=self.dispatch_pending)
            if self.clustered and self.mode == "app":
                # The window shows the other machines' runs as they change.
                self._follower = Follower(self.store, self.bus,
                                          mine=lambda r: r.get("worker_id") == self.lease.id)
                self._follower.start()
            self._started = True
            if self._follow_conditions():
                # Their first reading takes milliseconds; runs due meanwhile would wait
                # (state "waiting") for nothing.
                self.system.ready.wait(3)
            for job in self.config.jobs.values():
                if job.enabled and job.at_login and not self.paused(job.name) and not self.paused():
                    self.submit(job.name, trigger="login")
            if self._with_scheduler:
                self._sched_thread = threading.Thread(target=self._scheduler_loop,
                                                      name="trayjobs-scheduler", daemon=True)
                self._sched_thread.start()
            self.watches.start()
            with self._lead_lock:
                if self.leadership.held:
                    self.alerts.start()
            self.dispatch_pending()
            self.recheck_waiting()
        except BaseException:
            if self._follower is not None:
                self._follower.stop()
            self.queue.stop_subscriber()
            self.alerts.stop()
            self.watches.stop()
            self._stop_conditions()
            self.lease.stop(record=self._store_problem is None)
            self.lock.release()
            raise

    def halt(self) -> None:
        """Stop waiting for the history's server (a start still waiting raises
        :class:`Halted`); call :meth:`stop` for an engine that started."""
        self._halt.set()

    def _wait_for_store(self) -> None:
        """Until the store answers (and is migrated), try again with backoff, saying once
        why it does not."""
        if getattr(self.store, "migrated", True):
            return  # a file, or a server spoken to already
        delay = 0.25
        cap = min(STORE_RETRY_MAX, max(1.0, self.lease.lease / 2))
        while True:
            try:
                self.store.migrate()
            except StoreUnreachable as exc:
                self._store_lost(exc)
            else:
                break
            if self._halt.wait(delay):
                raise Halted("stopped while waiting for the run history's server")
            delay = min(delay * 2, cap)
        self._store_reached()

    def executor_warm(self) -> None:
        for _ in range(self.workers):
            self.executor._spawn_later()

    def stop(self, *, timeout: float | None = None) -> None:
        """Stop gracefully: running attempts are asked to stop, then killed after the grace
        period; they end ``interrupted`` and are resumed at the next start."""
        self._stopping = True
        self.watches.stop()
        with self._cond:
            self._cond.notify_all()
        with self._handles_lock:
            handles = list(self._handles.values())
        for h in handles:
            h.request_cancel()
        wait = timeout if timeout is not None else self.executor.grace + 5
        self.queue.stop_consumer(timeout=wait)
        with self._ahead_lock:  # runs sent ahead that no worker took: dropped
            ahead, self._ahead = list(self._ahead.values()), {}
        for prepared in ahead:
            self.executor.abort(prepared)
        if self._sched_thread is not None:
            self._sched_thread.join(2)
        if self._prune_thread is not None:  # it ends after the batch it is at
            self._prune_thread.join(5)
        self._stop_conditions()
        self.executor.close()
        with self._lead_lock:
            self.alerts.stop()
        self._started = False
        if self._follower is not None:
            self._follower.stop()
            self._follower = None
        self.queue.stop_subscriber()
        if (self.leadership.enabled and self.leadership.token is not None
                and self._store_problem is None):
            self.leadership.release(self.lease.id)
            # The others take the lead now, not in a lease; told on a thread, waited for a
            # moment: a queue server that does not answer must not hold the quit.
            tell = threading.Thread(target=self._broadcast, args=({"op": "lead"},),
                                    daemon=True, name="trayjobs-stop-tell")
            tell.start()
            tell.join(1.0)
        # Its runs have ended (interrupted at the latest, or kept in the spool): none is left.
        self.lease.stop(record=self._store_problem is None)
        self.lock.release()

    # -- the Control hooks, acting directly in this process -----------------------------

    def _tell(self, message: dict[str, Any]) -> bool:
        self._on_control(message, here=True)
        self._broadcast(message)  # a run to cancel may be another engine's, and so on
        return True

    def _hands_itself(self, *args: Any, **kwargs: Any) -> bool:
        # A foreground `trayjobs run` runs its run here: put on the shared queue, it would
        # wait for a server that may be down (and say so) or be taken by a worker first.
        return self.mode != "cli" and super()._hands_itself(*args, **kwargs)

    def _runs_submitted(self, run_id: int | None = None, *,
                        row: dict[str, Any] | None = None) -> None:
        early = row is not None and self._send_early(row)
        self.dispatch_pending()  # its own runs: told on its bus already
        if early:
            self._unless_dispatched(row["id"])
        if self.clustered:
            self._broadcast({"op": "dispatch"})  # a run pinned elsewhere is theirs to send

    def _cancel_running(self, run_id: int) -> None:
        with self._handles_lock:
            handle = self._handles.get(run_id)
            if handle is None:
                # Perhaps claimed here but not yet running: its attempt looks at this
                # as it starts. (Most are other engines' runs: only the latest are kept.)
                self._early_cancels[run_id] = None
                while len(self._early_cancels) > EARLY_CANCELS:
                    self._early_cancels.pop(next(iter(self._early_cancels)))
        if handle is not None:
            handle.request_cancel()

    def _on_control(self, msg: dict[str, Any], *, here: bool = False) -> None:
        """Act on a control message: from another process (the CLI, the cluster's other
        homes), or (``here``) from this one, which told its bus of the run already."""
        op = msg.get("op")
        if op in ("wake", "dispatch", "changed") and msg.get("run") is not None and not here:
            # A run changed after its end (undone) is not ended again: told as not final,
            # nothing (a notification) tells of its end twice.
            self._changed_elsewhere(int(msg["run"]), ended=op != "changed")
        if op == "dispatch":
            self.dispatch_pending()
        elif op == "cancel":
            self._cancel_running(int(msg["run"]))
        elif op == "reload":
            self._use_config(self._read_config())
        elif op == "wake":
            self._wake_scheduler()
        elif op == "lead":
            if self._started and not self._stopping:
                self._renew_lead()
        elif op == "pruned":  # off this thread: removing folders may take a while
            threading.Thread(target=self._remove_pruned, args=(msg.get("runs") or [],),
                             name="trayjobs-pruned", daemon=True).start()
        elif op == "changed":
            pass  # told above: the window shows the run as it is now (``trayjobs undo``)
        elif op == "paused":
            self.bus.emit(JobsChanged("paused"))
            self.watches.on_paused_changed()
            self._wake_scheduler()
            self.dispatch_pending()
        elif self.on_control is not None:
            self.on_control(msg)

    def _remove_pruned(self, run_ids: list[int]) -> None:
        try:
            self.remove_pruned_outputs(run_ids)
        except Exception:  # the next prune's message tries again for its own runs only
            log.exception("could not remove the output folders of pruned runs")

    def _changed_elsewhere(self, run_id: int, *, ended: bool = True) -> None:
        """A run that another process created, ended or changed without this engine
        (``trayjobs run --at``, ``trayjobs cancel``, ``trayjobs undo``): told on the bus as
        another machine's run is, so that the window shows it now, not once this engine
        starts it, or never. Also one this engine ran: a run waiting for its next attempt,
        cancelled, or an ended run undone, is this worker's still. Not one going here: this
        engine tells of it, and the row read now may be older than what it told."""
        try:
            run = self.store.get_run(run_id)
        except Exception as exc:  # the store is busy or away: the run shows when it starts
            log.debug("run %s changed elsewhere: %s", run_id, exc)
            return
        if run is None:
            return
        mine = run.get("worker_id") == self.lease.id
        if mine and run["state"] == "running":
            return
        # One of its own is not told as ended here: if it ended here, that was told (a
        # message come late must not notify of it twice); cancelled elsewhere while it
        # waited, its end was the canceller's to tell.
        final = ended and not mine and run["state"] in FINAL_STATES
        self.bus.emit(RunChanged(run, final=final, remote=True))

    def _on_cluster_message(self, msg: dict[str, Any]) -> None:
        """A control message from another home's process (what this home's own processes
        send reaches this engine directly)."""
        if msg.get("origin") != self.origin:
            self._on_control(msg)

    # -- the cluster: lead, peers, control through the store ------------------------------

    def _lead_changed(self, held: bool) -> None:
        """The lead came to this engine or left it: the alerts (and the stale timer) go
        with it; the scheduler looks at once."""
        if not self._started or self._stopping:
            return
        with self._lead_lock:
            if held:
                self.alerts.start()
            else:
                self.alerts.stop()
        self.bus.emit(Notice("info", "this trayjobs now runs the cluster's schedules and "
                                     "alerts" if held else "another trayjobs now runs the "
                                     "cluster's schedules and alerts"))
        self._wake_scheduler()

    def _refresh_peers(self) -> None:
        """Which hosts have a live worker (app or worker, lease not up, able to read the
        queue), and how many; and why the others on a host without one cannot."""
        workers = self.store.workers(since=time.time())
        running = [w for w in workers if w["state"] == "running" and w["mode"] != "cli"]
        live = [w for w in running if not w.get("problem")]
        mine = {this_host()} if self._queue_problem is None and not self._left else set()
        self._live_hosts = {w["host"] for w in live} | mine
        self._live_engines = max(1, len(live))
        self._able_others = sum(w["id"] != self.lease.id for w in live)
        self._troubled_hosts = {w["host"]: w["problem"] for w in running
                                if w.get("problem") and w["host"] not in self._live_hosts}
        self._tell_other_versions(workers)

    def _renew_lead(self) -> None:
        """Take or keep the lead; but while this engine cannot reach the queue and another
        can, leave it to that one: the leader sends again the messages lost on Redis, and
        tells the dispatchers of the runs its schedules make."""
        if self._left or (self._queue_problem is not None and self._able_others):
            if self.leadership.token is not None:
                self.leadership.release(self.lease.id)
            return
        self.leadership.renew(self.lease.id)

    def _on_beat(self) -> None:
        """After each heartbeat (on its thread): in a cluster, keep the lead and the view
        of the others, read the store's control messages, stop runs cancelled elsewhere,
        say which pinned runs wait for a host, dispatch; then recover lost workers' runs."""
        if self._started and not self._stopping and self.mode == "app":
            self._check_home()  # (`trayjobs worker` looks each second, and stops)
        if not self._started or self._stopping or self._store_problem is not None:
            return
        if self.clustered:
            self._refresh_peers()
            self._renew_lead()
            if not self.queue.shared:
                self._read_controls()
                self._send_lost()  # what a gone home's queue file held goes to another's
            self._stop_cancelled()
            if self.leadership.held:
                self._note_stranded()
                if self.queue.shared:
                    self._unhand_lost()
            self.dispatch_pending()
        self._recover_lost()

    def _check_home(self) -> None:
        """The data folder deleted while the app runs: said once, in the window and the
        tray, with what to do. The app goes on (what runs now ends), as the window is where
        the person who deleted it will look."""
        if self._home_lost:
            return
        why = self.lock.lost_why()
        if why:
            self._home_lost = True
            msg = (f"{why} while trayjobs ran: {LOST_HOME} Quit trayjobs and start it again "
                   f"(with a new, empty history if it was kept there).")
            log.error("%s", msg)
            self.bus.emit(Notice("error", msg, {"problem": "home", "logged": True,
                                                "short": "its data folder was deleted"}))
            return
        gone = self.history_lost_why()
        if gone:
            self._home_lost = True
            msg = f"{gone} Quit trayjobs and start it again to go on with the history there now."
            log.error("%s", msg)
            self.bus.emit(Notice("error", msg, {"problem": "home", "logged": True,
                                                "short": "its run history was deleted"}))

    def history_lost_why(self) -> str | None:
        """The run history's file deleted or replaced while this engine ran, said with what
        follows (None while it is there): the runs would go on being written to the file it
        has open, while every other trayjobs process uses the one at its path."""
        how = self.store.lost_why()
        if how is None:
            return None
        where = getattr(self.store, "path", "")
        return (f"the run history {where} was {how} while "
                f"{'this worker' if self.mode == 'worker' else 'trayjobs'} ran: what runs "
                f"here would be written to a file no one opens again, while commands and "
                f"the window use the one there now (a run put there would wait unseen).")

    def _unhand_lost(self) -> None:
        """(The leader, every half lease.) Runs handed to Redis a lease ago whose message
        is not there go to the dispatchers: no one else would ever send them. Their
        submitter died, or lost the network, before its message reached Redis; or a worker
        took the message and died before it claimed the run. A message sent twice is
        harmless (one claim wins). A run found on Redis is looked for again only a lease
        later (``_handed_seen``): a queue that holds thousands is not read at each beat."""
        # The lease this process holds (its row's), not a reloaded file's: [cluster] waits
        # for a restart, and the other engines time it by the rows.
        lease, now = self.lease.lease, time.monotonic()
        if now < self._unhand_next:
            return
        self._unhand_next = now + lease / 2
        seen = self._handed_seen
        stale = [i for i in self.store.handed_since_before(self.store.now() - lease,
                                                           limit=UNHAND_LOOK)
                 if now - seen.get(i, now - lease) >= lease]
        if not stale:
            return
        try:
            pending = self.queue.pending_run_ids()
        except QueueUnavailable as exc:
            self._queue_down(exc)
            return
        for i in stale:
            if i in pending:
                seen[i] = now
            else:
                seen.pop(i, None)
        if len(seen) > UNHAND_LOOK:  # those seen a lease ago are looked for again anyway
            self._handed_seen = {i: t for i, t in seen.items() if now - t < lease}
        if self.store.unhand(i for i in stale if i not in pending):
            log.info("runs handed to the queue whose message is not there: sent again")
            self.dispatch_pending()

    def _read_controls(self) -> None:
        rows = self.store.controls(self._control_seen)
        if not rows:
            return
        self._control_seen = rows[-1]["id"]
        todo: dict[str, dict[str, Any]] = {}  # a burst of "dispatch" is one dispatch
        for row in rows:
            msg = row["message"]
            if isinstance(msg, dict) and msg.get("origin") != self.origin:
                todo.setdefault(json.dumps(msg, sort_keys=True, default=str), msg)
        for msg in todo.values():
            try:
                self._on_control(msg)
            except Exception:
                log.exception("control message %r failed", msg)

    def _stop_cancelled(self) -> None:
        """Runs going here that someone asked to stop (a message that did not arrive)."""
        with self._handles_lock:
            ids = list(self._handles)
        for run_id in ids:
            if self.store.cancel_requested(run_id):
                self._cancel_running(run_id)

    def _note_stranded(self) -> None:
        """Pinned runs whose host has no live worker wait: their ``wait_reason`` says so."""
        for run in self.store.stranded(self._live_hosts):
            problem = self._troubled_hosts.get(run["host"])
            reason = (f"waits for a worker on {run['host']}: the worker there {problem}"
                      if problem else
                      f"waits for a worker on {run['host']}: none is running there")
            if run.get("wait_reason") == reason:
                continue
            self.store.update_run(run["id"], wait_reason=reason)
            self.store.add_log(run["id"], reason, "warning")
            self.bus.emit(RunChanged(self.store.get_run(run["id"])))

    def waits_elsewhere(self, run_id: int) -> str | None:
        """Why a run of a foreground ``trayjobs run`` is not this process's to run: it is
        pinned to another host, whose workers alone run it, and none of them can now (no
        engine of the cluster can either, or this run would have been handed to them).
        Noted on the run as the leader notes it, for ``show`` and ``run --wait``; None
        for a run this machine may run."""
        run = self.store.get_run(run_id)
        host = run.get("host") if run else None
        if not host or host == this_host():
            return None
        running = [w for w in self.store.workers(since=time.time())
                   if w["host"] == host and w["state"] == "running" and w["mode"] != "cli"]
        problem = next((w["problem"] for w in running if w.get("problem")), None)
        reason = (f"waits for a worker on {host}: the worker there {problem}" if problem
                  else f"waits for a worker on {host}: none is running there")
        self.store.update_run(run_id, wait_reason=reason)
        self.store.add_log(run_id, reason, "warning")
        return reason

    def reload_config(self) -> Config:
        cfg = self._use_config(self._read_config())
        self._tell_cluster_edit(cfg)
        self._note_leave(cfg)
        self.dispatch_pending()
        self.alerts.sender.wake()  # a channel fixed: what waits for it goes now
        return cfg

    def _note_leave(self, cfg: Config) -> None:
        """[cluster] removed from the file (`cluster leave`) while this engine runs on the
        shared history: it takes no new shared run from now on (the runs it runs end as
        usual), hands the lead to another engine, and its worker row says why, so that
        the others neither count on it nor send it runs. Undone should the same
        [cluster] come back before the restart."""
        left = self.clustered and not clustered(cfg.cluster)
        if left == (self._left is not None):
            return
        self._left = LEFT if left else None
        # Its workers pop no more runs from Redis (one popped would only go back), from
        # before its row says that it left.
        self.queue.take_runs(not left)
        self.lease.set_problem(self._left or self._queue_problem)
        if not left:  # said, as the leave was: the restart it asked for is not needed now
            self.bus.emit(Notice("info", "[cluster] is back in the jobs file as this process "
                                         "uses it: the leave is undone, and this process "
                                         "takes runs from the shared history again (no "
                                         "restart needed)"))
        if left and self.leadership.token is not None:
            self.leadership.release(self.lease.id)
            self._broadcast({"op": "lead"})  # the others take the lead now, not in a lease

    def _use_config(self, cfg: Config) -> Config:
        self.config = cfg
        self.bus.emit(JobsChanged("config"))
        self._wake_scheduler()
        self.watches.reconfigure()
        if self._started:
            self._follow_conditions()
            self.recheck_waiting()  # conditions changed or dropped: runs may go now
        return cfg

    def _read_config(self) -> Config:
        cfg = super()._read_config()
        # A file gone (deleted, or moved away to be edited) is no jobs for now, but no new
        # good version: the last good copy stays, to restore it from.
        if not cfg.unreadable and self.home.config_file.exists():
            self._keep_good(cfg.text)
        return cfg

    def _keep_good(self, text: str) -> None:
        """Save ``text`` as the last good jobs file; an unchanged copy keeps its time, the
        time this version was first used."""
        path = last_good_path(self.home)
        try:
            if path.exists() and path.read_text(encoding="utf-8") == text:
                return
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except (OSError, UnicodeDecodeError) as exc:  # a full disk must not stop a reload
            log.warning("cannot keep a copy of the jobs file: %s", exc)

    # -- watched folders ---------------------------------------------------------------

    def watch_status(self) -> dict[str, dict[str, Any]]:
        """Per job with a watched folder: ``state`` (starting, watching, paused, unavailable),
        ``folder``, ``reason`` and ``pending``; a ``WatchChanged`` event tells of changes."""
        return self.watches.status()

    def jobs_accepting(self, paths: list[str]) -> list[str]:
        """The enabled jobs that take input files and whose watch patterns (if any) match
        all of ``paths``, best first: for files dropped on the window or the tray icon."""
        return jobs_accepting(self.config, paths)

    # -- execution (on a consumer worker thread) --------------------------------------

    def _execute(self, run_id: int) -> None:
        if self._store_problem is not None:
            # Not claimed while the history is away: the run stays handed over, and is
            # sent to the queue again once the server answers (_store_reached).
            return
        if self._left is not None:
            # Taken from the queue as `cluster leave` took effect (a pop going on then;
            # the workers pop no more after it): back to the other engines' dispatchers,
            # who hand it to one of theirs.
            with self._ahead_lock:
                prepared = self._ahead.pop(run_id, None)
            if prepared is not None:
                self.executor.abort(prepared)
            try:
                if self.store.unhand([run_id]):
                    self._broadcast({"op": "dispatch", "run": run_id})
            except StoreUnreachable as exc:  # the leader sends it again (_unhand_lost)
                self._store_lost(exc)
            return
        with self._ahead_lock:
            prepared = self._ahead.pop(run_id, None)
        if prepared is None:
            prepared = self._prepare(run_id)
        try:
            try:
                run = self.store.claim(run_id, pid=os.getpid(), worker_id=self.lease.id,
                                       host=this_host() if self.clustered else None)
            except StoreUnreachable as exc:
                self._store_lost(exc)
                return
            if run is None:  # cancelled meanwhile, or a second message for the same run
                self.dispatch_pending()
                return
            self.execute_claimed(run, prepared=prepared)
        finally:
            if prepared is not None and not prepared.used:
                self.executor.abort(prepared)
        # The run's slot is free: runs left waiting for one go now. With none left at the
        # last dispatch, a new run is dispatched by whoever submits it (in a cluster, by
        # the engines its submitter tells), so an engine alone has nothing to look for. A
        # dispatch going on now may have seen this run's slot still taken: it looks again.
        if (self._backlog or self._dispatch_lock.locked()
                or (self.clustered and run.get("dispatched") != HANDED_BY_SUBMITTER)):
            self.dispatch_pending()

    def execute_claimed(self, run: dict[str, Any], *, in_process: bool = False,
                        prepared: Prepared | None = None) -> Outcome:
        """Run one claimed attempt to its end and record the outcome. Whatever goes wrong
        here, the attempt ends: a run is never left ``running`` by a live engine.
        ``in_process``: a kind that allows it runs on a thread here, not in a job process
        (the foreground ``trayjobs run``; see ``JobKind.in_process``). ``prepared``: the
        run as sent to a job process ahead of its claim (:meth:`_prepare`)."""
        try:
            return self._execute_claimed(run, in_process=in_process, prepared=prepared)
        except Exception as exc:
            log.exception("run %s: the engine failed", run["id"])
            outcome = Outcome("failed", retry=False, message=(
                f"trayjobs failed while running this ({type(exc).__name__}: {exc})"))
            self._record_failure(run, outcome)
            return outcome

    def _execute_claimed(self, run: dict[str, Any], *, in_process: bool,
                         prepared: Prepared | None = None) -> Outcome:
        job = self.config.jobs.get(run["job"])
        if job is not None:
            in_thread = in_process and _in_process_kind(job.kind)
            request = self._request(run, job, in_thread=in_thread)
            if prepared is not None and not job.sleep_mode:
                # The job process has the run ready: it goes on now, while the rest is
                # done here. (Keeping the computer awake comes first: see below.)
                self.executor.go(prepared, request)
        self.bus.emit(RunChanged(run))
        if job is None:
            mistake = next((e for e in self.config.errors if e.job == run["job"]), None)
            outcome = Outcome("failed", retry=False, message=(
                f"The job {run['job']!r} is left out of the config file until its mistake "
                f"is fixed ({mistake}); fix it, then retry this run." if mistake else
                f"The job {run['job']!r} is no longer in the config file; "
                f"add it back or dismiss this run."))
            self._record(run, outcome)
            return outcome
        handle = RunHandle()
        with self._handles_lock:
            self._handles[run["id"]] = handle
            # A cancel told between the claim and here found no handle to signal. (One
            # whose message was lost is found in the store at the next heartbeat.)
            early = self._early_cancels.pop(run["id"], 0) is None
        if early or self._stopping:
            handle.request_cancel()
        watch = job.common.watch
        tracker = AttemptTracker(self.store, self.bus, run,
                                 store_away=lambda: self._store_problem is not None,
                                 on_unreachable=self._store_lost,
                                 watched=str(watch.path) if watch is not None else None)
        sleep_lock = self._keep_awake(job, run["id"])
        try:
            outcome = self.executor.run(request, handle=handle, on_message=tracker.on_message,
                                        on_tick=tracker.tick, on_idle=tracker.idle,
                                        timeout=job.timeout,
                                        in_thread=in_thread, prepared=prepared)
        except Exception as exc:
            log.exception("could not run %s", run["id"])
            outcome = Outcome("crashed", message=f"Could not start the job's process: {exc}")
        finally:
            if sleep_lock is not None:
                sleep_lock.release()  # the moment the run ends, however it ended
            with self._handles_lock:
                self._handles.pop(run["id"], None)
            handle.close()
        # Only a stop while closing needs to know whether a person asked for it.
        user_cancel = (self._stopping and outcome.state in ("cancelled", "crashed")
                       and self._cancel_asked(run["id"]))
        self._record(run, outcome, user_cancel=user_cancel, logs=tracker.take_logs())
        return outcome

    def _request(self, run: dict[str, Any], job: JobConfig, *, in_thread: bool
                 ) -> dict[str, Any]:
        """What a job process (``in_thread``: a thread of this one) is sent to run ``run``."""
        inputs = run.get("inputs") or {}
        run_params = inputs.get("params") or {}
        # A job process is sent the params as JSON and validates them again; a thread of
        # this process is handed the job's validated params as they are (unless the run
        # sets some of them): the round trip would cost a foreground run a tenth of its
        # time, in building the models' serializers and validators.
        handed = in_thread and not run_params
        request = {"op": "run", "run_id": run["id"], "job": job.name, "kind": job.kind,
                   "params": None if handed else job.params_json(run_params),
                   "run_params": run_params,
                   "attempt": run["attempt"],
                   "max_attempts": run["max_attempts"], "trigger": run["trigger"],
                   "files": inputs.get("files") or [], "dry_run": bool(inputs.get("dry_run")),
                   "resumes": run.get("retry_of") if run["trigger"] == "recovered" else None,
                   "parent": inputs.get("parent"),
                   "scheduled_for": inputs.get("scheduled_for") or run.get("due_at"),
                   "plan": inputs.get("plan"),
                   "home": self.home.to_dict()}
        if handed:
            request["params_model"] = job.params
        return request

    def _cancel_asked(self, run_id: int) -> bool:
        """Whether someone asked ``run_id`` to stop (False while the history is away:
        their cancel reaches this engine as a message too)."""
        if self._store_problem is not None:
            return False
        try:
            return self.store.cancel_requested(run_id)
        except StoreUnreachable as exc:
            self._store_lost(exc)
            return False

    def _keep_awake(self, job: JobConfig, run_id: int):
        """A logind inhibitor lock for a job with ``inhibit_sleep``, or None. One that
        cannot be had is a warning in the run's log, not a reason not to run."""
        if not job.sleep_mode:
            return None
        from ..conditions.inhibit import InhibitError, inhibit_sleep
        try:
            return inhibit_sleep(f"running the job {job.name}", mode=job.sleep_mode)
        except InhibitError as exc:
            self.store.add_log(run_id, f"cannot keep the computer from sleeping: {exc}",
                               "warning")
            return None

    def _record(self, run: dict[str, Any], outcome: Outcome, *, user_cancel: bool = False,
                logs: list[tuple[float, str, str]] = ()) -> None:
        stopping = self._stopping
        ended = self.store.now()  # not when the store answers again, should it be away
        if outcome.ended_at is not None:
            # Nor when this thread heard of it: a log line before the end may have waited
            # for a store that did not answer (the store's clock may be another machine's).
            ended -= min(max(0.0, time.time() - outcome.ended_at), 3600.0)
        if self._store_problem is not None:
            self._spool_end(run, outcome, user_cancel=user_cancel, logs=logs,
                            stopping=stopping, ended_at=ended)
            return
        try:
            self._record_outcome(run, outcome, user_cancel=user_cancel, logs=logs,
                                 stopping=stopping)
        except StoreUnreachable as exc:
            self._store_lost(exc)
            self._spool_end(run, outcome, user_cancel=user_cancel, logs=logs,
                            stopping=stopping, ended_at=ended)
        except Exception as exc:
            log.exception("run %s: could not record its end", run["id"])
            self._record_failure(run, Outcome("failed", retry=False, message=(
                f"trayjobs could not record how this run ended ({type(exc).__name__}: {exc}); "
                f"the attempt itself {outcome.state}"
                + (f": {outcome.message}" if outcome.message else ""))))

    def _record_failure(self, run: dict[str, Any], outcome: Outcome) -> None:
        """End the attempt ``failed`` with nothing but the message: the last resort when the
        usual bookkeeping raised."""
        lines = [(time.time(), "error", outcome.message or "")]
        if self._store_problem is not None:
            self._spool_end(run, outcome, logs=lines, stopping=False)
            return
        try:
            row = self.store.end_attempt(run["id"], state="failed", error=outcome.message,
                                         logs=lines, expect=claim_of(run))
        except StoreUnreachable as exc:
            self._store_lost(exc)
            self._spool_end(run, outcome, logs=lines, stopping=False)
            return
        except Exception:  # the store itself is unusable: crash recovery ends it later
            log.exception("run %s: could not record its failure either", run["id"])
            return
        if row is None:
            self._taken_back(run)
            return
        self.bus.emit(RunChanged(row, final=True))

    def _record_outcome(self, run: dict[str, Any], outcome: Outcome, *, user_cancel: bool,
                        logs: list[tuple[float, str, str]], stopping: bool,
                        replayed: bool = False, ended_at: float | None = None) -> None:
        rid, job = run["id"], self.config.jobs.get(run["job"])
        outcome = dataclasses.replace(outcome)  # kept as it came, should the store be away
        next_at = None
        if outcome.state == "succeeded":
            state = "succeeded"
        elif stopping and not user_cancel and outcome.state in ("cancelled", "crashed"):
            state = "interrupted"
            outcome.message = "trayjobs was closed while this run was going; " + (
                "it resumes when trayjobs starts again" if resumes_after_crash(job) else
                f"it is not run again by itself, as its job does not say that running it "
                f"twice is safe: retry it (`trayjobs retry {rid}`, or Retry in its details) "
                f"if it should be")
        elif outcome.state == "cancelled":
            state = "cancelled"
        elif (outcome.state == "crashed" and outcome.died and job is not None
                and not resumes_after_crash(job)):
            # Its process died under it (killed, out of memory): what it did so far is
            # unknown, as after the app's own crash, and the same rule holds. (One stopped
            # forcibly at its timeout was stopped on purpose: its retries go on.)
            state = "interrupted"
            outcome.message = (
                f"{(outcome.message or 'The job process died').rstrip('.')}. It is not run "
                f"again by itself, as its job does not say that running it twice is safe: "
                f"retry it (`trayjobs retry {rid}`, or Retry in its details) if it should be")
        elif outcome.retry and job is not None and run["attempt"] < run["max_attempts"]:
            state = "retrying"
            deaths = self.store.deaths_in_a_row(rid) + 1 if outcome.died else 0
            if deaths >= MAX_DEATHS:
                state = "failed"
                outcome.message = f"{outcome.message} {died_text(deaths)}"
            else:
                delay = backoff_delay(run["attempt"], base=job.retry.backoff,
                                      cap=job.retry.max_backoff, jitter=job.retry.jitter)
                next_at = self.clock() + delay
        else:
            state = "failed"
        logs = list(logs)
        if outcome.message and state != "succeeded" and not any(
                line[2] == outcome.message for line in logs):  # the job logged it already
            # A cancel, or a quit that stopped it, is no error of the run's.
            level = "warning" if state in ("cancelled", "interrupted") else "error"
            logs.append((time.time(), level, outcome.message))
        row = self.store.end_attempt(rid, state=state, error=outcome.message,
                                     traceback=outcome.traceback, result=outcome.result,
                                     next_attempt_at=next_at, died=outcome.died, logs=logs,
                                     expect=claim_of(run), finished_at=ended_at)
        if row is None:
            if replayed and self._ended_already(run, state):
                log.info("run %s: its kept end was written already", rid)
                return
            self._taken_back(run)
            return
        if state == "retrying" and row.get("cancel_requested") and self.store.cancel_run(rid):
            # Cancelled as the attempt ended: the person's cancel wins over the retry (a
            # retrying run asked to stop would otherwise wait, never to be claimed).
            row, state = self.store.get_run(rid) or row, "cancelled"
        final = state != "retrying"
        if final and job is not None:
            # Before the run is told ended: whoever sees it end finds its hooks' runs.
            try:
                self._start_hooks(row, job)
            except Exception:  # the run's own end is recorded already and stays as it is
                log.exception("run %s: could not start its hooks", rid)
        if state == "succeeded" and job is not None:
            self._look_again(row, job)
        self.bus.emit(RunChanged(row, final=final))
        if state == "retrying":
            self._wake_scheduler()

    def _look_again(self, run: dict[str, Any], job: JobConfig) -> None:
        """A run of a watched job that left items for now (``look_again_at`` in its result:
        a cleanup's files modified too recently) gets a one-off run for the time they are
        ready: no event of the folder would come back for them. One such run at a time."""
        at = (run.get("result") or {}).get("look_again_at")
        if job.common.watch is None or isinstance(at, bool) or not isinstance(at, (int, float)):
            return
        if self.store.list_runs(job=job.name, state=SCHEDULED, limit=1):
            return
        try:
            self.submit(job.name, trigger="watch", due_at=max(float(at), time.time()),
                        note=f"items run {run['id']} left for being modified just now")
        except (UserError, ValueError) as exc:
            log.warning("job %s: could not look again later: %s", job.name, exc)

    # -- inline execution (the CLI when no app or worker is running) ---------------------

    def run_inline(self, run_id: int, *, on_wait: Callable[[dict[str, Any]], None] | None = None
                   ) -> dict[str, Any]:
        """Execute a queued run from this process, retries included; returns the final row.
        Kinds that allow it run on a thread of this process; others in a job process."""
        own_lease = self.lease.id is None  # a foreground run: a worker while it runs
        if own_lease:
            self.lease.start()
        try:
            while True:
                run = self.store.claim(run_id, pid=os.getpid(), worker_id=self.lease.id)
                if run is None:
                    row = self.store.get_run(run_id)
                    if row["state"] != "retrying":
                        return row
                    if on_wait:
                        on_wait(row)
                    if self._stopped_while_waiting(run_id, row["next_attempt_at"] or 0):
                        self.cancel(run_id)  # ends it: no attempt starts after a Ctrl-C
                    else:
                        # The next attempt runs the job as the file has it now, as the
                        # app's and a worker's do (they reload it when it is saved): a
                        # command fixed after the first attempt failed, or a job deleted.
                        self.config = self._read_config()
                        self.store.requeue_retry(run_id)
                    continue
                self.execute_claimed(run, in_process=True)
        finally:
            if own_lease:
                self.lease.stop()

    def _stopped_while_waiting(self, run_id: int, until: float) -> bool:
        """Wait until ``until`` (this engine's clock) for a retry; True, at once, if this
        process is told to stop the run meanwhile (:meth:`cancel_local`, from a signal)."""
        deadline = time.monotonic() + max(0.0, until - self.clock())
        looked = time.monotonic()
        while True:
            # No lock: the signal handler that records the cancel runs on this very thread.
            if self._early_cancels.pop(run_id, 0) is None:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if time.monotonic() - looked >= 1:
                # Cancelled meanwhile (`trayjobs cancel` from another terminal ends a run
                # between attempts at once): no need to wait out the pause to say so.
                looked = time.monotonic()
                try:
                    row = self.store.get_run(run_id)
                except StoreBusy:  # (unreachable too)
                    row = {"state": "retrying"}  # look again in a second
                if row is None or row["state"] != "retrying":
                    return False
            time.sleep(min(left, 0.1))  # a signal's handler runs between two of these

    def cancel_local(self, run_id: int) -> None:
        self._cancel_running(run_id)

def _in_process_kind(name: str) -> bool:
    try:
        return get_kind(name).in_process
    except KeyError:  # the job process says why it cannot run
        return False
