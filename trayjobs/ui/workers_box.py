"""The Workers part of Settings: the processes that run jobs (this app, ``trayjobs worker``,
a foreground run) with their host, state, runs now, last heartbeat and version, as
``trayjobs workers`` lists them. Read off the GUI thread when shown, and again every few
seconds while it is in view."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (QAbstractItemView, QGroupBox, QHeaderView, QLabel, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from ..engine.lease import LEAVING, NO_QUEUE
from ..textfmt import relative
from .theme import muted_colour, state_colour

__all__ = ["WorkersBox", "read_workers"]

REFRESH_MS = 5000
COLUMNS = ["Host", "Pid", "As", "State", "Runs", "Last heartbeat", "Version"]


def read_workers(store) -> list[dict[str, Any]]:
    """The workers running or heard from in the last day, with their state as shown
    (off the GUI thread: a process of this machine is looked up by pid)."""
    from ..engine.lease import shown_state
    found = store.workers(since=time.time() - 86400)
    for w in found:
        w["state"] = shown_state(w)
    return found


class WorkersBox(QGroupBox):
    HOST, PID, AS, STATE, RUNS, HEARD, VERSION = range(len(COLUMNS))

    def __init__(self, app, parent: QWidget | None = None) -> None:
        super().__init__("Workers", parent)
        self.app = app
        self.setObjectName("workers")
        self.loads = 0
        intro = QLabel("The processes that run jobs from this history: this app, trayjobs worker, "
                       "a run in a terminal. A lost one's runs are recovered by the others.")
        intro.setWordWrap(True)
        pal = intro.palette()
        pal.setColor(intro.foregroundRole(), muted_colour())
        intro.setPalette(pal)
        self.view = QTreeWidget()
        self.view.setObjectName("workersList")
        self.view.setAccessibleName("Workers")
        self.view.setHeaderLabels(COLUMNS)
        self.view.setRootIsDecorated(False)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.header().setStretchLastSection(True)
        self.view.setMaximumHeight(140)
        self.ended = QLabel()
        self.ended.setObjectName("workersEnded")
        self.ended.setPalette(pal)
        self.ended.hide()
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.view)
        lay.addWidget(self.ended)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._reading = False

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()
        self._timer.start()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self._timer.stop()

    def refresh(self) -> None:
        eng = getattr(self.app, "engine", None)
        service = getattr(self.app, "service", None)
        if eng is None or service is None or self._reading:
            return
        self._reading = True  # one read at a time, however slow the store is
        service.call(lambda: read_workers(eng.store), self.show_workers, self._failed)

    def _failed(self, _exc: Exception) -> None:
        self._reading = False

    def show_workers(self, workers: list[dict[str, Any]]) -> None:
        self._reading = False
        self.view.clear()
        # Each foreground `trayjobs run` is a worker while it runs: a day of them (from
        # cron, say) filled the list, and the workers that run now went below its fold.
        # Those that ended are counted; the live ones come first.
        shown = [w for w in workers if not (w["mode"] == "cli" and w["state"] == "stopped")]
        shown.sort(key=lambda w: w["state"] == "stopped")
        ended = len(workers) - len(shown)
        self.ended.setText(f"And {ended} foreground run(s) of `trayjobs run` that ended in the "
                           f"last day: `trayjobs workers` lists them.")
        self.ended.setVisible(bool(ended))
        for w in shown:
            running = w["state"] in ("running", NO_QUEUE, LEAVING)
            item = QTreeWidgetItem([w["host"], str(w["pid"]), w["mode"] or "", w["state"],
                                    str(w["runs"]) if running else "",
                                    relative(w["heartbeat_at"]), w["version"] or ""])
            if w["state"] == NO_QUEUE:
                item.setForeground(self.STATE, state_colour("failed"))
                item.setToolTip(self.STATE, f"It {w.get('problem')}; it takes no runs until "
                                            f"it can: check [cluster] redis on that machine.")
            elif w["state"] == LEAVING:
                item.setToolTip(self.STATE, "Its machine left the cluster: it finishes the "
                                            "runs it runs and takes no new one; restarting it "
                                            "there completes the leave.")
            elif w["state"] == "lost":
                item.setForeground(self.STATE, state_colour("failed"))
                item.setToolTip(self.STATE, "Not heard from within its lease, or its process "
                                            "is gone: its runs are recovered.")
            elif not running:
                for col in range(len(COLUMNS)):
                    item.setForeground(col, muted_colour())
            self.view.addTopLevelItem(item)
        self.loads += 1

    def rows(self) -> list[tuple[str, ...]]:
        """What the list shows, row by row."""
        return [tuple(self.view.topLevelItem(i).text(c) for c in range(len(COLUMNS)))
                for i in range(self.view.topLevelItemCount())]
