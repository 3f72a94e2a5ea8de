"""The jobs list: one row per configured job, with its state in plain words."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer, Signal

from ..overview import DURATIONS_HEADING, DURATIONS_MEANING, counts_text, durations_text, \
    durations_tip, next_run_text, rate_text
from ..store import outcome
from ..textfmt import relative, warnings_text, when
from .icons import icon
from .runs_model import RUN_ROLE, warnings_tip
from .theme import muted_colour, state_colour

__all__ = ["JobsModel", "JOB_ROLE", "RECENT_ROLE", "watch_text", "last_text", "recent_tip"]

JOB_ROLE = RUN_ROLE
#: Below this age a relative time shows its seconds ("4 min 33 s ago"): it ticks each second.
SECONDS_SHOWN = 600
#: The outcomes of a job's last runs, oldest first (what the sparkline draws).
RECENT_ROLE = Qt.ItemDataRole.UserRole + 7


def recent_tip(outcomes) -> str | None:
    """"Last 30 runs: 27 succeeded, 2 with warnings, 1 failed"."""
    if not outcomes:
        return None
    words = {"succeeded": "succeeded", "warning": "with warnings", "failed": "failed"}
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[words.get(o, o)] = counts.get(words.get(o, o), 0) + 1
    return f"Last {len(outcomes)} runs: " + ", ".join(f"{n} {w}" for w, n in counts.items())


def watch_text(job: dict[str, Any]) -> str:
    """"watching ~/Inbox", "paused", "unavailable: folder missing", "3 files waiting"."""
    w = job.get("watch")
    if not w:
        return ""
    state = w.get("state") or "configured"
    folder = w.get("folder") or ""
    if state == "watching":
        text = f"watching {folder}".strip()
    elif state == "unavailable":
        text = f"unavailable: {w.get('reason') or 'folder cannot be watched'}"
    elif state == "paused":
        text = "paused"
    elif state == "starting":
        text = f"starting to watch {folder}".strip()
    else:
        text = f"watches {folder}".strip()
    pending = w.get("pending") or 0
    if pending:
        text += f" · {pending} file{'s' * (pending != 1)} waiting"
    return text


def last_text(job: dict[str, Any], now: float | None = None) -> str:
    last = job.get("last")
    if not last:
        return "never run"
    words = {"succeeded": "succeeded", "failed": "failed", "running": "running",
             "retrying": "retrying", "cancelled": "cancelled", "skipped": "skipped",
             "interrupted": "interrupted", "queued": "queued", "waiting": "waiting"}
    word = words.get(last["state"], last["state"])
    if outcome(last) == "warning":
        word = f"succeeded, {warnings_text(last['warnings'])}"
    return f"{word} · {relative(_last_at(last), now)}"


def _last_at(last: dict[str, Any]) -> float | None:
    return last.get("finished_at") or last.get("started_at") or last.get("created_at")


class JobsModel(QAbstractTableModel):
    NAME, KIND, TRIGGER, WATCH, NEXT, LAST, SUCCESS, DURATION, LAST_OK, RECENT, WAITING, \
        ENABLED = range(12)
    HEADERS = ["Job", "Kind", "Trigger", "Watch", "Next run", "Last result", "Success",
               # on two lines: the column stays as narrow as its figures, and the
               # table fits a window of ordinary size without scrolling sideways
               DURATIONS_HEADING.capitalize().replace(" / ", " /\n"), "Last success",
               "Last 30 runs", "Waiting", "Enabled"]
    #: What the health columns say, for the tooltip of their headers.
    HEALTH_TIPS = {
        SUCCESS: "Succeeded out of succeeded + failed over the last 7 days",
        DURATION: f"{DURATIONS_MEANING} Over the last 7 days.",
        LAST_OK: "When it last succeeded",
        RECENT: "How its last 30 runs ended, oldest on the left",
        WAITING: "Runs queued and not yet started",
    }

    #: The person flipped a job's enabled switch: (job name, enabled).
    enabledToggled = Signal(str, bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []
        # "39 s ago" keeps counting: the Last result and Last success columns (only they)
        # are repainted every second while a time in them shows its seconds ("4 min 33 s
        # ago": under 10 minutes old), else every 10 s.
        self._ticker = QTimer(self)
        self._ticker.timeout.connect(self._tick)

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        """Replace the rows; keeps the model's rows in place when only values changed,
        so the selection and scroll position survive a reload."""
        if [r["name"] for r in rows] == [r["name"] for r in self.rows]:
            self.rows = rows
            if rows:
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(len(rows) - 1, self.columnCount() - 1))
        else:
            self.beginResetModel()
            self.rows = rows
            self.endResetModel()
        self._tick(repaint=False)

    def _tick(self, *, repaint: bool = True) -> None:
        times = [_last_at(r["last"]) for r in self.rows if r.get("last")]
        times += [r["health"].last_success_at for r in self.rows if r.get("health") is not None]
        times = [t for t in times if t]
        if not times:
            self._ticker.stop()
            return
        if repaint:
            for col in (self.LAST, self.LAST_OK):
                self.dataChanged.emit(self.index(0, col), self.index(len(self.rows) - 1, col),
                                      [Qt.ItemDataRole.DisplayRole])
        young = time.time() - max(times) < SECONDS_SHOWN
        self._ticker.start(1000 if young else 10_000)

    def show_run(self, run: dict[str, Any]) -> None:
        """A run of a listed job started, waits or retries: its Last result says so now,
        not "never run" (or the run before) until the run ends and the list is reloaded."""
        if run.get("state") in ("queued", "scheduled"):
            return  # not begun: the store's last_runs leaves these out too
        row = self.row_of(run.get("job") or "")
        if row is None:
            return
        last = self.rows[row].get("last")
        if last and last.get("id") is not None and run.get("id") is not None \
                and last["id"] > run["id"]:
            return  # a newer run already shown
        self.rows[row]["last"] = run
        self.dataChanged.emit(self.index(row, self.LAST), self.index(row, self.LAST))
        if not self._ticker.isActive():
            self._tick(repaint=False)

    def row_of(self, name: str) -> int | None:
        return next((i for i, r in enumerate(self.rows) if r["name"] == name), None)

    def job_at(self, row: int) -> dict[str, Any]:
        return self.rows[row]

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return self.HEALTH_TIPS.get(section)
        return None

    def flags(self, index):
        f = super().flags(index)
        if index.isValid() and index.column() == self.ENABLED:
            f |= Qt.ItemFlag.ItemIsUserCheckable
        return f

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if index.isValid() and index.column() == self.ENABLED and \
                role == Qt.ItemDataRole.CheckStateRole:
            on = Qt.CheckState(value) == Qt.CheckState.Checked
            job = self.rows[index.row()]
            if job["enabled"] == on:
                return False
            job["enabled"] = on  # shown at once; the saved config confirms it
            self.dataChanged.emit(index.siblingAtColumn(0), index)
            self.enabledToggled.emit(job["name"], on)
            return True
        return False

    def next_text(self, job: dict[str, Any]) -> str:
        if not job["enabled"]:
            return "off"
        if job.get("paused"):  # what resuming does: its time may be past ("overdue")
            return next_run_text(job)
        nxt = job.get("next_run_at")
        return when(nxt) if nxt else ""

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        job = self.rows[index.row()]
        col = index.column()
        if role == JOB_ROLE:
            return job
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.NAME:
                return job["name"]
            if col == self.KIND:
                return job["kind"]
            if col == self.TRIGGER:
                return job["trigger"]
            if col == self.WATCH:
                return watch_text(job)
            if col == self.NEXT:
                return self.next_text(job)
            if col == self.LAST:
                return last_text(job)
            if col == self.ENABLED:
                return "on" if job["enabled"] else "off"
            h = job.get("health")
            if h is not None:
                if col == self.SUCCESS:
                    return rate_text(h, warned=False)
                if col == self.DURATION:
                    return durations_text(h)
                if col == self.LAST_OK:
                    return relative(h.last_success_at) if h.last_success_at else "never"
                if col == self.WAITING:
                    return f"{h.waiting:,}" if h.waiting else ""
        if role == RECENT_ROLE and col == self.RECENT:
            h = job.get("health")
            return h.recent if h is not None else ()
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.SUCCESS, self.WAITING):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.CheckStateRole and col == self.ENABLED:
            return Qt.CheckState.Checked if job["enabled"] else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DecorationRole and col == self.LAST and job.get("last"):
            return icon(f"state-{outcome(job['last'])}")
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == self.LAST and job.get("last"):
                return state_colour(outcome(job["last"]))
            if not job["enabled"] or (col == self.NEXT and job.get("paused")):
                return muted_colour()
            if col == self.WATCH and (job.get("watch") or {}).get("state") == "unavailable":
                return state_colour("failed")
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == self.LAST and job.get("last"):
                last = job["last"]
                return (last.get("error") or warnings_tip(last)
                        or (last.get("result") or {}).get("summary") or None)
            if col == self.NAME:  # the whole name first: a long one is cut in the column
                tags = ", ".join(job.get("tags") or ())
                return "\n".join(t for t in (job["name"], job.get("description"),
                                             tags and f"tags: {tags}") if t)
            if col == self.RECENT and job.get("health") is not None:
                return recent_tip(job["health"].recent)
            if col == self.DURATION and job.get("health") is not None:
                return durations_tip(job["health"]) or None
            if col == self.SUCCESS and job.get("health") is not None and job["health"].runs:
                return f"{counts_text(job['health'])} over the last 7 days"
            if col in (self.TRIGGER, self.WATCH):  # often too long for the column
                return (job["trigger"] if col == self.TRIGGER else watch_text(job)) or None
            if col == self.NEXT and job.get("paused") and job["enabled"]:
                return next_run_text(job)  # all of it, if the cell cuts it
            if col == self.NEXT and job.get("next_run_at"):
                at = when(job["next_run_at"], seconds=True)
                return f"a one-off run at {at}" if job.get("next_is_one_off") else at
        if role == Qt.ItemDataRole.AccessibleTextRole and col == self.ENABLED:
            return f"{job['name']} {'enabled' if job['enabled'] else 'disabled'}"
        return None
