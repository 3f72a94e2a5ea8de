"""The one place engine events become Qt signals.

Engine events arrive on worker, scheduler and control threads. The bridge only
records them under a lock and posts one queued signal; on the GUI thread it
delivers them, at most ~30 times a second, with progress coalesced to the
latest update per run and log lines handed on together (one signal for a run of
lines, not one per line: a job may log thousands a second). Job threads never
touch a widget.
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from ..engine import events
from ..engine.events import (AlertChanged, EventBus, JobsChanged, Notice, RunChanged, RunLog,
                             RunProgress)

#: Watched-folder state changes, where the engine has watched folders.
WatchChanged = getattr(events, "WatchChanged", None)

__all__ = ["EngineBridge"]

FRAME = 0.033  # seconds between deliveries at most


class EngineBridge(QObject):
    runChanged = Signal(object, bool)  # run row, final
    progress = Signal(object)          # {run_id: RunProgress}
    logLines = Signal(object)          # [RunLog, …] in the order they were logged
    jobsChanged = Signal(str)
    notice = Signal(object)            # Notice
    watchChanged = Signal(object)      # WatchChanged
    alertChanged = Signal(object)      # AlertChanged: a run's deliveries changed
    _posted = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._events: list = []
        self._progress: dict[int, RunProgress] = {}
        self._posted_flag = False
        self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._deliver)
        self._posted.connect(self._schedule, Qt.QueuedConnection)
        self._unsubscribe = None

    def attach(self, bus: EventBus) -> None:
        self._unsubscribe = bus.subscribe(self._on_event)

    def detach(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None

    # any thread
    def _on_event(self, ev) -> None:
        with self._lock:
            if isinstance(ev, RunProgress):
                self._progress[ev.run_id] = ev
            else:
                self._events.append(ev)
            if self._posted_flag:
                return
            self._posted_flag = True
        self._posted.emit()

    # GUI thread
    def _schedule(self) -> None:
        if not self._timer.isActive():
            wait = max(0.0, FRAME - (time.monotonic() - self._last))
            self._timer.start(int(wait * 1000))

    def _deliver(self) -> None:
        with self._lock:
            events, self._events = self._events, []
            progress, self._progress = self._progress, {}
            self._posted_flag = False
        self._last = time.monotonic()
        lines: list[RunLog] = []
        for ev in events:
            if isinstance(ev, RunLog):
                lines.append(ev)
                continue
            if lines:  # the lines logged before this event, before it
                self.logLines.emit(lines)
                lines = []
            if isinstance(ev, RunChanged):
                progress.pop(ev.run["id"], None) if ev.run["state"] != "running" else None
                self.runChanged.emit(ev.run, ev.final)
            elif isinstance(ev, JobsChanged):
                self.jobsChanged.emit(ev.reason)
            elif isinstance(ev, Notice):
                self.notice.emit(ev)
            elif isinstance(ev, AlertChanged):
                self.alertChanged.emit(ev)
            elif WatchChanged is not None and isinstance(ev, WatchChanged):
                self.watchChanged.emit(ev)
        if lines:
            self.logLines.emit(lines)
        if progress:
            self.progress.emit(progress)
