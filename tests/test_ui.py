"""The desktop app offscreen: tray menu, window models, details, notifications."""

from __future__ import annotations

from textwrap import dedent

import pytest

from trayjobs.ui.app import TrayApp
from trayjobs.ui.models import RunsModel

CONFIG = dedent("""
    [jobs.count]
    kind = "demo"
    steps = 10
    step_time = 0.05
    every = "1h"
    [jobs.fails]
    kind = "demo"
    steps = 2
    step_time = 0
    fail_times = 9
    retry = { attempts = 1 }
    [jobs.broken]
    kind = "demo"
    cron = "0 25 * * *"
""")


@pytest.fixture
def app(qtbot, home):
    home.config_file.write_text(CONFIG)
    ta = TrayApp(home, grace=1.0)  # its quit() closes the window: not qtbot.addWidget
    with qtbot.waitSignal(ta.ready, timeout=20_000):
        ta.start()
    until(qtbot, lambda: ta.window.jobs_model.rowCount() == 2, timeout=5000)
    yield ta
    with qtbot.waitSignal(ta.stopped, timeout=20_000):
        ta.quit()


def until(qtbot, predicate, timeout=10_000):
    """waitUntil that needs a true value (pytest-qt takes a None return as success)."""
    qtbot.waitUntil(lambda: bool(predicate()), timeout=timeout)


def find_run(ta, job, state=None):
    for r in ta.window.runs_model.rows:
        if r["job"] == job and (state is None or r["state"] == state):
            return r
    return None


def test_tray_run_now_drives_a_run_to_success_in_the_window(app, qtbot):
    action = app.tray.action("run:count")
    assert action is not None and action.text() == "count"
    action.trigger()
    until(qtbot, lambda: find_run(app, "count", "running"), timeout=10_000)
    model = app.window.runs_model
    # Live progress reaches the model while the run goes.
    until(qtbot, lambda: (r := find_run(app, "count")) and r.get("progress") is not None,
                    timeout=10_000)
    row = model.row_of(find_run(app, "count")["id"])
    frac, text = model.progress_of(model.run_at(row))
    assert text and ("%" in text or "step" in text)
    until(qtbot, lambda: find_run(app, "count", "succeeded"), timeout=15_000)
    row = model.row_of(find_run(app, "count")["id"])
    assert model.index(row, RunsModel.SUMMARY).data() == "10 steps done"
    assert model.index(row, RunsModel.TRIGGER).data() == "manual"
    # The jobs list shows the result too.
    until(qtbot, lambda: "succeeded" in app.window.jobs_model.index(0, 4).data(), timeout=5000)


def test_config_errors_show_in_the_window(app):
    assert app.window.banner.isVisibleTo(app.window)
    assert "hour 25 is out of range 0-23" in app.window.banner.text()
    names = [app.window.jobs_model.index(r, 0).data() for r in range(2)]
    assert names == ["count", "fails"]
    assert app.window.jobs_model.index(0, 2).data() == "Every hour"


def test_final_failure_notifies_and_click_opens_details(app, qtbot):
    app.run_job("fails")
    until(qtbot, lambda: find_run(app, "fails", "failed"), timeout=15_000)
    until(qtbot, lambda: app.notifier.sent, timeout=5000)
    title, message = app.notifier.sent[-1]
    assert title == "fails failed" and "told to fail 9 times" in message
    assert "failed" in app.tray.icon.toolTip() or app.window.isActiveWindow()
    failures = app.tray.action("run:fails")  # menu still offers the job
    assert failures is not None
    dlg = app.open_run(find_run(app, "fails")["id"])
    until(qtbot, lambda: dlg.run is not None, timeout=5000)
    assert "told to fail 9 times" in dlg.fields["error"].text()
    assert dlg.retry_btn.isEnabled() and not dlg.cancel_btn.isEnabled()
    dlg.retry_btn.click()
    until(qtbot, lambda: len([r for r in app.window.runs_model.rows if r["job"] == "fails"]) == 2,
                    timeout=10_000)
    newest = find_run(app, "fails")
    assert newest["trigger"] == "retry"
    dlg.close()


def test_pause_from_the_tray_persists(app, qtbot, home):
    pause = app.tray.action("pause")
    assert pause.text() == "Pause all"
    pause.trigger()
    until(qtbot, lambda: app.paused, timeout=5000)
    assert app.tray.action("pause").text() == "Resume"
    assert app.window.pause_btn.text() == "Resume"
    from trayjobs.store import RunStore
    assert RunStore(home.runs_db).get_value("paused") == "1"


def test_without_a_tray_the_window_opens(app):
    # Offscreen has no system tray: the window must be there instead.
    assert not app.tray.available()
    assert app.window.isVisible()
