"""The queue: Huey behind one small facade, carrying run ids from the dispatcher to
the worker threads of the process that runs jobs.

A queue message carries only a run id; the run itself lives in the run store, and the
store decides: the engine's dispatcher marks a run handed to the queue with a
compare-and-set before it enqueues it (on Redis, a run that needs no dispatcher is
written handed over and enqueued by the process that submits it: see
:meth:`trayjobs.engine.control.Control._hands_itself`), and a worker starts it only if
it can claim it (another compare-and-set), so a message sent twice runs its run once. Which runs wait,
in what order and how many at a time is the dispatcher's business; the queue only holds
the few it was handed (about two per worker).

Where the messages live:

* **A SQLite file** in the data folder (the default): Huey's ``SqliteHuey``, with one
  process per home consuming it (the engine takes the home's lock).
* **A Redis database**, when ``[cluster] redis = "redis://..."`` is set: Huey's
  ``PriorityRedisHuey`` (``RedisHuey`` with priorities), dequeuing with a blocking pop.
  Redis keeps no message a restart without persistence drops, so the queue notices a
  restarted server (its ``run_id`` changes) or an enqueue that failed, and asks the engine
  to send again what the store says was handed over but is not in the queue
  (``on_lost``). Runs pinned to a host go to that host's own queue, which its workers pop
  together with the shared one (see :class:`trayjobs._huey._HostedRedisStorage`).

Two things Huey does not do for an embedded consumer are added here:

* **No polling.** Huey's idle workers poll with backoff (up to 10 s between looks), so
  a run enqueued after a quiet spell waits seconds to start. On SQLite our workers sleep
  on a :class:`Doorbell` that ``enqueue`` rings, in this process directly and from other
  processes (the CLI) through the control channel; on Redis they block in Redis itself.
* **No detour for an idle worker.** On SQLite, a run enqueued in the process whose
  worker sleeps on the doorbell is handed to that worker in memory, not written to the
  queue's file and read back (a third of a millisecond of a short run's start). Nothing
  is lost with it: the run is marked handed over in the store first, and one whose
  message is in neither place when the engine starts again is sent again.
* **No hijacked signals.** ``Consumer.start()`` installs SIGINT/SIGTERM/SIGHUP
  handlers (and raises off the main thread); the app owns its signals, so we
  skip that, and Huey's once-a-second scheduler is replaced by an idle one:
  retries and schedules are ours (:mod:`trayjobs.engine.scheduler`).

The control channel (cancel, reload, "dispatch now") is a Unix datagram socket named
after the data folder: it reaches the process running jobs of this home. The engines of
a cluster also hear each other's messages: on Redis through a pub/sub channel
(:meth:`Queue.publish`, :meth:`Queue.start_subscriber`), without Redis through the run
store's ``control`` table (see :class:`trayjobs.engine.control.Control`).

Huey's subclasses live in :mod:`trayjobs._huey`, imported the first time the queue
itself is used: the control channel, all a command-line call needs, works without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, Callable

from functools import cached_property

from .errors import StoreFull, UserError, sqlite_damaged, sqlite_full
from .paths import Home

__all__ = ["Queue", "Doorbell", "QueueUnavailable"]

log = logging.getLogger(__name__)

TASK_NAME = "trayjobs.execute"
#: Control messages read from the cluster's channel in one go, at most (see
#: :meth:`Queue.start_subscriber`).
SUBSCRIBER_BURST = 1000


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


class QueueUnavailable(UserError):
    """The queue's server cannot be reached; the message says which and why. ``url``: the
    server's (password hidden), ``reason``: what the client said, ``advice``: what to do
    when the server's words do not say it (see :func:`trayjobs.cluster.redis_advice`)."""

    def __init__(self, message: str, *, url: str = "", reason: str = "",
                 advice: str | None = None) -> None:
        super().__init__(message)
        self.url, self.reason, self.advice = url, reason, advice


class Doorbell:
    """Wakes sleeping workers: ``ring()`` after an enqueue, ``wait(seen)`` to sleep.

    It also hands run ids to workers asleep on it (:meth:`hand`), which look for one
    (:meth:`take`) before they read the queue."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.generation = 0
        self._asleep = 0  # workers in wait()
        self._handed: list[tuple[int, int]] = []  # (run id, priority) handed, not yet taken

    def ring(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float | None) -> bool:
        with self._cond:
            self._asleep += 1
            try:
                return self._cond.wait_for(lambda: self.generation != seen, timeout)
            finally:
                self._asleep -= 1

    def hand(self, run_id: int, priority: int = 0) -> bool:
        """Give ``run_id`` to a sleeping worker, waking it; False if none sleeps but
        for the runs handed already."""
        with self._cond:
            if self._asleep <= len(self._handed):
                return False
            self._handed.append((run_id, priority))
            self.generation += 1
            self._cond.notify_all()
            return True

    def take(self) -> int | None:
        """A run id handed over, oldest first; None if there is none."""
        with self._cond:
            return self._handed.pop(0)[0] if self._handed else None

    def take_all(self) -> list[tuple[int, int]]:
        """Every run handed over and not taken, with its priority, oldest first."""
        with self._cond:
            taken, self._handed = self._handed, []
            return taken

    @property
    def asleep(self) -> int:
        """How many workers sleep on the bell now."""
        with self._cond:
            return self._asleep

    def handed(self) -> list[int]:
        """The run ids handed over and not taken yet."""
        with self._cond:
            return [run_id for run_id, _ in self._handed]


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

    def __init__(self, home: Home, *, redis: Callable[[], str | None] | str | None = None,
                 host: str | None = None) -> None:
        """``redis``: the URL of the Redis database to hold the queue (or a function that
        returns it, called when the queue is first used: it may read a secret). ``host``:
        the host whose pinned runs this process's workers take besides the shared ones."""
        self.home = home
        self.host = host
        self._sub_stop = threading.Event()
        self._subscriber: threading.Thread | None = None
        home.data_dir.mkdir(parents=True, exist_ok=True)
        self._redis = redis
        #: Called (on a worker thread, or the dispatcher's) when messages may have been lost:
        #: the Redis server restarted, or an enqueue failed; and so when it answers again
        #: after a failure. Set by the engine.
        self.on_lost: Callable[[], None] | None = None
        #: Called (on a worker thread) each time a worker cannot read the queue's server.
        self.on_down: Callable[[QueueUnavailable], None] | None = None
        self._server_id: str | None = None
        self._lost = False
        self._lost_lock = threading.Lock()
        self.doorbell = Doorbell()
        self._handler: Callable[[int], None] | None = None
        self._consumer = None
        self._listener: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._address = _channel_address(home)

    @cached_property
    def redis_url(self) -> str | None:
        """The Redis URL, when the queue is on Redis (read once)."""
        return self._redis() if callable(self._redis) else self._redis

    @cached_property
    def huey(self):
        """The Huey instance, opened on first use."""
        if self.redis_url:
            huey = self._redis_huey(self.redis_url)
        else:
            huey = self._sqlite_huey()

        @huey.task(name=TASK_NAME)
        def execute(run_id: int) -> None:
            if self._handler is None:
                raise RuntimeError("no run handler installed")
            self._handler(run_id)

        self._task = execute
        return huey

    def _sqlite_huey(self):
        """The queue's file; a damaged one (one that is no database, a folder) is moved aside and
        a new one started. It holds only which runs were handed over, and the run history,
        which has them all, sends again those it does not find there."""
        from ._huey import TrayHuey
        path = self.home.queue_db
        try:
            return TrayHuey("trayjobs", filename=str(path), results=False, utc=True)
        except sqlite3.DatabaseError as exc:
            if not sqlite_damaged(exc) and not path.is_dir():
                raise
            why = "a folder, not a file" if path.is_dir() else exc
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        for side in ("", "-wal", "-shm"):
            try:
                os.replace(path.with_name(path.name + side), aside.with_name(aside.name + side))
            except FileNotFoundError:
                pass
        log.warning("the queue's file %s could not be used (%s): it was moved to %s and a new one "
                    "started; the runs it held are sent again from the run history", path,
                    why, aside.name)
        return TrayHuey("trayjobs", filename=str(path), results=False, utc=True)

    def _redis_huey(self, url: str):
        try:
            from redis import ConnectionPool
        except ImportError:
            raise UserError("[cluster] redis is set, but the Redis client is not installed: "
                            "pip install 'trayjobs[cluster]' (or pip install redis)") from None

        from ._huey import TrayRedisHuey, redis_storage_ready
        redis_storage_ready()

        def on_connect(conn) -> None:
            # Each new connection reads the server's run_id: a new one means the server
            # restarted, and a server without persistence forgot its queue.
            conn.on_connect()
            conn.send_command("INFO", "server")
            info = conn.read_response()
            info = info.decode() if isinstance(info, bytes) else str(info)
            server = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                           if ln.startswith("run_id:")), None)
            with self._lost_lock:
                if self._server_id is not None and server != self._server_id:
                    log.warning("the queue's Redis server restarted; queued runs are sent again")
                    self._lost = True
                self._server_id = server

        # socket_timeout: a server that takes connections but does not answer (stopped,
        # frozen, the network to it lost) ends a call in 5 s rather than never; a blocking
        # pop's own wait (read_timeout) is shorter.
        pool = ConnectionPool.from_url(url, redis_connect_func=on_connect,
                                       socket_connect_timeout=5, socket_timeout=5,
                                       health_check_interval=30)
        return TrayRedisHuey("trayjobs", connection_pool=pool, results=False, utc=True,
                             blocking=True, read_timeout=1, host=self.host)

    @property
    def shared(self) -> bool:
        """Whether the queue is on a server (Redis) rather than a file of this home."""
        return bool(self.redis_url)

    def _unavailable(self, exc: Exception) -> QueueUnavailable:
        from .cluster import redact, redis_advice
        url = redact(self.redis_url or "")
        advice = redis_advice(self.redis_url or "", exc)
        # One that answers and refuses (full, a wrong password) is not said unreachable.
        how = "cannot be used" if advice else "cannot be reached"
        return QueueUnavailable(f"the queue's Redis server at {url} {how}: {exc}; "
                                + (f"{advice}; " if advice else "") +
                                f"runs wait in the history and are sent once it is back",
                                url=url, reason=str(exc), advice=advice)

    def ping(self) -> None:
        """Ask the queue's server whether it answers and takes writes (nothing to ask of a
        file); :class:`QueueUnavailable` if it does not."""
        if not self.shared:
            return
        try:
            conn = self.huey.storage.conn
            conn.ping()
            # Written, not only read: a full server (its maxmemory used up) answers a ping
            # and refuses every run handed to it.
            conn.set("trayjobs.ping", self.host or "", ex=60)
        except Exception as exc:
            self._lost = True  # what was handed meanwhile is sent again once it answers
            raise self._unavailable(exc) from exc

    def _read_failed(self, exc: Exception) -> None:
        """A worker could not read the queue (on its thread): its server is away."""
        if not self.shared:
            return
        self._lost = True
        if self.on_down is not None:
            try:
                self.on_down(self._unavailable(exc))
            except Exception:  # the worker goes on reading, whatever the telling did
                log.exception("telling that the queue cannot be read failed")

    def _check_lost(self) -> None:
        """After the queue answered: if messages may have been lost, have them sent again."""
        if not self._lost:
            return
        with self._lost_lock:
            lost, self._lost = self._lost, False
        if lost and self.on_lost is not None:
            try:
                self.on_lost()
            except Exception:
                self._lost = True  # the queue went away again: next time
                log.exception("sending lost runs again failed")

    # -- producing ----------------------------------------------------------------

    def enqueue(self, run_id: int, *, priority: int = 0, host: str | None = None) -> None:
        """Hand a run to the queue (on Redis, ``host``: to that host's queue);
        :class:`QueueUnavailable` if its server is down (the message may or may not have
        arrived: the engine sends it again, harmlessly). On SQLite, a worker of this
        process asleep on the doorbell is handed the run at once instead."""
        if not self.shared and self._consumer is not None \
                and self.doorbell.hand(run_id, priority):
            return
        huey = self.huey  # makes self._task
        try:
            if host is not None and self.shared:
                task = self._task.s(run_id, priority=priority)
                huey.storage.enqueue_for(huey.serialize_task(task), priority, host)
            else:
                huey.enqueue(self._task.s(run_id, priority=priority))
        except Exception as exc:
            self._say_failure(exc)
            raise
        self.doorbell.ring()

    def pending_run_ids(self) -> set[int]:
        """The run ids whose messages wait in the queue; :class:`QueueUnavailable` if its
        server is down."""
        try:
            return ({t.args[0] for t in self.huey.pending() if t.name == TASK_NAME and t.args}
                    | set(self.doorbell.handed()))
        except Exception as exc:
            self._say_failure(exc)
            raise

    def _say_failure(self, exc: Exception) -> None:
        """Raise what a failed use of the queue means: for a Redis queue,
        :class:`QueueUnavailable` (its messages may be lost: ``_lost``); for the queue's file
        on a full disk, :class:`StoreFull`, ridden out as the history's own full disk is (the
        runs stay marked handed over, and are sent again once there is room). Else it
        returns, and the caller raises ``exc`` itself."""
        if self.shared:
            self._lost = True
            raise self._unavailable(exc) from exc
        if sqlite_full(exc, self.home.queue_db.parent):
            raise StoreFull(
                f"There is no room left on the disk that holds the queue's file "
                f"{self.home.queue_db} (SQLite says: {exc}), so trayjobs cannot hand runs to "
                f"its workers now; none is lost. Free some space on that disk; trayjobs then "
                f"goes on.", where=str(self.home.queue_db)) from exc

    def pending_count(self) -> int:
        return self.huey.pending_count() + len(self.doorbell.handed())

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
                                      idle_timeout=idle, run_handed=handler,
                                      on_read=self._check_lost, on_error=self._read_failed)
        self._consumer.start()

    def stop_consumer(self, *, timeout: float | None = None) -> None:
        if self._consumer is not None:
            self._consumer.shutdown_timeout = timeout
            self._consumer.stop(graceful=True)
            self._consumer = None
            # Runs handed to workers that stopped first wait in the file for the next start.
            for run_id, priority in self.doorbell.take_all():
                self.enqueue(run_id, priority=priority)
        self._stop_listener()

    def take_runs(self, take: bool) -> None:
        """On Redis: whether this process's workers pop runs from the shared queue and
        its host's (they do unless told otherwise). Those blocked in a pop now return,
        to pop what they are told next. Nothing to do for a file, which only this home's
        dispatcher fills."""
        if not self.shared:
            return
        storage = self.huey.storage
        storage.take_runs(take)
        if self._consumer is not None:
            try:
                storage.wake(self._consumer.workers)
            except Exception as exc:  # the server is away: they return at their timeout
                log.debug("could not wake the workers: %s", exc)

    @property
    def consuming(self) -> bool:
        return self._consumer is not None

    # -- the cluster's control channel on Redis (pub/sub) --------------------------------

    @property
    def channel(self) -> str:
        """The pub/sub channel of this Redis database's engines (channels span databases)."""
        db = self.huey.storage.conn.connection_pool.connection_kwargs.get("db", 0)
        return f"trayjobs.control.{db}"

    def publish(self, message: dict[str, Any]) -> None:
        """Send ``message`` to every engine on this Redis database; QueueUnavailable if down."""
        try:
            self.huey.storage.conn.publish(self.channel, json.dumps(message))
        except Exception as exc:
            raise self._unavailable(exc) from exc

    def start_subscriber(self, handler: Callable[[dict[str, Any]], None],
                         on_connect: Callable[[], None] | None = None) -> None:
        """Hand the messages published on the channel to ``handler`` (on a thread of its
        own), subscribing again with backoff while the server is away; ``on_connect`` after
        each (re)subscription: messages sent meanwhile are gone. Messages waiting together
        are handed over once each, in order (they all say what to do, never how often)."""
        self._sub_stop.clear()
        # This process's own channel, on which stop_subscriber wakes the loop.
        wake = self._sub_wake = f"{self.channel}.wake.{uuid.uuid4().hex}"

        def loop() -> None:
            delay = 0.1
            while not self._sub_stop.is_set():
                pubsub = None
                try:
                    pubsub = self.huey.storage.conn.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(self.channel, wake)
                    delay = 0.1
                    if on_connect is not None:
                        on_connect()
                    while not self._sub_stop.is_set():
                        m = pubsub.get_message(timeout=0.5)
                        if m is None:
                            continue
                        # What came meanwhile too, each message once: a burst of runs
                        # submitted elsewhere is one "dispatch" here, not one per run.
                        # (A message is only read once there is room for it: one read
                        # past a full burst would be dropped.)
                        burst: dict[Any, None] = {}
                        while m is not None:
                            if m.get("type") == "message" and _text(m.get("channel")) != wake:
                                burst[m["data"]] = None
                            if len(burst) >= SUBSCRIBER_BURST:
                                break
                            m = pubsub.get_message(timeout=0)
                        for data in burst:
                            try:
                                handler(json.loads(data))
                            except Exception:
                                log.exception("cluster control message %r failed", data)
                except Exception as exc:
                    log.debug("cluster control channel: %s", exc)
                    self._sub_stop.wait(delay)
                    delay = min(5.0, delay * 2)
                finally:
                    if pubsub is not None:
                        try:
                            pubsub.close()
                        except Exception:
                            pass

        self._subscriber = threading.Thread(target=loop, name="trayjobs-cluster-control",
                                            daemon=True)
        self._subscriber.start()

    def stop_subscriber(self) -> None:
        self._sub_stop.set()
        if self._subscriber is not None:
            def wake() -> None:  # rather than waiting out its read's timeout
                try:
                    self.huey.storage.conn.publish(self._sub_wake, "stop")
                except Exception:
                    pass  # the server is away: the loop is not reading it either
            # On a thread, waited for a moment: a server that does not answer would hold
            # the stop for its timeouts.
            waker = threading.Thread(target=wake, daemon=True, name="trayjobs-control-wake")
            waker.start()
            waker.join(1.0)
            self._subscriber.join(3)
            self._subscriber = None

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
        self.stop_subscriber()
        self.stop_consumer(timeout=0)
        if "huey" in self.__dict__:  # opened at all
            if self.shared:
                self.huey.storage.pool.disconnect()
            else:
                self.huey.storage.close()
