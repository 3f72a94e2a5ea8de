"""The run store on a PostgreSQL server: :class:`PgRunStore`, for several machines that
share one history (``[cluster] database = "postgresql://..."``).

It keeps the contract of :class:`~trayjobs.store.api.RunStoreAPI` with the methods of
:class:`~trayjobs.store.RunsSQL`, the SQL the SQLite store runs: :func:`pg_sql` rewrites
SQLite's few spellings of its own (``?`` placeholders, ``INDEXED BY``, ``INSERT OR
REPLACE``/``IGNORE``, ``IS ?``, ``LIKE``, which ignores case in SQLite) once per
statement text. The methods where PostgreSQL wants other SQL for the same meaning are
written here again (a claim in one statement, resuming a run under a row lock...).

Connections come from a pool (``psycopg_pool``), each in autocommit: a call without
``transaction()`` is one statement, atomic on its own; a compare-and-set is one ``UPDATE
... WHERE state = ...``, which PostgreSQL re-checks on the newest row after waiting for
another writer, so of N machines exactly one wins. A connection found broken (the server
restarted) is dropped and the call tried again on a new one, with backoff, for
``timeout`` seconds (``TRAYJOBS_STORE_TIMEOUT`` when set); then
:class:`~trayjobs.errors.StoreUnreachable` names the server (``host:port``), why, and what
to do. A store opened with ``migrate=False`` does not touch the server until used: the
engine starts while the server is down and calls :meth:`PgRunStore.migrate` once it answers. The pool reconnects in the background. A statement is tried again only if the
connection broke under it: should the server die after committing but before answering,
the write may be made twice; the compare-and-sets then answer "not mine" the second time,
and the worker lease recovers a run left so.

Texts PostgreSQL refuses (a NUL character) are written with it escaped, so bad data from
a job never fails a write, as in SQLite.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from typing import Any, Callable

from ..errors import StoreBusy, StoreUnreachable
from ..textfmt import escape_undecodable
from . import FINAL_STATES, RunsSQL, _decode, _log_rows
from .cluster import CONTROL_KEEP
from .pg_migrations import MIGRATION_LOCK, PG_MIGRATIONS

#: The advisory lock control messages are appended under.
CONTROL_LOCK = MIGRATION_LOCK - 1

__all__ = ["PgRunStore", "pg_sql", "safe_url", "server_address", "waiting"]

# -- SQLite's SQL in PostgreSQL's words --------------------------------------------------

#: The key of each table the SQL replaces rows of (``INSERT OR REPLACE``).
_KEYS = {"app_state": ("key",), "attempts": ("run_id", "attempt"), "job_state": ("job",)}
_REPLACE = re.compile(r"INSERT OR REPLACE INTO (\w+) \(([^)]*)\)(.*)$", re.S)
_IGNORE = re.compile(r"INSERT OR IGNORE INTO (.*)$", re.S)
_INDEXED = re.compile(r"\s+INDEXED BY \w+")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=2048)
def pg_sql(sql: str) -> str:
    """``sql``, written for SQLite by :class:`~trayjobs.store.RunsSQL`, as PostgreSQL
    reads it with psycopg's placeholders."""
    sql = sql.replace("%", "%%")
    sql = _INDEXED.sub("", sql)
    m = _REPLACE.match(sql)
    if m:
        table, cols, rest = m.groups()
        keys = _KEYS[table]
        sets = ", ".join(f"{c} = excluded.{c}" for c in (c.strip() for c in cols.split(","))
                         if c not in keys)
        sql = (f"INSERT INTO {table} ({cols}){rest} ON CONFLICT ({', '.join(keys)}) DO "
               + (f"UPDATE SET {sets}" if sets else "NOTHING"))
    m = _IGNORE.match(sql)
    if m:
        sql = f"INSERT INTO {m.group(1)} ON CONFLICT DO NOTHING"
    sql = re.sub(r"\bIS \?", "IS NOT DISTINCT FROM ?", sql)
    # SQLite's LIKE ignores case, and has no escape character unless told: PostgreSQL's
    # takes a backslash for one (a search for C:\\Users found nothing).
    sql = re.sub(r"\bLIKE \?", "ILIKE ? ESCAPE ''", sql)
    sql = re.sub(r"\bLIKE\b", "ILIKE", sql)
    sql = sql.replace("?", "%s")
    return _NAMED.sub(r"%(\1)s", sql)


def _arg(v: Any) -> Any:
    if isinstance(v, bool):  # our flags are integers, as in SQLite
        return int(v)
    if isinstance(v, str) and "\x00" in v:  # PostgreSQL text cannot hold NUL
        return v.replace("\x00", "\\x00")
    return v


def _json_lines(lines: list[tuple]) -> str:
    """Log rows ``(run_id, ts, level, message)`` as one JSON array for the end's statement:
    psycopg takes several times longer to send three arrays than one text. The time goes
    as text (``repr``), which ``::float8`` reads back exactly, infinities and NaN too."""
    return json.dumps([[repr(float(r[1])), _arg(r[2]), _arg(r[3])] for r in lines],
                      ensure_ascii=False)


def _args(params: Iterable[Any] | dict | None) -> Any:
    if params is None:
        return None
    if isinstance(params, dict):
        return {k: _arg(v) for k, v in params.items()}
    return [_arg(v) for v in params]


class _Row(dict):
    """A row as a dict that, like ``sqlite3.Row``, also answers ``row[0]``."""

    __slots__ = ("_values",)

    def __getitem__(self, key):
        if isinstance(key, int):
            return self._values[key]
        return dict.__getitem__(self, key)


def _number(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def _row_factory(cursor):
    # Names and types from the result itself: ``cursor.description`` builds an object per
    # column, each time (a run has some forty), which cost more than the row.
    res = cursor.pgresult
    n = res.nfields if res is not None else 0
    names = [res.fname(i).decode() for i in range(n)]
    numeric = any(res.ftype(i) == 1700 for i in range(n))  # sums of bigints

    def make(values):
        if numeric:
            values = tuple(_number(v) for v in values)
        row = _Row(zip(names, values))
        row._values = values
        return row
    return make


def _has_rows(cursor) -> bool:
    """Whether the statement returned rows (``cursor.description``, without building it)."""
    res = cursor.pgresult
    return res is not None and res.nfields > 0


class _Done:
    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


def _cursor(conn):
    """The cursor of ``conn`` that :meth:`_Tx.rows` reuses (one thread uses a connection
    at a time: the pool's, or a transaction's)."""
    try:
        return conn._trayjobs_cursor
    except AttributeError:
        cur = conn._trayjobs_cursor = conn.cursor()
        return cur


class _Tx:
    """A connection in a transaction, spoken to as :class:`~trayjobs.store.RunsSQL` speaks
    to SQLite's: ``execute``, ``executemany``, ``total_changes``."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.total_changes = 0

    def execute(self, sql: str, params: Iterable[Any] | dict = ()):
        cur = self.conn.execute(pg_sql(sql), _args(params))
        if cur.rowcount > 0:
            self.total_changes += cur.rowcount
        return cur

    def rows(self, sql: str, params: Any, *, count: bool = True
             ) -> tuple[list[dict[str, Any]], int]:
        """Run ``sql`` (psycopg's placeholders, ``params`` adapted) and read its rows at once:
        ``(rows, rowcount)``; ``count``: its changes count in ``total_changes``. On the
        connection's own cursor, made once: a cursor per statement (and the adapters it
        copies) cost a tenth of a short statement's CPU time here."""
        cur = _cursor(self.conn)
        cur.execute(sql, params)
        if count and cur.rowcount > 0:
            self.total_changes += cur.rowcount
        return ([dict(r) for r in cur.fetchall()] if _has_rows(cur) else []), cur.rowcount

    def executemany(self, sql: str, seq: Iterable[Any]) -> None:
        rows = [_args(p) for p in seq]
        if not rows:
            return
        with self.conn.cursor() as cur:
            cur.executemany(pg_sql(sql), rows)
            if cur.rowcount > 0:
                self.total_changes += cur.rowcount


def safe_url(url: str) -> str:
    """``url`` without its password, to be shown."""
    from ..cluster import redact
    return redact(url)


def _conninfo(url: str) -> dict[str, Any]:
    """libpq's settings in ``url`` (none when it cannot be read)."""
    try:
        from psycopg.conninfo import conninfo_to_dict
        return conninfo_to_dict(url)
    except Exception:
        return {}


def server_address(url: str) -> str:
    """``host:port`` of the server ``url`` names (libpq's defaults filled in)."""
    try:
        from psycopg.conninfo import conninfo_to_dict
        info = conninfo_to_dict(url)
    except Exception:
        return safe_url(url)
    host = str(info.get("host") or info.get("hostaddr") or "localhost")
    port = str(info.get("port") or "5432")
    if host.startswith("/"):  # a Unix socket's folder
        return f"{host}/.s.PGSQL.{port}"
    return f"{host}:{port}"


def _tcp_address(url: str) -> tuple[str, int] | None:
    """The one TCP address libpq connects to for ``url``; None for a Unix socket, several
    hosts or a service file (nothing is asked of those before libpq is)."""
    try:
        from psycopg.conninfo import conninfo_to_dict
        info = conninfo_to_dict(url)
    except Exception:
        return None
    if "service" in info or "PGSERVICE" in os.environ:
        return None
    host = str(info.get("hostaddr") or os.environ.get("PGHOSTADDR") or info.get("host")
               or os.environ.get("PGHOST") or "")
    port = str(info.get("port") or os.environ.get("PGPORT") or "5432")
    if not host or host[0] in "/@" or "," in host or not port.isdigit():
        return None
    return host, int(port)


def _why_not(url: str, exc: BaseException) -> str:
    """Why the server does not answer, in one line. A pool's time-out says nothing of why:
    one connection is tried here to hear the server's (or the network's) own reason."""
    from psycopg_pool import PoolTimeout
    if isinstance(exc, PoolTimeout):
        import psycopg
        try:
            psycopg.connect(url, connect_timeout=2).close()
        except Exception as probe:  # noqa: BLE001  (any reason is the one to show)
            exc = probe
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    # libpq: 'connection to server at "h" (a), port p failed: Connection refused'
    return lines[0].rsplit("failed: ", 1)[-1]


def waiting(longer_than: float) -> list[tuple[str, float]]:
    """The servers that calls of this process have waited for longer than ``longer_than``
    seconds, and for how long they may wait in all: ``[(address, timeout)]``. (A command
    says so, rather than be silent for the whole timeout.)"""
    now = time.monotonic()
    return [(s.address, s.timeout) for s in list(_OPEN)
            if s.waiting_since is not None and now - s.waiting_since > longer_than]


def _timeout(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    try:
        return max(0.5, float(os.environ.get("TRAYJOBS_STORE_TIMEOUT", "")))
    except ValueError:
        return 10.0


def _broken(conn) -> bool:
    return conn is None or conn.closed or conn.broken


#: Stores not closed yet: closed at exit, so that a command that forgot its store does not
#: leave the pool's threads to be torn down by the garbage collector as Python stops.
_OPEN: "weakref.WeakSet[PgRunStore]" = weakref.WeakSet()


_ORPHANS: set = set()


def _close_orphan(pool) -> None:
    try:
        pool.close(timeout=5)
    finally:
        _ORPHANS.discard(pool)


@atexit.register
def _close_all() -> None:
    for pool in [s._pool for s in list(_OPEN)] + list(_ORPHANS):
        try:
            pool.close(timeout=1)
        except Exception:
            pass


class PgRunStore(RunsSQL):
    """The run store in a PostgreSQL database (``url``: a ``postgresql://`` URL or a
    libpq connection string). ``timeout``: seconds a call waits for the server before
    :class:`~trayjobs.errors.StoreUnreachable` (default: ``TRAYJOBS_STORE_TIMEOUT``, else
    10). ``migrate=False``: the server is not spoken to until the store is used."""

    _no_limit = None
    #: The migrations this trayjobs knows, by name.
    migration_names = tuple(n for n, _ in PG_MIGRATIONS)

    def __init__(self, url: str, *, readonly: bool = False, timeout: float | None = None,
                 max_size: int = 8, migrate: bool = True) -> None:
        import psycopg  # noqa: F401  (the extra 'cluster'; say so if it is missing)
        from psycopg_pool import ConnectionPool
        self.url = url
        self.where = safe_url(url)
        self.address = server_address(url)
        self.readonly = readonly
        self.timeout = timeout = _timeout(timeout)
        #: When a call began to wait for a connection (None: none waits); see waiting().
        self.waiting_since: float | None = None
        self._local = threading.local()
        #: Seconds to add to this machine's clock to get the server's (see sync_clock).
        self.clock_offset = 0.0
        kwargs: dict[str, Any] = {"autocommit": True, "row_factory": _row_factory,
                                  "connect_timeout": max(1, round(timeout / 2)),
                                  "application_name": "trayjobs"}
        if readonly:
            kwargs["options"] = "-c default_transaction_read_only=on"
        # reconnect_timeout: how long the pool keeps trying a connection in the
        # background before it gives the slot up; a call that needs one starts again.
        self._pool = ConnectionPool(url, min_size=1, max_size=max_size, kwargs=kwargs,
                                    open=False, timeout=timeout, reconnect_timeout=30,
                                    name="trayjobs-runs")
        import logging
        # The pool logs each failed try; the error a call raises says it once, in words.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
        from .pg_watch import HungWatch
        # A call waiting this long makes the watch ask whether the server answers at all.
        self._watch = HungWatch(self._answers, after=min(timeout, 5.0),
                                probe_timeout=2 if timeout < 4 else 3)
        _OPEN.add(self)
        self._refused()
        self._pool.open(wait=False)
        #: Whether :meth:`migrate` ran (a store made with ``migrate=False`` waits for it).
        self.migrated = readonly
        try:
            if migrate and not readonly:
                self.migrate()
        except BaseException:
            self._pool.close(timeout=1)
            raise

    # -- one clock for every machine ---------------------------------------------------------

    def now(self) -> float:
        # Leases, heartbeats and the lead compare times written by different machines:
        # all are written in the server's time, so a machine whose clock is off does not
        # see its neighbours' leases as up (and take their runs) or write stale heartbeats.
        return time.time() + self.clock_offset

    def sync_clock(self) -> float:
        def measure(tx) -> float:
            # Timed on a connection in hand: a wait for one (the server restarting, the
            # pool busy) would move the midpoint by half of it, and every lease with it.
            t0 = time.time()
            rows = tx.rows("SELECT extract(epoch FROM clock_timestamp())::float8 AS t", (),
                           count=False)[0]
            t1 = time.time()
            return float(rows[0]["t"]) - (t0 + t1) / 2
        self.clock_offset = self._run(measure)
        return self.clock_offset

    def __del__(self) -> None:
        # A store dropped without close(): its pool must not be left to its own __del__,
        # which joins the pool's threads and fails when the collector runs in one of them.
        # Kept alive here and closed on a thread of its own.
        pool = getattr(self, "_pool", None)
        if pool is None or pool.closed:
            return
        _ORPHANS.add(pool)
        try:
            threading.Thread(target=_close_orphan, args=(pool,), daemon=True,
                             name="trayjobs-pool-close").start()
        except RuntimeError:  # the interpreter is stopping: _close_all sees to it
            pass

    def __repr__(self) -> str:
        return f"PgRunStore({self.where!r})"

    # -- plumbing -----------------------------------------------------------------------

    def close(self) -> None:
        self._watch.close()
        if not self._pool.closed:
            self._pool.close(timeout=5)

    def lost_why(self) -> str | None:
        return None  # a server's database is not a file that can be deleted under us

    def _answers(self) -> bool:
        """Whether the server answers a connection of its own now (see HungWatch)."""
        import psycopg
        with psycopg.connect(self.url, connect_timeout=self._watch.probe_timeout,
                             application_name="trayjobs") as conn:
            conn.execute("SELECT 1")
        return True

    def _busy(self, exc: BaseException | None, conn=None) -> StoreUnreachable:
        """The error a call that cannot reach the server raises: ``exc`` the reason (None:
        the server is taken not to answer), ``conn`` the connection the call had."""
        reason = ""
        if exc is None:
            hung = self._watch.down_why or self._watch.cut_why or "it does not answer"
        elif conn is not None and self._watch.was_cut(conn):
            hung = self._watch.cut_why or "it does not answer"
        else:
            reason = _why_not(self.url, exc)
            hung = ("no answer to a new connection within its connect timeout"
                    if "timeout expired" in reason else None)
        if hung is not None:
            return StoreUnreachable(
                f"The run history's PostgreSQL server at {self.address} does not answer "
                f"({hung}): check that it runs and is not stopped or overloaded, and that "
                f"this machine still reaches it.", where=self.address)
        return StoreUnreachable(
            f"The run history's PostgreSQL server at {self.address} cannot be reached "
            f"({reason}): start it, or check [cluster] database "
            f"({self.where}: host, port, user, password) and that this machine can reach "
            f"it.", where=self.address)

    def _why(self) -> BaseException | None:
        """Why no connection can be had, in the server's words (the pool only says it
        timed out): one connection tried directly."""
        import psycopg
        try:
            psycopg.connect(self.url, connect_timeout=3, application_name="trayjobs").close()
        except psycopg.Error as exc:
            return exc
        return None

    def _refused(self) -> None:
        """Fail at once, not after the timeout, when the server answers but refuses us for
        good (no such database or user, a wrong password), or is not PostgreSQL at all."""
        import psycopg
        from ..cluster import POSTGRES, who_answers
        self.waiting_since = time.monotonic()
        connect_timeout = max(1, round(self.timeout / 2))
        try:
            from psycopg.conninfo import conninfo_to_dict
            conninfo_to_dict(self.url)
        except psycopg.ProgrammingError as exc:  # a parameter libpq does not know
            raise StoreBusy(f"[cluster] database ({self.where}) is not a URL PostgreSQL "
                            f"takes: {exc}. Write postgresql://USER:PASSWORD@HOST:PORT/DB, "
                            f"with only libpq's parameters after the ? (sslmode=require, "
                            f"connect_timeout=10...).") from None
        try:
            # A server that is not PostgreSQL (the Redis port, a web server) leaves libpq
            # waiting for its whole timeout, or is taken for one that is down: asked first.
            address = _tcp_address(self.url)
            try:
                other = address and who_answers(*address, timeout=connect_timeout)
            except OSError:  # nothing takes connections there now: the pool keeps trying
                return
            if other and other != POSTGRES:
                raise StoreBusy(f"The run history's server at {self.address} does not speak "
                                f"PostgreSQL ({other} listens there): check the host and "
                                f"port in [cluster] database ({self.where}); PostgreSQL "
                                f"listens on 5432 unless set otherwise.")
            psycopg.connect(self.url, connect_timeout=connect_timeout,
                            application_name="trayjobs").close()
        except psycopg.OperationalError as exc:
            text = str(exc)
            if "server does not support SSL" in text:
                # It answers, without TLS: trying again would not change that.
                raise StoreBusy(f"The run history's PostgreSQL server at {self.address} "
                                f"does not use TLS, but [cluster] database asks for it "
                                f"({self.where}): turn on ssl in the server's "
                                f"postgresql.conf (with a certificate), or leave out "
                                f"sslmode=require.") from None
            if "certificate" in text:
                # TLS is asked to check the server's certificate, and cannot: a file this
                # machine lacks or cannot read, an authority it does not trust. Neither
                # the password nor waiting would change that.
                reason = text.strip().splitlines()[0].rsplit("failed: ", 1)[-1]
                raise StoreBusy(f"The run history's PostgreSQL server at {self.address} "
                                f"cannot be checked against its certificate ({reason}): "
                                f"name the certificate of the authority that signed it in "
                                f"[cluster] database ({self.where}) as "
                                f"sslrootcert=/PATH/ca.crt, or write sslmode=require to "
                                f"encrypt without checking who answers.") from None
            if text.startswith("invalid ") or "connection is bad: invalid " in text:
                # A value libpq refuses (sslmode=requir, a port past 65535): waiting for
                # the server would not change it.
                raise StoreBusy(f"[cluster] database ({self.where}) has a setting PostgreSQL "
                                f"does not take: {text.strip().splitlines()[0]}. Fix it in "
                                f"the URL.") from None
            if any(w in text for w in ("does not exist", "password authentication failed",
                                       "no password supplied", "no pg_hba.conf entry",
                                       "authentication failed")):
                reason = next((ln.strip() for ln in text.splitlines() if "FATAL" in ln),
                              text.strip().splitlines()[0])
                missing = re.search(r'database "([^"]+)" does not exist', text)
                user = re.search(r'role "([^"]+)" does not exist', text)
                owner = _conninfo(self.url).get("user") or "USER"
                todo = (f"create it on the server (as the postgres user: createdb -O {owner} "
                        f"{missing.group(1)}), or check the database name in [cluster] "
                        f"database" if missing else
                        f"create that user on the server (as the postgres user: createuser "
                        f"-P {user.group(1)}), or check the user name in [cluster] database"
                        if user else
                        "check the user, password and database name in [cluster] database")
                raise StoreBusy(f"The run history database {self.where} refused this "
                                f"machine: {reason}. {todo[0].upper()}{todo[1:]}.") from None
            if "timeout expired" in text:  # it took the connection, or nothing did
                self._watch.not_answering(f"no answer to a new connection within "
                                          f"{connect_timeout} s")
            # Not reachable (yet): the pool keeps trying, and calls wait for it.
        finally:
            self.waiting_since = None

    def _run(self, fn):
        tx = getattr(self._local, "tx", None)
        if tx is not None:  # inside transaction(): its connection
            return fn(tx)

        def attempt(timeout: float, used: list):
            with self._pool.connection(timeout=timeout) as conn, self._watch.call(conn):
                used.append(conn)
                return fn(_Tx(conn))
        return self._retrying(attempt)

    def _retrying(self, attempt):
        """``attempt(timeout, used)`` (it appends the connection it got to ``used``), tried
        again on a new connection with backoff while the one it had broke (the server
        restarted), until ``timeout``; then :class:`StoreBusy` says why."""
        import psycopg
        from psycopg_pool import PoolTimeout
        deadline = time.monotonic() + self.timeout
        delay = 0.05
        self.waiting_since = time.monotonic()  # see waiting()
        try:
            while True:
                if self._watch.down_why is not None:  # it does not answer: no call waits
                    raise self._busy(None)
                used: list = []
                try:
                    # The wait for a connection in steps of a second: a server found not
                    # to answer meanwhile (see HungWatch) ends it at once.
                    return attempt(max(0.1, min(1.0, deadline - time.monotonic())), used)
                except PoolTimeout as exc:
                    if self._watch.down_why is None and time.monotonic() < deadline - 0.05:
                        continue
                    raise self._busy(None if self._watch.down_why is not None
                                     else self._why() or exc) from exc
                except psycopg.errors.InsufficientPrivilege as exc:
                    raise self._no_right(exc) from None
                except psycopg.OperationalError as exc:
                    if not _broken(used[0] if used else None):
                        raise
                    if time.monotonic() + delay >= deadline:
                        raise self._busy(exc, used[0] if used else None) from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        finally:
            self.waiting_since = None

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        """One transaction on one connection; a transaction opened inside it (a method
        calling another) joins it."""
        tx = getattr(self._local, "tx", None)
        if tx is not None:
            yield tx
            return
        import psycopg
        conn = None
        try:
            with ExitStack() as stack:  # its end commits (or rolls back) and hands back
                conn = self._begin(stack)
                self._local.tx = tx = _Tx(conn)
                try:
                    yield tx
                finally:
                    self._local.tx = None
        except psycopg.OperationalError as exc:
            if conn is not None and _broken(conn):
                raise self._busy(exc, conn) from exc
            raise

    def _begin(self, stack: ExitStack):
        """A connection with a transaction begun on it, entered on ``stack``."""
        def attempt(timeout: float, used: list):
            with ExitStack() as inner:  # left on an error; handed to ``stack`` on success
                conn = inner.enter_context(self._pool.connection(timeout=timeout))
                used.append(conn)
                inner.enter_context(self._watch.call(conn))  # the commit too
                inner.enter_context(conn.transaction())
                stack.push(inner.pop_all())
                return conn
        return self._retrying(attempt)

    def _execute(self, sql: str, params: Iterable[Any] | dict = ()) -> _Done:
        return self._run(lambda tx: _Done(tx.rows(pg_sql(sql), _args(params))[1]))

    def _query(self, sql: str, params: Iterable[Any] | dict = ()) -> list[dict[str, Any]]:
        return self._run(lambda tx: tx.rows(pg_sql(sql), _args(params))[0])

    def _native(self, sql: str, params: Iterable[Any] | dict = ()) -> list[dict[str, Any]]:
        """Rows of PostgreSQL's own SQL (psycopg placeholders), not rewritten."""
        return self._run(lambda tx: tx.rows(sql, _args(params), count=False)[0])

    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded, under an advisory lock so that of several
        machines starting at once one migrates and the others wait and find it done;
        returns their names."""
        import psycopg
        from psycopg_pool import PoolTimeout
        applied = []
        conn = None
        if self._watch.down_why is not None:  # it does not answer: no need to wait for it
            raise self._busy(None)
        self.waiting_since = time.monotonic()
        try:
            with self._pool.connection(timeout=self.timeout) as conn, self._watch.call(conn):
                self.waiting_since = None
                conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
                try:
                    # Looked at first: CREATE ... IF NOT EXISTS asks for the right to create
                    # even when the table is there, and a user other than the tables' owner
                    # would be told to get a right it does not need.
                    if conn.execute("SELECT to_regclass('_migrations')").fetchone()[0] is None:
                        conn.execute("CREATE TABLE _migrations"
                                     " (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION)")
                    done = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
                    for name, statements in PG_MIGRATIONS:
                        if name in done:
                            continue
                        with conn.transaction():
                            for sql in statements:
                                conn.execute(sql)
                            conn.execute("INSERT INTO _migrations VALUES (%s, %s)",
                                         (name, self.now()))
                        applied.append(name)
                    self.migrated = True
                finally:
                    if not conn.broken:
                        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        except PoolTimeout as exc:
            raise self._busy(exc) from exc
        except psycopg.errors.InsufficientPrivilege as exc:
            # PostgreSQL 15 and later: a database's public schema takes tables from its
            # owner only, and a user made with createuser owns nothing.
            raise self._no_right(exc) from None
        except psycopg.OperationalError as exc:
            if _broken(conn):
                raise self._busy(exc) from exc
            raise
        finally:
            self.waiting_since = None
        return applied

    def _no_right(self, exc: BaseException) -> StoreBusy:
        info = _conninfo(self.url)
        user = info.get("user") or "USER"
        db = info.get("dbname") or user
        said = str(exc).strip().splitlines()[0]
        if "schema" not in said:
            # The tables are there, another user's: the one the first machine used.
            return StoreBusy(f"The run history database {self.where} does not let the user "
                             f"{user} use trayjobs' tables ({said}): use the user (and "
                             f"password) that `trayjobs cluster init` used in the database's "
                             f"URL.")
        return StoreBusy(f"The run history database {self.where} does not let the user {user} "
                         f"create trayjobs' tables ({said}): make that user the database's "
                         f"owner (as the postgres user: ALTER DATABASE \"{db}\" OWNER TO "
                         f"\"{user}\"), or create the database with createdb -O {user} {db}.")

    # -- where PostgreSQL wants other SQL for the same meaning ---------------------------

    def claim(self, run_id: int, *, pid: int | None = None, worker_id: int | None = None,
              host: str | None = None) -> dict[str, Any] | None:
        # One statement: the compare-and-set on the run and its new attempt row commit
        # together, in one round trip.
        now = self.now()
        pin = "" if host is None else " AND (host IS NULL OR host = %(host)s)"
        rows = self._native(
            "WITH c AS (UPDATE runs SET state = 'running', attempt = attempt + 1,"
            " started_at = %(now)s, updated_at = %(now)s, pid = %(pid)s,"
            " worker_id = %(worker)s, next_attempt_at = NULL, progress_done = NULL,"
            " progress_total = NULL, progress_message = NULL, progress_unit = NULL,"
            " error = NULL, traceback = NULL"
            " WHERE id = %(id)s AND state = 'queued' AND cancel_requested = 0" + pin +
            " RETURNING *),"
            " a AS (INSERT INTO attempts (run_id, attempt, started_at, state)"
            " SELECT id, attempt, %(now)s, 'running' FROM c ON CONFLICT (run_id, attempt)"
            " DO UPDATE SET started_at = excluded.started_at, state = excluded.state,"
            " finished_at = NULL, error = NULL, died = 0)"
            " SELECT * FROM c",
            {"now": now, "pid": pid, "worker": worker_id, "id": run_id, "host": host})
        return _decode(rows[0]) if rows else None

    def end_attempt(self, run_id: int, *, state: str, error: str | None = None,
                    traceback: str | None = None, result: dict[str, Any] | None = None,
                    next_attempt_at: float | None = None, died: bool = False,
                    logs: Iterable[tuple[float, str, str]] = (),
                    expect: tuple[int | None, int] | None = None,
                    finished_at: float | None = None) -> dict[str, Any] | None:
        # One statement, one round trip: the run, its attempt row and its last log lines
        # commit together (as the SQLite store's transaction).
        now, error, traceback, result_json, warnings = self._end_values(state, error,
                                                                        traceback, result)
        cas = ""
        if expect is not None:
            cas = (" AND state = 'running' AND worker_id IS NOT DISTINCT FROM %(worker)s"
                   " AND attempt = %(attempt)s")
        lines = _log_rows(run_id, logs)
        ended = now if finished_at is None else finished_at
        rows = self._native(
            "WITH r AS (UPDATE runs SET state = %(state)s, error = %(error)s,"
            " traceback = %(tb)s, result = coalesce(%(result)s, result),"
            " next_attempt_at = %(next)s, updated_at = %(now)s, finished_at = %(finished)s,"
            " dispatched = 0, warnings = %(warnings)s WHERE id = %(id)s" + cas +
            " RETURNING *),"
            " a AS (UPDATE attempts SET finished_at = %(ended)s, state = %(state)s,"
            " error = %(error)s, died = %(died)s FROM r"
            " WHERE attempts.run_id = r.id AND attempts.attempt = r.attempt)" +
            (" , l AS (INSERT INTO run_log (run_id, ts, level, message)"
             " SELECT r.id, (x.e->>0)::float8, x.e->>1, x.e->>2 FROM r,"
             " json_array_elements(%(lines)s::json) WITH ORDINALITY AS x(e, n)"
             " ORDER BY x.n)" if lines else "") +
            " SELECT * FROM r",
            {"state": state, "error": error, "tb": traceback, "result": result_json,
             "next": next_attempt_at, "now": now, "ended": ended,
             "finished": ended if state in FINAL_STATES else None, "warnings": len(warnings),
             "id": run_id, "died": int(died),
             "worker": expect[0] if expect else None, "attempt": expect[1] if expect else None,
             "lines": _json_lines(lines) if lines else None})
        return _decode(rows[0]) if rows else None

    def resume_run(self, run_id: int, *, job: str, kind: str, max_attempts: int = 1,
                   priority: int = 0, inputs: dict[str, Any] | None = None,
                   parent_run: int | None = None, note: str | None = None,
                   host: str | None = None) -> dict[str, Any] | None:
        # The interrupted run's row lock makes the look for a resuming run and the insert
        # one step: a second machine waits, then finds the first's.
        with self.transaction() as tx:
            tx.conn.execute("SELECT id FROM runs WHERE id = %s FOR UPDATE", (run_id,))
            return super().resume_run(run_id, job=job, kind=kind, max_attempts=max_attempts,
                                      priority=priority, inputs=inputs, parent_run=parent_run,
                                      note=note, host=host)

    def send_control(self, message: dict[str, Any], *, now: float | None = None) -> int:
        # Readers page the table by id: ids must become visible in their order, so the
        # writers take turns (an id drawn first but committed last would be skipped).
        import json
        now = self.now() if now is None else now
        with self.transaction() as tx:
            tx.conn.execute("SELECT pg_advisory_xact_lock(%s)", (CONTROL_LOCK,))
            tx.conn.execute("DELETE FROM control WHERE created_at < %s", (now - CONTROL_KEEP,))
            return tx.conn.execute("INSERT INTO control (created_at, message) VALUES (%s, %s)"
                                   " RETURNING id", (now, json.dumps(message))).fetchone()[0]

    def unseen_versions(self, job: str, versions: Iterable[tuple[str, int, int]]
                        ) -> list[tuple[str, int, int]]:
        versions = list(versions)
        known: dict[str, tuple[int, int]] = {}
        for i in range(0, len(versions), 1000):
            paths = [_arg(escape_undecodable(v[0])) for v in versions[i:i + 1000]]
            for r in self._native("SELECT path, size, mtime_ns FROM watch_files"
                                  " WHERE job = %s AND path = ANY(%s)", (job, paths)):
                known[r["path"]] = (r["size"], r["mtime_ns"])
        return [v for v in versions if known.get(_arg(escape_undecodable(v[0]))) != (v[1], v[2])]

    def outbox_heads(self) -> list[dict[str, Any]]:
        return sorted(super().outbox_heads(), key=lambda r: r["channel"].encode())

    def channel_health(self) -> dict[str, dict[str, Any]]:
        return {r["channel"]: r for r in self._native(
            "SELECT DISTINCT ON (channel) channel, state, last_error, attempts, sent_at,"
            " created_at, id FROM alert_outbox WHERE attempts > 0 OR state = 'sent'"
            " ORDER BY channel, id DESC")}

    def prune(self, *, keep_days: float, keep_runs: int, keep_failed_days: float,
              now: float | None = None, stop: Callable[[], bool] | None = None) -> list[int]:
        now = now or self.now()  # (one transaction: nothing between for ``stop`` to end)
        final = ", ".join(f"'{s}'" for s in FINAL_STATES)
        with self.transaction() as tx:
            c = tx.conn
            cutoff = c.execute("SELECT id FROM runs ORDER BY id DESC LIMIT 1 OFFSET %s",
                               (keep_runs,)).fetchone()
            ids = [r[0] for r in c.execute(
                f"SELECT id FROM runs WHERE state IN ({final}) AND ("
                " (state != 'failed' AND finished_at < %s) OR (state = 'failed' AND"
                " finished_at < %s) OR id <= %s)",
                (now - keep_days * 86400, now - keep_failed_days * 86400,
                 cutoff[0] if cutoff else -1)).fetchall()]
            for table, col in (("run_log", "run_id"), ("attempts", "run_id"), ("runs", "id")):
                c.execute(f"DELETE FROM {table} WHERE {col} = ANY(%s)", (ids,))
            c.execute("DELETE FROM alert_outbox WHERE state != 'pending' AND created_at < %s",
                      (now - keep_days * 86400,))
            c.execute("DELETE FROM workers WHERE state != 'running' AND heartbeat_at < %s"
                      " AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.worker_id = workers.id)",
                      (now - keep_days * 86400,))
        return sorted(ids)

