"""The run store's schema: named migrations, applied in order and recorded.

Each is applied in one transaction together with its record (see
:meth:`trayjobs.store.RunStore.migrate`); never edit one that has shipped, add
the next instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported only when a migration runs: the app stays lighter
    import sqlite_utils

__all__ = ["MIGRATIONS", "RUNS_V1_COLUMNS"]

_RUN_COLUMNS = {
    "id": int, "job": str, "kind": str, "trigger": str, "state": str,
    "attempt": int, "max_attempts": int, "next_attempt_at": float,
    "progress_done": float, "progress_total": float, "progress_unit": str,
    "progress_message": str,
    "created_at": float, "started_at": float, "finished_at": float, "updated_at": float,
    "result": str, "error": str, "traceback": str, "inputs": str,
    "retry_of": int, "parent_run": int, "note": str, "priority": int,
    "dispatched": int, "cancel_requested": int, "pid": int,
}


def _m001_initial(db: "sqlite_utils.Database") -> None:
    db["runs"].create(_RUN_COLUMNS, pk="id", not_null={"job", "state", "trigger"},
                      defaults={"attempt": 0, "max_attempts": 1, "priority": 0,
                                "dispatched": 0, "cancel_requested": 0})
    db["runs"].create_index(["job", "id"], index_name="runs_job_id")
    db["runs"].create_index(["state", "id"], index_name="runs_state_id")
    db["runs"].create_index(["created_at"], index_name="runs_created_at")
    db["attempts"].create({"run_id": int, "attempt": int, "started_at": float,
                           "finished_at": float, "state": str, "error": str},
                          pk=("run_id", "attempt"))
    db["run_log"].create({"id": int, "run_id": int, "ts": float, "level": str, "message": str},
                         pk="id")
    db["run_log"].create_index(["run_id", "id"], index_name="run_log_run_id")
    db["job_state"].create({"job": str, "next_run_at": float, "schedule_spec": str,
                            "last_due_at": float, "paused": int, "note": str},
                           pk="job", defaults={"paused": 0})
    db["app_state"].create({"key": str, "value": str}, pk="key")


def _m002_watch_files(db: "sqlite_utils.Database") -> None:
    # The file versions (path, size, mtime) a watched folder has already turned into runs,
    # so a repeated event or a restart never runs the same version twice.
    db["watch_files"].create({"job": str, "path": str, "size": int, "mtime_ns": int,
                              "run_id": int, "seen_at": float}, pk=("job", "path"))
    # What each watch is doing, for other processes (``trayjobs jobs``) to show.
    db["watch_status"].create({"job": str, "state": str, "folder": str, "reason": str,
                               "pending": int, "pid": int, "updated_at": float}, pk="job")


def _m003_dispatch_indexes(db: "sqlite_utils.Database") -> None:
    # Partial indexes over just the runs the dispatcher looks at, so each dispatch costs
    # the same whether 20 or 20,000 runs wait.
    db.execute("CREATE INDEX runs_inflight ON runs(job)"
               " WHERE state = 'running' OR (state = 'queued' AND dispatched = 1)")
    db.execute("CREATE INDEX runs_waiting ON runs(job, priority DESC, id)"
               " WHERE state = 'queued' AND dispatched = 0")


def _m004_attempt_died(db: "sqlite_utils.Database") -> None:
    # Whether the job's process died in an attempt (crashed, killed, or the app running it
    # did): a run that takes its process down again and again is not retried for ever.
    db.execute("ALTER TABLE attempts ADD COLUMN died INTEGER NOT NULL DEFAULT 0")


def _m005_scheduled_runs(db: "sqlite_utils.Database") -> None:
    # One-off runs asked for a later time (``trayjobs run JOB --at 18:00``) wait in the
    # state 'scheduled' until ``due_at``; the scheduler finds the next one by this index.
    db.execute("ALTER TABLE runs ADD COLUMN due_at REAL")
    db.execute("CREATE INDEX runs_scheduled ON runs(due_at) WHERE state = 'scheduled'")


def _m006_run_warnings(db: "sqlite_utils.Database") -> None:
    # How many warnings a succeeded run's result carried (rejected rows, skipped files...):
    # such a run ends "succeeded with warnings", never plain green. The partial index serves
    # the "with warnings" filter without reading every succeeded run.
    db.execute("ALTER TABLE runs ADD COLUMN warnings INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX runs_warned ON runs(job, id) WHERE state = 'succeeded'"
               " AND warnings > 0")


# What one run adds to its hour in run_hours: (column, value for the row alias {r}), as
# 007_run_hours counted it (the queue wait from created_at); 016_queue_wait changes it.
_HOUR_SHARE_007 = [
    ("runs", "1"),
    ("ended", "{r}.state IN ('succeeded', 'failed', 'cancelled', 'skipped', 'interrupted')"),
    ("succeeded", "{r}.state = 'succeeded'"),
    ("warned", "{r}.state = 'succeeded' AND {r}.warnings > 0"),
    ("failed", "{r}.state = 'failed'"),
    ("duration_sum", "coalesce(CASE WHEN {r}.state = 'succeeded'"
                     " THEN {r}.finished_at - {r}.started_at END, 0)"),
    ("duration_n", "{r}.state = 'succeeded' AND {r}.finished_at - {r}.started_at IS NOT NULL"),
    ("wait_sum", "coalesce({r}.started_at - {r}.created_at, 0)"),
    ("wait_n", "{r}.started_at - {r}.created_at IS NOT NULL"),
]
_HOUR_COLUMNS = "hour, job, " + ", ".join(c for c, _ in _HOUR_SHARE_007)

# Since 016_queue_wait: a run's queue wait is that of its current attempt, from when it was
# ready to start (``queued_at``) to its start; counted once it has started (a retry queued
# again after its pause has the start of its previous attempt until it starts anew).
_WAIT_SHARE = [
    ("wait_sum", "coalesce(CASE WHEN {r}.started_at >= {r}.queued_at"
                 " THEN {r}.started_at - {r}.queued_at END, 0)"),
    ("wait_n", "{r}.queued_at IS NOT NULL AND {r}.started_at IS NOT NULL"
               " AND {r}.started_at >= {r}.queued_at"),
]
_HOUR_SHARE = [*_HOUR_SHARE_007[:-2], *_WAIT_SHARE]


def _hour_upsert(r: str, sign: int, share: list[tuple[str, str]]) -> str:
    """The statement adding (``sign`` 1) or taking back (-1) row ``r``'s share of its hour."""
    values = ", ".join(f"{sign} * ({v.format(r=r)})" for _, v in share)
    adds = ", ".join(f"{c} = {c} + excluded.{c}" for c, _ in share)
    return (f"INSERT INTO run_hours ({_HOUR_COLUMNS}) SELECT"
            f" CAST({r}.created_at / 3600 AS INTEGER), {r}.job, {values}"
            f" WHERE {r}.created_at IS NOT NULL ON CONFLICT(hour, job) DO UPDATE SET {adds};")


def _m007_run_hours(db: "sqlite_utils.Database") -> None:
    # Health and metrics (``trayjobs stats``, the Jobs and Metrics pages) count runs per
    # hour and job. Counting a month of a million-run history row by row takes seconds, so
    # triggers keep these per-hour sums as runs are written: a 30-day chart reads 720 rows
    # per job, whatever the number of runs. ``hour`` is the run's created_at // 3600 (UTC).
    db.execute("CREATE TABLE run_hours (hour INTEGER NOT NULL, job TEXT NOT NULL,"
               " runs INTEGER NOT NULL, ended INTEGER NOT NULL, succeeded INTEGER NOT NULL,"
               " warned INTEGER NOT NULL, failed INTEGER NOT NULL, duration_sum REAL NOT NULL,"
               " duration_n INTEGER NOT NULL, wait_sum REAL NOT NULL, wait_n INTEGER NOT NULL,"
               " PRIMARY KEY (hour, job)) WITHOUT ROWID")
    sums = ", ".join(f"sum({v.format(r='runs')})" for _, v in _HOUR_SHARE_007)
    db.execute(f"INSERT INTO run_hours ({_HOUR_COLUMNS}) SELECT CAST(created_at / 3600 AS"
               f" INTEGER) AS h, job, {sums} FROM runs WHERE created_at IS NOT NULL"
               " GROUP BY h, job")
    # Only the columns the sums read fire the update trigger: progress updates do not.
    db.execute("CREATE TRIGGER runs_hours_insert AFTER INSERT ON runs"
               f" BEGIN {_hour_upsert('NEW', 1, _HOUR_SHARE_007)} END")
    db.execute("CREATE TRIGGER runs_hours_update AFTER UPDATE OF job, state, warnings,"
               " created_at, started_at, finished_at ON runs"
               f" BEGIN {_hour_upsert('OLD', -1, _HOUR_SHARE_007)}"
               f" {_hour_upsert('NEW', 1, _HOUR_SHARE_007)} END")
    db.execute("CREATE TRIGGER runs_hours_delete AFTER DELETE ON runs"
               f" BEGIN {_hour_upsert('OLD', -1, _HOUR_SHARE_007)} END")
    # A job's newest successes (its last success, its p50/p95), found at once however
    # long it has been failing.
    db.execute("CREATE INDEX runs_job_succeeded ON runs(job, id) WHERE state = 'succeeded'")


def _m008_run_seen(db: "sqlite_utils.Database") -> None:
    # Whether someone looked at a run that needs attention (failed for good, or succeeded
    # with warnings): it stays in "Needs attention" and badges the tray until then. Runs
    # from before are taken as seen: an old history does not all need attention at once.
    db.execute("ALTER TABLE runs ADD COLUMN seen INTEGER NOT NULL DEFAULT 0")
    # The filter reads failed and succeeded runs through runs_state_id; no index of its own.
    db.execute("UPDATE runs SET seen = 1")


def _m009_alert_outbox(db: "sqlite_utils.Database") -> None:
    # Alerts and heartbeat pings wait here until they are delivered: written by the engine
    # as a run ends (one insert, no network), sent by the alerts thread with retries, kept
    # across restarts. ``dedupe`` makes a message unique per run and channel ("one message
    # per run"); ``merged_into`` points from the messages of a burst to their summary.
    db.execute("CREATE TABLE alert_outbox (id INTEGER PRIMARY KEY, channel TEXT NOT NULL,"
               " event TEXT NOT NULL, job TEXT, run_id INTEGER, dedupe TEXT UNIQUE,"
               " title TEXT, body TEXT, data TEXT, state TEXT NOT NULL DEFAULT 'pending',"
               " created_at REAL NOT NULL, due_at REAL NOT NULL,"
               " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, sent_at REAL,"
               " merged_into INTEGER)")
    db.execute("CREATE INDEX alert_outbox_pending ON alert_outbox(channel, id)"
               " WHERE state = 'pending'")
    db.execute("CREATE INDEX alert_outbox_run ON alert_outbox(run_id)")


def _m010_run_conditions(db: "sqlite_utils.Database") -> None:
    # A due run whose conditions (``when``: AC power, an unmetered network...) do not hold
    # waits in the state 'waiting': why, in words, and until when at most (``max_wait``).
    # The engine looks at its waiting runs whenever a condition may have changed; the
    # partial index keeps that a look at just them.
    db.execute("ALTER TABLE runs ADD COLUMN wait_reason TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN wait_until REAL")
    db.execute("CREATE INDEX runs_held ON runs(job, id) WHERE state = 'waiting'")


#: The columns of ``runs_v1``, the view reports read (``database = "runs"``). A view of
#: a given version never changes: an upgrade that changes ``runs`` redefines the view over
#: it in the same migration, and a report that needs more adds ``runs_v2`` beside it.
RUNS_V1_COLUMNS = ("id", "job", "kind", "trigger", "state", "outcome", "attempt",
                   "max_attempts", "priority", "created_at", "started_at", "finished_at",
                   "updated_at", "duration", "error", "warnings", "result", "note", "retry_of",
                   "parent_run", "seen")


def _m011_runs_view(db: "sqlite_utils.Database") -> None:
    # Reports read the history through this view, not the table: the table is the store's
    # to change (and lives in another database on a server); the view's name and columns
    # are a promise across upgrades. ``outcome`` is the state as shown ('warning' for a
    # success with warnings); ``duration`` the seconds of the last attempt of an ended run.
    exprs = {"outcome": "CASE WHEN state = 'succeeded' AND warnings > 0 THEN 'warning'"
                        " ELSE state END",
             "duration": "CASE WHEN finished_at >= started_at THEN finished_at - started_at END"}
    cols = ", ".join(f"{exprs[c]} AS {c}" if c in exprs else c for c in RUNS_V1_COLUMNS)
    db.execute(f"CREATE VIEW runs_v1 AS SELECT {cols} FROM runs")


def _m012_workers(db: "sqlite_utils.Database") -> None:
    # Each process that runs jobs (the app, ``trayjobs worker``, a foreground ``trayjobs
    # run``) registers here as it starts and beats while it lives: a run it claimed is its
    # until its heartbeat is older than its ``lease`` (seconds). A pid says nothing on
    # another machine; a lease does, so a run is recovered only when its worker is gone.
    # ``state`` is running, stopped (a clean stop) or lost (another worker saw its lease
    # expire and recovered its runs).
    db.execute("CREATE TABLE workers (id INTEGER PRIMARY KEY, host TEXT NOT NULL,"
               " pid INTEGER NOT NULL, version TEXT, mode TEXT, started_at REAL NOT NULL,"
               " heartbeat_at REAL NOT NULL, lease REAL NOT NULL,"
               " state TEXT NOT NULL DEFAULT 'running', stopped_at REAL)")
    db.execute("CREATE INDEX workers_state ON workers(state, heartbeat_at)")
    # The worker that claimed the run's current attempt; set with the claim.
    db.execute("ALTER TABLE runs ADD COLUMN worker_id INTEGER")
    # Pruning a stopped worker asks whether any run still names it.
    db.execute("CREATE INDEX runs_worker ON runs(worker_id) WHERE worker_id IS NOT NULL")
    # Whether an interrupted run is resumed already: asked by every worker that recovers
    # it, in the compare-and-set that makes only one of them resume it.
    db.execute("CREATE INDEX runs_resumes ON runs(retry_of) WHERE trigger = 'recovered'")


def _m013_cluster(db: "sqlite_utils.Database") -> None:
    # One scheduler per cluster: the worker that holds the row named 'scheduler' fires the
    # schedules, starts the one-off runs and sends the alerts. It is taken and renewed by a
    # compare-and-set (free, expired, held by a worker that is no longer running, or
    # already ours); ``token`` goes up by one each time another worker takes it (a fencing
    # token: whatever a former holder writes with its older token is refused).
    db.execute("CREATE TABLE leader (name TEXT PRIMARY KEY, worker_id INTEGER,"
               " token INTEGER NOT NULL DEFAULT 0, expires_at REAL NOT NULL DEFAULT 0)")
    # Control messages (cancel, reload, pause, "dispatch now") for the engines that share
    # this history without a Redis server: each reads those newer than the last it read.
    db.execute("CREATE TABLE control (id INTEGER PRIMARY KEY AUTOINCREMENT,"
               " created_at REAL NOT NULL, message TEXT NOT NULL)")
    # The host whose workers alone may run the run (a job's ``host``, or the machine its
    # files are on); NULL: any worker.
    db.execute("ALTER TABLE runs ADD COLUMN host TEXT")
    # The queued runs pinned to a host, looked at by the scheduler to say which wait for
    # a worker on a host that has none.
    db.execute("CREATE INDEX runs_pinned ON runs(host) WHERE state = 'queued'"
               " AND host IS NOT NULL")
    # The worker that handed the run to the queue: a queue file is one home's, and what a
    # worker that is gone handed to its own is handed over again by another.
    db.execute("ALTER TABLE runs ADD COLUMN dispatched_by INTEGER")


def _m014_worker_machine(db: "sqlite_utils.Database") -> None:
    # Two machines may go by one host name (cloned VMs, containers with one hostname):
    # a worker is judged "gone" by its pid only on the very machine (and pid namespace)
    # it ran on, which this tells (see trayjobs.engine.lease.this_machine).
    db.execute("ALTER TABLE workers ADD COLUMN machine TEXT")


#: Old runs' ``queued_at`` (016_queue_wait): a run with one attempt at most was ready when
#: created, or at its planned time if it was set for later. When a run with more attempts
#: became ready for its last one was not kept: its wait is left out rather than guessed.
QUEUED_AT_OF_OLD_RUNS = ("UPDATE runs SET queued_at = coalesce(due_at, created_at)"
                        " WHERE attempt <= 1")


def wait_recount(hour: str, shares: list[str]) -> list[str]:
    """Statements setting run_hours' wait sums again from the runs (``hour``: the SQL of a
    run's hour from its ``created_at``; ``shares``: of wait_sum and wait_n, as numbers)."""
    sums = ", ".join(f"sum({v}) AS {c}" for (c, _), v in zip(_WAIT_SHARE, shares))
    return ["UPDATE run_hours SET wait_sum = 0, wait_n = 0",
            f"UPDATE run_hours SET wait_sum = w.wait_sum, wait_n = w.wait_n FROM"
            f" (SELECT {hour} AS h, job, {sums} FROM runs WHERE created_at IS NOT NULL"
            f" GROUP BY h, job) AS w WHERE run_hours.hour = w.h AND run_hours.job = w.job"]


def _m016_queue_wait(db: "sqlite_utils.Database") -> None:
    # The queue wait (Metrics, ``trayjobs stats``) was counted from a run's creation: a
    # run set for later (``run --at 18:00``) "waited in the queue" for its whole planned
    # delay, a retried one for its earlier attempts and the pause between them. It counts
    # now from ``queued_at``: when the run was last ready to start (created, its planned
    # time came, its pause between attempts was over). A wait for the job's conditions
    # (``when``) still counts: the run was due. (015 is PostgreSQL's alone.)
    db.execute("ALTER TABLE runs ADD COLUMN queued_at REAL")
    db.execute(QUEUED_AT_OF_OLD_RUNS)
    for sql in wait_recount("CAST(created_at / 3600 AS INTEGER)",
                            [v.format(r="runs") for _, v in _WAIT_SHARE]):
        db.execute(sql)
    for name in ("insert", "update", "delete"):
        db.execute(f"DROP TRIGGER runs_hours_{name}")
    db.execute("CREATE TRIGGER runs_hours_insert AFTER INSERT ON runs"
               f" BEGIN {_hour_upsert('NEW', 1, _HOUR_SHARE)} END")
    db.execute("CREATE TRIGGER runs_hours_update AFTER UPDATE OF job, state, warnings,"
               " created_at, started_at, finished_at, queued_at ON runs"
               f" BEGIN {_hour_upsert('OLD', -1, _HOUR_SHARE)}"
               f" {_hour_upsert('NEW', 1, _HOUR_SHARE)} END")
    db.execute("CREATE TRIGGER runs_hours_delete AFTER DELETE ON runs"
               f" BEGIN {_hour_upsert('OLD', -1, _HOUR_SHARE)} END")


def _m017_runs_started_by(db: "sqlite_utils.Database") -> None:
    # A run's details list the runs its hooks started (then, on_failure, always): found
    # by their parent_run at once, in any history; only the runs that have one are in it.
    db.execute("CREATE INDEX runs_parent ON runs(parent_run) WHERE parent_run IS NOT NULL")


def _m018_worker_problem(db: "sqlite_utils.Database") -> None:
    # Why a running worker cannot run jobs, as it says itself (its queue's Redis server does
    # not answer); NULL while it can. The others leave it out of the live workers.
    db.execute("ALTER TABLE workers ADD COLUMN problem TEXT")


def _m020_alert_lanes(db: "sqlite_utils.Database") -> None:
    # Who is delivering a lane of the outbox (a channel's messages, a job's pings) until
    # when: the app's sender, a foreground command flushing at its end, an old and a new
    # leader of a cluster each take a lane before they send from it, so a message goes
    # once; a sender that died lets go when ``until`` passes.
    db.execute("CREATE TABLE alert_lanes (lane TEXT PRIMARY KEY, owner TEXT NOT NULL,"
               " until REAL NOT NULL)")


#: The tables and columns that name a run by its id besides ``runs`` itself: a number one
#: of them still names is never given to a new run (019_run_ids_not_reused).
RUN_ID_REFERENCES = (("runs", "retry_of"), ("runs", "parent_run"), ("run_log", "run_id"),
                     ("attempts", "run_id"), ("alert_outbox", "run_id"),
                     ("watch_files", "run_id"))


def _m019_run_ids_not_reused(db: "sqlite_utils.Database") -> None:
    # Without AUTOINCREMENT SQLite gives a new row the highest id + 1: once the newest runs
    # were pruned, the next run got the number of one deleted, and links, logs, output
    # folders and alerts naming that number then named another run. SQLite cannot ALTER a
    # key to AUTOINCREMENT: the table is built again under its own name with every row,
    # and its indexes, triggers and the views over it made again as they were.
    import re
    conn = db.conn
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
                       ).fetchone()[0]
    new, n = re.subn(r'^(\s*CREATE\s+TABLE\s+)(\[runs\]|"runs"|runs)',
                     r"\1runs_rebuilt", sql, flags=re.I)
    new, m = re.subn(r'((?:\[id\]|"id"|\bid\b)\s+INTEGER\s+PRIMARY\s+KEY)(?!\s+AUTOINCREMENT)',
                     r"\1 AUTOINCREMENT", new, count=1, flags=re.I)
    if n != 1 or m != 1:
        raise RuntimeError(f"runs is not the table this step knows: {sql}")
    # Everything that names runs and goes with it: its indexes and triggers (dropped with
    # the table) and the views over it (which a rename checks against the tables).
    kept = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND"
                        " ((type IN ('index', 'trigger') AND tbl_name = 'runs') OR type ="
                        " 'view') ORDER BY rowid").fetchall()
    for kind, name, _ in kept:
        if kind == "view":
            conn.execute(f'DROP VIEW "{name}"')
    conn.execute(new)
    conn.execute("INSERT INTO runs_rebuilt SELECT * FROM runs")
    conn.execute("DROP TABLE runs")
    conn.execute("ALTER TABLE runs_rebuilt RENAME TO runs")
    for _, _, create in kept:
        conn.execute(create)
    # The next number is above every run there is and every one still named elsewhere
    # (a run whose log or alert outlived it), not only above the rows kept.
    highest = max([conn.execute("SELECT max(id) FROM runs").fetchone()[0] or 0] + [
        conn.execute(f"SELECT max({col}) FROM {table}").fetchone()[0] or 0
        for table, col in RUN_ID_REFERENCES])
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'runs'")
    conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('runs', ?)", (highest,))


MIGRATIONS: list[tuple[str, Any]] = [
    ("001_initial", _m001_initial),
    ("002_watch_files", _m002_watch_files),
    ("003_dispatch_indexes", _m003_dispatch_indexes),
    ("004_attempt_died", _m004_attempt_died),
    ("005_scheduled_runs", _m005_scheduled_runs),
    ("006_run_warnings", _m006_run_warnings),
    ("007_run_hours", _m007_run_hours),
    ("008_run_seen", _m008_run_seen),
    ("009_alert_outbox", _m009_alert_outbox),
    ("010_run_conditions", _m010_run_conditions),
    ("011_runs_view", _m011_runs_view),
    ("012_workers", _m012_workers),
    ("013_cluster", _m013_cluster),
    ("014_worker_machine", _m014_worker_machine),
    ("016_queue_wait", _m016_queue_wait),
    ("017_runs_started_by", _m017_runs_started_by),
    ("018_worker_problem", _m018_worker_problem),
    ("019_run_ids_not_reused", _m019_run_ids_not_reused),
    ("020_alert_lanes", _m020_alert_lanes),
]
