"""The Activity page: the run history with filters, live progress and actions."""

from __future__ import annotations

from datetime import datetime, time as dtime, timedelta
from typing import Any

from PySide6.QtCore import QDate, QModelIndex, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDateEdit, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QMenu, QPushButton, QStyle, QStyledItemDelegate,
                               QStyleOptionProgressBar, QVBoxLayout, QWidget)

from ..store import needs_attention
from .tables import DoubleClickOpens, row_table
from .jobs_page import set_tags, tag_box
from .runs_model import RunFilter, RunsModel

__all__ = ["ActivityPage", "ProgressDelegate", "STATE_CHOICES", "RANGE_CHOICES", "date_range"]

ACTIVE = ("scheduled", "waiting", "queued", "running", "retrying")

#: (label, states) in the state filter.
STATE_CHOICES: list[tuple[str, tuple[str, ...]]] = [
    ("Any state", ()),
    ("Needs attention", ("attention",)),  # failed or warned, and not seen yet
    ("Failed", ("failed",)),
    ("With warnings", ("warning",)),
    ("Succeeded", ("succeeded",)),  # with or without warnings
    ("Running", ("running",)),
    ("Waiting", ("scheduled", "waiting", "queued", "retrying")),
    ("Waiting for conditions", ("waiting",)),
    ("Cancelled", ("cancelled",)),
    ("Skipped", ("skipped",)),
    ("Interrupted", ("interrupted",)),
]
RANGE_CHOICES = ["Any time", "Today", "Last 7 days", "Last 30 days", "Between dates"]


def date_range(choice: str, first: QDate | None = None, last: QDate | None = None,
               now: datetime | None = None) -> tuple[float | None, float | None]:
    """(since, until) epoch seconds for a date-range choice; ``until`` is exclusive."""
    now = now or datetime.now()
    midnight = datetime.combine(now.date(), dtime())
    if choice == "Today":
        return midnight.timestamp(), None
    if choice == "Last 7 days":
        return (midnight - timedelta(days=6)).timestamp(), None
    if choice == "Last 30 days":
        return (midnight - timedelta(days=29)).timestamp(), None
    if choice == "Between dates" and first is not None and last is not None:
        a = datetime.combine(first.toPython(), dtime())
        b = datetime.combine(last.toPython(), dtime()) + timedelta(days=1)
        return a.timestamp(), b.timestamp()
    return None, None


class ProgressDelegate(QStyledItemDelegate):
    """A live progress bar for running runs, with "42 % · 1 min left · message" beside it.

    The words are drawn next to the bar (elided), not inside it: they stay readable
    however long they are and whatever the palette.
    """

    BAR_SHARE = 0.38  # of the cell's width
    BAR_MAX = 80      # px: beyond this the words need the room more than the bar

    @classmethod
    def bar_width(cls, cell_width: int) -> int:
        return max(40, min(int((cell_width - 6) * cls.BAR_SHARE), cls.BAR_MAX))

    @classmethod
    def text_width(cls, cell_width: int) -> int:
        """Room for the words beside the bar in a cell ``cell_width`` wide."""
        return cell_width - cls.bar_width(cell_width) - 13

    def paint(self, painter, option, index) -> None:
        # The model is asked directly (no round trip through QVariant): this runs for
        # every running row at every repaint.
        model = index.model()
        run = model.run_at(index.row())
        if run is None or run["state"] != "running":
            return super().paint(painter, option, index)
        frac, text = model.progress_of(run)
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else QGuiApplication.instance().style()
        option.text = ""
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        rect = option.rect.adjusted(3, 4, -3, -4)
        bar_w = self.bar_width(option.rect.width())
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(rect.left(), rect.top(), bar_w, rect.height())
        bar.minimum, bar.maximum = 0, 1000 if frac is not None else 0  # 0..0: busy
        bar.progress = int(min(max(frac or 0, 0), 1) * 1000)
        bar.textVisible = False
        # Qt 6 has no orientation field: without this flag a style draws it vertical.
        bar.state = (option.state | QStyle.StateFlag.State_Horizontal) & ~QStyle.StateFlag.State_Selected
        bar.palette = option.palette
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)
        text_rect = option.rect.adjusted(bar_w + 10, 0, -3, 0)
        selected = option.state & QStyle.StateFlag.State_Selected
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.save()
        painter.setPen(option.palette.color(role))
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                         option.fontMetrics.elidedText(text, Qt.TextElideMode.ElideRight,
                                                       text_rect.width()))
        painter.restore()


class ActivityPage(QWidget):
    openRun = Signal(int)

    def __init__(self, app, model: RunsModel, parent=None) -> None:
        super().__init__(parent)
        self.app = app
        self.model = model
        self.job_box = QComboBox()
        self.job_box.setAccessibleName("Filter by job")
        self.job_box.setToolTip("Show the runs of one job")
        self.job_box.addItem("All jobs", None)
        # As wide as its longest job name, up to 22 characters: sized once as first shown,
        # before the jobs were read, it showed a chosen job as "A really".
        em = self.fontMetrics().averageCharWidth()
        self.job_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.job_box.setMaximumWidth(em * 22 + 40)
        self.job_box.currentIndexChanged.connect(lambda _i: self.job_box.setToolTip(
            f"Showing the runs of {self.job_box.currentText()}"
            if self.job_box.currentData() is not None else "Show the runs of one job"))
        self.tag_box = tag_box()
        self.tag_jobs: dict[str, list[str]] = {}
        self.state_box = QComboBox()
        self.state_box.setAccessibleName("Filter by state")
        # Room for "Needs attention", not for the rare "Waiting for conditions" (its list
        # shows it whole): in a narrow window the search box was left "Sea…".
        self.state_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.state_box.setMinimumContentsLength(len("Needs attention"))
        for label, states in STATE_CHOICES:
            self.state_box.addItem(label, states)
        self.range_box = QComboBox()
        self.range_box.setAccessibleName("Filter by date")
        self.range_box.addItems(RANGE_CHOICES)
        today = QDate.currentDate()
        self.first_date = QDateEdit(today.addDays(-7), calendarPopup=True)
        self.first_date.setAccessibleName("From date")
        self.last_date = QDateEdit(today, calendarPopup=True)
        self.last_date.setAccessibleName("To date")
        for d in (self.first_date, self.last_date):
            d.setDisplayFormat("yyyy-MM-dd")
            d.hide()
        self.search = QLineEdit()
        self.search.setObjectName("runSearch")
        self.search.setPlaceholderText("Search errors, file names, notes… (Ctrl+F)")
        self.search.setAccessibleName("Search runs")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(em * 16)
        self.clear_btn = QPushButton("C&lear filters")
        self.clear_btn.setAccessibleName("Clear filters")
        self.clear_btn.clicked.connect(self.clear_filters)
        self.count_label = QLabel()
        self.count_label.setAccessibleName("Number of runs shown")

        bar = QHBoxLayout()
        self.tag_box.hide()  # until a job has tags
        for w in (self.job_box, self.tag_box, self.state_box, self.range_box, self.first_date, self.last_date):
            bar.addWidget(w)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.clear_btn)
        bar.addWidget(self.count_label)

        self.view = row_table(model, name="activityView", accessible="Run history")
        self.view.customContextMenuRequested.connect(self._context_menu)
        # Several runs at once, for the bulk actions (retry all, cancel all, mark as seen).
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        vh = self.view.verticalHeader()
        vh.hide()
        # Fixed row heights: the view never measures 100,000 rows.
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 10)
        self.view.setItemDelegateForColumn(RunsModel.PROGRESS, ProgressDelegate(self.view))
        hdr = self.view.horizontalHeader()
        hdr.setStretchLastSection(True)  # the summary gets the room
        hdr.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # Column widths are measured on the rows near the top (about a screenful), not
        # 100,000: each measured cell is a call into Python, and this runs when runs change.
        hdr.setResizeContentsPrecision(40)
        em = self.fontMetrics().averageCharWidth()
        for col, chars in ((RunsModel.ID, 6), (RunsModel.STATE, 12), (RunsModel.JOB, 14),
                           (RunsModel.TRIGGER, 9), (RunsModel.HOST, 10),
                           # "42 % · 12 min left · " and some of the message, whole
                           (RunsModel.PROGRESS, 42),
                           (RunsModel.ATTEMPT, 5), (RunsModel.STARTED, 11),
                           (RunsModel.DURATION, 9)):
            hdr.resizeSection(col, em * chars + 16)
        self._fit = QTimer(self, singleShot=True, interval=250)
        self._fit.timeout.connect(self.fit_columns)
        for sig in (model.loaded, model.rowsInserted, model.modelReset, model.hostsChanged):
            sig.connect(lambda *_: self._fit.start())
        # One machine: no Host column until a second one has run something.
        self.view.setColumnHidden(RunsModel.HOST, True)
        # A run that changed as a whole (a new state, a retry); not each progress tick or
        # ticking duration: measuring the columns costs tens of ms, so never that often.
        model.dataChanged.connect(self._row_changed)
        self.view.activated.connect(self._open_index)  # Enter (one click, on some desktops)
        # A double-click opens the run pressed, even if new runs moved it down meanwhile.
        self._opener = DoubleClickOpens(self.view, self._run_id_at, self.openRun.emit)

        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)

        self._debounce = QTimer(self, singleShot=True, interval=300)
        self._debounce.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        for box in (self.job_box, self.tag_box, self.state_box):
            box.currentIndexChanged.connect(lambda _i: self.apply_filters())
        self.range_box.currentIndexChanged.connect(self._range_changed)
        for d in (self.first_date, self.last_date):
            d.dateChanged.connect(lambda _d: self.apply_filters())
        model.loaded.connect(self._update_count)
        model.rowsInserted.connect(self._rows_inserted)
        model.rowsInserted.connect(lambda *_: self._update_count())
        model.rowsRemoved.connect(lambda *_: self._update_count())
        QShortcut(QKeySequence.StandardKey.Find, self, activated=self.focus_search)
        QShortcut(QKeySequence(Qt.Key.Key_Delete), self.view, activated=self._cancel_selected)

    # -- filters ----------------------------------------------------------------------

    def set_jobs(self, names: list[str], tags: dict[str, list[str]] | None = None,
                 removed: list[str] = ()) -> None:
        """The jobs to filter by, and ``tags``: each tag's jobs; ``removed``: jobs no longer
        in the jobs file whose runs are in the history, listed after the others."""
        self.tag_jobs = tags or {}
        set_tags(self.tag_box, sorted(self.tag_jobs))
        current = self.job_box.currentData()
        self.job_box.blockSignals(True)
        self.job_box.clear()
        self.job_box.addItem("All jobs", None)
        for n in names:
            self.job_box.addItem(n, n)
        for n in removed:
            self.job_box.addItem(f"{n} (removed)", n)
        if current is not None and current not in names and current not in removed:
            self.job_box.addItem(current, current)  # runs of a removed job stay findable
        i = self.job_box.findData(current)
        self.job_box.setCurrentIndex(max(0, i))
        self.job_box.blockSignals(False)

    def current_filter(self) -> RunFilter:
        since, until = date_range(self.range_box.currentText(), self.first_date.date(),
                                  self.last_date.date())
        job = self.job_box.currentData()
        tag = self.tag_box.currentData()
        if job is None and tag is not None:
            job = tuple(self.tag_jobs.get(tag, ())) or ("",)  # a tag with no jobs: no runs
        return RunFilter(job=job, states=tuple(self.state_box.currentData()),
                         text=self.search.text().strip(), since=since, until=until)

    def apply_filters(self) -> None:
        self._debounce.stop()
        self.model.set_filter(self.current_filter())

    def show_filtered(self, *, job: str | None = None, states: tuple[str, ...] = (),
                      since: float | None = None) -> None:
        """Show e.g. the failures of one job (a click on a summarised notification)."""
        for box in (self.job_box, self.tag_box, self.state_box, self.range_box):
            box.blockSignals(True)
        self.tag_box.setCurrentIndex(0)
        if job is not None and self.job_box.findData(job) < 0:
            self.job_box.addItem(job, job)
        self.job_box.setCurrentIndex(max(0, self.job_box.findData(job)))
        self.state_box.setCurrentIndex(next((i for i, (_l, s) in enumerate(STATE_CHOICES)
                                             if s == tuple(states)), 0))
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        if since is not None:
            day = QDate(datetime.fromtimestamp(since).date())
            self.range_box.setCurrentText("Between dates")
            self.first_date.setDate(day)
            self.last_date.setDate(QDate.currentDate())
        else:
            self.range_box.setCurrentIndex(0)
        for box in (self.job_box, self.tag_box, self.state_box, self.range_box):
            box.blockSignals(False)
        self._show_dates()
        self.apply_filters()

    def clear_filters(self) -> None:
        self.show_filtered()

    def _range_changed(self) -> None:
        self._show_dates()
        self.apply_filters()

    def _show_dates(self) -> None:
        custom = self.range_box.currentText() == "Between dates"
        self.first_date.setVisible(custom)
        self.last_date.setVisible(custom)

    def _row_changed(self, first: QModelIndex, last: QModelIndex, *_: Any) -> None:
        if first.column() == 0 and last.column() == self.model.columnCount() - 1 \
                and not self._fit.isActive():
            self._fit.start()

    def fit_columns(self) -> None:
        """Columns as wide as what they show (a retry countdown, a long job name, up to a
        limit), the progress column only while something runs; the summary takes the rest."""
        self.view.setColumnHidden(RunsModel.PROGRESS, not self.model.any_running())
        self.view.setColumnHidden(RunsModel.HOST, not self.model.several_hosts())
        limit = self.fontMetrics().averageCharWidth() * 32
        for col in (RunsModel.ID, RunsModel.STATE, RunsModel.JOB, RunsModel.TRIGGER,
                    RunsModel.HOST, RunsModel.ATTEMPT, RunsModel.STARTED, RunsModel.DURATION):
            wanted = max(self.view.sizeHintForColumn(col),
                         self.view.horizontalHeader().sectionSizeHint(col))
            self.view.setColumnWidth(col, min(wanted, limit))

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _update_count(self) -> None:
        n = self.model.total
        f = self.model.filter
        self.count_label.setText(f"{n:,} run{'s' * (n != 1)}" + ("" if f.empty else " match"))

    def _rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        # New runs arrive at the top. If the person scrolled down to read older runs, keep
        # what they read in place instead of letting it slide down a row per new run.
        sb = self.view.verticalScrollBar()
        if first == 0 and sb.value() > 0:
            sb.setValue(sb.value() + (last - first + 1))

    # -- runs -----------------------------------------------------------------------

    def selected_run(self) -> dict[str, Any] | None:
        idx = self.view.currentIndex()
        return self.model.run_at(idx.row()) if idx.isValid() else None

    def _run_id_at(self, row: int) -> int | None:
        run = self.model.run_at(row)
        return None if run is None else run["id"]

    def _open_index(self, index: QModelIndex) -> None:
        run = self.model.run_at(index.row())
        if run is not None:
            self.openRun.emit(run["id"])

    def _cancel_selected(self) -> None:
        run = self.selected_run()
        if run is not None and run["state"] in ACTIVE:
            self.app.cancel_run(run["id"])

    def selected_runs(self) -> list[dict[str, Any]]:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        return [r for r in (self.model.run_at(row) for row in rows) if r is not None]

    def bulk_menu_for(self, runs: list[dict[str, Any]]) -> QMenu:
        """What can be done to several runs at once: retry those that ended, cancel those
        still to finish, mark them as seen."""
        m = QMenu(self)
        m.setObjectName("bulkMenu")
        active = [r["id"] for r in runs if r["state"] in ACTIVE]
        ended = [r["id"] for r in runs if r["state"] not in ACTIVE]
        unseen = [r["id"] for r in runs if needs_attention(r)]
        for text, ids, slot, name in (
                (f"Retry {len(ended)} runs", ended, self.app.retry_runs, "retryAll"),
                (f"Cancel {len(active)} runs", active, self.app.cancel_runs, "cancelAll"),
                (f"Mark {len(unseen)} as seen", unseen, self.app.mark_seen, "markSeen")):
            act = m.addAction(text, lambda ids=ids, slot=slot: slot(ids))
            act.setObjectName(name)
            act.setEnabled(bool(ids))
        return m

    def context_menu_for(self, run: dict[str, Any]) -> QMenu:
        m = QMenu(self)
        m.setObjectName("runMenu")
        rid, state = run["id"], run["state"]
        m.addAction("Open details", lambda: self.openRun.emit(rid)).setObjectName("details")
        active = state in ACTIVE
        act = m.addAction("Retry now" if state == "retrying" else
                          "Run again" if state in ("succeeded", "skipped") else "Retry",
                          lambda: self.app.retry_run(rid))  # as the details' button says
        act.setObjectName("retry")
        act.setEnabled(not active or state == "retrying")
        act = m.addAction("Cancel", lambda: self.app.cancel_run(rid))
        act.setObjectName("cancel")
        act.setEnabled(active)
        if run.get("error"):
            m.addAction("Copy error", lambda: QGuiApplication.clipboard().setText(run["error"]))
        if needs_attention(run):
            m.addAction("Mark as seen", lambda: self.app.mark_seen([rid])).setObjectName("seen")
        m.addSeparator()
        m.addAction(f"Show only {run['job']}",
                    lambda: self.show_filtered(job=run["job"])).setObjectName("onlyJob")
        return m

    def _context_menu(self, pos) -> None:
        idx = self.view.indexAt(pos)
        run = self.model.run_at(idx.row()) if idx.isValid() else None
        runs = self.selected_runs()
        at = self.view.viewport().mapToGlobal(pos)
        if len(runs) > 1 and run is not None and run["id"] in {r["id"] for r in runs}:
            self.bulk_menu_for(runs).popup(at)
        elif run is not None:
            self.context_menu_for(run).popup(at)
