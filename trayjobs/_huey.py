"""Huey's classes as :mod:`trayjobs.queue` uses them (see its module doc for why).

Imported only once a queue is opened or consumed, so that commands which never touch
the queue do not load Huey.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

#: Client libraries Huey imports, if installed, for storages the default queue does not use
#: (it is SQLite). redis alone brings asyncio, ssl and cryptography: ~8 MB of the app's
#: memory. They are hidden while Huey is imported, and importable again afterwards; a queue
#: on Redis imports redis before this module, so Huey sees it then.
UNUSED_BACKENDS = ("redis", "psycopg")

_hidden = [name for name in UNUSED_BACKENDS if name not in sys.modules]
for _name in _hidden:
    sys.modules[_name] = None  # type: ignore[assignment]  # "import redis" fails: skipped
try:
    from huey import PriorityRedisHuey, SqliteHuey
    from huey.consumer import BaseProcess, Consumer, Worker
    from huey.storage import PriorityRedisStorage, SqliteStorage
finally:
    for _name in _hidden:
        if sys.modules.get(_name, False) is None:
            del sys.modules[_name]

if TYPE_CHECKING:
    from .queue import Doorbell

__all__ = ["TrayHuey", "TrayRedisHuey", "TrayConsumer", "redis_storage_ready"]


def redis_storage_ready() -> None:
    """Give Huey's Redis storage its client when this process imported Huey while redis was
    hidden (a SQLite queue opened first, then one on Redis: tests, a reloaded config).
    The queue imports redis before this module whenever it is configured, so that is rare."""
    import huey.storage as storage
    if storage.Redis is None:
        from redis import ConnectionPool, Redis
        from redis.exceptions import ConnectionError, TimeoutError
        storage.ConnectionPool, storage.Redis = ConnectionPool, Redis
        storage.ConnectionError, storage.TimeoutError = ConnectionError, TimeoutError
    if storage.RedisStorage.redis_client is None:  # the client class, taken at import
        storage.RedisStorage.redis_client = storage.Redis


def _text(key) -> str:
    return key.decode() if isinstance(key, bytes) else key


def _revoke_flag(key) -> bool:
    """Whether ``key`` is a task's revoke flag, which Huey clears after every task (a write
    to the queue's storage each time, a round trip on Redis): trayjobs never sets one."""
    return isinstance(key, str) and key.startswith("r:")


class _Storage(SqliteStorage):
    # NORMAL in WAL mode survives a crash of the app (only an OS crash can lose the last
    # enqueue, and the run store re-dispatches queued runs at start anyway).
    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn


class TrayHuey(SqliteHuey):
    storage_class = _Storage

    def is_revoked(self, task, timestamp=None, peek=True) -> bool:
        # Runs are cancelled in the run store (a claim is a compare-and-set there), never
        # through Huey's revoke flags: skip the key-value lookup before every task.
        return False

    def delete(self, key):
        return False if _revoke_flag(key) else super().delete(key)


class _HostedRedisStorage(PriorityRedisStorage):
    """Huey's priority queue on Redis, plus one queue per host for the runs pinned to it
    (``huey.redis.trayjobs.host.NAME``). A worker pops from its host's queue and the shared
    one in a single BZPOPMIN (its host's first), so a pinned run reaches only the workers
    of its host, and nothing is dequeued only to be put back."""

    def __init__(self, *args: Any, host: str | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.host = host
        self.keys = self._runs_keys = ([self.host_key(host), self.queue_key] if host
                                       else [self.queue_key])
        # This queue's own key, popped last and only by its workers: ``wake`` puts one
        # item per worker there, so a stop does not wait out a pop's read_timeout.
        self.wake_key = f"{self.queue_key}.wake.{uuid.uuid4().hex}"

    def take_runs(self, take: bool) -> None:
        """Pop runs (the default) or pop none: a process that left the cluster must not
        take a run's message only to hand it back. The pop goes on for the wake key alone,
        so a stop still returns the workers at once."""
        self.keys = list(self._runs_keys) if take else []

    def host_key(self, host: str) -> str:
        return f"{self.queue_key}.host.{host}"

    def enqueue_for(self, data: bytes, priority: int | None, host: str) -> None:
        key, self.queue_key = self.queue_key, self.host_key(host)
        try:
            super().enqueue(data, priority)  # the same message format, another key
        finally:
            self.queue_key = key

    def dequeue(self):
        if not self.blocking:
            return super().dequeue() if len(self.keys) == 1 else self._pop_any()
        from redis.exceptions import TimeoutError
        started = time.monotonic()
        try:
            res = self.conn.bzpopmin([*self.keys, self.wake_key], timeout=self.read_timeout)
        except TimeoutError:
            if time.monotonic() - started > self.read_timeout + 2:
                raise  # the server answers a pop after read_timeout: this one does not
            return None
        if not res or _text(res[0]) == self.wake_key:
            return None  # timed out, or woken to look at the stop flag
        return res[1][8:]  # (key, prefix + data, score)

    def wake(self, n: int) -> None:
        """Return ``n`` workers blocked in :meth:`dequeue` now (one item each on the wake
        key; those nobody pops go with the key, which lasts a minute)."""
        with self.conn.pipeline(transaction=False) as pipe:
            pipe.zadd(self.wake_key, {str(i): 0 for i in range(n)})
            pipe.expire(self.wake_key, 60)
            pipe.execute()

    def _pop_any(self):
        for key in self.keys:
            items = self.conn.zpopmin(key, count=1)
            if items:
                return items[0][0][8:]
        return None

    def _all_keys(self) -> list:
        return [self.queue_key, *self.conn.scan_iter(match=f"{self.queue_key}.host.*",
                                                     count=1000)]

    def queue_size(self):
        return sum(self.conn.zcard(k) for k in self._all_keys())

    def enqueued_items(self, limit=None):
        out = []
        for key in self._all_keys():
            out += [item[8:] for item in self.conn.zrange(key, 0, -1)]
        return out[:limit] if limit else out


class TrayRedisHuey(PriorityRedisHuey):
    # PriorityRedisHuey is RedisHuey with run priorities kept (a sorted set popped with
    # BZPOPMIN): plain RedisHuey refuses a priority. Dequeue blocks in Redis (blocking=True,
    # up to read_timeout, then again), so idle workers cost nothing and wake at once.
    storage_class = _HostedRedisStorage

    def is_revoked(self, task, timestamp=None, peek=True) -> bool:
        return False  # as TrayHuey: cancelling is the run store's

    def delete(self, key):
        return False if _revoke_flag(key) else super().delete(key)


class _Worker(Worker):
    def __init__(self, *args: Any, doorbell: Doorbell, idle_timeout: float | None,
                 run_handed: Any, on_error: Any = None, on_read: Any = None, **kw: Any):
        super().__init__(*args, **kw)
        self.doorbell = doorbell
        self.run_handed = run_handed
        self.idle_timeout = idle_timeout
        self.on_error, self.on_read = on_error, on_read
        self._failures = 0

    def loop(self, now=None):
        seen = self.doorbell.generation  # read before looking, so no ring is missed
        handed = self.doorbell.take()  # a run handed over in memory (Queue.enqueue)
        if handed is not None:
            try:
                self.run_handed(handed)
            except Exception:
                self._logger.exception("Unhandled error running the run %s handed over.", handed)
            return
        try:
            task = self.huey.dequeue()
        except Exception as exc:
            # The queue's server is down or restarting: wait longer each time (up to 5 s),
            # unless an enqueue or a stop rings first.
            self._failures += 1
            if self._failures == 1:
                self._logger.warning("cannot read the queue: %s", exc)
            if self.on_error is not None:
                self.on_error(exc)
            self.doorbell.wait(seen, min(5.0, 0.1 * 2 ** self._failures))
            return
        self._failures = 0
        if self.on_read is not None:
            self.on_read()
        if task is None:
            if not self.stop_flag.is_set() and not self.huey.storage.blocking:
                self.doorbell.wait(seen, self.idle_timeout)
            return
        try:
            self.huey.execute(task, now)
        except Exception:
            self._logger.exception("Unhandled error during execution of task %s.", task.id)


class _IdleScheduler(BaseProcess):
    process_name = "Scheduler"

    def __init__(self, huey, stop_flag, interval=None, periodic=None):
        super().__init__(huey, stop_flag)

    def loop(self, now=None):
        self.stop_flag.wait()


class TrayConsumer(Consumer):
    scheduler_class = _IdleScheduler

    def __init__(self, huey, *, doorbell: Doorbell, idle_timeout: float | None,
                 run_handed: Any, on_error: Any = None, on_read: Any = None, **kw: Any):
        self.doorbell = doorbell
        self.idle_timeout = idle_timeout
        self.run_handed = run_handed  # what runs a run id handed over on the doorbell
        self.on_error, self.on_read = on_error, on_read
        super().__init__(huey, periodic=False, check_worker_health=False, **kw)

    def _create_worker(self):
        return _Worker(huey=self.huey, stop_flag=self.stop_flag, default_delay=self.default_delay,
                       max_delay=self.max_delay, backoff=self.backoff, max_tasks=None,
                       doorbell=self.doorbell, idle_timeout=self.idle_timeout,
                       run_handed=self.run_handed, on_error=self.on_error,
                       on_read=self.on_read)

    def _set_signal_handlers(self):
        pass  # the embedding app owns SIGINT/SIGTERM (see module doc)

    def stop(self, graceful=False):
        self.stop_flag.set()
        self.doorbell.ring()
        wake = getattr(self.huey.storage, "wake", None)
        if wake is not None:  # workers blocked in Redis: return them now
            def ring() -> None:
                try:
                    wake(self.workers)
                except Exception as exc:  # the server is away: they return at their timeout
                    self._logger.debug("could not wake the workers: %s", exc)
            # On a thread, waited for a moment: a server that does not answer would hold
            # the stop for its socket timeout, and the workers return at theirs anyway.
            waker = threading.Thread(target=ring, daemon=True, name="trayjobs-queue-wake")
            waker.start()
            waker.join(1.0)
        super().stop(graceful=graceful)
