"""The run store's schema: named migrations, applied in order and recorded.

Each is applied in one transaction together with its record (see
:meth:`trayjobs.store.RunStore.migrate`); never edit one that has shipped, add
the next instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported only when a migration runs: the app stays lighter
    import sqlite_utils

__all__ = ["MIGRATIONS"]

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


def _m007_run_seen(db: "sqlite_utils.Database") -> None:
    # Whether someone looked at a run that needs attention (failed for good, or succeeded
    # with warnings): it stays in "Needs attention" and badges the tray until then. Runs
    # from before are taken as seen: an old history does not all need attention at once.
    db.execute("ALTER TABLE runs ADD COLUMN seen INTEGER NOT NULL DEFAULT 0")
    # The filter reads failed and succeeded runs through runs_state_id; no index of its own.
    db.execute("UPDATE runs SET seen = 1")


MIGRATIONS: list[tuple[str, Any]] = [
    ("001_initial", _m001_initial),
    ("002_watch_files", _m002_watch_files),
    ("003_dispatch_indexes", _m003_dispatch_indexes),
    ("004_attempt_died", _m004_attempt_died),
    ("005_scheduled_runs", _m005_scheduled_runs),
    ("006_run_warnings", _m006_run_warnings),
    ("007_run_seen", _m007_run_seen),
]
