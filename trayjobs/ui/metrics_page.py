"""The Metrics page: runs, failures, durations and queue wait over the last 24 hours up
to the last year.

Each chart is one bucketed SQL query's columns (:meth:`RunStore.metrics`, served by a
covering index), read when the page is shown or its period changes: the page paints
in a few hundred milliseconds even over a million runs. A period counts the hours
``trayjobs stats --since`` counts for the same length (its key), so the totals agree;
long periods have daily or weekly bars, not thousands of hourly ones.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..durations import format_duration
from ..overview import all_tags, jobs_tagged
from .charts import BarChart
from .theme import state_colour

__all__ = ["MetricsPage", "PERIODS", "period_window", "start_label"]

DAY = 86400
#: (key, label, length, bucket, unit) with lengths in seconds; the key is what
#: ``trayjobs stats --since`` takes for the same window, and what the window's settings keep.
PERIODS = [("24h", "Last 24 hours", DAY, 3600, "hour"),
           ("7d", "Last 7 days", 7 * DAY, 6 * 3600, "6 h"),
           ("30d", "Last 30 days", 30 * DAY, DAY, "day"),
           ("90d", "Last 90 days", 90 * DAY, DAY, "day"),
           ("365d", "Last year", 365 * DAY, 7 * DAY, "week")]
#: Weekly bars start on Mondays (the epoch was a Thursday).
_WEEK_ANCHOR = 4 * DAY


def start_label(since: float, bucket: float, now: float) -> str:
    """The left end of a chart, the start of the hour ``since`` is in: "Wed 15:00" when that
    is not today (a bare "15:00" at 15:17 reads as later than "now"), "14:00" when it is,
    "Nov 04" for daily and weekly bars."""
    start = datetime.fromtimestamp(since // 3600 * 3600)
    if bucket >= 86400:
        return start.strftime("%b %d")
    same_day = start.date() == datetime.fromtimestamp(now).date()
    return start.strftime("%H:%M" if same_day else "%a %H:%M")


def period_window(length: float, bucket: float, now: float) -> tuple[float, float]:
    """``(since, until)``: from ``length`` before ``now``, as ``trayjobs stats --since``
    counts, to the end of the current bucket, its edges on local clock hours, days or
    (from Monday) weeks; the oldest bucket may be cut short."""
    offset = datetime.fromtimestamp(now).astimezone().utcoffset().total_seconds()
    if bucket == 7 * DAY:
        offset -= _WEEK_ANCHOR
    until = ((now + offset) // bucket + 1) * bucket - offset
    return now - length, until


class MetricsPage(QWidget):
    def __init__(self, app, parent=None) -> None:
        super().__init__(parent)
        self.app = app
        self.period_box = QComboBox()
        self.period_box.setAccessibleName("Period")
        self.period_box.setToolTip("The figures count the runs created in this period, "
                                   "as trayjobs stats --since does (e.g. --since 90d)")
        for key, label, *_ in PERIODS:
            self.period_box.addItem(label, key)
        # The period chosen last time, kept with the window's other settings.
        kept = app.qsettings.value("metrics/period", "24h")
        self.period_box.setCurrentIndex(max(0, self.period_box.findData(kept)))
        self.tag_box = QComboBox()
        self.tag_box.setAccessibleName("Filter by tag")
        self.tag_box.addItem("All jobs", None)
        self.tag_box.hide()  # until there are tags: set_tags
        self.summary = QLabel()
        self.summary.setAccessibleName("Totals")
        bar = QHBoxLayout()
        bar.addWidget(self.period_box)
        bar.addWidget(self.tag_box)
        bar.addWidget(self.summary, 1)

        self.runs_chart = BarChart("Runs per hour")
        self.failed_chart = BarChart("Failures and warnings", colour=state_colour("warning"))
        # Plain words, the exact meaning in the tooltip ("mean", "queue wait" are jargon).
        self.duration_chart = BarChart("Time a success took (average)", fmt=format_duration)
        self.duration_chart.setToolTip("How long the runs that succeeded took, on average "
                                       "(from the start of their last attempt)")
        self.wait_chart = BarChart("Wait before starting (average)", fmt=format_duration)
        self.wait_chart.setToolTip("How long runs waited to start once they were due, on "
                                   "average: behind other runs, or for their job's conditions "
                                   "(a run set for later counts from its time, a retry from "
                                   "the end of its pause)")
        grid = QGridLayout()
        for i, chart in enumerate((self.runs_chart, self.failed_chart, self.duration_chart,
                                   self.wait_chart)):
            grid.addWidget(chart, i // 2, i % 2)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addLayout(grid, 1)
        self.buckets: list[dict[str, Any]] = []
        self.loads = 0
        self._asked = 0  # reads asked for: only the latest one's answer is shown
        self.period_box.currentIndexChanged.connect(self._period_chosen)
        self.tag_box.currentIndexChanged.connect(lambda _i: self.reload())
        # A run that ends changes the figures: read again while shown (runs ending in a
        # burst, once), and on showing the page again.
        self._ended = QTimer(self, singleShot=True, interval=500)
        self._ended.timeout.connect(lambda: self.isVisible() and self.reload())
        app.bridge.runChanged.connect(lambda _run, final: final and self._ended.start())
        # The window opens before the engine has started: a page shown then (the tab open
        # when the app last quit) had nothing to read and said "No runs in this period"
        # over a whole history, until another tab was opened and this one again.
        ready = getattr(app, "ready", None)
        if ready is not None:
            ready.connect(lambda: self.isVisible() and self.reload())

    def _store_and_config(self):
        eng = getattr(self.app, "engine", None)
        return (eng.store, eng.config) if eng is not None else (None, None)

    def _period_chosen(self, _index: int) -> None:
        self.app.qsettings.setValue("metrics/period", self.period_box.currentData())
        self.reload()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.reload()

    def set_tags(self, tags: list[str]) -> None:
        current = self.tag_box.currentData()
        self.tag_box.blockSignals(True)
        self.tag_box.clear()
        self.tag_box.addItem("All jobs", None)
        for t in tags:
            self.tag_box.addItem(f"Tag: {t}", t)
        self.tag_box.setCurrentIndex(max(0, self.tag_box.findData(current)))
        self.tag_box.blockSignals(False)
        self.tag_box.setVisible(bool(tags))  # alone, "All jobs" is no choice

    def reload(self, now: float | None = None) -> None:
        store, config = self._store_and_config()
        if store is None:
            self.show_buckets([], ("", ""), "hour")
            return
        self.set_tags(all_tags(config))
        tag = self.tag_box.currentData()
        _key, _label, length, bucket, unit = PERIODS[self.period_box.currentIndex()]
        now = now or time.time()
        since, until = period_window(length, bucket, now)
        labels = (start_label(since, bucket, now), "now")
        jobs = jobs_tagged(config, tag) if tag else None
        self._asked += 1
        asked = self._asked

        def shown(buckets: list[dict[str, Any]]) -> None:
            if asked == self._asked:  # else another period or tag was chosen meanwhile
                self.show_buckets(buckets, labels, unit)

        # On the service thread, as the runs list is read: the store may be busy or far.
        self.app.service.call(lambda: store.metrics(since=since, until=until, bucket=bucket,
                                                    jobs=jobs), shown)

    def show_buckets(self, buckets: list[dict[str, Any]], labels: tuple[str, str],
                     unit: str) -> None:
        self.buckets = buckets
        self.runs_chart.title = f"Runs per {unit}"
        self.runs_chart.set_series([b["runs"] for b in buckets], labels,
                                   overlay=[b["failed"] for b in buckets],
                                   overlay_colour=state_colour("failed"))
        self.failed_chart.set_series([(b["failed"] or 0) + (b["warned"] or 0) for b in buckets],
                                     labels, overlay=[b["failed"] for b in buckets],
                                     overlay_colour=state_colour("failed"))
        self.duration_chart.set_series([b["duration_avg"] for b in buckets], labels)
        self.wait_chart.set_series([b["wait_avg"] for b in buckets], labels)
        runs = sum(b["ended"] for b in buckets)  # as trayjobs stats counts: those that ended
        failed = sum(b["failed"] or 0 for b in buckets)
        warned = sum(b["warned"] or 0 for b in buckets)
        self.summary.setText(f"{runs:,} run{'s' * (runs != 1)} · {failed:,} failed · "
                             f"{warned:,} with warnings" if runs else "No runs in this period")
        self.loads += 1
