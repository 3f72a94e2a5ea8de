"""The Settings page: notifications, start at login, workers, the conditions every job
inherits, history, theme, alert channels and secrets.

Values live in the ``[settings]`` table of the config file (written with the
person's comments kept); the theme and window state are the window's own and
live in its settings file; secrets live in the system keyring (:mod:`.secrets_box`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTime, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QFrame, QGroupBox, QHBoxLayout,
                               QLabel, QPushButton, QScrollArea, QSpinBox, QTimeEdit, QVBoxLayout,
                               QWidget)

from ..config import Settings
from .alerts_box import AlertsBox
from .secrets_box import SecretsBox
from .workers_box import WorkersBox
from .theme import THEMES

__all__ = ["SettingsPage", "settings_changes", "parse_quiet_hours"]


def parse_quiet_hours(text: str | None) -> tuple[QTime, QTime] | None:
    if not text:
        return None
    a, _, b = text.partition("-")
    ta, tb = QTime.fromString(a.strip(), "HH:mm"), QTime.fromString(b.strip(), "HH:mm")
    return (ta, tb) if ta.isValid() and tb.isValid() else None


def _bounds(key: str) -> tuple[int, int]:
    """The smallest and largest value the config takes for a whole-number setting: its box
    holds all of them (one that stopped short showed, and then saved, a different number)."""
    low, high = 0, 2**31 - 1
    for rule in Settings.model_fields[key].metadata:
        low = int(getattr(rule, "ge", low))
        high = min(int(getattr(rule, "le", high)), 2**31 - 1)
    return low, high


def settings_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The keys to write: changed values; a value back at its default is removed (None)."""
    out = {}
    for key, value in new.items():
        if old.get(key) == value:
            continue
        default = Settings.model_fields[key].default
        out[key] = None if value == default else value
    return out


class SettingsPage(QWidget):
    themeChosen = Signal(str)

    def __init__(self, app, parent=None) -> None:
        super().__init__(parent)
        self.app = app
        self._loaded: dict[str, Any] = {}
        self._autostart_loaded = False
        self._filling = False

        def named(w, name: str, tip: str = ""):
            w.setAccessibleName(name)
            if tip:
                w.setToolTip(tip)
            return w

        desc = {k: f.description for k, f in Settings.model_fields.items()}
        self.notify_failures = named(QCheckBox("When a run &fails for good (after its retries)"),
                                     "Notify on failures", desc["notify_failures"])
        self.notify_warnings = named(QCheckBox("When a run succeeds with warn&ings"),
                                     "Notify on warnings", desc["notify_warnings"])
        self.notify_success = named(QCheckBox("When a run s&ucceeds"), "Notify on successes",
                                    desc["notify_success"])
        self.quiet = named(QCheckBox("&Quiet hours from"), "Quiet hours", desc["quiet_hours"])
        self.quiet_from = named(QTimeEdit(QTime(22, 0)), "Quiet hours start")
        self.quiet_to = named(QTimeEdit(QTime(7, 0)), "Quiet hours end")
        for t in (self.quiet_from, self.quiet_to):
            t.setDisplayFormat("HH:mm")
        self.quiet.toggled.connect(self._quiet_toggled)
        quiet_row = QHBoxLayout()
        quiet_row.addWidget(self.quiet)
        quiet_row.addWidget(self.quiet_from)
        quiet_row.addWidget(QLabel("to"))
        quiet_row.addWidget(self.quiet_to)
        quiet_row.addStretch(1)
        notes = QGroupBox("Notifications")
        nl = QVBoxLayout(notes)
        nl.addWidget(self.notify_failures)
        nl.addWidget(self.notify_warnings)
        nl.addWidget(self.notify_success)
        nl.addLayout(quiet_row)

        self.autostart = named(QCheckBox("Start trayjobs when I log in (in the tra&y)"),
                               "Start at login", "Adds trayjobs to your desktop's autostart list.")
        self.workers = named(QSpinBox(), "Workers", desc["workers"])
        self.workers.setRange(*_bounds("workers"))
        self.workers_note = QLabel("Takes effect the next time trayjobs starts.")
        self.workers_note.hide()
        self.pause_on_battery = named(QCheckBox("Pause all jobs while on &battery"),
                                      "Pause all jobs on battery", desc["pause_on_battery"])
        self.only_unmetered = named(QCheckBox("Only on unmetered networ&ks"),
                                    "Only unmetered networks", desc["only_unmetered"])
        general = QGroupBox("Running")
        gl = QFormLayout(general)
        gl.addRow(self.autostart)
        gl.addRow("Runs at &once:", self.workers)
        gl.addRow("", self.workers_note)
        # Defaults every job inherits; a job's own "Only when…" overrides them.
        gl.addRow(self.pause_on_battery)
        gl.addRow(self.only_unmetered)

        self.keep_days = named(QSpinBox(), "Keep runs for days", desc["keep_days"])
        self.keep_days.setRange(*_bounds("keep_days"))
        self.keep_days.setSuffix(" days")
        self.keep_runs = named(QSpinBox(), "Keep at most runs", desc["keep_runs"])
        self.keep_runs.setRange(*_bounds("keep_runs"))
        self.keep_runs.setSingleStep(1000)
        self.keep_runs.setGroupSeparatorShown(True)
        self.keep_runs.setSuffix(" runs")
        self.keep_failed = named(QSpinBox(), "Keep failed runs for days", desc["keep_failed_days"])
        self.keep_failed.setRange(*_bounds("keep_failed_days"))
        self.keep_failed.setSuffix(" days")
        self.prune_btn = named(QPushButton("&Clean up now"), "Clean up history now",
                               "Remove the runs these rules no longer keep, right away.")
        self.prune_btn.clicked.connect(lambda: app.prune_history(self.values()))
        self.history_hint = QLabel()
        self.history_hint.setWordWrap(True)
        history = QGroupBox("History")
        hl = QFormLayout(history)
        hl.addRow("Keep runs for:", self.keep_days)
        hl.addRow("Keep at most:", self.keep_runs)
        hl.addRow("Kee&p failed runs for:", self.keep_failed)
        hl.addRow("", self.history_hint)
        hl.addRow("", self.prune_btn)

        self.theme = named(QComboBox(), "Theme")
        for key, label in THEMES.items():
            self.theme.addItem(label, key)
        look = QGroupBox("Appearance")
        ll = QFormLayout(look)
        ll.addRow("&Theme:", self.theme)
        self.theme.currentIndexChanged.connect(
            lambda _i: self.themeChosen.emit(self.theme.currentData()))

        self.errors = QLabel()
        self.errors.setObjectName("settingsErrors")
        self.errors.setWordWrap(True)
        self.errors.hide()
        self.save_btn = named(QPushButton("Sa&ve settings"), "Save settings")
        self.save_btn.clicked.connect(self.save)
        self.revert_btn = named(QPushButton("&Revert"), "Revert settings")
        self.revert_btn.clicked.connect(lambda: self.load(self._loaded, self._autostart_loaded))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.revert_btn)
        buttons.addWidget(self.save_btn)

        cols = QHBoxLayout()
        left, right = QVBoxLayout(), QVBoxLayout()
        left.addWidget(notes)
        left.addWidget(general)
        left.addStretch(1)
        right.addWidget(history)
        right.addWidget(look)
        right.addStretch(1)
        cols.addLayout(left, 1)
        cols.addLayout(right, 1)
        self.secrets = SecretsBox(app)
        self.alerts = AlertsBox(app)
        self.workers_box = WorkersBox(app)
        # The groups scroll (a small window still fits them); the buttons stay in view.
        body = QWidget()
        bl = QVBoxLayout(body)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addLayout(cols)
        bl.addWidget(self.alerts)
        bl.addWidget(self.secrets)
        bl.addWidget(self.workers_box)
        bl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        # Tab goes from the tab bar to the first control: the scroll area itself was a stop
        # where nothing showed the focus (it scrolls to each control that takes it).
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        # The two columns go one under the other where the window has no room for both
        # side by side (a small screen, or 200 %), rather than scrolling sideways.
        self._cols, self._columns, self._scroll = cols, (left, right), scroll
        scroll.viewport().installEventFilter(self)
        lay = QVBoxLayout(self)
        lay.addWidget(scroll, 1)
        lay.addWidget(self.errors)
        lay.addLayout(buttons)

        for w in (self.notify_failures, self.notify_warnings, self.notify_success, self.quiet,
                  self.autostart, self.pause_on_battery, self.only_unmetered):
            w.toggled.connect(self._changed)
        for w in (self.workers, self.keep_days, self.keep_runs, self.keep_failed):
            w.valueChanged.connect(self._changed)
        for w in (self.quiet_from, self.quiet_to):
            w.timeChanged.connect(self._changed)
        self.load(Settings().model_dump(), False)

    # -- values -------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self._scroll.viewport():
            left, right = self._columns
            both = (left.minimumSize().width() + right.minimumSize().width()
                    + self._cols.spacing())
            self._cols.setDirection(QHBoxLayout.Direction.TopToBottom
                                    if self._scroll.viewport().width() < both
                                    else QHBoxLayout.Direction.LeftToRight)
        return super().eventFilter(watched, event)

    def load(self, values: dict[str, Any], autostart: bool) -> None:
        """Show saved settings (unless the person is in the middle of changing them)."""
        self._filling = True
        try:
            self._loaded = dict(values)
            self._autostart_loaded = autostart
            self.notify_failures.setChecked(bool(values.get("notify_failures", True)))
            self.notify_warnings.setChecked(bool(values.get("notify_warnings", True)))
            self.notify_success.setChecked(bool(values.get("notify_success", False)))
            quiet = parse_quiet_hours(values.get("quiet_hours"))
            self.quiet.setChecked(quiet is not None)
            if quiet:
                self.quiet_from.setTime(quiet[0])
                self.quiet_to.setTime(quiet[1])
            self._quiet_toggled(quiet is not None)
            self.autostart.setChecked(autostart)
            self.workers.setValue(int(values.get("workers", 2)))
            self.keep_days.setValue(int(values.get("keep_days", 90)))
            self.keep_runs.setValue(int(values.get("keep_runs", 100_000)))
            self.keep_failed.setValue(int(values.get("keep_failed_days", 365)))
            self.pause_on_battery.setChecked(bool(values.get("pause_on_battery", False)))
            self.only_unmetered.setChecked(bool(values.get("only_unmetered", False)))
        finally:
            self._filling = False
        self._changed()

    def set_theme(self, key: str) -> None:
        i = self.theme.findData(key)
        self.theme.blockSignals(True)
        self.theme.setCurrentIndex(max(0, i))
        self.theme.blockSignals(False)

    def values(self) -> dict[str, Any]:
        quiet = None
        if self.quiet.isChecked():
            quiet = f"{self.quiet_from.time().toString('HH:mm')}-{self.quiet_to.time().toString('HH:mm')}"
        return {"notify_failures": self.notify_failures.isChecked(),
                "notify_warnings": self.notify_warnings.isChecked(),
                "notify_success": self.notify_success.isChecked(), "quiet_hours": quiet,
                "workers": self.workers.value(), "keep_days": self.keep_days.value(),
                "keep_runs": self.keep_runs.value(), "keep_failed_days": self.keep_failed.value(),
                "pause_on_battery": self.pause_on_battery.isChecked(),
                "only_unmetered": self.only_unmetered.isChecked()}

    @property
    def dirty(self) -> bool:
        mine = {k: v for k, v in self.values().items()}
        saved = {k: self._loaded.get(k) for k in mine}
        return mine != saved or self.autostart.isChecked() != self._autostart_loaded

    def problems(self) -> list[str]:
        out = []
        if self.quiet.isChecked() and self.quiet_from.time() == self.quiet_to.time():
            out.append("Quiet hours start and end at the same time; pick two different times.")
        return out

    def _quiet_toggled(self, on: bool) -> None:
        self.quiet_from.setEnabled(on)
        self.quiet_to.setEnabled(on)

    def _changed(self, *_a) -> None:
        if self._filling:
            return
        self.workers_note.setVisible(self.workers.value() != int(self._loaded.get("workers", 2)))
        hint = ""
        if self.keep_failed.value() < self.keep_days.value():
            hint = "Failed runs are kept for less time than the others; usually they are kept longer."
        self.history_hint.setText(hint)
        self.history_hint.setVisible(bool(hint))
        self.show_errors(self.problems())
        self.save_btn.setEnabled(self.dirty and not self.problems())
        self.revert_btn.setEnabled(self.dirty)

    def show_errors(self, errors: list[str]) -> None:
        self.errors.setText("\n".join(errors))
        self.errors.setVisible(bool(errors))

    def saved(self) -> None:
        """What the page shows is now what the file holds."""
        self._loaded = {**self._loaded, **self.values()}
        self._autostart_loaded = self.autostart.isChecked()
        self._changed()

    def save(self) -> None:
        if self.problems():
            return
        changes = settings_changes(self._loaded, self.values())
        autostart = self.autostart.isChecked() if (
            self.autostart.isChecked() != self._autostart_loaded) else None
        self.save_btn.setEnabled(False)
        self.app.save_settings(changes, autostart, on_error=self.show_errors)
