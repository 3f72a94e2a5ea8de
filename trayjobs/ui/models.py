"""Table models for the jobs list and the run history."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from ..durations import format_duration
from ..textfmt import attempt_text, relative, run_duration, state_text, when

__all__ = ["JobsModel", "RunsModel", "PROGRESS_ROLE", "RUN_ROLE"]

RUN_ROLE = Qt.UserRole + 1
PROGRESS_ROLE = Qt.UserRole + 2

STATE_COLOURS = {"succeeded": "#15803d", "failed": "#b91c1c", "retrying": "#b45309",
                 "running": "#1d4ed8", "cancelled": "#6b7280", "skipped": "#6b7280",
                 "interrupted": "#b45309", "queued": "#374151"}


class JobsModel(QAbstractTableModel):
    NAME, KIND, TRIGGER, NEXT, LAST, STATUS = range(6)
    HEADERS = ["Job", "Kind", "Trigger", "Next run", "Last run", "Status"]

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        job = self.rows[index.row()]
        col = index.column()
        if role == RUN_ROLE:
            return job
        if role == Qt.DisplayRole:
            last = job.get("last")
            return {
                self.NAME: job["name"],
                self.KIND: job["kind"],
                self.TRIGGER: job["trigger"],
                self.NEXT: when(job.get("next_run_at")),
                self.LAST: (f"{state_text(last)} · {relative(last.get('finished_at') or last.get('created_at'))}"
                            if last else "never run"),
                self.STATUS: job.get("status", ""),
            }[col]
        if role == Qt.ToolTipRole:
            if col == self.LAST and job.get("last") and job["last"].get("error"):
                return job["last"]["error"]
            if col == self.NAME:
                return job.get("description") or None
        if role == Qt.ForegroundRole and col == self.LAST and job.get("last"):
            from PySide6.QtGui import QColor
            return QColor(STATE_COLOURS.get(job["last"]["state"], "#000"))
        return None


class RunsModel(QAbstractTableModel):
    ID, STATE, JOB, TRIGGER, PROGRESS, ATTEMPT, STARTED, DURATION, SUMMARY = range(9)
    HEADERS = ["#", "State", "Job", "Trigger", "Progress", "Try", "Started", "Took", "Summary"]

    def __init__(self, parent=None, *, limit: int = 1000) -> None:
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []
        self._index: dict[int, int] = {}
        self.limit = limit

    # -- feeding ----------------------------------------------------------------------

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        """Show a page loaded from the store, keeping live updates that are newer than it
        (the page was read on another thread while events kept arriving)."""
        merged = {r["id"]: r for r in rows}
        for live in self.rows:
            page = merged.get(live["id"])
            if page is None and rows and live["id"] < rows[-1]["id"]:
                continue  # older than the page: not shown any more
            if page is None or (live.get("updated_at") or 0) > (page.get("updated_at") or 0):
                merged[live["id"]] = live
        self.beginResetModel()
        self.rows = sorted(merged.values(), key=lambda r: r["id"], reverse=True)[:self.limit]
        self._reindex()
        self.endResetModel()

    def _reindex(self) -> None:
        self._index = {r["id"]: i for i, r in enumerate(self.rows)}

    def upsert(self, run: dict[str, Any]) -> None:
        i = self._index.get(run["id"])
        if i is not None:
            old = self.rows[i]
            if run["state"] == "running" and old.get("progress"):
                run = {**run, "progress": old["progress"]}
            self.rows[i] = run
            self.dataChanged.emit(self.index(i, 0), self.index(i, self.columnCount() - 1))
            return
        if self.rows and run["id"] < self.rows[-1]["id"] and len(self.rows) >= self.limit:
            return  # older than everything shown
        pos = 0
        while pos < len(self.rows) and self.rows[pos]["id"] > run["id"]:
            pos += 1
        self.beginInsertRows(QModelIndex(), pos, pos)
        self.rows.insert(pos, run)
        self._reindex()
        self.endInsertRows()
        if len(self.rows) > self.limit:
            self.beginRemoveRows(QModelIndex(), self.limit, len(self.rows) - 1)
            del self.rows[self.limit:]
            self._reindex()
            self.endRemoveRows()

    def apply_progress(self, updates: dict[int, Any]) -> None:
        for run_id, p in updates.items():
            i = self._index.get(run_id)
            if i is None:
                continue
            self.rows[i]["progress"] = p
            self.dataChanged.emit(self.index(i, self.PROGRESS), self.index(i, self.PROGRESS))

    def run_at(self, row: int) -> dict[str, Any]:
        return self.rows[row]

    def row_of(self, run_id: int) -> int | None:
        return self._index.get(run_id)

    # -- Qt -------------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return self.HEADERS[section]
        return None

    def progress_of(self, run: dict[str, Any]) -> tuple[float | None, str]:
        """(fraction or None, text) for the progress column."""
        p = run.get("progress")
        if run["state"] == "running" and p is not None:
            frac = (p.done / p.total) if p.total and p.done is not None else None
            bits = []
            if frac is not None:
                bits.append(f"{frac * 100:.0f} %")
            elif p.done is not None:
                bits.append(f"{p.done:,.0f} {p.unit or ''}".strip())
            if p.eta is not None:
                bits.append(f"{format_duration(p.eta)} left")
            if p.message:
                bits.append(p.message)
            return frac, " · ".join(bits)
        if run["state"] == "running":
            done, total = run.get("progress_done"), run.get("progress_total")
            if total:
                return done / total, f"{done / total * 100:.0f} %"
            return None, run.get("progress_message") or "running"
        if run["state"] == "succeeded":
            return 1.0, ""
        return None, ""

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        run = self.rows[index.row()]
        col = index.column()
        if role == RUN_ROLE:
            return run
        if role == PROGRESS_ROLE and col == self.PROGRESS:
            return self.progress_of(run)
        if role == Qt.DisplayRole:
            result = run.get("result") if isinstance(run.get("result"), dict) else {}
            if col == self.PROGRESS:
                return self.progress_of(run)[1]
            return {
                self.ID: str(run["id"]),
                self.STATE: state_text(run, time.time()),
                self.JOB: run["job"],
                self.TRIGGER: run["trigger"],
                self.ATTEMPT: attempt_text(run),
                self.STARTED: when(run.get("started_at") or run.get("created_at")),
                self.DURATION: run_duration(run),
                self.SUMMARY: (run.get("error") if run["state"] != "succeeded" else None)
                or result.get("summary") or run.get("note") or "",
            }[col]
        if role == Qt.ForegroundRole and col == self.STATE:
            from PySide6.QtGui import QColor
            return QColor(STATE_COLOURS.get(run["state"], "#000"))
        if role == Qt.ToolTipRole and col == self.SUMMARY:
            return run.get("error") or run.get("note") or None
        return None
