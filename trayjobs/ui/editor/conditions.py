"""The job editor's "Only when…" group: the run conditions of a job's ``when`` table,
with ``when_unknown``, ``max_wait`` and ``inhibit_sleep``. A key left at "as Settings
say" is not written: the job inherits the settings' defaults."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QSpinBox)

from ...conditions import CONDITIONS
from ...config import JobCommon
from ...durations import format_duration, parse_duration

__all__ = ["ConditionsEditor", "KEYS"]

#: The job keys this group edits.
KEYS = ("when", "when_unknown", "max_wait", "inhibit_sleep")

_AC = [("as Settings say", None), ("only on AC power", True), ("on battery too", False)]
_NET = [("as Settings say", None), ("only online", "online"),
        ("only on unmetered networks", "unmetered"), ("any network, or none", "any")]


def _duration_text(value: Any) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        return value
    return format_duration(float(value)).replace(" ", "")


class ConditionsEditor(QGroupBox):
    changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__("Only when…", parent)
        self.setObjectName("conditions")
        desc = {k: c.description for k, c in CONDITIONS.items()}
        common = JobCommon.model_fields

        def named(w, name: str, tip: str = ""):
            w.setAccessibleName(name)
            w.setToolTip(tip)
            return w

        self.ac_power = named(QComboBox(), "AC power", desc["ac_power"])
        for label, value in _AC:
            self.ac_power.addItem(label, value)
        self.network = named(QComboBox(), "Network", desc["network"])
        for label, value in _NET:
            self.network.addItem(label, value)
        self.battery_on = named(QCheckBox("&Battery above"), "Battery above", desc["battery_above"])
        self.battery = named(QSpinBox(), "Battery percent")
        self.battery.setRange(0, 100)
        self.battery.setValue(30)
        self.battery.setSuffix(" %")
        self.idle_on = named(QCheckBox("&Idle for"), "Idle for", desc["idle"])
        self.idle = named(QLineEdit(), "Idle time")
        self.idle.setPlaceholderText("e.g. 5m")
        self.path_on = named(QCheckBox("&This is there"), "Path exists", desc["path_exists"])
        self.path = named(QLineEdit(), "Path")
        self.path.setPlaceholderText("e.g. /mnt/backup")
        self.cpu_on = named(QCheckBox("&CPU below"), "CPU below", desc["cpu_below"])
        self.cpu = named(QDoubleSpinBox(), "CPU percent")
        self.cpu.setRange(1, 100)
        self.cpu.setDecimals(0)
        self.cpu.setValue(50)
        self.cpu.setSuffix(" %")
        self.wait_unknown = named(QCheckBox("Wait when a condition cannot be to&ld "
                                            "(its service is missing)"),
                                  "Wait when unknown", common["when_unknown"].description)
        self.max_wait = named(QLineEdit(), "Wait at most", common["max_wait"].description)
        self.max_wait.setPlaceholderText("for ever; e.g. 2d")
        self.inhibit = named(QCheckBox("Keep the computer awake while it r&uns"),
                             "Keep awake", common["inhibit_sleep"].description)
        self.error = QLabel()
        self.error.setObjectName("error:when")
        self.error.setWordWrap(True)
        self.error.hide()

        form = QFormLayout(self)
        form.addRow("Power:", self.ac_power)
        for box, field in ((self.battery_on, self.battery), (self.idle_on, self.idle),
                           (self.path_on, self.path), (self.cpu_on, self.cpu)):
            row = QHBoxLayout()
            row.addWidget(field, 1)
            form.addRow(box, row)
            box.toggled.connect(field.setEnabled)
            field.setEnabled(False)
        form.insertRow(2, "Network:", self.network)
        form.addRow("Wait at &most:", self.max_wait)
        form.addRow(self.wait_unknown)
        form.addRow(self.inhibit)
        form.addRow(self.error)
        for sig in (self.ac_power.currentIndexChanged, self.network.currentIndexChanged,
                    self.battery_on.toggled, self.battery.valueChanged, self.idle_on.toggled,
                    self.idle.textChanged, self.path_on.toggled, self.path.textChanged,
                    self.cpu_on.toggled, self.cpu.valueChanged, self.wait_unknown.toggled,
                    self.max_wait.textChanged, self.inhibit.toggled):
            sig.connect(lambda *_a: self.changed.emit())
        self._extra: dict[str, Any] = {}

    # -- values -----------------------------------------------------------------------

    def set_values(self, job: dict[str, Any]) -> None:
        when = job.get("when") if isinstance(job.get("when"), dict) else {}
        # Keys this group has no field for stay as they are.
        self._extra = {k: v for k, v in when.items()
                       if k not in ("ac_power", "network", "battery_above", "idle",
                                    "path_exists", "cpu_below")}
        widgets = [self.ac_power, self.network, self.battery_on, self.battery, self.idle_on,
                   self.idle, self.path_on, self.path, self.cpu_on, self.cpu,
                   self.wait_unknown, self.max_wait, self.inhibit]
        for w in widgets:
            w.blockSignals(True)
        try:
            self.ac_power.setCurrentIndex(max(0, self.ac_power.findData(when.get("ac_power"))))
            self.network.setCurrentIndex(max(0, self.network.findData(when.get("network"))))
            self._set(self.battery_on, self.battery, when.get("battery_above"),
                      lambda v: self.battery.setValue(int(v)))
            self._set(self.idle_on, self.idle, when.get("idle"),
                      lambda v: self.idle.setText(_duration_text(v)))
            self._set(self.path_on, self.path, when.get("path_exists"),
                      lambda v: self.path.setText(str(v)))
            self._set(self.cpu_on, self.cpu, when.get("cpu_below"),
                      lambda v: self.cpu.setValue(float(v)))
            # The box shows whole percents: 12.5 is saved as 12.5 while it is left alone.
            cpu = when.get("cpu_below")
            self._cpu_as_set = (self.cpu.value(), cpu) if isinstance(cpu, (int, float)) else None
            self.wait_unknown.setChecked(job.get("when_unknown") == "wait")
            self.max_wait.setText(_duration_text(job.get("max_wait")))
            self.inhibit.setChecked(bool(job.get("inhibit_sleep")))
            self._inhibit_mode = job.get("inhibit_sleep")
        finally:
            for w in widgets:
                w.blockSignals(False)

    @staticmethod
    def _set(box: QCheckBox, field, value: Any, put) -> None:
        box.setChecked(value is not None)
        field.setEnabled(value is not None)
        if value is not None:
            put(value)

    def values(self) -> dict[str, Any]:
        """The keys to write (those left at their defaults are left out); ``ValueError``
        for a duration that cannot be read."""
        when: dict[str, Any] = {}
        if self.ac_power.currentData() is not None:
            when["ac_power"] = self.ac_power.currentData()
        if self.battery_on.isChecked():
            when["battery_above"] = self.battery.value()
        if self.network.currentData() is not None:
            when["network"] = self.network.currentData()
        if self.idle_on.isChecked():
            when["idle"] = self._duration(self.idle.text(), "idle time")
        if self.path_on.isChecked():
            when["path_exists"] = self.path.text().strip()
        if self.cpu_on.isChecked():
            when["cpu_below"] = int(self.cpu.value())
            as_set = getattr(self, "_cpu_as_set", None)
            if as_set is not None and as_set[0] == self.cpu.value():
                when["cpu_below"] = as_set[1]
        when.update(self._extra)
        out: dict[str, Any] = {}
        if when:
            out["when"] = when
        if self.wait_unknown.isChecked():
            out["when_unknown"] = "wait"
        if self.max_wait.text().strip():
            out["max_wait"] = self._duration(self.max_wait.text(), "longest wait")
        if self.inhibit.isChecked():
            mode = getattr(self, "_inhibit_mode", None)
            out["inhibit_sleep"] = mode if mode in ("block", "delay") else True
        return out

    @staticmethod
    def _duration(text: str, what: str) -> str:
        text = text.strip()
        try:
            parse_duration(text)
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}; write e.g. 5m, 2h or 2d") from None
        return text

    def set_error(self, message: str | None) -> None:
        self.error.setText(message or "")
        self.error.setVisible(bool(message))
