"""Huey's classes as :mod:`trayjobs.queue` uses them (see its module doc for why).

Imported only once a queue is opened or consumed, so that commands which never touch
the queue do not load Huey.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

#: Client libraries Huey imports, if installed, for storages trayjobs does not use (its
#: queue is SQLite). redis alone brings asyncio, ssl and cryptography: ~8 MB of the app's
#: memory. They are hidden while Huey is imported, and importable again afterwards.
UNUSED_BACKENDS = ("redis", "psycopg")

_hidden = [name for name in UNUSED_BACKENDS if name not in sys.modules]
for _name in _hidden:
    sys.modules[_name] = None  # type: ignore[assignment]  # "import redis" fails: skipped
try:
    from huey import SqliteHuey
    from huey.consumer import BaseProcess, Consumer, Worker
    from huey.storage import SqliteStorage
finally:
    for _name in _hidden:
        if sys.modules.get(_name, False) is None:
            del sys.modules[_name]

if TYPE_CHECKING:
    from .queue import Doorbell

__all__ = ["TrayHuey", "TrayConsumer"]


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


class _Worker(Worker):
    def __init__(self, *args: Any, doorbell: Doorbell, idle_timeout: float | None, **kw: Any):
        super().__init__(*args, **kw)
        self.doorbell = doorbell
        self.idle_timeout = idle_timeout

    def loop(self, now=None):
        seen = self.doorbell.generation  # read before looking, so no ring is missed
        try:
            task = self.huey.dequeue()
        except Exception:
            self._logger.exception("Error reading from queue")
            self.doorbell.wait(seen, 1.0)
            return
        if task is None:
            if not self.stop_flag.is_set():
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

    def __init__(self, huey, *, doorbell: Doorbell, idle_timeout: float | None, **kw: Any):
        self.doorbell = doorbell
        self.idle_timeout = idle_timeout
        super().__init__(huey, periodic=False, check_worker_health=False, **kw)

    def _create_worker(self):
        return _Worker(huey=self.huey, stop_flag=self.stop_flag, default_delay=self.default_delay,
                       max_delay=self.max_delay, backoff=self.backoff, max_tasks=None,
                       doorbell=self.doorbell, idle_timeout=self.idle_timeout)

    def _set_signal_handlers(self):
        pass  # the embedding app owns SIGINT/SIGTERM (see module doc)

    def stop(self, graceful=False):
        self.stop_flag.set()
        self.doorbell.ring()
        super().stop(graceful=graceful)
