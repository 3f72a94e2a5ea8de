"""Engine events and the in-process bus that carries them.

Handlers run synchronously on the emitting thread (a worker, the scheduler,
the caller), so they must be quick and must not touch widgets: the UI's bridge
only records the event and posts a queued Qt signal.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["EventBus", "RunChanged", "RunProgress", "RunLog", "JobsChanged", "Notice",
           "WatchChanged", "AlertChanged", "Event"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunChanged:
    """A run was created or changed state; ``run`` is the full row."""
    run: dict[str, Any]
    final: bool = False  # no more attempts will follow
    remote: bool = False  # seen in the shared store: another machine's engine changed it


@dataclass(frozen=True)
class RunProgress:
    run_id: int
    job: str
    done: float | None
    total: float | None
    unit: str | None
    message: str | None
    rate: float | None = None  # units per second
    eta: float | None = None   # seconds left


@dataclass(frozen=True)
class RunLog:
    run_id: int
    ts: float
    level: str
    message: str


@dataclass(frozen=True)
class JobsChanged:
    """Config reloaded, a job paused or resumed, next runs recomputed."""
    reason: str = ""


@dataclass(frozen=True)
class Notice:
    """Something the user should see that is not a run (a config error, a watch problem).

    ``details["problem"]``: a lasting problem under that name (``store``: the run history's
    server cannot be reached; ``queue``: the queue's; ``versions``: workers run another
    version), shown until a notice with ``details["clear"]`` for the same name;
    ``details["short"]`` says it in a few words (the tray's tooltip).
    ``details["logged"]``: the engine logged it already."""
    level: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WatchChanged:
    """A job's watched folder changed state: ``starting``, ``watching``, ``paused`` or
    ``unavailable`` (``reason`` says why, e.g. "the folder does not exist")."""
    job: str
    state: str
    folder: str
    reason: str | None = None
    pending: int = 0  # files seen and waiting to settle or to be handed to a run


@dataclass(frozen=True)
class AlertChanged:
    """An alert or heartbeat ping was queued, sent, tried again, held or given up
    (``run_id``: the run it is about, if any)."""
    run_id: int | None
    channel: str


Event = RunChanged | RunProgress | RunLog | JobsChanged | Notice | WatchChanged | AlertChanged


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, fn: Callable[[Event], None]) -> Callable[[], None]:
        with self._lock:
            self._subs = [*self._subs, fn]

        def unsubscribe() -> None:
            with self._lock:
                self._subs = [s for s in self._subs if s is not fn]

        return unsubscribe

    def emit(self, event: Event) -> None:
        for fn in self._subs:
            try:
                fn(event)
            except Exception:
                log.exception("event handler %r failed on %r", fn, event)
