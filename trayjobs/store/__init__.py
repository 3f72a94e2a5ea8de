"""The run store: trayjobs' own SQLite database of runs, attempts and logs.

This module is the only one that knows runs live in SQLite. It is separate
from Huey's queue database (see :mod:`trayjobs.queue`), and its schema is
changed only by the named, recorded migrations below; each is applied in one
transaction together with its record, after a backup of the file.

One connection is shared by the threads of a process behind a lock (as Huey
does); WAL lets other processes (the CLI, a report) read while we write.
``synchronous=NORMAL`` in WAL mode survives an application crash; only an OS
crash may lose the last commits, which is the right trade for a history.

Commits append to the WAL file; copying it into the database (a checkpoint, with
its fsyncs) is done on a thread of its own a moment after writes
(:class:`_Checkpointer`), not by SQLite in whichever commit crosses its
threshold: that commit (the end of a run that logged 100,000 lines, say) took
20-40 ms instead of 1-2.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported only when a migration runs: the app stays lighter
    import sqlite_utils

from ..errors import (StoreDamaged, StoreFull, StoreUnreachable, UserError,
                      sqlite_damaged, sqlite_full)
from ..textfmt import escape_strings, escape_undecodable
from . import stats
from .migrations import MIGRATIONS
from .cluster import ClusterMixin
from .outbox import OutboxMixin
from .workers import WorkersMixin

__all__ = ["RunStore", "RunsSQL", "ACTIVE_STATES", "FINAL_STATES", "SCHEDULED", "WAITING", "STATES", "TRIGGERS",
           "HANDED_BY_SUBMITTER",
           "WARNING", "ATTENTION", "OUTCOMES", "needs_attention", "outcome", "run_warnings", "state_matches"]

STATES = ("scheduled", "waiting", "queued", "running", "retrying", "succeeded", "failed",
          "cancelled", "skipped", "interrupted")
ACTIVE_STATES = ("waiting", "queued", "running", "retrying")
#: A due run held back because its job's conditions (``when``) do not hold; ``wait_reason``
#: says why in words. Not a failure: it starts once they hold (or ``max_wait`` is up).
WAITING = "waiting"
#: A one-off run waiting for its time (``due_at``); neither active nor ended.
SCHEDULED = "scheduled"
FINAL_STATES = ("succeeded", "failed", "cancelled", "skipped", "interrupted")
#: ``runs.dispatched`` of a queued run its submitter put on the shared queue itself (0: not
#: handed to the queue yet, 1: handed by a dispatcher). Such a run is not one the
#: dispatchers wait to hand over, nor one that counts against their budget while queued.
HANDED_BY_SUBMITTER = 2
#: A run that succeeded with warnings: stored as ``succeeded`` with ``warnings`` > 0 (so
#: hooks, undo and everything else that follows a success still do), shown and filtered as
#: an outcome of its own.
WARNING = "warning"
#: Not a state but a filter: runs that failed for good or succeeded with warnings and that
#: nobody has looked at yet (``seen`` is 0).
ATTENTION = "attention"
#: ``ATTENTION`` in SQL.
_ATTENTION_SQL = ("(seen = 0 AND (state = 'failed' OR (state = 'succeeded' AND warnings > 0)))")
#: What a run can be filtered by and shown as: its states, and ``warning``.
OUTCOMES = STATES + (WARNING,)
TRIGGERS = ("manual", "schedule", "catch-up", "retry", "recovered", "watch", "cli", "chain",
            "login", "drop")

def _now() -> float:
    return time.time()


def run_warnings(result: Any) -> list[str]:
    """The warnings a run's result carries: its ``warnings``, a list of short texts (a kind
    may give one text alone). Whether a success was clean is decided from this alone,
    whatever the kind."""
    found = result.get("warnings") if isinstance(result, dict) else None
    if not found:
        return []
    if isinstance(found, str):
        return [found]
    if isinstance(found, (list, tuple)):
        return [str(w) for w in found if w is not None and w != ""]
    return [str(found)]


def outcome(run: dict[str, Any]) -> str:
    """The run's state as shown: ``warning`` for a success with warnings, else its state."""
    return WARNING if run["state"] == "succeeded" and run.get("warnings") else run["state"]


def needs_attention(run: dict[str, Any]) -> bool:
    """Failed for good or succeeded with warnings, and not seen yet."""
    return not run.get("seen") and outcome(run) in ("failed", WARNING)


def state_matches(run: dict[str, Any], states: Iterable[str]) -> bool:
    """Whether ``run`` passes a filter by ``states`` (``warning`` among them: a success with
    warnings; ``succeeded``: any success; ``attention``: see :func:`needs_attention`), as
    :meth:`RunStore.list_runs` filters."""
    states = set(states)
    return (run["state"] in states or (WARNING in states and outcome(run) == WARNING)
            or (ATTENTION in states and needs_attention(run)))


# What runs carry comes from job code: a message may hold a file name that is not UTF-8
# (lone surrogates), which SQLite refuses. Every text written to runs, attempts and run_log
# goes through these two, so no job can make recording a run fail.

def _text(value: Any) -> Any:
    return escape_undecodable(value) if isinstance(value, str) else value


def _json(value: Any) -> str:
    """``value`` as stored JSON; ``ValueError`` if it is not JSON-like data."""
    try:
        return json.dumps(escape_strings(value))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON data ({exc})") from None


#: Seconds after a commit that the WAL is copied into the database, on a thread of its own.
CHECKPOINT_DELAY = 0.5
#: Seconds without commits after which the checkpoint thread ends (the next commit starts one).
CHECKPOINT_IDLE = 5.0
#: WAL bytes after which a commit checkpoints itself all the same (SQLite's default is
#: 1000 pages): only should the checkpointer not keep up.
AUTOCHECKPOINT_BYTES = 40 << 20
#: Runs a prune deletes in one commit; between two, others write (a run's end, a worker).
PRUNE_BATCH = 2000
#: The page size of a new history. Most of what it holds is log text in entries of up to
#: 64 KiB; in pages of 16 KiB rather than SQLite's 4 KiB a megabyte of it is written (to
#: the WAL, then the database) with a third less work. A history made before keeps its own.
PAGE_SIZE = 16384


class _Checkpointer:
    """Checkpoints the WAL of ``path`` on a thread with a connection of its own, at most
    every :data:`CHECKPOINT_DELAY` seconds while commits come. A passive checkpoint
    neither waits for nor blocks readers and writers; what it cannot copy yet (a reader
    still needs it) is copied the next time."""

    def __init__(self, path: Path, *, delay: float = CHECKPOINT_DELAY) -> None:
        self.path, self.delay = path, delay
        self._cond = threading.Condition()
        self._due: float | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """A commit was made: checkpoint soon."""
        with self._cond:
            if self._closed or self._due is not None:
                return
            self._due = time.monotonic() + self.delay
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="store-checkpoint",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def _next(self) -> bool:
        """Wait for a checkpoint to be due; False when closed, or idle for a while (the
        thread ends, and the next commit starts another)."""
        with self._cond:
            idle_until = time.monotonic() + CHECKPOINT_IDLE
            while not self._closed:
                now = time.monotonic()
                if self._due is not None and now >= self._due:
                    self._due = None
                    return True
                if self._due is None and now >= idle_until:
                    break
                self._cond.wait((self._due if self._due is not None else idle_until) - now)
            self._thread = None
            return False

    def _loop(self) -> None:
        conn = None
        try:
            while self._next():
                try:
                    if conn is None:  # never creates the file: it may have been removed
                        conn = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=rw",
                                               uri=True, timeout=1.0, isolation_level=None)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    pass  # busy or gone: the next commit asks again, or SQLite does it
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)


class _SQLite:
    """The SQLite plumbing of :class:`RunStore`: one connection shared by the process's
    threads behind a lock, retried while another program holds the file locked, and the
    migrations of :mod:`.migrations` (after a backup of the file)."""

    path: Path

    def __init__(self, path: str | Path, *, readonly: bool = False,
                 busy_timeout: float | None = None):
        """``busy_timeout``: seconds SQLite waits for another program's lock, thrice
        retried (default: ``TRAYJOBS_STORE_TIMEOUT`` as for a server, else 5)."""
        if busy_timeout is None:
            try:
                busy_timeout = max(0.5, float(os.environ.get("TRAYJOBS_STORE_TIMEOUT", "")))
            except ValueError:
                busy_timeout = 5.0
        self.path = Path(path)
        self.readonly = readonly
        self.migrated = True  # a file: migrated as it opens (below), or read-only
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        if readonly:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                   check_same_thread=False, timeout=busy_timeout)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                conn = sqlite3.connect(self.path, check_same_thread=False,
                                       timeout=busy_timeout, isolation_level=None)
            except sqlite3.Error as exc:
                said = self._said(exc)
                if said is not None:
                    raise said from None
                raise
        conn.row_factory = sqlite3.Row
        self.conn = conn
        self._checkpointer: _Checkpointer | None = None
        self._identity: tuple[int, int] | None = None
        self._changes = 0
        if not readonly:
            try:
                self._prepare(conn)
            except BaseException as exc:
                self.close()
                said = self._said(exc)
                if said is not None:
                    raise said from None
                raise

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Our connection's settings, and the migrations not yet applied."""
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # only a file not yet written takes it
        self._retrying(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        conn.execute("PRAGMA synchronous=NORMAL")
        # A statement that fires triggers (a run's state changing: the hourly figures)
        # keeps what it changes for its own undo in a temporary file by default, written
        # and read back each time: 0.1 ms of a run's claim and of its end. In memory, it
        # costs nothing (nor do the small sorts the history's reads need).
        conn.execute("PRAGMA temp_store=MEMORY")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_BYTES // page}")
        self._checkpointer = _Checkpointer(self.path)
        self.migrate()
        st = os.stat(self.path)
        self._identity = (st.st_dev, st.st_ino)

    def lost_why(self) -> str | None:
        """What became of the file this store opened, if it is no longer at its path:
        "deleted" or "replaced" (None while it is there; always, read-only)."""
        if self._identity is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "deleted"
        except OSError:
            return None
        return "replaced" if (st.st_dev, st.st_ino) != self._identity else None

    def _said(self, exc: BaseException) -> UserError | None:
        """What SQLite's ``exc`` means to a person, when it is about the file (damaged, or
        its disk full); None for the rest."""
        if sqlite_damaged(exc):
            return self._damaged(exc)
        code = getattr(exc, "sqlite_errorcode", None) or 0
        if code & 0xFF == sqlite3.SQLITE_CANTOPEN and self.path.is_dir():
            return UserError(
                f"The run history {self.path} is a folder, not a file, so trayjobs cannot "
                f"open it. Move it out of the way (trayjobs then starts a new, empty "
                f"history there), or give trayjobs another folder with --home DIR or "
                f"TRAYJOBS_HOME.")
        if code & 0xFF in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY) \
                and self.path.parent.is_dir() and not os.access(self.path.parent, os.W_OK):
            return UserError(
                f"The run history's folder {self.path.parent} cannot be written (a "
                f"read-only disk, or its permissions; SQLite says: {exc}), and trayjobs keeps "
                f"its history there. Make it writable, or give trayjobs a folder it can "
                f"write to with --home DIR or TRAYJOBS_HOME.")
        if sqlite_full(exc, self.path.parent):
            return StoreFull(
                f"There is no room left on the disk that holds the run history {self.path} "
                f"(SQLite says: {exc}), so trayjobs cannot write to it now; what it held "
                f"is as it was. Free some space on that disk, then try again.",
                where=str(self.path))
        return None

    def _damaged(self, exc: sqlite3.DatabaseError) -> StoreDamaged:
        """What to do about a damaged file: it is left as it is, to recover from."""
        name = self.path.name
        return StoreDamaged(
            f"The run history database {self.path} is damaged (SQLite says: {exc}), so "
            f"trayjobs can neither read it nor add runs to it; it was left as it is. To go "
            f"on with a new, empty history, move it out of the way, with {name}-wal and "
            f"{name}-shm beside it if they are there (into a folder of their own, say), "
            f"and start trayjobs again.")

    @property
    def db(self) -> "sqlite_utils.Database":
        """sqlite-utils over our connection, for migrations (hold the lock while using it)."""
        import sqlite_utils
        return sqlite_utils.Database(self.conn)

    # -- plumbing -----------------------------------------------------------------

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        with self._lock:
            self.conn.close()

    def _retrying(self, fn):
        """Run ``fn``; if another program holds the database locked, wait and retry, then explain."""
        began = time.monotonic()
        deadline = began + self.busy_timeout * 2
        delay = 0.05
        while True:
            try:
                result = fn()
            except sqlite3.DatabaseError as exc:
                said = self._said(exc)
                if said is not None:
                    raise said from None
                if not isinstance(exc, sqlite3.OperationalError):
                    raise
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    # Unreachable, as a server that does not answer: the engine keeps
                    # what ends meanwhile and goes on once the lock goes (a command fails
                    # with this sentence).
                    raise StoreUnreachable(
                        f"The run history database {self.path} stayed locked by another "
                        f"program for {time.monotonic() - began:.0f} s. Close any program "
                        f"that has it open (a database browser, a backup tool, an sqlite3 "
                        f"shell in a transaction) and try again.", where=str(self.path)) from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            else:
                self._committed()
                return result

    def _committed(self) -> None:
        """After each statement: if it committed changes, a checkpoint is due soon."""
        conn = self.conn
        if (self._checkpointer is not None and not conn.in_transaction
                and conn.total_changes != self._changes):
            self._changes = conn.total_changes
            self._checkpointer.poke()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._retrying(lambda: self.conn.execute("BEGIN IMMEDIATE"))
            try:
                yield self.conn
            except BaseException as exc:
                self._roll_back()
                said = self._said(exc)
                if said is not None:
                    raise said from None
                raise
            else:
                try:
                    self._retrying(lambda: self.conn.execute("COMMIT"))
                except BaseException:
                    self._roll_back()  # (a full disk may leave it open)
                    raise

    def _roll_back(self) -> None:
        """End the transaction that failed, unless SQLite already did."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def _execute(self, sql: str, params: Iterable[Any] | dict = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._retrying(lambda: self.conn.execute(sql, params))

    def _query(self, sql: str, params: Iterable[Any] | dict = ()) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._retrying(lambda: self.conn.execute(sql, params).fetchall())
        return [dict(r) for r in rows]

    #: The migrations this trayjobs knows, by name.
    migration_names = tuple(n for n, _ in MIGRATIONS)

    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded; returns their names."""
        with self._lock:
            self.conn.execute("CREATE TABLE IF NOT EXISTS _migrations "
                              "(name TEXT PRIMARY KEY, applied_at REAL)")
            done = {r[0] for r in self.conn.execute("SELECT name FROM _migrations")}
            todo = [(n, f) for n, f in MIGRATIONS if n not in done]
            if todo and done:
                # An existing history is about to change shape: keep a copy first.
                backup = self.path.with_name(f"{self.path.name}.before-{todo[0][0]}")
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                shutil.copy2(self.path, backup)
            applied = []
            for name, fn in todo:
                with self.transaction():
                    # Under the write lock, looked at again: another process sharing the
                    # file (a second home on one history) may have applied it meanwhile.
                    if self.conn.execute("SELECT 1 FROM _migrations WHERE name = ?",
                                         (name,)).fetchone():
                        continue
                    fn(self.db)
                    self.conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, _now()))
                    applied.append(name)
            return applied

class RunsSQL(OutboxMixin, WorkersMixin, ClusterMixin):
    """The run store's methods, written once in SQL that SQLite runs as it is and that a
    server's dialect (see :mod:`.postgres`) rewrites where SQLite's spelling differs. An
    implementation gives ``_query`` (rows as dicts), ``_execute`` (something with
    ``rowcount``), ``transaction()`` (a connection whose ``execute``/``executemany`` run
    in one transaction) and ``_no_limit``."""

    def now(self) -> float:
        """The time as this store's writers agree on it (seconds since the epoch): this
        machine's clock here; a server's store corrects it by the server's clock."""
        return time.time()

    def sync_clock(self) -> float:
        """Measure this machine's clock against the store's again; the correction
        :meth:`now` applies, in seconds (0 for a file of this machine)."""
        return 0.0


    #: What ``LIMIT`` takes for "no limit".
    _no_limit: Any = -1

    def unknown_migrations(self) -> list[str] | None:
        """The migrations applied to this history that this trayjobs does not know (a newer
        one made them); None when it has no tables at all (nothing prepared it). Reads
        only: a store opened read-only can tell."""
        try:
            applied = [r["name"] for r in self._query("SELECT name FROM _migrations")]
        except Exception as exc:
            if "no such table" in str(exc) or type(exc).__name__ == "UndefinedTable":
                return None
            raise
        return sorted(set(applied) - set(self.migration_names))

    # -- runs ---------------------------------------------------------------------

    def create_run(self, job: str, **kw: Any) -> int:
        return self.insert_run(job, **kw)["id"]

    def insert_run(self, job: str, *, kind: str, trigger: str, max_attempts: int = 1,
                   priority: int = 0, inputs: dict[str, Any] | None = None,
                   retry_of: int | None = None, parent_run: int | None = None,
                   note: str | None = None, state: str = "queued",
                   error: str | None = None, due_at: float | None = None,
                   host: str | None = None, handed: bool = False) -> dict[str, Any]:
        """Create a run and return its row; ``due_at`` is when a ``scheduled`` one starts;
        ``host``: only workers on that host may run it; ``handed``: the submitter puts
        it on the shared queue itself (``dispatched`` = :data:`HANDED_BY_SUBMITTER`)."""
        now = self.now()
        final = state in FINAL_STATES
        rows = self._query(
            "INSERT INTO runs (job, kind, trigger, state, attempt, max_attempts, priority,"
            " inputs, retry_of, parent_run, note, created_at, updated_at, finished_at, error,"
            " due_at, host, dispatched, queued_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            (job, kind, trigger, state, max_attempts, priority,
             json.dumps(inputs) if inputs else None, retry_of, parent_run, _text(note),
             now, now, now if final else None, _text(error), due_at, host,
             HANDED_BY_SUBMITTER if handed and state == "queued" else 0,
             # Ready to start now; one set for later is not until its time comes.
             None if state == SCHEDULED else now))
        return _decode(rows[0])

    def get_run(self, run_id: int) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        return _decode(rows[0]) if rows else None

    def list_runs(self, *, job: str | Iterable[str] | None = None, state: str | Iterable[str] | None = None,
                  text: str | None = None, since: float | None = None,
                  until: float | None = None, before_id: int | None = None,
                  limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        where, params = _filters(job=job, state=state, text=text, since=since, until=until,
                                 before_id=before_id)
        rows = self._query(f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                           (*params, limit, offset))
        return [_decode(r) for r in rows]

    def mark_seen(self, run_ids: Iterable[int]) -> int:
        """Someone looked at these runs: they no longer need attention. Returns how many
        changed. A run still going is not marked: how it ends is not known yet, and a
        failure after a look at its progress must still be told."""
        ids = [int(i) for i in run_ids]
        if not ids:
            return 0
        final = ", ".join(f"'{s}'" for s in FINAL_STATES)
        with self.transaction() as conn:
            cur = conn.execute(
                f"UPDATE runs SET seen = 1 WHERE seen = 0 AND state IN ({final})"
                f" AND id IN ({', '.join('?' * len(ids))})", ids)
        return cur.rowcount

    def needing_attention(self, run_ids: Iterable[int]) -> int:
        """How many of these runs need attention (failed or warned, not seen yet)."""
        ids = [int(i) for i in run_ids]
        if not ids:
            return 0
        return self._query(f"SELECT count(*) AS n FROM runs WHERE {_ATTENTION_SQL}"
                           f" AND id IN ({', '.join('?' * len(ids))})", ids)[0]["n"]

    def attention_counts(self) -> dict[str, int]:
        """Runs that need attention: ``{"failed": n, "warning": m}``."""
        # Each through its own index: as one query, every success was read for its
        # warnings (0.3 s over a million runs, at each load of the jobs and the tray).
        row = self._query(
            "SELECT (SELECT count(*) FROM runs INDEXED BY runs_state_id"
            " WHERE state = 'failed' AND seen = 0) AS failed,"
            " (SELECT count(*) FROM runs INDEXED BY runs_warned"
            " WHERE state = 'succeeded' AND warnings > 0 AND seen = 0) AS warning")[0]
        return {"failed": row["failed"], "warning": row["warning"]}

    def count_runs(self, **filters: Any) -> int:
        where, params = _filters(**filters)
        return self._query(f"SELECT count(*) AS n FROM runs {where}", params)[0]["n"]

    def active_runs(self, job: str | None = None) -> list[dict[str, Any]]:
        return self.list_runs(job=job, state=ACTIVE_STATES, limit=1_000_000)

    def update_run(self, run_id: int, **fields: Any) -> None:
        if "result" in fields and not isinstance(fields["result"], (str, type(None))):
            fields["result"] = _json(fields["result"])
        fields = {k: v if k == "inputs" else _text(v) for k, v in fields.items()}
        fields["updated_at"] = self.now()
        cols = ", ".join(f"{k} = ?" for k in fields)
        self._execute(f"UPDATE runs SET {cols} WHERE id = ?", (*fields.values(), run_id))

    def claim(self, run_id: int, *, pid: int | None = None, worker_id: int | None = None,
              host: str | None = None) -> dict[str, Any] | None:
        """Move a queued run to running, starting its next attempt; None if it was not queued.

        This compare-and-set is what makes a doubled queue message harmless; the run
        becomes ``worker_id``'s in the same statement. With ``host``, a run pinned to
        another host is not claimed.
        """
        now = self.now()
        pin, pin_params = ("", ()) if host is None else (" AND (host IS NULL OR host = ?)",
                                                         (host,))
        with self.transaction() as conn:
            row = conn.execute(
                "UPDATE runs SET state = 'running', attempt = attempt + 1, started_at = ?,"
                " updated_at = ?, pid = ?, worker_id = ?, next_attempt_at = NULL,"
                " progress_done = NULL, progress_total = NULL, progress_message = NULL,"
                " progress_unit = NULL, error = NULL, traceback = NULL"
                f" WHERE id = ? AND state = 'queued' AND cancel_requested = 0{pin} RETURNING *",
                (now, now, pid, worker_id, run_id, *pin_params)).fetchone()
            if row is None:
                return None
            row = dict(row)
            conn.execute("INSERT OR REPLACE INTO attempts (run_id, attempt, started_at, state)"
                         " VALUES (?, ?, ?, 'running')", (run_id, row["attempt"], now))
        return _decode(row)

    def set_progress(self, run_id: int, done: float | None, total: float | None,
                     unit: str | None, message: str | None) -> None:
        self._execute("UPDATE runs SET progress_done = ?, progress_total = ?, progress_unit = ?,"
                      " progress_message = ?, updated_at = ? WHERE id = ?",
                      (done, total, _text(unit), _text(message), self.now(), run_id))

    def end_attempt(self, run_id: int, *, state: str, error: str | None = None,
                    traceback: str | None = None, result: dict[str, Any] | None = None,
                    next_attempt_at: float | None = None, died: bool = False,
                    logs: Iterable[tuple[float, str, str]] = (),
                    expect: tuple[int | None, int] | None = None,
                    finished_at: float | None = None) -> dict[str, Any] | None:
        """Record how the current attempt ended (at ``finished_at``, else now), with its last log lines, in one commit;
        move the run to ``state`` and return its row. ``died``: the job's process died in
        it. ``ValueError`` (nothing written) if ``result`` is not JSON data. ``expect``
        (worker id, attempt): a compare-and-set, only if the run is still ``running``
        that attempt for that worker; None (nothing written) otherwise."""
        now, error, traceback, result_json, warnings = self._end_values(state, error,
                                                                        traceback, result)
        final = state in FINAL_STATES
        ended = now if finished_at is None else finished_at
        cas, cas_params = "", ()
        if expect is not None:
            cas, cas_params = (" AND state = 'running' AND worker_id IS ? AND attempt = ?",
                               tuple(expect))
        with self.transaction() as conn:
            row = conn.execute(
                "UPDATE runs SET state = ?, error = ?, traceback = ?,"
                " result = coalesce(?, result), next_attempt_at = ?, updated_at = ?,"
                f" finished_at = ?, dispatched = 0, warnings = ? WHERE id = ?{cas} RETURNING *",
                (state, error, traceback, result_json,
                 next_attempt_at, now, ended if final else None, len(warnings),
                 run_id, *cas_params)).fetchone()
            if row is None and expect is not None:
                return None
            conn.execute("UPDATE attempts SET finished_at = ?, state = ?, error = ?, died = ?"
                         " WHERE run_id = ? AND attempt = ?",
                         (ended, state, error, int(died), run_id, row["attempt"]))
            conn.executemany("INSERT INTO run_log (run_id, ts, level, message) VALUES (?, ?, ?, ?)",
                             _log_rows(run_id, logs))
        return _decode(dict(row))

    def _end_values(self, state: str, error: str | None, traceback: str | None,
                    result: dict[str, Any] | None) -> tuple:
        """``(now, error, traceback, result as JSON, warnings)`` as :meth:`end_attempt`
        writes them; ``ValueError`` if ``result`` is not JSON data."""
        warnings = run_warnings(result) if state == "succeeded" else []
        if warnings:
            result = dict(result, warnings=warnings)  # always a list once stored
        result_json = _json(result) if result is not None else None
        return self.now(), _text(error), _text(traceback), result_json, warnings

    def cancel_requested(self, run_id: int) -> bool:
        rows = self._query("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,))
        return bool(rows and rows[0]["cancel_requested"])

    def attempts(self, run_id: int) -> list[dict[str, Any]]:
        return self._query("SELECT * FROM attempts WHERE run_id = ? ORDER BY attempt", (run_id,))

    def first_starts(self, run_ids: Iterable[int]) -> dict[int, float]:
        """When each run's first attempt started (a run's ``started_at`` is its last one's)."""
        ids = [int(i) for i in run_ids]
        if not ids:
            return {}
        rows = self._query("SELECT run_id, min(started_at) AS first FROM attempts WHERE run_id IN"
                           f" ({', '.join('?' * len(ids))}) GROUP BY run_id", ids)
        return {r["run_id"]: r["first"] for r in rows if r["first"] is not None}

    def deaths_in_a_row(self, run_id: int) -> int:
        """How many of the last ended attempts of ``run_id`` its job's process died in, one
        after the other, counting on into the run it resumes (trigger ``recovered``) while
        every attempt died."""
        n = 0
        while run_id is not None:
            for a in self._query("SELECT died FROM attempts WHERE run_id = ? AND finished_at"
                                 " IS NOT NULL ORDER BY attempt DESC", (run_id,)):
                if not a["died"]:
                    return n
                n += 1
            rows = self._query("SELECT trigger, retry_of FROM runs WHERE id = ?", (run_id,))
            run_id = rows[0]["retry_of"] if rows and rows[0]["trigger"] == "recovered" else None
        return n

    def chain_depth(self, run_id: int, *, limit: int) -> int:
        """How many runs started one another (``parent_run`` links) before ``run_id``,
        counted up to ``limit``."""
        rows = self._query(
            "WITH RECURSIVE up(id, n) AS ("
            " SELECT parent_run, 1 FROM runs WHERE id = ? AND parent_run IS NOT NULL"
            " UNION ALL SELECT r.parent_run, up.n + 1 FROM runs r JOIN up ON r.id = up.id"
            "  WHERE r.parent_run IS NOT NULL AND up.n < ?)"
            " SELECT max(n) AS n FROM up", (run_id, limit))
        return rows[0]["n"] or 0

    def runs_started_by(self, run_id: int, *, limit: int = 100) -> list[dict[str, Any]]:
        """The runs whose ``parent_run`` is ``run_id`` (its hooks', and their retries),
        oldest first."""
        return [_decode(r) for r in self._query(
            "SELECT * FROM runs INDEXED BY runs_parent WHERE parent_run = ? ORDER BY id LIMIT ?",
            (run_id, limit))]

    def add_logs(self, run_id: int, lines: Iterable[tuple[float, str, str]]) -> None:
        """Append ``(ts, level, message)`` lines to a run's log, in one commit (the
        connection autocommits: without a transaction each line would be a commit)."""
        rows = list(_log_rows(run_id, lines))
        with self.transaction() as conn:
            conn.executemany("INSERT INTO run_log (run_id, ts, level, message) VALUES (?, ?, ?, ?)",
                             rows)

    def add_log(self, run_id: int, message: str, level: str = "info") -> None:
        self.add_logs(run_id, [(self.now(), level, message)])

    def logs(self, run_id: int, *, after_id: int = 0, limit: int = 10_000) -> list[dict[str, Any]]:
        return self._query("SELECT * FROM run_log WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?",
                           (run_id, after_id, limit))

    def log_tail(self, run_id: int, *, limit: int) -> tuple[list[dict[str, Any]], int]:
        """The newest ``limit`` entries of a run's log, in order, and how many lines the
        whole log has (an entry may hold several)."""
        rows = self._query("SELECT * FROM (SELECT * FROM run_log WHERE run_id = ?"
                           " ORDER BY id DESC LIMIT ?) AS t ORDER BY id", (run_id, limit))
        lines = self._query("SELECT coalesce(sum(length(message) - length(replace(message, ?,"
                            " '')) + 1), 0) AS n FROM run_log WHERE run_id = ?", ("\n", run_id))
        return rows, int(lines[0]["n"])

    def next_due_retry(self) -> float | None:
        rows = self._query("SELECT min(next_attempt_at) AS t FROM runs WHERE state = 'retrying'")
        return rows[0]["t"]

    def due_retries(self, now: float) -> list[dict[str, Any]]:
        return [_decode(r) for r in self._query(
            "SELECT * FROM runs WHERE state = 'retrying' AND next_attempt_at <= ? ORDER BY id",
            (now,))]

    def next_scheduled(self) -> float | None:
        """When the next one-off run is due."""
        return self._query("SELECT min(due_at) AS t FROM runs INDEXED BY runs_scheduled"
                           " WHERE state = 'scheduled'")[0]["t"]

    def start_scheduled(self, now: float, run_id: int | None = None) -> list[dict[str, Any]]:
        """Queue the one-off runs due at ``now`` (only ``run_id``, if given); returns them.
        A compare-and-set: two processes never both start one."""
        where = "state = 'scheduled' AND due_at <= ?"
        params: list[Any] = [now, now, now]
        if run_id is not None:
            where += " AND id = ?"
            params.append(run_id)
        # Its queue wait counts from here: its planned delay was no wait in the queue.
        rows = self._query(f"UPDATE runs SET state = 'queued', queued_at = ?, updated_at = ?"
                           f" WHERE {where}"
                           f" RETURNING *", params)
        return [_decode(r) for r in sorted(rows, key=lambda r: r["id"])]

    def requeue_retry(self, run_id: int, *, now: float | None = None, early: bool = False) -> bool:
        """A retrying run whose wait is over (``early``: cut short, its ``next_attempt_at``
        cleared) goes back to ``queued``; whether it did (a compare-and-set on ``retrying``:
        of two processes that both try, one wins)."""
        now = self.now() if now is None else now
        clear = " next_attempt_at = NULL," if early else ""
        # The pause between attempts is planned, not a wait in the queue: that counts
        # from here.
        return self._execute(f"UPDATE runs SET state = 'queued',{clear} queued_at = ?,"
                             " updated_at = ? WHERE id = ? AND state = 'retrying'",
                             (now, now, run_id)).rowcount == 1

    def cancel_run(self, run_id: int, *, now: float | None = None) -> bool:
        """Cancel a run that has not started (scheduled, waiting, queued or retrying) and
        return True; else (it is running) set its ``cancel_requested`` flag for the process
        running it and return False. One transaction: a run that starts meanwhile is asked
        to stop, never missed."""
        now = self.now() if now is None else now
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET state = 'cancelled', finished_at = ?, updated_at = ?,"
                " error = CASE state WHEN 'retrying' THEN 'cancelled while waiting for its next"
                " attempt' ELSE 'cancelled before it started' END, dispatched = 0"
                " WHERE id = ? AND state IN ('scheduled', 'waiting', 'queued', 'retrying')",
                (now, now, run_id))
            if cur.rowcount == 1:
                return True
            conn.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))
        return False

    def runs_since(self, after_id: int, *, ids: Iterable[int] = (), limit: int = 1000
                   ) -> list[dict[str, Any]]:
        ids = list(ids)[:500]
        known = f" OR id IN ({', '.join('?' * len(ids))})" if ids else ""
        rows = self._query(f"SELECT * FROM runs WHERE id > ?{known} ORDER BY id LIMIT ?",
                           (after_id, *ids, limit))
        return [_decode(r) for r in rows]

    def max_run_id(self) -> int:
        """The newest run's id (0 without runs): an anchor for paging a history that grows."""
        return self._query("SELECT coalesce(max(id), 0) AS m FROM runs")[0]["m"]

    def unresumed_interrupted(self) -> list[dict[str, Any]]:
        """Interrupted runs that no run resumes yet (none has ``retry_of`` them with
        trigger ``recovered``), oldest first."""
        return [_decode(r) for r in self._query(
            "SELECT * FROM runs r WHERE state = 'interrupted' AND NOT EXISTS"
            " (SELECT 1 FROM runs s WHERE s.retry_of = r.id AND s.trigger = 'recovered')"
            " ORDER BY id")]

    def resume_run(self, run_id: int, *, job: str, kind: str, max_attempts: int = 1,
                   priority: int = 0, inputs: dict[str, Any] | None = None,
                   parent_run: int | None = None, note: str | None = None,
                   host: str | None = None) -> dict[str, Any] | None:
        """Compare-and-set: a queued run (trigger ``recovered``) that resumes the
        interrupted run ``run_id``, unless one does already; its row or None."""
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE retry_of = ? AND trigger = 'recovered'",
                            (run_id,)).fetchone():
                return None
            return self.insert_run(job, kind=kind, trigger="recovered",
                                   max_attempts=max_attempts, priority=priority, inputs=inputs,
                                   retry_of=run_id, parent_run=parent_run, note=note,
                                   host=host)

    # -- runs waiting for their conditions ---------------------------------------------

    def hold(self, run_id: int, *, reason: str, until: float | None) -> dict[str, Any] | None:
        """Move a queued run not yet handed to the queue to ``waiting``; its row, or None
        if it was no longer such a run (a compare-and-set)."""
        rows = self._query(
            "UPDATE runs SET state = 'waiting', wait_reason = ?, wait_until = ?, updated_at = ?"
            " WHERE id = ? AND state = 'queued' AND dispatched = 0 AND attempt = 0"
            " RETURNING *", (_text(reason), until, self.now(), run_id))
        return _decode(rows[0]) if rows else None

    def held(self, job: str | None = None) -> list[dict[str, Any]]:
        """The runs waiting for their conditions, oldest first."""
        where, params = "state = 'waiting'", []
        if job is not None:
            where += " AND job = ?"
            params.append(job)
        return [_decode(r) for r in self._query(
            f"SELECT * FROM runs INDEXED BY runs_held WHERE {where} ORDER BY id", params)]

    def set_wait_reasons(self, reasons: dict[int, str]) -> list[dict[str, Any]]:
        """New reasons for waiting runs (``{run_id: reason}``), in one commit; the rows of
        those still waiting."""
        now, out = self.now(), []
        with self.transaction() as conn:
            for run_id, reason in reasons.items():
                row = conn.execute("UPDATE runs SET wait_reason = ?, updated_at = ? WHERE id = ?"
                                   " AND state = 'waiting' RETURNING *",
                                   (_text(reason), now, run_id)).fetchone()
                if row is not None:
                    out.append(_decode(dict(row)))
        return out

    def release(self, run_id: int) -> dict[str, Any] | None:
        """A waiting run may start: back to ``queued`` (``wait_reason`` stays, as what it
        waited for); its row, or None if it was no longer waiting."""
        rows = self._query("UPDATE runs SET state = 'queued', dispatched = 0, updated_at = ?"
                           " WHERE id = ? AND state = 'waiting' RETURNING *", (self.now(), run_id))
        return _decode(rows[0]) if rows else None

    def inflight_by_job(self) -> dict[str, int]:
        """Runs handed to the queue or running, per job."""
        return {r["job"]: r["n"] for r in self._query(
            "SELECT job, count(*) AS n FROM runs INDEXED BY runs_inflight WHERE"
            " state = 'running' OR (state = 'queued' AND dispatched = 1) GROUP BY job")}

    def mark_dispatched(self, run_id: int, *, by: int | None = None) -> bool:
        """Whether this call handed queued run ``run_id`` to the queue: a compare-and-set on
        ``dispatched``, so of two dispatchers only one sends the message. ``by``: the
        worker handing it over (``dispatched_by``)."""
        # updated_at says when: a message not in the queue a lease later was lost with a
        # worker that took it and died before its claim (see handed_since_before).
        return self._execute("UPDATE runs SET dispatched = 1, dispatched_by = ?, updated_at = ?"
                             " WHERE id = ? AND state = 'queued' AND dispatched = 0",
                             (by, self.now(), run_id)).rowcount == 1

    def redispatch_lost(self, in_queue: Iterable[int], *, worker_id: int | None = None) -> int:
        """Queued runs marked as handed to the queue whose message is not there (``in_queue``:
        the run ids the queue holds) are marked not handed, so they are dispatched again;
        returns how many. With ``worker_id`` (a queue that is one home's file): only the
        runs that worker handed over, that no recorded worker did, or that a worker no
        longer running did (its queue has no reader now)."""
        ids = ",".join(str(int(i)) for i in in_queue) or "-1"
        mine, params = "", ()
        if worker_id is not None:
            mine = (" AND (dispatched_by IS NULL OR dispatched_by = ? OR NOT EXISTS (SELECT 1"
                    " FROM workers w WHERE w.id = runs.dispatched_by AND w.state = 'running'"
                    " AND w.heartbeat_at + w.lease >= ?))")
            params = (worker_id, self.now())
        return self._execute(
            f"UPDATE runs SET dispatched = 0 WHERE state = 'queued' AND dispatched IN (1, 2)"
            f" AND id NOT IN ({ids}){mine}", params).rowcount

    def handed_since_before(self, before: float, *, limit: int = 500) -> list[int]:
        """Queued runs handed to the queue (by a dispatcher, or by their submitter:
        ``dispatched`` = :data:`HANDED_BY_SUBMITTER`) that have not changed since
        ``before``: those whose message may be lost (see :meth:`unhand`)."""
        return [r["id"] for r in self._query(
            "SELECT id FROM runs WHERE state = 'queued' AND dispatched IN (1, 2)"
            " AND updated_at < ? ORDER BY id LIMIT ?", (before, limit))]

    def unhand(self, run_ids: Iterable[int]) -> int:
        """Runs of ``run_ids`` still queued and handed to the queue go back to the
        dispatchers (their message is not in the queue); returns how many."""
        ids = ",".join(str(int(i)) for i in run_ids)
        if not ids:
            return 0
        return self._execute(f"UPDATE runs SET dispatched = 0 WHERE id IN ({ids})"
                             " AND state = 'queued' AND dispatched IN (1, 2)").rowcount

    def waiting_jobs(self) -> list[str]:
        """Jobs with queued runs not yet handed to the queue."""
        # A skip-scan of runs_waiting: one index probe per job, whatever the number of runs.
        return [r["job"] for r in self._query(
            "WITH RECURSIVE w(job) AS ("
            " SELECT min(job) FROM runs INDEXED BY runs_waiting"
            "  WHERE state = 'queued' AND dispatched = 0"
            " UNION ALL SELECT (SELECT min(job) FROM runs INDEXED BY runs_waiting"
            "  WHERE state = 'queued' AND dispatched = 0 AND job > w.job)"
            " FROM w WHERE w.job IS NOT NULL)"
            " SELECT job FROM w WHERE job IS NOT NULL")]

    def undispatched(self, job: str | None = None, *, limit: int = -1,
                     triggers: Iterable[str] | None = None,
                     hosts: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Queued runs not yet handed to the queue, best first (priority, then age);
        ``hosts``: only those pinned to one of them, or to no host."""
        where, params = ["state = 'queued'", "dispatched = 0"], []
        if hosts is not None:
            hosts = list(hosts)
            where.append(f"(host IS NULL OR host IN ({','.join('?' * len(hosts))}))"
                         if hosts else "host IS NULL")
            params += hosts
        if job is not None:
            where.append("job = ?")
            params.append(job)
        if triggers is not None:
            triggers = list(triggers)
            where.append(f"trigger IN ({','.join('?' * len(triggers))})")
            params += triggers
        return [_decode(r) for r in self._query(
            f"SELECT * FROM runs WHERE {' AND '.join(where)} ORDER BY priority DESC, id LIMIT ?",
            (*params, limit if limit >= 0 else self._no_limit))]

    def last_runs(self) -> dict[str, dict[str, Any]]:
        """The newest finished or running run of each job."""
        # Each job found by a skip through the index, then its newest run by its own walk
        # back: a GROUP BY read every run's state, seconds for a million runs.
        rows = self._query(
            "WITH RECURSIVE j(job) AS (SELECT min(job) FROM runs UNION ALL"
            " SELECT (SELECT min(job) FROM runs WHERE job > j.job) FROM j WHERE j.job IS NOT NULL)"
            " SELECT r.* FROM j JOIN runs r ON r.id = (SELECT id FROM runs INDEXED BY runs_job_id"
            " WHERE job = j.job AND state NOT IN ('queued', 'scheduled') ORDER BY id DESC LIMIT 1)")
        return {r["job"]: _decode(r) for r in rows}

    # -- health and metrics (SQL in :mod:`.stats`) --------------------------------

    def job_health(self, *, since: float, until: float | None = None,
                   jobs: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        return stats.job_health(self._query, since=since, until=until, jobs=jobs)

    def recent_outcomes(self, job: str, *, limit: int = 30) -> list[str]:
        return stats.recent_outcomes(self._query, job, limit=limit)

    def last_successes(self, jobs: Iterable[str]) -> dict[str, float]:
        return stats.last_successes(self._query, jobs)

    def waiting_by_job(self) -> dict[str, int]:
        return stats.waiting_by_job(self._query)

    def metrics(self, *, since: float, until: float, bucket: float,
                jobs: Iterable[str] | None = None) -> list[dict[str, Any]]:
        return stats.metrics(self._query, since=since, until=until, bucket=bucket, jobs=jobs)

    # -- job and app state --------------------------------------------------------

    def job_states(self) -> dict[str, dict[str, Any]]:
        return {r["job"]: r for r in self._query("SELECT * FROM job_state")}

    def set_job_state(self, job: str, **fields: Any) -> None:
        # Plain SQL under the lock: the connection is shared by threads, and sqlite-utils'
        # upsert probes it with DDL of its own.
        cols = ["job", *fields]
        updates = ", ".join(f"{c} = excluded.{c}" for c in fields) or "job = excluded.job"
        self._execute(f"INSERT INTO job_state ({', '.join(cols)}) VALUES"
                      f" ({', '.join('?' * len(cols))}) ON CONFLICT(job) DO UPDATE SET {updates}",
                      (job, *fields.values()))

    def get_value(self, key: str, default: str | None = None) -> str | None:
        rows = self._query("SELECT value FROM app_state WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    def delete_values(self, prefix: str) -> None:
        """Forget every app-state key that starts with ``prefix``."""
        self._execute("DELETE FROM app_state WHERE key LIKE ?", (prefix + "%",))

    def set_value(self, key: str, value: str | None) -> None:
        if value is None:
            self._execute("DELETE FROM app_state WHERE key = ?", (key,))
        else:
            self._execute("INSERT OR REPLACE INTO app_state (key, value) VALUES (?, ?)",
                          (key, value))

    # -- watched folders ------------------------------------------------------------

    def unseen_versions(self, job: str, versions: Iterable[tuple[str, int, int]]
                        ) -> list[tuple[str, int, int]]:
        """The ``(path, size, mtime_ns)`` versions not yet turned into a run of ``job``. A path
        that is not UTF-8 is kept with its stray bytes escaped (``bad\\xff.txt``), as text."""
        out = []
        for v in versions:
            rows = self._query("SELECT size, mtime_ns FROM watch_files WHERE job = ? AND path = ?",
                               (job, escape_undecodable(v[0])))
            if not rows or (rows[0]["size"], rows[0]["mtime_ns"]) != (v[1], v[2]):
                out.append(v)
        return out

    def record_versions(self, job: str, run_id: int | None,
                        versions: Iterable[tuple[str, int, int]]) -> None:
        now = self.now()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO watch_files (job, path, size, mtime_ns, run_id, seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(job, path) DO UPDATE SET"
                " size = excluded.size, mtime_ns = excluded.mtime_ns,"
                " run_id = excluded.run_id, seen_at = excluded.seen_at",
                [(job, escape_undecodable(p), size, mtime, run_id, now) for p, size, mtime in versions])

    def forget_versions(self, job: str, folder: str, keep: set[str]) -> int:
        """Drop the recorded versions of files under ``folder`` that are no longer there."""
        prefix = os.path.join(folder, "")
        rows = self._query("SELECT path FROM watch_files WHERE job = ? AND substr(path, 1, ?) = ?",
                           (job, len(prefix), prefix))
        keep = {escape_undecodable(p) for p in keep}
        gone = [(job, r["path"]) for r in rows if r["path"] not in keep]
        if gone:
            with self.transaction() as conn:
                conn.executemany("DELETE FROM watch_files WHERE job = ? AND path = ?", gone)
        return len(gone)

    def forget_paths(self, job: str, paths: Iterable[str]) -> int:
        """Drop the recorded versions of ``paths`` (files a run moved away or removed)."""
        gone = [(job, escape_undecodable(p)) for p in paths]
        if gone:
            with self.transaction() as conn:
                conn.executemany("DELETE FROM watch_files WHERE job = ? AND path = ?", gone)
        return len(gone)

    def rename_job(self, old: str, new: str) -> None:
        with self.transaction() as conn:
            for table in ("watch_files", "watch_status", "job_state"):
                conn.execute(f"DELETE FROM {table} WHERE job = ?", (new,))
                conn.execute(f"UPDATE {table} SET job = ? WHERE job = ?", (new, old))
            conn.execute("UPDATE runs SET job = ? WHERE job = ? AND state IN"
                         " ('queued', 'waiting', 'scheduled')", (new, old))

    def waiting_run(self, job: str, *, trigger: str) -> int | None:
        """A run of ``job`` with ``trigger`` that is queued and has not started yet."""
        rows = self._query("SELECT id FROM runs WHERE job = ? AND trigger = ? AND"
                           " state IN ('queued', 'waiting') AND attempt = 0"
                           " ORDER BY id DESC LIMIT 1",
                           (job, trigger))
        return rows[0]["id"] if rows else None

    def set_watch_status(self, job: str, *, state: str, folder: str, reason: str | None,
                         pending: int, pid: int) -> None:
        self._execute(
            "INSERT INTO watch_status (job, state, folder, reason, pending, pid, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(job) DO UPDATE SET state = excluded.state,"
            " folder = excluded.folder, reason = excluded.reason, pending = excluded.pending,"
            " pid = excluded.pid, updated_at = excluded.updated_at",
            (job, state, folder, reason, pending, pid, self.now()))

    def clear_watch_status(self, job: str | None = None) -> None:
        if job is None:
            self._execute("DELETE FROM watch_status")
        else:
            self._execute("DELETE FROM watch_status WHERE job = ?", (job,))

    def watch_statuses(self) -> dict[str, dict[str, Any]]:
        """The last status each watch reported, by job (kept by the process running jobs)."""
        return {r["job"]: r for r in self._query("SELECT * FROM watch_status")}

    # -- retention ----------------------------------------------------------------

    def prune(self, *, keep_days: float, keep_runs: int, keep_failed_days: float,
              now: float | None = None, stop: Callable[[], bool] | None = None) -> list[int]:
        """Delete old finished runs (and their logs); failed ones are kept longer. The ids
        of the runs deleted. :data:`PRUNE_BATCH` runs a commit: a year of runs gone in one
        held the history locked for many seconds, the window's reads, the runs ending and
        the other processes waiting behind it (or giving up). Between two batches, a
        ``stop()`` that says so ends it there (an engine stopping): the rest goes next time."""
        now = now or self.now()
        cutoff = self._query("SELECT id FROM runs ORDER BY id DESC LIMIT 1 OFFSET ?",
                             (keep_runs,))
        old = ("state IN ('succeeded','cancelled','skipped','interrupted','failed') AND ("
               " (state != 'failed' AND finished_at < ?) OR (state = 'failed' AND finished_at < ?)"
               " OR id <= ?)")
        params = (now - keep_days * 86400, now - keep_failed_days * 86400,
                  cutoff[0]["id"] if cutoff else -1)
        # No run created since the later of the two times has ended before it: the walk
        # through the runs stops at the newest one created before (else it read the whole
        # history, 2 s of a million runs with nothing to delete, at each start of the app).
        before = self._query("SELECT max(id) AS id FROM runs INDEXED BY runs_created_at"
                             " WHERE created_at < ?", (max(params[:2]),))[0]["id"]
        old += f" AND id <= {max(before or -1, params[2])}"
        ids: list[int] = []
        last = 0
        while True:
            # Found outside the transaction (a read blocks no one), taken inside it.
            batch = self._query(f"SELECT id FROM runs WHERE id > ? AND {old} ORDER BY id"
                                f" LIMIT 1 OFFSET ?", (last, *params, PRUNE_BATCH - 1))
            upto = batch[0]["id"] if batch else None
            with self.transaction() as conn:
                conn.execute("CREATE TEMP TABLE IF NOT EXISTS _prune (id INTEGER PRIMARY KEY)")
                conn.execute("DELETE FROM _prune")
                conn.execute(f"INSERT INTO _prune SELECT id FROM runs WHERE id > ?"
                             f"{'' if upto is None else ' AND id <= ?'} AND {old}",
                             (last, *([] if upto is None else [upto]), *params))
                ids += [r[0] for r in conn.execute("SELECT id FROM _prune ORDER BY id")]
                for table, col in (("run_log", "run_id"), ("attempts", "run_id"), ("runs", "id")):
                    conn.execute(f"DELETE FROM {table} WHERE {col} IN (SELECT id FROM _prune)")
            # Copied into the file now, so the next batch writes the WAL from its start
            # again: else it grew by the whole prune, twice the history's size.
            self._query("PRAGMA wal_checkpoint(PASSIVE)")
            if upto is None:
                break
            last = upto
            if stop is not None and stop():
                return ids
        with self.transaction() as conn:
            # Alerts that are done with go with the runs of their age; waiting ones stay.
            conn.execute("DELETE FROM alert_outbox WHERE state != 'pending' AND created_at < ?",
                         (now - keep_days * 86400,))
            # Workers gone that long and named by no run left.
            conn.execute("DELETE FROM workers WHERE state != 'running' AND heartbeat_at < ?"
                         " AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.worker_id = workers.id)",
                         (now - keep_days * 86400,))
        return ids

    # -- reports ------------------------------------------------------------------

    def runs_view(self, *, after_id: int = 0, limit: int = 5000) -> list[dict[str, Any]]:
        """Rows of the view ``runs_v1`` (the columns of
        :data:`~trayjobs.store.migrations.RUNS_V1_COLUMNS`) whose id is above
        ``after_id``, by id: how a report reads a history kept on a server."""
        return self._query("SELECT * FROM runs_v1 WHERE id > ? ORDER BY id LIMIT ?",
                           (after_id, limit))


class RunStore(_SQLite, RunsSQL):
    """Runs, attempts, log lines, per-job and app state, the alert outbox and the workers,
    in a SQLite file."""


def _log_rows(run_id: int, lines: Iterable[tuple[float, str, str]]) -> list[tuple]:
    return [(run_id, ts, _text(level), _text(msg)) for ts, level, msg in lines]


def _filters(*, job=None, state=None, text=None, since=None, until=None, before_id=None):
    clauses, params = [], []
    if job and not isinstance(job, str):  # several jobs (those with a tag)
        jobs = list(job)
        clauses.append(f"job IN ({', '.join('?' * len(jobs))})")
        params.extend(jobs)
    elif job:
        clauses.append("job = ?")
        params.append(job)
    if state:
        states = [state] if isinstance(state, str) else list(state)
        plain = [s for s in states if s not in (WARNING, ATTENTION)]
        either = []
        if plain:
            either.append(f"state IN ({', '.join('?' * len(plain))})")
            params.extend(plain)
        if WARNING in states:  # spelt as the partial index runs_warned is, so it is used
            either.append("(state = 'succeeded' AND warnings > 0)")
        if ATTENTION in states:
            either.append(_ATTENTION_SQL)
        clauses.append(either[0] if len(either) == 1 else f"({' OR '.join(either)})")
    if text:
        clauses.append("(error LIKE ? OR inputs LIKE ? OR result LIKE ? OR job LIKE ? OR note LIKE ?)")
        params.extend([f"%{text}%"] * 5)
    if since is not None:
        clauses.append("created_at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("created_at < ?")
        params.append(until)
    if before_id is not None:
        clauses.append("id < ?")
        params.append(before_id)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    for key in ("result", "inputs"):
        if row.get(key):
            try:
                row[key] = json.loads(row[key])
            except ValueError:
                pass
    return row
