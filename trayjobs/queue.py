"""The queue: Huey behind one small facade.

Only this module knows the queue is a SqliteHuey file; a shared Redis-backed
Huey for several headless workers would change this module and nothing else.
A queue message carries only a run id; the run itself lives in the store.

Two things Huey does not do for an embedded consumer are added here:

* **No polling.** Huey's idle workers poll with backoff (up to 10 s between
  looks), so a run enqueued after a quiet spell waits seconds to start. Our
  workers sleep on a :class:`Doorbell` that ``enqueue`` rings, in this process
  directly and from other processes (the CLI) through the control channel.
* **No hijacked signals.** ``Consumer.start()`` installs SIGINT/SIGTERM/SIGHUP
  handlers (and raises off the main thread); the app owns its signals, so we
  skip that, and Huey's once-a-second scheduler is replaced by an idle one:
  retries and schedules are ours (:mod:`trayjobs.engine.scheduler`).

Huey's subclasses live in :mod:`trayjobs._huey`, imported the first time the queue
itself is used: the control channel, all a command-line call needs, works without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sys
import tempfile
import threading
from typing import Any, Callable

from functools import cached_property

from .paths import Home

__all__ = ["Queue", "Doorbell"]

log = logging.getLogger(__name__)

TASK_NAME = "trayjobs.execute"


class Doorbell:
    """Wakes sleeping workers: ``ring()`` after an enqueue, ``wait(seen)`` to sleep."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.generation = 0

    def ring(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.generation != seen, timeout)


def _channel_address(home: Home) -> str | None:
    """Where the consumer process listens for control messages; None where unsupported."""
    if not hasattr(socket, "AF_UNIX"):
        return None
    key = hashlib.sha1(str(home.data_dir.resolve()).encode()).hexdigest()[:20]
    if sys.platform.startswith("linux"):
        return "\0trayjobs-" + key  # abstract socket: no file, no path-length limit
    return os.path.join(tempfile.gettempdir(), f"trayjobs-{key}.sock")


class Queue:
    """Run ids in, run ids out to a handler on the consumer's worker threads."""

    def __init__(self, home: Home) -> None:
        self.home = home
        home.data_dir.mkdir(parents=True, exist_ok=True)
        self.doorbell = Doorbell()
        self._handler: Callable[[int], None] | None = None
        self._consumer = None
        self._listener: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._address = _channel_address(home)

    @cached_property
    def huey(self):
        """The Huey instance, opened on first use."""
        from ._huey import TrayHuey
        huey = TrayHuey("trayjobs", filename=str(self.home.queue_db), results=False, utc=True)

        @huey.task(name=TASK_NAME)
        def execute(run_id: int) -> None:
            if self._handler is None:
                raise RuntimeError("no run handler installed")
            self._handler(run_id)

        self._task = execute
        return huey

    # -- producing ----------------------------------------------------------------

    def enqueue(self, run_id: int, *, priority: int = 0) -> None:
        huey = self.huey  # makes self._task
        huey.enqueue(self._task.s(run_id, priority=priority))
        self.doorbell.ring()

    def pending_run_ids(self) -> set[int]:
        return {t.args[0] for t in self.huey.pending() if t.name == TASK_NAME and t.args}

    def pending_count(self) -> int:
        return self.huey.pending_count()

    # -- consuming ----------------------------------------------------------------

    def start_consumer(self, handler: Callable[[int], None], *, workers: int,
                       control: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._handler = handler
        if control is not None:
            self._start_listener(control)
        # Without a control channel other processes cannot ring the bell: look now and then.
        idle = None if self._sock is not None else 2.0
        from ._huey import TrayConsumer
        self._consumer = TrayConsumer(self.huey, workers=workers, doorbell=self.doorbell,
                                      idle_timeout=idle)
        self._consumer.start()

    def stop_consumer(self, *, timeout: float | None = None) -> None:
        if self._consumer is not None:
            self._consumer.shutdown_timeout = timeout
            self._consumer.stop(graceful=True)
            self._consumer = None
        self._stop_listener()

    @property
    def consuming(self) -> bool:
        return self._consumer is not None

    # -- control channel (other processes -> the consumer process) --------------------

    def notify(self, message: dict[str, Any]) -> bool:
        """Send ``message`` to the process consuming this queue; False if none listens."""
        if self._address is None:
            return False
        data = json.dumps(message).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            try:
                s.sendto(data, self._address)
                return True
            except OSError:
                return False

    def _start_listener(self, control: Callable[[dict[str, Any]], None]) -> None:
        if self._address is None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if not self._address.startswith("\0") and os.path.exists(self._address):
                os.unlink(self._address)
            sock.bind(self._address)
        except OSError as exc:
            log.warning("control channel unavailable (%s); falling back to polling", exc)
            sock.close()
            return
        self._sock = sock

        def listen() -> None:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                try:
                    msg = json.loads(data)
                except ValueError:
                    continue
                if msg.get("op") == "stop-listener":
                    return
                self.doorbell.ring()
                try:
                    control(msg)
                except Exception:
                    log.exception("control message %r failed", msg)

        self._listener = threading.Thread(target=listen, name="trayjobs-control", daemon=True)
        self._listener.start()

    def _stop_listener(self) -> None:
        if self._sock is None:
            return
        self.notify({"op": "stop-listener"})
        if self._listener is not None:
            self._listener.join(2)
        self._sock.close()
        if not self._address.startswith("\0"):
            try:
                os.unlink(self._address)
            except OSError:
                pass
        self._sock = None
        self._listener = None

    def close(self) -> None:
        self.stop_consumer(timeout=0)
        if "huey" in self.__dict__:  # opened at all
            self.huey.storage.close()
