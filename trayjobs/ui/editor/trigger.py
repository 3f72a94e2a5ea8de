"""When a job runs: by hand only, every N minutes/hours/days, on days of the week at a
time, on a cron expression (with its next five runs listed), when files arrive in
a folder, and at login."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from PySide6.QtCore import QTime, Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QRadioButton, QSpinBox, QStackedWidget, QTimeEdit, QVBoxLayout,
                               QWidget)

from ...durations import MAX_DURATION, parse_duration
from ...schedule import Cron, CronError, Interval, ascii_digits, local_now
from ..theme import state_colour
from .fields import browse_from

__all__ = ["TriggerEditor", "days_cron", "parse_days_cron", "every_parts", "next_runs",
           "UNITS", "DAY_NAMES"]

UNITS = [("minutes", 60, "m"), ("hours", 3600, "h"), ("days", 86400, "d"), ("seconds", 1, "s")]
DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]  # the editor's order
_CRON_DAY = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


def every_parts(seconds: float) -> tuple[int, str]:
    """(count, unit name) that says ``seconds`` exactly, largest unit first."""
    for name, size, _s in sorted(UNITS, key=lambda u: -u[1]):
        if seconds >= size and seconds % size == 0:
            return int(seconds // size), name
    return max(1, int(round(seconds))), "seconds"


def days_cron(days: list[str], hour: int, minute: int) -> str:
    """A cron line for days of the week at a time: "0 9 * * mon-fri"."""
    days = [d for d in DAY_NAMES if d in days]
    if len(days) == 7 or not days:
        dow = "*"
    elif days == DAY_NAMES[:5]:
        dow = "mon-fri"
    elif days == ["sat", "sun"]:
        dow = "sat,sun"
    else:
        dow = ",".join(days)
    return f"{minute} {hour} * * {dow}"


def parse_days_cron(expr: str) -> tuple[list[str], int, int] | None:
    """The days and time of a cron line the days editor can show, else None."""
    parts = expr.split()
    if len(parts) != 5 or not ascii_digits(parts[0]) or not ascii_digits(parts[1]) \
            or parts[2] != "*" or parts[3] != "*":
        return None
    minute, hour, dow = int(parts[0]), int(parts[1]), parts[4].lower()
    if hour > 23 or minute > 59:
        return None  # not a time of day: the cron field shows it, with its error
    if dow in ("*", "?"):
        return list(DAY_NAMES), hour, minute
    by_num = {v: k for k, v in _CRON_DAY.items()} | {7: "sun"}
    days: list[str] = []
    for item in dow.split(","):
        m = re.fullmatch(r"(\w+)(?:-(\w+))?", item)
        if not m:
            return None
        try:
            a = int(m.group(1)) if ascii_digits(m.group(1)) else _CRON_DAY.get(m.group(1)[:3])
            b = a if m.group(2) is None else (
                int(m.group(2)) if ascii_digits(m.group(2)) else _CRON_DAY.get(m.group(2)[:3]))
        except ValueError:
            return None
        if a is None or b is None or b < a or b > 7:
            return None
        days.extend(by_num[n] for n in range(a, b + 1))
    return [d for d in DAY_NAMES if d in days], hour, minute


def next_runs(schedule: Interval | Cron, n: int = 5, now: datetime | None = None) -> list[datetime]:
    now = now or local_now()
    out, t = [], now
    for _ in range(n):
        t = schedule.next_after(t)
        out.append(t)
    return out


class TriggerEditor(QWidget):
    """The common keys every, cron, at_login, watch and missed, as one editor."""

    changed = Signal()
    KEYS = ("every", "cron", "at_login", "watch", "missed")
    MANUAL, EVERY, DAYS, CRON = range(4)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.mode = QButtonGroup(self)
        modes = QHBoxLayout()
        for i, label in enumerate(("&Only when I run it", "Ever&y…", "On d&ays at a time",
                                   "Cron e&xpression")):
            b = QRadioButton(label)
            b.setAccessibleName(label.replace("&", "").rstrip("…"))
            self.mode.addButton(b, i)
            modes.addWidget(b)
        modes.addStretch(1)

        self.every_n = QSpinBox()
        # Up to the longest interval a job may have, in seconds: a box that stopped at
        # 100,000 showed every = 1000000 as 100000 seconds, and saved it so.
        self.every_n.setRange(1, int(MAX_DURATION))
        self.every_n.setAccessibleName("Interval")
        self.every_unit = QComboBox()
        self.every_unit.setAccessibleName("Interval unit")
        for name, _size, _s in UNITS:
            self.every_unit.addItem(name, name)
        every = QWidget()
        el = QHBoxLayout(every)
        el.setContentsMargins(0, 0, 0, 0)
        el.addWidget(QLabel("Every"))
        el.addWidget(self.every_n)
        el.addWidget(self.every_unit)
        el.addStretch(1)

        self.day_boxes: dict[str, QCheckBox] = {}
        days = QWidget()
        dl = QHBoxLayout(days)
        dl.setContentsMargins(0, 0, 0, 0)
        for d in DAY_NAMES:
            b = QCheckBox(d.capitalize())
            b.setAccessibleName(d.capitalize())
            self.day_boxes[d] = b
            dl.addWidget(b)
        dl.addWidget(QLabel("at"))
        self.at = QTimeEdit(QTime(9, 0))
        self.at.setDisplayFormat("HH:mm")
        self.at.setAccessibleName("Time of day")
        dl.addWidget(self.at)
        dl.addStretch(1)

        self.cron = QLineEdit()
        self.cron.setAccessibleName("Cron expression")
        self.cron.setPlaceholderText("minute hour day-of-month month day-of-week, e.g. 0 9 * * mon-fri")
        self.stack = QStackedWidget()
        self.stack.addWidget(QLabel("The job runs when you start it (or when files arrive, below)."))
        self.stack.addWidget(every)
        self.stack.addWidget(days)
        self.stack.addWidget(self.cron)
        self.stack.setMaximumHeight(self.cron.sizeHint().height() * 2)
        self.next_label = QLabel()
        self.next_label.setObjectName("nextRuns")
        self.next_label.setWordWrap(True)
        self.next_label.setAccessibleName("Next runs")
        self.schedule_error = QLabel()
        self.schedule_error.setObjectName("scheduleError")
        self.schedule_error.setWordWrap(True)
        self.schedule_error.setStyleSheet(f"color: {state_colour('failed').name()}")
        self.missed = QComboBox()
        self.missed.setAccessibleName("Missed runs")
        for key, label in (("once", "run once"), ("skip", "skip them"), ("all", "run each")):
            self.missed.addItem(label, key)
        sched = QGroupBox("Schedule")
        sl = QVBoxLayout(sched)
        sl.addLayout(modes)
        sl.addWidget(self.stack)
        sl.addWidget(self.schedule_error)
        sl.addWidget(self.next_label)
        # Only a schedule misses runs: under "Only when I run it" the row is hidden.
        self.missed_row = QWidget()
        ml = QHBoxLayout(self.missed_row)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.addWidget(QLabel("Runs missed while the computer was off or asleep:"))
        ml.addWidget(self.missed)
        ml.addStretch(1)
        sl.addWidget(self.missed_row)

        self.watch_on = QGroupBox("When files arrive in a folder")
        self.watch_on.setCheckable(True)
        self.watch_on.setChecked(False)
        self.watch_on.setAccessibleName("Watch a folder")
        self.watch_folder = QLineEdit()
        self.watch_folder.setAccessibleName("Watched folder")
        self.watch_folder.setPlaceholderText("~/Inbox")
        browse = QPushButton("Browse…")
        browse.setAccessibleName("Choose watched folder")
        browse.clicked.connect(self._browse)
        self.watch_patterns = QLineEdit()
        self.watch_patterns.setAccessibleName("File patterns")
        self.watch_patterns.setPlaceholderText("* (every file), or e.g. *.csv, *.json")
        self.watch_recursive = QCheckBox("Also watch the folders inside it")
        self.watch_recursive.setAccessibleName("Watch sub-folders")
        self.watch_settle = QLineEdit()
        self.watch_settle.setAccessibleName("Settle time")
        self.watch_settle.setPlaceholderText("default: 1s (unchanged for that long = complete)")
        self.watch_error = QLabel()
        self.watch_error.setObjectName("watchError")
        self.watch_error.setStyleSheet(f"color: {state_colour('failed').name()}")
        wf = QHBoxLayout()
        wf.addWidget(self.watch_folder, 1)
        wf.addWidget(browse)
        wl = QFormLayout(self.watch_on)
        wl.addRow("Folder:", wf)
        wl.addRow("Files:", self.watch_patterns)
        wl.addRow("", self.watch_recursive)
        wl.addRow("Complete after:", self.watch_settle)
        wl.addRow("", self.watch_error)
        self.at_login = QCheckBox("Also run each time trayjobs starts (at login)")
        self.at_login.setAccessibleName("Run at login")

        lay = QVBoxLayout(self)
        lay.addWidget(sched)
        lay.addWidget(self.watch_on)
        lay.addWidget(self.at_login)
        lay.addStretch(1)
        self._watch_extra: dict[str, Any] = {}
        self._orig: dict[str, Any] = {}
        self._every_shown: tuple[int, str] | None = None

        self.mode.idToggled.connect(self._mode_toggled)
        for sig in (self.every_n.valueChanged, self.every_unit.currentIndexChanged,
                    self.at.timeChanged, self.cron.textChanged, self.missed.currentIndexChanged,
                    self.watch_on.toggled, self.watch_folder.textChanged,
                    self.watch_patterns.textChanged, self.watch_recursive.toggled,
                    self.watch_settle.textChanged, self.at_login.toggled):
            sig.connect(self._changed)
        for b in self.day_boxes.values():
            b.toggled.connect(self._changed)
        self.set_values({})

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder to watch",
                                                browse_from(self.watch_folder.text()))
        if path:
            self.watch_folder.setText(path)

    def _mode_toggled(self, i: int, on: bool) -> None:
        if on:
            self.stack.setCurrentIndex(i)
            self._changed()

    def _changed(self, *_a) -> None:
        self.update_next()
        self.changed.emit()

    # -- values -----------------------------------------------------------------------

    def set_values(self, job: dict[str, Any]) -> None:
        self._orig = {k: job[k] for k in self.KEYS if k in job}
        self._every_shown: tuple[int, str] | None = None
        widgets = [self.every_n, self.every_unit, self.at, self.cron, self.missed, self.watch_on,
                   self.watch_folder, self.watch_patterns, self.watch_recursive,
                   self.watch_settle, self.at_login, self.mode, *self.day_boxes.values()]
        for w in widgets:
            w.blockSignals(True)
        try:
            mode = self.MANUAL
            for d, b in self.day_boxes.items():
                b.setChecked(d in DAY_NAMES[:5])
            if job.get("cron"):
                days = parse_days_cron(str(job["cron"]))
                if days is not None:
                    mode = self.DAYS
                    for d, b in self.day_boxes.items():
                        b.setChecked(d in days[0])
                    self.at.setTime(QTime(days[1], days[2]))
                else:
                    mode = self.CRON
                self.cron.setText(str(job["cron"]))
            elif job.get("every") is not None:
                mode = self.EVERY
                try:
                    n, unit = every_parts(parse_duration(job["every"]))
                except ValueError:
                    n, unit = 1, "hours"
                self.every_n.setValue(n)
                self._every_shown = (self.every_n.value(), unit)
                self.every_unit.setCurrentIndex(self.every_unit.findData(unit))
            else:
                self.every_n.setValue(1)
                self.every_unit.setCurrentIndex(self.every_unit.findData("hours"))
            self.mode.button(mode).setChecked(True)
            self.stack.setCurrentIndex(mode)
            self.missed.setCurrentIndex(max(0, self.missed.findData(job.get("missed", "once"))))
            watch = job.get("watch")
            if isinstance(watch, str):  # the folder alone: shown (and saved) as a table
                watch = {"folder": watch}
            watch = watch if isinstance(watch, dict) else None
            self.watch_on.setChecked(watch is not None)
            watch = watch or {}
            self.watch_folder.setText(str(watch.get("folder", "")))
            pats = watch.get("patterns")
            pats = [pats] if isinstance(pats, str) else pats
            self.watch_patterns.setText(", ".join(pats) if isinstance(pats, list) and
                                        pats != ["*"] else "")
            self.watch_recursive.setChecked(bool(watch.get("recursive")))
            self.watch_settle.setText(str(watch["settle"]) if "settle" in watch else "")
            self._watch_extra = {k: v for k, v in watch.items()
                                 if k not in ("folder", "patterns", "recursive", "settle")}
            self.at_login.setChecked(bool(job.get("at_login")))
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.update_next()

    def schedule_values(self) -> dict[str, Any]:
        mode = self.mode.checkedId()
        if mode == self.EVERY:
            n, unit = self.every_n.value(), self.every_unit.currentData()
            suffix = next(s for name, _size, s in UNITS if name == unit)
            text = f"{n}{suffix}"
            orig = self._orig.get("every")
            try:  # "1h30m" stays as written while it means the same
                if orig is not None and parse_duration(orig) == parse_duration(text):
                    text = orig
            except ValueError:
                pass
            if (n, unit) == self._every_shown:
                # Untouched, the boxes leave the file's value alone, one they can only come
                # near (3600.5 seconds) or cannot show at all ("1 fortnight", which keeps its
                # error until a period is chosen: the hour shown meanwhile is no choice).
                text = orig
            return {"every": text}
        if mode == self.DAYS:
            days = [d for d, b in self.day_boxes.items() if b.isChecked()]
            expr = days_cron(days, self.at.time().hour(), self.at.time().minute())
            orig = self._orig.get("cron")
            if orig and parse_days_cron(str(orig)) == parse_days_cron(expr):
                expr = orig
            return {"cron": expr}
        if mode == self.CRON:
            return {"cron": self.cron.text().strip()}
        return {}

    def values(self) -> dict[str, Any]:
        """The keys this editor sets (absent keys: leave them out of the job)."""
        out = self.schedule_values()
        missed = self.missed.currentData()
        if out and (missed != "once" or "missed" in self._orig):
            out["missed"] = missed
        elif "missed" in self._orig and not {"every", "cron"} & set(self._orig):
            out["missed"] = self._orig["missed"]  # written without a schedule: left so
        if self.watch_on.isChecked():
            w: dict[str, Any] = {"folder": self.watch_folder.text().strip()}
            pats = [p.strip() for p in self.watch_patterns.text().split(",") if p.strip()]
            if pats:
                w["patterns"] = pats
            if self.watch_recursive.isChecked():
                w["recursive"] = True
            if self.watch_settle.text().strip():
                w["settle"] = self.watch_settle.text().strip()
            w.update(self._watch_extra)
            # What the file wrote out though it is the default stays written.
            written = self._orig.get("watch")
            for key, default in (("patterns", ["*"]), ("recursive", False)):
                if isinstance(written, dict) and written.get(key) == default and key not in w:
                    w[key] = default
            out["watch"] = w
        if self.at_login.isChecked():
            out["at_login"] = True
        return out

    def set_error(self, key: str, message: str | None) -> None:
        label = self.watch_error if key == "watch" else self.schedule_error
        label.setText(message or "")
        label.setVisible(bool(message))

    def update_next(self) -> None:
        """The schedule's next runs, or what is wrong with it (its own check, which needs
        neither the job's name nor the rest of the form)."""
        self.missed_row.setVisible(self.mode.checkedId() != self.MANUAL)
        vals = self.schedule_values()
        self.upcoming: list[datetime] = []
        self.schedule_error.clear()
        self.schedule_error.hide()
        try:
            if "cron" in vals:
                if self.mode.checkedId() == self.DAYS and not any(
                        b.isChecked() for b in self.day_boxes.values()):
                    raise CronError("choose at least one day")
                sched = Cron(vals["cron"])
            elif "every" in vals:
                sched = Interval(parse_duration(vals["every"]))
            else:
                self.next_label.setText("")
                return
            runs = next_runs(sched, 5)
        except (CronError, ValueError) as exc:
            self.next_label.setText("")
            self.schedule_error.setText(str(exc))
            self.schedule_error.show()
            return
        words = sched.describe()
        self.upcoming = runs
        self.next_label.setText(f"<b>{words}</b> · next runs: " + ", ".join(
            r.strftime("%a %d %b %H:%M") for r in runs))
