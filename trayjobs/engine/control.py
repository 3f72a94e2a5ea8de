"""Commands on runs and jobs that work from any process.

The CLI, the app and ``trayjobs worker`` share the same files. A command
changes the store and then tells the process that runs jobs (if any) through
the queue's control channel; :class:`~trayjobs.engine.engine.Engine` extends
this class and acts on its own commands directly.

In a cluster (``[cluster] database`` or ``redis``), every message also goes to the
engines of the other homes: published on Redis when the queue is there, else written to
the run store's ``control`` table, which they read at each heartbeat. So a cancel
reaches the engine running the run, wherever it is; a pause, a reload or a new run
reaches them all. Each message names the home it came from (``origin``): an engine
skips what its own home sent, which reached it directly.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..cluster import clustered, redis_url
from ..config import Config, JobConfig, load_config
from ..errors import UserError
from ..paths import Home
from ..queue import Queue
from ..store import ACTIVE_STATES, FINAL_STATES, SCHEDULED
from ..store.open import open_store
from .events import EventBus, JobsChanged, Notice, RunChanged
from .hooks import Hooks
from .lease import this_host, use_host

log = logging.getLogger(__name__)

__all__ = ["Control", "last_good_path", "config_cache_path", "SCHEDULE_PROBLEM"]

#: Triggers that are a person's explicit wish: they run even while paused or overlapping.
EXPLICIT_TRIGGERS = ("manual", "cli", "retry", "drop")


#: Run numbers in one "pruned" message to the cluster's other machines: well under the
#: 8,000 bytes a PostgreSQL notification carries.
PRUNED_PER_MESSAGE = 400

#: The store's key (then the job's name) for why a job's schedule cannot be worked out.
SCHEDULE_PROBLEM = "schedule_problem:"


def last_good_path(home: Home) -> Path:
    """Where the process running jobs keeps a copy of the last jobs file it could use: an
    edit that breaks the whole file (a syntax error) keeps those jobs running."""
    return home.data_dir / "last-good-trayjobs.toml"


def config_cache_path(home: Home) -> Path:
    """Where the jobs file is kept as last validated (see :mod:`trayjobs.config_cache`)."""
    return home.data_dir / "cache" / "config.pickle"


class Control(Hooks):
    def __init__(self, home: Home, *, config: Config | None = None,
                 connect: bool = True) -> None:
        """``connect=False``: the store's server is not spoken to yet (the engine waits for
        it in ``start``, saying so, rather than fail here)."""
        self.home = home.ensure()
        self.bus = EventBus()
        self.config = config if config is not None else self._read_config()
        use_host(self.config.cluster.host)
        self.store = open_store(home, self.config.cluster, connect=connect)
        #: Whether other homes' engines share this one's runs (read at start, as the store).
        self.clustered = clustered(self.config.cluster)
        #: [cluster] as this process uses it: read at start only (see _tell_cluster_edit).
        self._cluster_used = self._cluster_told = self.config.cluster
        self.origin = hashlib.sha1(str(home.data_dir.resolve()).encode()).hexdigest()[:16]
        # [cluster] redis is read (a secret perhaps) when the queue is first used: by the
        # process that runs jobs, and by one that tells the cluster something. From the
        # [cluster] the store was opened with, not a reloaded file's: the queue and the
        # history are one cluster's until a restart.
        self.queue = Queue(home, redis=lambda: redis_url(self._cluster_used),
                           host=this_host())
        #: Held by a prune: the scheduler's and one asked for (Clean up now) never overlap.
        self._prune_lock = threading.Lock()

    def _tell_cluster_edit(self, cfg: Config) -> None:
        """Say once per edit that a changed [cluster] (`cluster join`, `leave`, an edit by
        hand) waits for a restart: this process keeps its history and queue until then,
        and the jobs file alone said otherwise."""
        if cfg.cluster == self._cluster_told:
            return
        self._cluster_told = cfg.cluster
        if cfg.cluster == self._cluster_used:
            return
        if self.clustered and not clustered(cfg.cluster):
            self.bus.emit(Notice("info", "[cluster] removed from the jobs file (`cluster "
                                         "leave`): this process takes no new run from the "
                                         "shared history and finishes those it runs; restart "
                                         "the app or `trayjobs worker` to complete the leave"))
            return
        self.bus.emit(Notice("info", "[cluster] changed in the jobs file: this process goes "
                                     "on with the history and queue it started with; restart "
                                     "the app or `trayjobs worker` to use the new ones"))

    def _read_config(self) -> Config:
        return load_config(self.home.config_file, last_good=last_good_path(self.home),
                           cache=config_cache_path(self.home))

    def close(self) -> None:
        self.queue.close()
        self.store.close()

    # -- hooks the engine overrides ----------------------------------------------------

    def _tell(self, message: dict[str, Any]) -> bool:
        """Pass ``message`` to the process running jobs (and, in a cluster, to them all)."""
        told = self.queue.notify(message)
        self._broadcast(message)
        return told

    def _broadcast(self, message: dict[str, Any]) -> None:
        """Tell the engines of the cluster's other homes (nothing without a cluster)."""
        if not self.clustered:
            return
        message = dict(message, origin=self.origin)
        try:
            if self.queue.shared:
                self.queue.publish(message)
            else:
                self.store.send_control(message)
        except Exception as exc:  # the others also look at the store at each heartbeat
            # A run to hand over waits in the history, where every dispatcher looks at each
            # heartbeat: nothing to say (a foreground run said so, then ran here).
            level = logging.DEBUG if message.get("op") == "dispatch" else logging.WARNING
            log.log(level, "the other workers hear of this (%s) at their next heartbeat, "
                           "not at once: %s", message.get("op"), exc)

    def tell_changed(self, run_id: int) -> None:
        """Run ``run_id`` changed in the store after its end (undone): the windows of the
        process running jobs, and of the cluster's other machines, show it as it is now."""
        self._tell({"op": "changed", "run": run_id})

    def _runs_submitted(self, run_id: int | None = None, *,
                        row: dict[str, Any] | None = None) -> None:
        # With the run: the window of the process running jobs shows it queued at once,
        # not only once it starts (it hears of another process's runs only through this).
        self._tell({"op": "dispatch"} if run_id is None else {"op": "dispatch", "run": run_id})

    # -- submitting ------------------------------------------------------------------

    def submit(self, job_name: str, *, trigger: str = "manual", files: list[str | Path] | None = None,
               dry_run: bool = False, parent_run: int | None = None, retry_of: int | None = None,
               note: str | None = None, max_attempts: int | None = None,
               params: dict[str, Any] | None = None,
               parent: dict[str, Any] | None = None, due_at: float | None = None,
               scheduled_for: float | None = None, plan: dict[str, Any] | None = None,
               conditions: bool = False, host: str | None = None) -> int:
        """Create a queued run of ``job_name`` and get it executed; returns its id.
        ``params`` overrides the job's run parameters for this run (see
        :meth:`~trayjobs.config.JobConfig.run_params`); ``parent`` is what a run started
        by a hook learns of the run that started it (``ctx.parent``). With ``due_at`` (a
        time), the run is a one-off that waits in the state ``scheduled`` until then, kept
        across restarts; the scheduler of the process running jobs starts it. A run a
        person starts does not wait for the job's conditions (``when``) unless
        ``conditions`` asks it to. In a cluster the run goes to the workers of ``host``,
        else of the job's ``host``; a run on files (or of a job with a watched folder) to
        this machine's, where the files are; any other to any worker."""
        from ..kinds.registry import get_kind
        job = self.config.job(job_name)
        try:
            kind = get_kind(job.kind)
        except KeyError as exc:
            raise UserError(str(exc).strip('"')) from None
        inputs: dict[str, Any] = {}
        if kind.requires_files and not files and trigger in ("cli", "manual"):
            # asked for by a person: say what to give rather than start a run that must fail
            raise UserError(f"job {job_name!r} ({job.kind}) works on files: give them with "
                            f"--file PATH (as often as needed), drop them on the window, or put "
                            f"them in its watched folder")
        if files:
            if not kind.accepts_files:
                raise UserError(f"job {job_name!r} ({job.kind}) does not take input files")
            if any(str(f) == "" for f in files):  # Path("") would be the current folder
                raise UserError(f"job {job_name!r}: an input file was given as empty text "
                                f"(--file \"\"); give the file's path")
            for f in files:  # Path.expanduser raises a RuntimeError for these
                if str(f).startswith("~") and os.path.expanduser(str(f)).startswith("~"):
                    raise UserError(f"job {job_name!r}: --file {str(f)!r}: there is no user "
                                    f"{str(f)[1:].split('/')[0]!r}; write ~/… for a file in "
                                    f"your own home")
            inputs["files"] = [str(Path(f).expanduser().absolute()) for f in files]
        if dry_run:
            if not kind.can_dry_run(job.params):
                how = f"; {kind.dry_run_how}" if kind.dry_run_how else ""
                raise UserError(f"job {job_name!r} ({job.kind}) has no dry run: it would do "
                                f"its work for real, so --dry-run is refused{how}")
            inputs["dry_run"] = True
            # A preview is wanted now, by someone waiting for it: one attempt, no backoff.
            max_attempts = 1
        run_params = job.run_params(params)
        if run_params:
            inputs["params"] = run_params
        if parent:
            inputs["parent"] = parent
        if scheduled_for is not None:
            inputs["scheduled_for"] = scheduled_for  # the slot the scheduler ran it for
        if plan is not None:
            inputs["plan"] = plan  # a preview's actions, and only those (apply_preview)
        if conditions:
            inputs["conditions"] = True  # wait for the job's conditions like a due run
        state, error = "queued", None
        active = (self.store.active_runs(job.name) if due_at is None and job.overlap == "skip"
                  and trigger not in EXPLICIT_TRIGGERS else [])
        if due_at is not None:
            state = SCHEDULED
        elif active:
            # Said as it is: a run not started yet (catch-ups of missed = "all", busy
            # workers) is not one still going, nor is one between two attempts.
            states = {r["state"] for r in active}
            state, error = "skipped", (
                "the previous run was still going" if "running" in states
                else "the previous run was waiting for its next attempt" if "retrying" in states
                else "a run of this job was still waiting to start") + ' (overlap = "skip")'
        pinned = self._host_for(job, files=bool(files), host=host)
        handed = state == "queued" and self._hands_itself(job, trigger, inputs, pinned)
        run = self.store.insert_run(
            job.name, kind=job.kind, trigger=trigger,
            max_attempts=max_attempts or job.retry.attempts, priority=job.priority,
            inputs=inputs or None, parent_run=parent_run, retry_of=retry_of, note=note,
            state=state, error=error, due_at=due_at, host=pinned, handed=handed)
        self.bus.emit(RunChanged(run, final=state not in ("queued", SCHEDULED)))
        if handed:
            self._hand_over(run)
        elif state == "queued":
            self._runs_submitted(run["id"], row=run)
        elif state == SCHEDULED:
            # Its scheduler may be asleep until a later time; and the run is shown in the
            # window of the process running jobs, which hears of it only through this.
            self._tell({"op": "wake", "run": run["id"]})
        return run["id"]

    def _hands_itself(self, job: JobConfig, trigger: str, inputs: dict[str, Any],
                      host: str | None) -> bool:
        """Whether a new queued run goes straight onto the cluster's shared queue (Redis),
        with no dispatcher in between: a run that any worker may take, that a person asked
        for (so neither a pause nor the job's conditions hold it back), of a job whose runs
        may all go at once (``overlap = "parallel"``: only the workers' number limits them,
        and Redis keeps the priorities). Every other run waits in the store for the
        engines' dispatchers, which hand runs over within each job's limits."""
        return (self.clustered and host is None and job.overlap == "parallel"
                and trigger in EXPLICIT_TRIGGERS and not inputs.get("conditions")
                and self.queue.shared)

    def _hand_over(self, run: dict[str, Any]) -> None:
        """Put ``run`` (inserted as handed over) on the shared queue; if the queue's server
        cannot take it, the run goes back to waiting for the dispatchers, who send it once
        the server answers. So does one that this process cannot enqueue for any other
        reason (no Redis client here, an interrupt): the run exists already, and no one
        else would ever send it. (A message that arrived after all makes a second one,
        which the claim's compare-and-set makes harmless.)"""
        try:
            self.queue.enqueue(run["id"], priority=run["priority"] or 0)
        except BaseException as exc:
            log.warning("run %s waits for the dispatchers: %s", run["id"], exc)
            self.store.update_run(run["id"], dispatched=0)
            self._runs_submitted()
            if not isinstance(exc, Exception):
                raise

    def _host_for(self, job: JobConfig, *, files: bool, host: str | None) -> str | None:
        """Where a new run of ``job`` may run: see :meth:`submit`. None: anywhere (and
        always without a cluster: every run is this machine's)."""
        if not self.clustered:
            return None
        if host is not None or job.host is not None:
            return host or job.host
        return this_host() if files or job.common.watch is not None else None

    def record_skipped(self, job: JobConfig, *, trigger: str, note: str) -> int:
        run = self.store.insert_run(job.name, kind=job.kind, trigger=trigger, state="skipped",
                                    note=note, max_attempts=job.retry.attempts)
        self.bus.emit(RunChanged(run, final=True))
        return run["id"]

    # -- acting on runs ----------------------------------------------------------------

    def _run(self, run_id: int) -> dict[str, Any]:
        run = self.store.get_run(run_id)
        if run is None:
            raise UserError(f"there is no run {run_id}")
        return run

    def cancel(self, run_id: int) -> str:
        """Cancel a waiting run at once, or ask a running one to stop; returns what happened."""
        run = self._run(run_id)
        if run["state"] in FINAL_STATES:
            raise UserError(f"run {run_id} has already ended ({run['state']})")
        if self.store.cancel_run(run_id, now=self.store.now()):
            row = self.store.get_run(run_id)
            if row["attempt"]:  # between two attempts: it ran, and its end is this cancel
                self._hooks_of_cancelled(row)
            self.bus.emit(RunChanged(row, final=True))
            self._tell({"op": "dispatch", "run": run_id})
            return "cancelled"
        self._cancel_running(run_id)
        return "stopping"

    def _cancel_running(self, run_id: int) -> None:
        self._tell({"op": "cancel", "run": run_id})

    @property
    def pruning(self) -> bool:
        """Whether a clean-up of the history is under way (another waits for it)."""
        return self._prune_lock.locked()

    def prune_history(self, *, keep_days: float, keep_runs: int, keep_failed_days: float,
                      now: float | None = None, stop: Callable[[], bool] | None = None) -> int:
        """Delete the runs the history keeps no longer (see :meth:`RunStore.prune`), and the
        output folders they left in this home; how many runs. One prune at a time; ``stop``
        ends it between two batches (what it deleted so far has its folders removed)."""
        with self._prune_lock:
            return self._prune_history(keep_days=keep_days, keep_runs=keep_runs,
                                       keep_failed_days=keep_failed_days, now=now, stop=stop)

    def _prune_history(self, *, keep_days: float, keep_runs: int, keep_failed_days: float,
                       now: float | None, stop: Callable[[], bool] | None) -> int:
        from ..run_outputs import remove_run_outputs
        ids = self.store.prune(keep_days=keep_days, keep_runs=keep_runs,
                               keep_failed_days=keep_failed_days, now=now, stop=stop)
        # SQLite numbers a new run after the highest left: a pruned number above it may be
        # a new run's already (made meanwhile by another process), its folder with it.
        top = self.store.max_run_id()
        remove_run_outputs(self.home, [i for i in ids
                                       if i < top or self.store.get_run(i) is None])
        # The runs that ran on the cluster's other machines left their folders there.
        for start in range(0, len(ids), PRUNED_PER_MESSAGE):
            self._broadcast({"op": "pruned", "runs": ids[start:start + PRUNED_PER_MESSAGE]})
        return len(ids)

    def remove_pruned_outputs(self, run_ids: list[int]) -> int:
        """Another machine pruned ``run_ids`` from the shared history: remove the output
        folders they left in this home (not those of a run that has the number now)."""
        from ..run_outputs import remove_run_outputs
        ids = sorted({int(i) for i in run_ids})
        if not ids:
            return 0
        taken = {r["id"] for r in self.store.runs_since(self.store.max_run_id(), ids=ids)}
        return remove_run_outputs(self.home, [i for i in ids if i not in taken])

    def _hooks_of_cancelled(self, run: dict[str, Any]) -> None:
        """A run that had started, cancelled while it waited for its next attempt, starts
        its ``always`` hooks, as one cancelled while it ran does. (One cancelled before it
        started starts none: nothing ran for them to follow up.)"""
        try:
            job = self.config.job(run["job"])
        except UserError:  # the job is gone from the file (or broken): no hooks to read
            return
        try:
            self._start_hooks(run, job)
        except Exception:  # the cancel is recorded already and stays as it is
            log.exception("run %s: could not start its hooks", run["id"])

    def apply_preview(self, run_id: int) -> int:
        """Start a run that does exactly what preview run ``run_id`` listed: each item is
        checked again (same file, same size and modification time, else skipped). The new
        run's ``inputs["plan"]["from_run"]`` records the preview it came from."""
        from ..kinds.registry import get_kind
        run = self._run(run_id)
        try:
            kind = get_kind(run["kind"])
        except KeyError as exc:
            raise UserError(str(exc).strip('"')) from None
        plan = kind.plan_of(run)  # says why when it cannot
        return self.submit(run["job"], trigger="manual", plan=plan,
                           note=f"applies the preview of run {run_id}")

    def retry(self, run_id: int) -> int:
        """Run again now. A waiting retry is started early; an ended run gets a fresh run
        with a full retry budget (the retry does not spend the old run's attempts)."""
        run = self._run(run_id)
        if run["state"] == "retrying":
            if self.store.requeue_retry(run_id, now=self.store.now(), early=True):
                self.bus.emit(RunChanged(self.store.get_run(run_id)))
                # With the run: the window of the process running jobs shows it queued now,
                # not "retry 2/3 in 59 min" until it starts (its workers may all be busy).
                self._runs_submitted(run_id)
                return run_id
            run = self._run(run_id)
        if run["state"] in ACTIVE_STATES or run["state"] == SCHEDULED:
            raise UserError(f"run {run_id} is {run['state']}; it cannot be retried until it ends")
        from ..kinds.registry import get_kind
        inputs = run.get("inputs") or {}
        job = self.config.job(run["job"])
        keys = set(job.param_keys())  # the job may have dropped a parameter since
        params = {k: v for k, v in (inputs.get("params") or {}).items() if k in keys}
        try:
            kind = get_kind(job.kind)
        except KeyError as exc:
            raise UserError(str(exc).strip('"')) from None
        # The run may have moved its files away (an import's failed/): the kind finds them.
        files = inputs.get("files") and kind.retry_inputs(job.params, run)
        new = self.submit(run["job"], trigger="retry", files=files,
                          dry_run=bool(inputs.get("dry_run")), retry_of=run_id,
                          note=f"retry of run {run_id}", params=params,
                          parent=inputs.get("parent"), parent_run=run.get("parent_run"),
                          plan=inputs.get("plan"),
                          host=run.get("host") if files else None)  # where its files are
        if files and job.common.watch is not None:
            # Files put back into a watched folder are this run's, not new arrivals.
            self.store.record_versions(job.name, new, _versions(files))
        return new

    # -- pausing ----------------------------------------------------------------------

    def paused(self, job: str | None = None) -> bool:
        if job is None:
            return self.store.get_value("paused") == "1"
        return bool(self.store.job_states().get(job, {}).get("paused"))

    def set_paused(self, paused: bool, job: str | None = None) -> None:
        """Pause or resume everything (``job=None``) or one job; kept across restarts."""
        if job is None:
            self.store.set_value("paused", "1" if paused else None)
        else:
            job = self.config.job(job).name  # as the file writes it
            self.store.set_job_state(job, paused=1 if paused else 0)
        self.bus.emit(JobsChanged("paused" if paused else "resumed"))
        self._tell({"op": "paused"})

    def reload_config(self) -> Config:
        self.config = self._read_config()
        self._tell_cluster_edit(self.config)
        self.bus.emit(JobsChanged("config"))
        self._tell({"op": "reload"})
        return self.config


def _versions(files: list[str]) -> list[tuple[str, int, int]]:
    """``(path, size, mtime_ns)`` of each file, under its name and its real path."""
    out = []
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            continue
        for path in dict.fromkeys((f, os.path.realpath(f))):
            out.append((path, st.st_size, st.st_mtime_ns))
    return out
