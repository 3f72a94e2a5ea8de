"""What the rest of trayjobs may ask of a run store: :class:`RunStoreAPI`.

Everything outside :mod:`trayjobs.store` reaches runs, attempts, logs, job and app
state, watched-file versions and the alert outbox through these methods and nothing
else (no SQL, no connection; ``tests/test_layering.py`` checks that). The SQLite
:class:`~trayjobs.store.RunStore` is the embedded implementation;
:class:`~trayjobs.store.postgres.PgRunStore` keeps the history on a PostgreSQL server for
several machines, with the same contract, method by method.

The contract, for every implementation:

* **Rows are dicts** with the columns of the ``runs`` table (see
  :mod:`trayjobs.store.migrations`); ``inputs`` and ``result`` come back decoded from
  JSON. Times are seconds since the epoch (floats), UTC.
* **Each call is atomic on its own**: it commits before it returns, and a reader in
  another process sees all of its changes or none. Where one call writes several rows
  (a run's end with its log lines, a batch of outbox messages) they commit together.
* **Compare-and-set claims**: the methods that move a run from one state to the next
  (:meth:`~RunStoreAPI.claim`, :meth:`~RunStoreAPI.mark_dispatched`,
  :meth:`~RunStoreAPI.end_attempt` with ``expect``, :meth:`~RunStoreAPI.resume_run`,
  :meth:`~RunStoreAPI.mark_worker_lost`,
  :meth:`~RunStoreAPI.requeue_retry`, :meth:`~RunStoreAPI.start_scheduled`,
  :meth:`~RunStoreAPI.hold`, :meth:`~RunStoreAPI.release`,
  :meth:`~RunStoreAPI.cancel_run`) change a run only if it is still in the state the
  caller saw, in one statement or transaction, and say whether they did. Of any number
  of threads or processes (or machines) that try the same move at once, exactly one
  wins; the others get None or False and must not act on the run. This is what makes a
  doubled queue message, two dispatchers or two schedulers harmless.
* **Ids only grow**: a newer run has a larger ``id`` (the history pages by it).
* Bad data from a job (undecodable file names, non-JSON results) never makes writing
  a run fail, except where a method says it raises ``ValueError`` (nothing written).
* A store that cannot be reached or stays locked raises
  :class:`~trayjobs.errors.StoreBusy` with a sentence a person can act on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable, Protocol, runtime_checkable

__all__ = ["RunStoreAPI"]

Row = dict[str, Any]
LogLine = tuple[float, str, str]  # (ts, level, message)
FileVersion = tuple[str, int, int]  # (path, size, mtime_ns)


@runtime_checkable
class RunStoreAPI(Protocol):
    """The run store as the engine, the CLI, the window, the alerts and the kinds use it."""

    readonly: bool
    #: Whether the tables are made and current: a file's store always; a server's store
    #: opened without speaking to it (``open_store(connect=False)``) once :meth:`migrate`
    #: could run.
    migrated: bool

    def close(self) -> None:
        """Release the store's connections; the object is not used again."""

    def lost_why(self) -> str | None:
        """"deleted" or "replaced" once the file this store opened is no longer at its
        path (a new history there is another's); None while it is, and on a server."""

    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded (on a server: once, of several machines
        starting at once); their names. :class:`~trayjobs.errors.StoreUnreachable` when the
        server does not answer."""

    def now(self) -> float:
        """The time every writer of this store agrees on, in seconds since the epoch: this
        machine's clock corrected by the last :meth:`sync_clock`. Methods whose ``now``
        is not given use it; leases and the lead are compared in it."""

    def sync_clock(self) -> float:
        """Measure this machine's clock against the store's (a server's, half a round
        trip accounted for); the correction :meth:`now` applies from then on, in seconds."""

    def unknown_migrations(self) -> list[str] | None:
        """The migrations applied to this history that this trayjobs does not know (a newer
        one made them); None when nothing made its tables. Reads only."""

    # -- creating and reading runs ------------------------------------------------------

    def insert_run(self, job: str, *, kind: str, trigger: str, max_attempts: int = 1,
                   priority: int = 0, inputs: dict[str, Any] | None = None,
                   retry_of: int | None = None, parent_run: int | None = None,
                   note: str | None = None, state: str = "queued", error: str | None = None,
                   due_at: float | None = None, host: str | None = None,
                   handed: bool = False) -> Row:
        """Create a run (``queued`` unless told; ``scheduled`` ones start at ``due_at``; a
        final state sets ``finished_at``; ``queued_at``, when it was last ready to start, is
        now unless it is ``scheduled``) and return its row, with its new id. ``host``
        (column ``host``): only workers on that host may run it; None: any. ``handed``: a
        queued run its submitter puts on the shared queue itself (``dispatched`` = 2): no
        dispatcher hands it over, and it does not count against their budget until it
        runs (:meth:`redispatch_lost` takes it back if its message is lost)."""

    def create_run(self, job: str, **kw: Any) -> int:
        """:meth:`insert_run`, returning only the id."""

    def get_run(self, run_id: int) -> Row | None:
        """One run, or None if there is none with that id."""

    def list_runs(self, *, job: str | Iterable[str] | None = None,
                  state: str | Iterable[str] | None = None, text: str | None = None,
                  since: float | None = None, until: float | None = None,
                  before_id: int | None = None, limit: int = 50, offset: int = 0) -> list[Row]:
        """Runs matching every filter given, newest (largest id) first. ``state`` takes
        states and the filters ``warning`` and ``attention`` (see
        :func:`trayjobs.store.state_matches`); ``text`` is a substring of the error, inputs,
        result, job or note; ``since``/``until`` bound ``created_at``; ``before_id`` pages."""

    def count_runs(self, *, job: str | Iterable[str] | None = None,
                   state: str | Iterable[str] | None = None, text: str | None = None,
                   since: float | None = None, until: float | None = None,
                   before_id: int | None = None) -> int:
        """How many runs :meth:`list_runs` would list with the same filters and no limit."""

    def max_run_id(self) -> int:
        """The newest run's id, 0 without runs: the anchor a pager counts below."""

    def active_runs(self, job: str | None = None) -> list[Row]:
        """Runs waiting, queued, running or retrying (of ``job``), newest first."""

    def runs_since(self, after_id: int, *, ids: Iterable[int] = (), limit: int = 1000
                   ) -> list[Row]:
        """The runs with an id above ``after_id`` and those of ``ids``, by id, at most
        ``limit``: what another machine may have created or changed since a last look."""

    def last_runs(self) -> dict[str, Row]:
        """Per job, its newest run that is neither queued nor scheduled."""

    def attempts(self, run_id: int) -> list[Row]:
        """The run's attempts, first first: ``attempt``, ``started_at``, ``finished_at``,
        ``state``, ``error``, ``died``."""

    def first_starts(self, run_ids: Iterable[int]) -> dict[int, float]:
        """Run id -> when its first attempt started, for the runs with attempts."""

    def deaths_in_a_row(self, run_id: int) -> int:
        """How many of the run's last ended attempts its process died in, in a row,
        counting back into the runs it resumes (trigger ``recovered``)."""

    def chain_depth(self, run_id: int, *, limit: int) -> int:
        """How many ``parent_run`` links lead up from ``run_id``, counted up to ``limit``."""

    def runs_started_by(self, run_id: int, *, limit: int = 100) -> list[Row]:
        """The runs whose ``parent_run`` is ``run_id`` (started by its hooks, and their
        retries), oldest first, at most ``limit``."""

    def unresumed_interrupted(self) -> list[Row]:
        """Interrupted runs that no ``recovered`` run resumes yet, oldest first."""

    def resume_run(self, run_id: int, *, job: str, kind: str, max_attempts: int = 1,
                   priority: int = 0, inputs: dict[str, Any] | None = None,
                   parent_run: int | None = None, note: str | None = None,
                   host: str | None = None) -> Row | None:
        """Compare-and-set: create the queued run (trigger ``recovered``, ``retry_of``
        ``run_id``, pinned to ``host``) that resumes an interrupted run, unless one exists;
        its row or None."""

    # -- moving a run along (compare-and-set where said) ----------------------------------

    def claim(self, run_id: int, *, pid: int | None = None, worker_id: int | None = None,
              host: str | None = None) -> Row | None:
        """Compare-and-set: a ``queued`` run without a cancel request becomes ``running``,
        its attempt counter and a new attempts row go up, its progress and error are
        cleared, ``pid`` and ``worker_id`` (the claiming worker, whose lease it now
        belongs to) recorded; all in one transaction. With ``host``, a run whose ``host``
        is another is not claimable (``host IS NULL OR host = :host``). Returns the claimed
        row, or None if the run was not claimable (someone else claimed it, it was
        cancelled, it is pinned elsewhere...)."""

    def mark_dispatched(self, run_id: int, *, by: int | None = None) -> bool:
        """Compare-and-set: a ``queued`` run not yet handed to the queue is marked handed
        (``dispatched`` = 1, ``dispatched_by`` = ``by``, the worker handing it over); True
        only for the one caller that should now enqueue it."""

    def handed_since_before(self, before: float, *, limit: int = 500) -> list[int]:
        """Ids of queued runs handed to the queue (``dispatched`` 1 or 2) that have not
        changed since ``before`` (handing one over changes it)."""

    def unhand(self, run_ids: Iterable[int]) -> int:
        """Those of ``run_ids`` still queued and handed to the queue go back to the
        dispatchers (``dispatched`` = 0); how many did."""

    def redispatch_lost(self, in_queue: Iterable[int], *, worker_id: int | None = None) -> int:
        """Queued runs marked handed to the queue but whose id is not in ``in_queue`` (the
        queue's pending messages) are marked not handed, to be dispatched again; how many.
        A queue on a server is everyone's: all such runs. With ``worker_id`` (the queue is
        a file of that worker's home), only the runs whose ``dispatched_by`` is NULL, is
        ``worker_id``, or is a worker that is not running or whose lease is up
        (``state = 'running' AND heartbeat_at + lease >= now`` does not hold)."""

    def requeue_retry(self, run_id: int, *, now: float | None = None,
                      early: bool = False) -> bool:
        """Compare-and-set: a ``retrying`` run becomes ``queued`` (``early``: its
        ``next_attempt_at`` is cleared too), ``queued_at`` ``now``; whether this call moved it."""

    def start_scheduled(self, now: float, run_id: int | None = None) -> list[Row]:
        """Compare-and-set: ``scheduled`` runs due by ``now`` (only ``run_id``, if given)
        become ``queued`` (``queued_at`` ``now``), in one statement; the rows this call
        moved, by id."""

    def hold(self, run_id: int, *, reason: str, until: float | None) -> Row | None:
        """Compare-and-set: a ``queued`` run never handed to the queue nor attempted
        becomes ``waiting`` with ``wait_reason`` and ``wait_until``; its row or None."""

    def release(self, run_id: int) -> Row | None:
        """Compare-and-set: a ``waiting`` run becomes ``queued`` (not handed); its row or
        None if it was no longer waiting."""

    def set_wait_reasons(self, reasons: dict[int, str]) -> list[Row]:
        """New ``wait_reason`` for runs still ``waiting`` (``{run_id: reason}``), in one
        transaction; the rows changed."""

    def cancel_run(self, run_id: int, *, now: float | None = None) -> bool:
        """In one transaction: a run not started yet (scheduled, waiting, queued, retrying)
        is ``cancelled`` (True); otherwise its ``cancel_requested`` flag is set for the
        process running it (False)."""

    def cancel_requested(self, run_id: int) -> bool:
        """Whether someone asked the running run to stop."""

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set columns of a run (``result`` may be data, stored as JSON); not a claim."""

    def set_progress(self, run_id: int, done: float | None, total: float | None,
                     unit: str | None, message: str | None) -> None:
        """The running run's progress; the last write wins."""

    def end_attempt(self, run_id: int, *, state: str, error: str | None = None,
                    traceback: str | None = None, result: dict[str, Any] | None = None,
                    next_attempt_at: float | None = None, died: bool = False,
                    logs: Iterable[LogLine] = (),
                    expect: tuple[int | None, int] | None = None,
                    finished_at: float | None = None) -> Row | None:
        """In one transaction: the current attempt ends (with ``died``; at ``finished_at``
        when given, an end kept while the store was away, else now), the run moves to
        ``state`` (``finished_at`` set if final, ``warnings`` counted from the result of a
        success, no longer dispatched) and the log lines are appended; the new row.
        ``ValueError`` and nothing written if ``result`` is not JSON data. With ``expect``
        = (worker id, attempt), a compare-and-set: only if the run is still ``running``
        that attempt claimed by that worker (None: not written), so a run recovered from
        a worker whose lease expired is ended once, and not again by that worker."""

    def needing_attention(self, run_ids: Iterable[int]) -> int:
        """How many of these runs need attention (failed or warned, not seen yet)."""

    def mark_seen(self, run_ids: Iterable[int]) -> int:
        """These runs no longer need attention; how many changed."""

    def attention_counts(self) -> dict[str, int]:
        """Runs that need attention: ``{"failed": n, "warning": m}``."""

    # -- logs ---------------------------------------------------------------------------

    def add_logs(self, run_id: int, lines: Iterable[LogLine]) -> None:
        """Append log lines, in one transaction, in order."""

    def add_log(self, run_id: int, message: str, level: str = "info") -> None:
        """Append one log line stamped now."""

    def logs(self, run_id: int, *, after_id: int = 0, limit: int = 10_000) -> list[Row]:
        """Log lines of a run after line id ``after_id``, in order (``id`` grows)."""

    def log_tail(self, run_id: int, *, limit: int) -> tuple[list[Row], int]:
        """The newest ``limit`` entries of a run's log, in order, and how many lines the
        whole log has (an entry may hold several)."""

    # -- what the dispatcher and scheduler look at ----------------------------------------

    def inflight_by_job(self) -> dict[str, int]:
        """Per job, runs handed to the queue or running."""

    def waiting_jobs(self) -> list[str]:
        """Jobs with queued runs not yet handed to the queue; costs one probe per job."""

    def undispatched(self, job: str | None = None, *, limit: int = -1,
                     triggers: Iterable[str] | None = None,
                     hosts: Iterable[str] | None = None) -> list[Row]:
        """Queued runs not yet handed to the queue, highest priority then oldest first
        (``limit`` -1: all). ``hosts``: only runs with ``host`` NULL or among them."""

    def waiting_run(self, job: str, *, trigger: str) -> int | None:
        """The newest queued or waiting, never attempted run of ``job`` with ``trigger``."""

    def held(self, job: str | None = None) -> list[Row]:
        """Runs ``waiting`` for their conditions, oldest first."""

    def next_due_retry(self) -> float | None:
        """The earliest ``next_attempt_at`` of the retrying runs."""

    def due_retries(self, now: float) -> list[Row]:
        """Retrying runs whose ``next_attempt_at`` is at or before ``now``, oldest first."""

    def next_scheduled(self) -> float | None:
        """When the next ``scheduled`` one-off run is due."""

    # -- health and metrics -----------------------------------------------------------------

    def job_health(self, *, since: float, until: float | None = None,
                   jobs: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Per job, counts and durations of its runs created in the window."""

    def recent_outcomes(self, job: str, *, limit: int = 30) -> list[str]:
        """How the job's newest ended runs ended, newest first."""

    def last_successes(self, jobs: Iterable[str]) -> dict[str, float]:
        """Per job, when its newest success ended."""

    def last_success_at(self, job: str) -> float | None:
        """When ``job``'s newest success ended."""

    def previous_outcome(self, job: str, before_id: int) -> str | None:
        """How ``job``'s last run before ``before_id`` that succeeded or failed ended."""

    def waiting_by_job(self) -> dict[str, int]:
        """Per job, runs not started yet."""

    def metrics(self, *, since: float, until: float, bucket: float,
                jobs: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Runs per ``bucket`` seconds and job in the window, from the per-hour sums; the
        queue wait of a run is from ``queued_at`` to ``started_at`` (its current attempt)."""

    # -- job and app state --------------------------------------------------------------------

    def job_states(self) -> dict[str, Row]:
        """Per job: ``next_run_at``, ``schedule_spec``, ``last_due_at``, ``paused``, ``note``."""

    def set_job_state(self, job: str, **fields: Any) -> None:
        """Insert or update the job's state row (an upsert; the last write wins)."""

    def get_value(self, key: str, default: str | None = None) -> str | None:
        """An app-wide setting kept with the runs (``paused``...)."""

    def set_value(self, key: str, value: str | None) -> None:
        """Set (None: delete) an app-wide value; the last write wins."""

    def delete_values(self, prefix: str) -> None:
        """Delete every app-wide value whose key starts with ``prefix``."""

    # -- watched folders ------------------------------------------------------------------------

    def unseen_versions(self, job: str, versions: Iterable[FileVersion]) -> list[FileVersion]:
        """The file versions not yet recorded for ``job``."""

    def record_versions(self, job: str, run_id: int | None,
                        versions: Iterable[FileVersion]) -> None:
        """Record file versions as turned into run ``run_id``, in one transaction."""

    def forget_versions(self, job: str, folder: str, keep: set[str]) -> int:
        """Drop recorded versions under ``folder`` whose path is not in ``keep``; how many."""

    def forget_paths(self, job: str, paths: Iterable[str]) -> int:
        """Drop the recorded versions of ``paths``, whatever they were; how many asked."""

    def rename_job(self, old: str, new: str) -> None:
        """Job ``old`` is now named ``new``: what its watched folders ran, its schedule's
        place and its runs still to come are ``new``'s (what ``new`` had is dropped); the
        runs it made keep the name they ran under."""

    def set_watch_status(self, job: str, *, state: str, folder: str, reason: str | None,
                         pending: int, pid: int) -> None:
        """What the watch of ``job`` is doing, for other processes to show."""

    def clear_watch_status(self, job: str | None = None) -> None:
        """Forget the watch status of ``job`` (of every job)."""

    def watch_statuses(self) -> dict[str, Row]:
        """The last status each watch reported, by job."""

    # -- the alert outbox --------------------------------------------------------------------------

    def outbox_add(self, rows: Iterable[dict[str, Any]]) -> int:
        """Queue messages in one transaction; one whose ``dedupe`` is queued already is
        skipped (so two machines noticing the same end queue one message); how many added."""

    def outbox_lane_hold(self, lane: str, owner: str, until: float) -> bool:
        """Take ``lane`` (a channel's messages, a job's pings) for ``owner`` until
        ``until``, or hold it longer if ``owner`` has it; False while another holds it
        (so two processes delivering at once send each message once)."""

    def outbox_lane_free(self, lane: str, owner: str) -> None:
        """Let ``lane`` go, if ``owner`` still holds it."""

    def outbox_pending(self, channel: str | None = None, *,
                       due_by: float | None = None) -> list[Row]:
        """Pending messages, oldest first: every one, or those of ``channel`` (that may go
        by ``due_by``)."""

    def outbox_heads(self) -> list[Row]:
        """Per channel with pending messages, its oldest one's ``channel``, ``id`` and
        ``due_at`` (a channel's messages go in order); the messages waiting behind a
        channel's head are not read."""

    def outbox_update(self, ids: Iterable[int], **fields: Any) -> None:
        """Set columns of these messages."""

    def outbox_tried(self, row_id: int, *, error: str, due_at: float | None) -> None:
        """One more failed try: pending again at ``due_at``, or failed for good (None)."""

    def outbox_retry_now(self, now: float, *, channels: Iterable[str] | None = None) -> int:
        """Pending messages that failed before are due at ``now`` (all, or those of
        ``channels``); how many."""

    def outbox_revive(self, now: float, *, channels: Iterable[str], since: float) -> int:
        """Messages of ``channels`` queued since ``since`` and given up after a try are
        pending again, due at ``now``; how many."""

    def outbox_log(self, *, run_id: int | None = None, channel: str | None = None,
                   dedupe: str | None = None, limit: int = 50) -> list[Row]:
        """Messages, newest first (of one run, one channel, or the one of this
        ``dedupe``)."""

    def outbox_sent_since(self, channel: str, job: str, since: float) -> list[float]:
        """When the channel's messages about ``job`` sent since ``since`` went, newest
        first."""

    def outbox_get(self, row_id: int) -> Row | None:
        """One message."""

    def channel_health(self) -> dict[str, Row]:
        """Per channel, its latest tried message."""

    # -- workers and their leases ------------------------------------------------------------
    # A worker row: ``id``, ``host``, ``pid``, ``version``, ``mode`` (app, worker, cli),
    # ``started_at``, ``heartbeat_at``, ``lease`` (seconds after its last heartbeat that its
    # runs stay its own), ``state``, ``stopped_at``, ``problem`` (why it cannot run jobs
    # although it beats, as it says; None while it can); as read, also ``expired`` (its lease is
    # up: ``state`` reads ``lost``) and ``runs`` (its runs running now).

    def register_worker(self, *, host: str, pid: int, version: str, mode: str,
                        lease: float, now: float | None = None,
                        machine: str | None = None, problem: str | None = None) -> int:
        """A new worker, ``running`` and just heard from; its id. ``machine``: what tells
        this machine (and pid namespace) apart from others of the same host name, so that
        only a worker of this very machine is judged by whether its pid lives here.
        ``problem``: see :meth:`set_worker_problem`."""

    def set_worker_problem(self, worker_id: int, problem: str | None) -> None:
        """Why the worker cannot run jobs although it beats (its queue does not answer), or
        None once it can again: the others count it out of the live workers meanwhile."""

    def beat(self, worker_id: int, *, now: float | None = None) -> bool:
        """The worker is alive: its ``heartbeat_at`` is now. False if it is no longer
        ``running`` (stopped, or declared lost by another: it must register again)."""

    def stop_worker(self, worker_id: int, *, now: float | None = None) -> None:
        """The worker stopped cleanly (its runs were ended first)."""

    def ended_before_loss(self, worker_id: int, *, window: float) -> list[Row]:
        """The runs ``worker_id`` ended in its last ``window`` seconds of heartbeats (their
        end may not have been told before it was lost)."""

    def mark_worker_lost(self, worker_id: int, *, now: float | None = None) -> bool:
        """Compare-and-set: a ``running`` worker becomes ``lost`` (another found it gone
        and took its runs back; its next :meth:`beat` says so); whether this call did."""

    def get_worker(self, worker_id: int, *, now: float | None = None) -> Row | None:
        """One worker as read at ``now``."""

    def workers(self, *, since: float | None = None, now: float | None = None) -> list[Row]:
        """Workers, newest first: all, or those running, lost or heard from since
        ``since``."""

    def running_runs(self, *, now: float | None = None) -> list[Row]:
        """The ``running`` runs, oldest first, each with ``worker``: its worker as read
        at ``now`` (``host``, ``pid``, ``state``, ``mode``, ``heartbeat_at``, ``lease``,
        ``expired``), or None for a run claimed without one or whose worker is gone."""

    # -- several engines on one history (migration 013_cluster) ------------------------------
    # Table ``leader`` (name TEXT PRIMARY KEY, worker_id, token INTEGER, expires_at REAL):
    # one row, named 'scheduler'. Table ``control`` (id growing, created_at, message JSON).

    def take_lead(self, worker_id: int, *, lease: float, now: float | None = None
                  ) -> int | None:
        """Compare-and-set, one statement: ``worker_id`` holds the scheduler's lead until
        ``now + lease`` if the row is missing (insert, token 1), free (``worker_id`` NULL),
        expired (``expires_at < now``), held by a worker that is not ``running`` or whose
        own lease is up (``heartbeat_at + lease < now``), or held by ``worker_id`` already
        (a renewal); and only while ``worker_id`` itself is ``running`` with its lease not
        up (an ``INSERT ... SELECT ... WHERE EXISTS`` upsert). The token stays on a renewal
        and goes up by one when the lead changes hands. Returns the token, or None when
        another worker holds the lead (or the caller's own lease is up)."""

    def release_lead(self, worker_id: int) -> bool:
        """The lead is free at once (``worker_id`` NULL, ``expires_at`` 0) if
        ``worker_id`` held it; whether it did."""

    def lead(self, *, now: float | None = None) -> Row | None:
        """The lead as read at ``now``: ``worker_id``, ``token``, ``expires_at``, its
        worker's ``host`` and ``pid``, ``held`` (a holder whose time is not up); None
        before anyone took it."""

    def advance_schedule(self, job: str, *, seen: tuple[float | None, str | None],
                         next_run_at: float, schedule_spec: str | None,
                         last_due_at: float | None = None, token: int | None = None) -> bool:
        """Compare-and-set on a schedule's slot: ``job_state`` of ``job`` gets
        ``next_run_at``, ``schedule_spec`` (and ``last_due_at`` if given) only if its
        ``next_run_at`` and ``schedule_spec`` are still ``seen`` (compared with IS: NULL
        equals NULL; a job with no row yet gets one inserted, an upsert whose update has
        the same condition) and, with ``token``, only while the lead's token is
        ``token``. Whether it did: of two schedulers planning the same slot, one does,
        and only it creates the slot's runs."""

    def send_control(self, message: dict[str, Any], *, now: float | None = None) -> int:
        """Append a control message for the engines that read ``control`` (those without
        Redis); messages older than ten minutes are deleted in the same transaction. The
        new message's id."""

    def controls(self, after_id: int, *, limit: int = 500) -> list[Row]:
        """Control messages with an id above ``after_id``, oldest first: ``id``,
        ``created_at``, ``message`` (decoded)."""

    def last_control_id(self) -> int:
        """The newest control message's id, 0 without any: where a new reader starts."""

    def stranded(self, hosts: Iterable[str]) -> list[Row]:
        """Queued runs (handed to the queue or not) pinned to a host that is not among
        ``hosts`` (the hosts with a live worker), oldest first."""

    # -- reports ----------------------------------------------------------------------------------

    def runs_view(self, *, after_id: int = 0, limit: int = 5000) -> list[Row]:
        """Rows of the versioned view ``runs_v1`` (its columns:
        :data:`~trayjobs.store.migrations.RUNS_V1_COLUMNS`) with ``id`` above ``after_id``,
        by id, at most ``limit``: how a report reads a history that lives on a server."""

    # -- retention ----------------------------------------------------------------------------------

    def prune(self, *, keep_days: float, keep_runs: int, keep_failed_days: float,
              now: float | None = None, stop: Callable[[], bool] | None = None) -> list[int]:
        """In one transaction, delete ended runs older than their keep time or beyond the
        newest ``keep_runs`` (with their attempts and logs) and done alerts of that age;
        the ids of the runs deleted (whose output folders may go too). A store that
        deletes in batches looks at ``stop()`` between two, and ends there when it says
        so (the rest goes at the next prune)."""
