"""Run conditions in the window: the editor's "Only when…" group, the two defaults in
Settings, and a waiting run with its reason in the Activity list and the tray's tooltip."""

from __future__ import annotations

from types import SimpleNamespace

from trayjobs.ui.editor import JobEditor
from trayjobs.ui.runs_model import RunsModel
from trayjobs.ui.tray import tray_status

from system_bus_support import system_bus  # noqa: F401
from ui_support import (CONFIG, app, check_form, editor_app, editor_for, make_app,  # noqa: F401
                        until)

BACKUP = CONFIG + """
[jobs.backup]
kind = "demo"
steps = 1
step_time = 0
when = { ac_power = true, battery_above = 10 }
max_wait = "2d"
"""


def test_only_when_group_shows_and_writes_the_conditions(qtbot, home):
    values = {"kind": "demo", "steps": 1, "every": "1h",
              "when": {"ac_power": True, "network": "unmetered", "idle": "5m"},
              "max_wait": "2d", "inhibit_sleep": True}
    app = editor_app(home)
    dlg = editor_for(qtbot, app, JobEditor(app, name="backup", values=values, config_text=CONFIG))
    group = dlg.conditions
    assert group.title() == "Only when…"
    assert group.ac_power.currentData() is True and group.network.currentData() == "unmetered"
    assert group.idle_on.isChecked() and group.idle.text() == "5m"
    assert not group.battery_on.isChecked() and not group.battery.isEnabled()
    assert group.max_wait.text() == "2d" and group.inhibit.isChecked()
    assert check_form(qtbot, dlg)
    # Power back to what Settings say; a battery level and a path instead.
    group.ac_power.setCurrentIndex(group.ac_power.findData(None))
    group.battery_on.setChecked(True)
    group.battery.setValue(40)
    group.path_on.setChecked(True)
    group.path.setText("/mnt/backup")
    group.wait_unknown.setChecked(True)
    assert check_form(qtbot, dlg)
    out = dlg.values()
    assert out["when"] == {"battery_above": 40, "network": "unmetered", "idle": "5m",
                           "path_exists": "/mnt/backup"}
    assert out["when_unknown"] == "wait" and out["max_wait"] == "2d"
    assert out["inhibit_sleep"] is True
    # A duration that cannot be read is said under the group, and nothing can be saved.
    group.max_wait.setText("a while")
    assert not check_form(qtbot, dlg)
    assert "longest wait" in group.error.text() and not dlg.save_btn.isEnabled()
    group.max_wait.setText("")
    assert check_form(qtbot, dlg)


def test_a_cpu_limit_with_decimals_is_saved_as_written_until_changed(qtbot, home):
    # The box shows whole percents: cpu_below = 12.5 was saved as 12, 0.5 as 1.
    for written in (12.5, 0.5, 30):
        values = {"kind": "demo", "when": {"cpu_below": written}}
        app = editor_app(home)
        dlg = editor_for(qtbot, app, JobEditor(app, name="j", values=values, config_text=CONFIG))
        assert dlg.values()["when"] == {"cpu_below": written}
    dlg.conditions.cpu.setValue(40)
    assert dlg.values()["when"] == {"cpu_below": 40}


def test_saving_from_the_editor_reaches_the_engine(app, qtbot, home):
    app.edit_job("count")
    until(qtbot, lambda: getattr(app, "editor", None) is not None)
    dlg = app.editor
    dlg.conditions.ac_power.setCurrentIndex(dlg.conditions.ac_power.findData(True))
    dlg.conditions.inhibit.setChecked(True)
    with qtbot.waitSignal(dlg.saved, timeout=10_000):
        dlg.save()
    text = home.config_file.read_text()
    assert "ac_power = true" in text and "inhibit_sleep = true" in text
    until(qtbot, lambda: app.engine.config.jobs["count"].conditions(
        app.engine.config.settings) == {"ac_power": True})


def test_settings_defaults_are_written_and_inherited(app, qtbot, home):
    page = app.window.settings_page
    assert not page.pause_on_battery.isChecked() and not page.only_unmetered.isChecked()
    page.pause_on_battery.setChecked(True)
    assert page.save_btn.isEnabled()
    page.save_btn.click()
    until(qtbot, lambda: "pause_on_battery = true" in home.config_file.read_text())
    until(qtbot, lambda: app.engine.config.settings.pause_on_battery)
    assert app.engine.config.jobs["count"].conditions(app.engine.config.settings) == {
        "ac_power": True}


def test_tray_tooltip_names_the_waiting_runs():
    waiting = [{"job": "backup", "wait_reason": "on battery (18 %)"},
               {"job": "sync", "wait_reason": "on a metered connection (Pixel)"}]
    state, tip = tray_status(running=[], next_job=None, paused=False, failed=0,
                             waiting=waiting[:1])
    assert tip == "1 waiting: backup, on battery (18 %)" and state == "idle"
    _, tip = tray_status(running=[], next_job=None, paused=False, failed=0, waiting=waiting)
    assert tip == "2 waiting: backup, on battery (18 %) (and 1 more)"


def test_a_waiting_run_shows_its_reason_in_the_window_and_tray(system_bus, make_app, qtbot):
    upower = system_bus.upower(on_battery=True, percentage=18)
    ta = make_app(BACKUP)
    rid = ta.engine.submit("backup", trigger="schedule")
    model = ta.window.runs_model

    def shown():
        row = next((i for i in range(model.rowCount())
                    if (model.run_at(i) or {}).get("id") == rid), None)
        return row is not None and model.index(row, RunsModel.STATE).data()

    until(qtbot, lambda: shown() == "waiting: on battery (18 %)")
    until(qtbot, lambda: "1 waiting: backup, on battery (18 %)" in ta.tray.icon.toolTip())
    # Its details say the same, and it can be cancelled there (not retried: it has not run).
    dlg = ta.open_run(rid)
    until(qtbot, lambda: dlg.run is not None)
    assert "waiting: on battery (18 %)" in dlg.fields["state"].text()
    assert dlg.cancel_btn.isEnabled() and not dlg.retry_btn.isEnabled()
    dlg.close()
    upower.plug_in()
    until(qtbot, lambda: shown() == "succeeded")
    until(qtbot, lambda: "waiting" not in ta.tray.icon.toolTip())


def test_scrolling_the_when_tab_past_a_list_scrolls_and_changes_nothing(qtbot, home):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    from trayjobs.ui.wheel import guard_wheel

    guard = guard_wheel(QApplication.instance())
    try:
        app = editor_app(home)
        dlg = editor_for(qtbot, app, JobEditor(app, name=None, values={"kind": "demo", "steps": 1},
                                               config_text=CONFIG))
        dlg.resize(700, 420)
        dlg.tabs.setCurrentIndex(1)  # When
        dlg.show()
        dlg.activateWindow()
        qtbot.waitActive(dlg)  # as on a desktop: Qt gives a wheel-focus field the focus first
        power = dlg.conditions.ac_power
        # A turn of the wheel does not focus the fields (Qt would, before any filter, and
        # the turn would then change the field it passes).
        assert power.focusPolicy() == Qt.FocusPolicy.StrongFocus
        assert dlg.conditions.battery.focusPolicy() == Qt.FocusPolicy.StrongFocus
        bar = dlg.tabs.currentWidget().verticalScrollBar()
        assert bar.maximum() > 0 and power.currentData() is None
        for _ in range(3):  # three notches down with the pointer over "Power"
            ev = QWheelEvent(QPointF(5, 5), QPointF(power.mapToGlobal(QPoint(5, 5))),
                             QPoint(), QPoint(0, -120), Qt.MouseButton.NoButton,
                             Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
            QApplication.sendEvent(power, ev)
        assert power.currentData() is None  # still "as Settings say": nothing is written
        assert "when" not in dlg.values()
        assert bar.value() > 0  # the form scrolled instead
        # Clicked into, the list takes the wheel as any list does.
        power.setFocus()
        until(qtbot, power.hasFocus)
        ev = QWheelEvent(QPointF(5, 5), QPointF(power.mapToGlobal(QPoint(5, 5))), QPoint(),
                         QPoint(0, -120), Qt.MouseButton.NoButton,
                         Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(power, ev)
        assert power.currentIndex() == 1
    finally:
        QApplication.instance().removeEventFilter(guard)
        guard.deleteLater()
