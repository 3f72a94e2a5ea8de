"""Huey's classes as :mod:`trayjobs.queue` uses them (see its module doc for why).

Imported only once a queue is opened or consumed, so that commands which never touch
the queue do not load Huey.
"""

from __future__ import annotations

import sys
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
    from huey.storage import SqliteStorage
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


class TrayRedisHuey(PriorityRedisHuey):
    # PriorityRedisHuey is RedisHuey with run priorities kept (a sorted set popped with
    # BZPOPMIN): plain RedisHuey refuses a priority. Dequeue blocks in Redis (blocking=True,
    # up to read_timeout, then again), so idle workers cost nothing and wake at once.

    def is_revoked(self, task, timestamp=None, peek=True) -> bool:
        return False  # as TrayHuey: cancelling is the run store's


class _Worker(Worker):
    def __init__(self, *args: Any, doorbell: Doorbell, idle_timeout: float | None,
                 on_error: Any = None, on_read: Any = None, **kw: Any):
        super().__init__(*args, **kw)
        self.doorbell = doorbell
        self.idle_timeout = idle_timeout
        self.on_error, self.on_read = on_error, on_read
        self._failures = 0

    def loop(self, now=None):
        seen = self.doorbell.generation  # read before looking, so no ring is missed
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
                 on_error: Any = None, on_read: Any = None, **kw: Any):
        self.doorbell = doorbell
        self.idle_timeout = idle_timeout
        self.on_error, self.on_read = on_error, on_read
        super().__init__(huey, periodic=False, check_worker_health=False, **kw)

    def _create_worker(self):
        return _Worker(huey=self.huey, stop_flag=self.stop_flag, default_delay=self.default_delay,
                       max_delay=self.max_delay, backoff=self.backoff, max_tasks=None,
                       doorbell=self.doorbell, idle_timeout=self.idle_timeout,
                       on_error=self.on_error, on_read=self.on_read)

    def _set_signal_handlers(self):
        pass  # the embedding app owns SIGINT/SIGTERM (see module doc)

    def stop(self, graceful=False):
        self.stop_flag.set()
        self.doorbell.ring()
        super().stop(graceful=graceful)
