"""The run history as one table model over paged SQL.

The model never holds the whole history. It knows how many runs match the
filter and keeps a bounded cache of pages (``PAGE`` rows each, keyed by
offset); a row that is not loaded shows a placeholder and asks for its page,
which the service thread reads while the GUI keeps painting.

Offsets stay meaningful while runs keep arriving because every page query is
*anchored*: it only sees runs up to the newest id that existed when the filter
was applied. Runs created afterwards come from the bridge's events, not from
the database: they are kept in a small *head* list above the pages, inserted
at the top in id order when they match the filter. Changes to loaded runs
(state, progress) are applied to the rows in place. Nothing re-queries the
database in a loop.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, QTimer, Signal

from ..durations import format_duration
from ..store import outcome, run_warnings, state_matches
from ..textfmt import (attempt_text, plain, run_started, run_took, run_total,
                       start_time, warnings_text, when)
from .icons import icon
from .theme import muted_colour, state_colour

__all__ = ["RunFilter", "RunsModel", "RUN_ROLE", "PROGRESS_ROLE", "progress_text", "summary_text",
           "warnings_tip"]

RUN_ROLE = Qt.ItemDataRole.UserRole + 1
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 2

PAGE = 200
MAX_PAGES = 60          # pages kept in memory (12,000 rows)
MAX_INFLIGHT = 2        # page reads queued on the service at once
MAX_WANTED = 6          # pages still worth reading after a fast scroll
HEAD_LIMIT = 2_000      # live rows above the pages before the model re-anchors


@dataclass(frozen=True)
class RunFilter:
    """What the Activity page shows; mirrors the store's ``list_runs`` filters."""

    job: str | tuple[str, ...] | None = None  #: one job, or several (those with a tag)
    states: tuple[str, ...] = ()
    text: str = ""
    since: float | None = None
    until: float | None = None

    def kwargs(self) -> dict[str, Any]:
        return {"job": self.job or None, "state": list(self.states) or None,
                "text": self.text.strip() or None, "since": self.since, "until": self.until}

    @property
    def empty(self) -> bool:
        return self == RunFilter()

    def matches(self, run: dict[str, Any]) -> bool:
        """The same test as the SQL, for runs that arrive as events."""
        if self.job and (run.get("job") != self.job if isinstance(self.job, str)
                         else run.get("job") not in self.job):
            return False
        if self.states and not state_matches(run, self.states):
            return False
        created = run.get("created_at") or 0
        if self.since is not None and created < self.since:
            return False
        if self.until is not None and created >= self.until:
            return False
        text = self.text.strip().lower()
        if text:
            hay = []
            for key in ("error", "job", "note"):
                if run.get(key):
                    hay.append(str(run[key]))
            for key in ("inputs", "result"):
                v = run.get(key)
                if v:
                    hay.append(v if isinstance(v, str) else json.dumps(v))
            if not any(text in h.lower() for h in hay):
                return False
        return True


def progress_text(run: dict[str, Any], p: Any | None) -> tuple[float | None, str]:
    """(fraction or None, "42 % · 1 min left · 3,000 rows") for the progress column."""
    if run["state"] == "running" and p is not None:
        frac = (p.done / p.total) if p.total and p.done is not None else None
        bits = []
        if frac is not None:
            bits.append(f"{min(frac, 1.0) * 100:.0f} %")
        elif p.done is not None and not (p.unit == "s" and p.message):
            # Seconds with no total are the time so far, which a program that reports
            # nothing has said in words already ("running for 12 s"), not "12 s · " again.
            bits.append(f"{p.done:,.0f} {p.unit or ''}".strip())
        if p.eta is not None and (frac is None or frac < 1):  # not "100 % · 0 ms left"
            bits.append(f"{format_duration(p.eta)} left")
        if p.message:
            bits.append(plain(p.message, one_line=True))
        return frac, " · ".join(bits)
    if run["state"] == "running":
        done, total = run.get("progress_done"), run.get("progress_total")
        if total:
            return (done or 0) / total, f"{(done or 0) / total * 100:.0f} %"
        return None, plain(run.get("progress_message") or "running", one_line=True)
    if run["state"] == "succeeded":
        return 1.0, ""
    return None, ""


def summary_text(run: dict[str, Any]) -> str:
    """The run's line in the Summary column: what a program wrote (its error, summary,
    progress message) is :func:`~trayjobs.textfmt.plain` text, its escape sequences out."""
    return plain(_summary(run), one_line=True)


def _summary(run: dict[str, Any]) -> str:
    result = run.get("result") if isinstance(run.get("result"), dict) else {}
    if run["state"] != "succeeded" and run.get("error"):
        return plain(run["error"]).splitlines()[0] if run["error"] else ""
    # A run not started yet says what it waits for here too, whole: its State cell is
    # narrow ("waiting: /mnt/backu…").
    if run["state"] == "waiting" and run.get("wait_reason"):
        return f"waits for its conditions: {run['wait_reason']}"
    if run["state"] == "scheduled" and run.get("due_at"):
        return " · ".join(filter(None, (f"starts at {when(run['due_at'])}", run.get("note"))))
    text = result.get("summary") or run.get("note") or ""
    if result.get("undo"):
        text = f"undone · {text}"
    return text


def warnings_tip(run: dict[str, Any]) -> str | None:
    """The run's summary and its warnings, one a line, for a tooltip; None if it has none."""
    warnings = run_warnings(run.get("result")) if outcome(run) == "warning" else []
    if not warnings:
        return None
    return "\n".join([summary_text(run), "", *(f"⚠ {w}" for w in warnings)]).strip()


_STATE_WORDS = {"queued": "queued", "retrying": "retry due"}


def _hosts(store: Any) -> dict[int, str]:
    """Worker id -> host, for every worker the store remembers (read on the service thread)."""
    return {w["id"]: w["host"] for w in store.workers()}


def _with_first_starts(store: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with ``first_started_at`` on those that took several attempts: Started and
    Took count the whole run, not its last attempt (read on the service thread)."""
    firsts = store.first_starts([r["id"] for r in rows if (r.get("attempt") or 0) > 1])
    for r in rows:
        if r["id"] in firsts:
            r["first_started_at"] = firsts[r["id"]]
    return rows


def _carry_first_start(old: dict[str, Any] | None, run: dict[str, Any]) -> dict[str, Any]:
    """A run told afresh (its ``started_at`` now its latest attempt's) keeps the first start
    its row knew: the one read with the page, or its own start when the row saw attempt 1."""
    if old is None or run.get("first_started_at"):
        return run
    starts = [t for t in (old.get("first_started_at"), old.get("started_at")) if t]
    if not starts or not run.get("started_at") or min(starts) >= run["started_at"]:
        return run
    return {**run, "first_started_at": min(starts)}


class RunsModel(QAbstractTableModel):
    ID, STATE, JOB, TRIGGER, HOST, PROGRESS, ATTEMPT, STARTED, DURATION, SUMMARY = range(10)
    HEADERS = ["#", "State", "Job", "Trigger", "Host", "Progress", "Try", "Started", "Took",
               "Summary"]

    #: The count and first page for the current filter arrived.
    loaded = Signal()
    #: A page arrived (its first row).
    pageLoaded = Signal(int)
    #: The machines that ran jobs changed (the Host column matters once there are two).
    hostsChanged = Signal()

    def __init__(self, parent: QObject | None = None, *, service=None,
                 store: Any | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.store = store
        self.filter = RunFilter()
        self._gen = 0
        self._anchor = 0               # the newest run id page queries can see
        self._total = 0                # runs matching the filter, up to the anchor
        self._head: list[dict[str, Any]] = []      # newer runs, newest first
        self._head_pos: dict[int, int] = {}
        self._pages: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()
        self._where: dict[int, tuple[int, int]] = {}   # run id -> (page, index)
        self._inflight: set[int] = set()
        self._wanted: OrderedDict[int, None] = OrderedDict()
        self.progress: dict[int, Any] = {}
        self.hosts: dict[int, str] = {}   # worker id -> the machine it runs on
        self._hosts_asked = False
        self._running: set[int] = set()   # loaded runs that are running
        self.is_loaded = False
        self._early: dict[int, dict[str, Any]] = {}  # told before the first page was read
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._tick_running)

    # -- loading ----------------------------------------------------------------------

    def attach(self, store: Any, service=None) -> None:
        self.store = store
        if service is not None:
            self.service = service
        self.reload()

    def set_filter(self, f: RunFilter) -> None:
        if f != self.filter:
            self.filter = f
            self.reload()

    def reload(self) -> None:
        """Count the matching runs and read the first page (one service call)."""
        if self.store is None or self.service is None:
            return
        self._gen += 1
        gen, store, f = self._gen, self.store, self.filter

        def load():
            anchor = store.max_run_id()
            kw = f.kwargs()
            total = store.count_runs(**kw, before_id=anchor + 1)
            first = _with_first_starts(store, store.list_runs(**kw, before_id=anchor + 1,
                                                              limit=PAGE))
            return anchor, total, first, _hosts(store)

        self.service.call(load, lambda r: self._loaded(gen, *r))

    def _loaded(self, gen: int, anchor: int, total: int, first: list[dict[str, Any]],
                hosts: dict[int, str]) -> None:
        if gen != self._gen:
            return  # a newer filter was applied meanwhile
        self._set_hosts(hosts)
        self.beginResetModel()
        # Live runs newer than the anchor that arrived while we were reading stay on top.
        keep = [r for r in self._head if r["id"] > anchor and self.filter.matches(r)]
        self._anchor, self._total = anchor, total
        self._pages.clear()
        self._where.clear()
        self._inflight.clear()
        self._wanted.clear()
        self._head = keep
        self._reindex_head()
        self._running = {r["id"] for r in keep if r["state"] == "running"}
        self._store_page(0, first)
        self.is_loaded = True
        self.endResetModel()
        # Runs told while the first page was being read (the engine had started, its first
        # runs came): the page may predate them, so they are applied now, not dropped.
        early, self._early = self._early, {}
        for run in sorted(early.values(), key=lambda r: r["id"]):
            self.upsert(run)
        self._update_ticker()
        self.loaded.emit()

    def _store_page(self, page: int, rows: list[dict[str, Any]]) -> None:
        self._pages[page] = rows
        self._pages.move_to_end(page)
        for i, r in enumerate(rows):
            self._where[r["id"]] = (page, i)
            if r["state"] == "running":
                self._running.add(r["id"])
        while len(self._pages) > MAX_PAGES:
            old, old_rows = self._pages.popitem(last=False)
            for r in old_rows:
                if self._where.get(r["id"], (None,))[0] == old:
                    del self._where[r["id"]]
                    self._running.discard(r["id"])

    # -- machines ---------------------------------------------------------------------

    def several_hosts(self) -> bool:
        """Whether the runs held here were run on more than one machine."""
        if len(set(self.hosts.values())) < 2:
            return False
        seen = set()
        for run in self.loaded_runs():
            host = self.hosts.get(run.get("worker_id"))
            if host is not None:
                seen.add(host)
                if len(seen) > 1:
                    return True
        return False

    def host_of(self, run: dict[str, Any]) -> str:
        wid = run.get("worker_id")
        if wid is None:
            return ""
        host = self.hosts.get(wid)
        if host is None:
            self._ask_hosts()  # a worker that started after the last read
            return ""
        return host

    def _ask_hosts(self) -> None:
        if self._hosts_asked or self.store is None or self.service is None:
            return
        self._hosts_asked = True
        store = self.store
        self.service.call(lambda: _hosts(store), self._set_hosts,
                          lambda exc: setattr(self, "_hosts_asked", False))

    def _set_hosts(self, hosts: dict[int, str]) -> None:
        self._hosts_asked = False
        if hosts == self.hosts:
            return
        self.hosts = hosts
        if self.rowCount():
            self.dataChanged.emit(self.index(0, self.HOST),
                                  self.index(self.rowCount() - 1, self.HOST))
        self.hostsChanged.emit()

    def _want(self, page: int) -> None:
        if page in self._pages or page in self._inflight:
            return
        self._wanted[page] = None
        self._wanted.move_to_end(page)
        while len(self._wanted) > MAX_WANTED:
            self._wanted.popitem(last=False)  # scrolled past long ago
        QTimer.singleShot(0, self._pump)

    def _pump(self) -> None:
        while self._wanted and len(self._inflight) < MAX_INFLIGHT:
            page, _ = self._wanted.popitem(last=True)  # the most recent wish first
            if page in self._pages or page in self._inflight:
                continue
            self._inflight.add(page)
            gen, store, kw, anchor = self._gen, self.store, self.filter.kwargs(), self._anchor
            self.service.call(
                lambda: _with_first_starts(store, store.list_runs(
                    **kw, before_id=anchor + 1, limit=PAGE, offset=page * PAGE)),
                lambda rows, g=gen, p=page: self._page_loaded(g, p, rows),
                lambda exc, g=gen, p=page: self._page_failed(g, p))

    def _page_loaded(self, gen: int, page: int, rows: list[dict[str, Any]]) -> None:
        if gen != self._gen:
            return
        self._inflight.discard(page)
        self._store_page(page, rows)
        first = len(self._head) + page * PAGE
        last = min(first + PAGE, self.rowCount()) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, self.columnCount() - 1))
        self._update_ticker()
        self.pageLoaded.emit(first)
        self._pump()

    def _page_failed(self, gen: int, page: int) -> None:
        if gen == self._gen:
            self._inflight.discard(page)

    # -- reading rows -------------------------------------------------------------------

    def run_at(self, row: int) -> dict[str, Any] | None:
        """The run shown in ``row``; ``None`` (and its page is asked for) if not loaded yet."""
        nh = len(self._head)
        if row < nh:
            return self._head[row]
        page, i = divmod(row - nh, PAGE)
        rows = self._pages.get(page)
        if rows is None:
            self._want(page)
            return None
        self._pages.move_to_end(page)
        return rows[i] if i < len(rows) else None

    def row_of(self, run_id: int) -> int | None:
        if run_id in self._head_pos:
            return self._head_pos[run_id]
        where = self._where.get(run_id)
        if where is None:
            return None
        return len(self._head) + where[0] * PAGE + where[1]

    def loaded_runs(self) -> list[dict[str, Any]]:
        """Every run currently held (head and cached pages), newest first."""
        out = list(self._head)
        for page in sorted(self._pages):
            out.extend(self._pages[page])
        return out

    @property
    def total(self) -> int:
        return len(self._head) + self._total

    # -- live updates ------------------------------------------------------------------

    def upsert(self, run: dict[str, Any]) -> None:
        rid = run["id"]
        if not self.is_loaded:
            self._early[rid] = run  # the latest word on it, applied once loaded
            return
        if rid in self._head_pos:
            i = self._head_pos[rid]
            if not self.filter.matches(run):
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._head[i]
                self._running.discard(rid)
                self._reindex_head()
                self.endRemoveRows()
            else:
                self._head[i] = run = _carry_first_start(self._head[i], run)
                self._row_changed(i)
        elif rid in self._where:
            page, i = self._where[rid]
            self._pages[page][i] = run = _carry_first_start(self._pages[page][i], run)
            self._row_changed(self.row_of(rid))
        elif rid > self._anchor and self.is_loaded and self.filter.matches(run):
            pos = 0
            while pos < len(self._head) and self._head[pos]["id"] > rid:
                pos += 1
            self.beginInsertRows(QModelIndex(), pos, pos)
            self._head.insert(pos, run)
            self._reindex_head()
            self.endInsertRows()
            if len(self._head) > HEAD_LIMIT:
                QTimer.singleShot(0, self.reload)
        if run["state"] != "running":
            self.progress.pop(rid, None)
            self._running.discard(rid)
        elif self.row_of(rid) is not None:
            self._running.add(rid)
        self._update_ticker()

    def apply_progress(self, updates: dict[int, Any]) -> None:
        for rid, p in updates.items():
            self.progress[rid] = p
            row = self.row_of(rid)
            if row is not None:
                self.dataChanged.emit(self.index(row, self.STATE), self.index(row, self.PROGRESS),
                                      [Qt.ItemDataRole.DisplayRole])

    def _row_changed(self, row: int | None) -> None:
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))

    def _reindex_head(self) -> None:
        self._head_pos = {r["id"]: i for i, r in enumerate(self._head)}

    def any_running(self) -> bool:
        """Whether a loaded run is running (else the progress column has nothing to show)."""
        return bool(self._running)

    def _update_ticker(self) -> None:
        # Running rows show their time so far: repaint that column once a second, only
        # while there are any (an idle window does no work).
        if self._running and not self._ticker.isActive():
            self._ticker.start()
        elif not self._running and self._ticker.isActive():
            self._ticker.stop()

    def _tick_running(self) -> None:
        for rid in list(self._running):
            row = self.row_of(rid)
            if row is None:
                self._running.discard(rid)
                continue
            self.dataChanged.emit(self.index(row, self.DURATION), self.index(row, self.DURATION),
                                  [Qt.ItemDataRole.DisplayRole])
        self._update_ticker()

    # -- Qt -------------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._head) + self._total

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def progress_of(self, run: dict[str, Any]) -> tuple[float | None, str]:
        return progress_text(run, self.progress.get(run["id"]))

    def state_of(self, run: dict[str, Any], now: float | None = None) -> str:
        state = run["state"]
        if state == "retrying" and run.get("next_attempt_at"):
            left = run["next_attempt_at"] - (now or time.time())
            return f"retry {run['attempt'] + 1}/{run['max_attempts']} in {format_duration(max(0, left))}"
        if state == "scheduled" and run.get("due_at"):
            return f"waiting until {when(run['due_at'])}"
        if state == "waiting" and run.get("wait_reason"):
            return f"waiting: {run['wait_reason']}"  # for its conditions
        if outcome(run) == "warning":
            return warnings_text(run["warnings"])
        return _STATE_WORDS.get(state, state)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        run = self.run_at(index.row())
        col = index.column()
        if run is None:
            if role == Qt.ItemDataRole.DisplayRole and col == self.JOB:
                return "…"
            return None
        if role == RUN_ROLE:
            return run
        if role == PROGRESS_ROLE:
            return self.progress_of(run)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.ID:
                return str(run["id"])
            if col == self.STATE:
                return self.state_of(run)
            if col == self.JOB:
                return run["job"]
            if col == self.TRIGGER:
                return run["trigger"]
            if col == self.HOST:
                return self.host_of(run)
            if col == self.PROGRESS:
                return self.progress_of(run)[1]
            if col == self.ATTEMPT:
                return attempt_text(run)
            if col == self.STARTED:
                return run_total(run)[0]
            if col == self.DURATION:
                return run_total(run)[1]
            if col == self.SUMMARY:
                return summary_text(run)
        if role == Qt.ItemDataRole.DecorationRole and col == self.STATE:
            return icon(f"state-{outcome(run)}")
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == self.STATE:
                return state_colour(outcome(run))
            if col == self.ID:
                return muted_colour()
        if role == Qt.ItemDataRole.ToolTipRole:
            if col in (self.SUMMARY, self.STATE):
                tip = run.get("error") or warnings_tip(run)
                if tip or col == self.SUMMARY:
                    return plain(tip) if tip else summary_text(run) or None
            if col == self.STARTED:
                return (run_started(run, []) if run.get("first_started_at")
                        else when(start_time(run), seconds=True)) or None
            if col == self.DURATION and run.get("first_started_at"):
                return run_took(run, []) or None  # "11 s in all, the last attempt 3.0 s"
            if col == self.PROGRESS and run["state"] == "running":
                return self.progress_of(run)[1] or None  # all of it, if the cell cuts it
        if role == Qt.ItemDataRole.AccessibleTextRole and col == self.STATE:
            if outcome(run) == "warning":
                return f"run {run['id']} succeeded with {warnings_text(run['warnings'])}"
            return f"run {run['id']} {self.state_of(run)}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.ID, self.ATTEMPT,
                                                                  self.DURATION):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
