"""The Workers part of Settings: this app and the other workers of its history, with their
state, read off the GUI thread and kept current while in view."""

from __future__ import annotations

import os
import time

from trayjobs.engine.lease import this_host

from ui_support import make_app, until  # noqa: F401


def test_settings_list_this_app_and_the_other_workers_with_their_state(make_app, qtbot):
    app = make_app()
    store = app.engine.store
    nas = store.register_worker(host="nas", pid=5121, version="0.1.0", mode="worker", lease=30)
    rid = store.create_run("count", kind="demo", trigger="manual")
    store.claim(rid, pid=5121, worker_id=nas)
    # Not heard from for a minute, with a lease of 30 s.
    store.register_worker(host="pi", pid=77, version="0.1.0", mode="worker", lease=30,
                          now=time.time() - 60)
    box = app.window.settings_page.workers_box
    app.show_window()
    app.window.tabs.setCurrentWidget(app.window.settings_page)
    until(qtbot, lambda: box.loads > 0 and len(box.rows()) == 3)
    rows = {r[0]: r for r in box.rows()}
    assert rows[this_host()][1:5] == (str(os.getpid()), "app", "running", "0")
    assert rows["nas"][1:5] == ("5121", "worker", "running", "1")
    assert rows["pi"][3:5] == ("lost", "")
    # Kept current while in view: the other machine stops.
    store.end_attempt(rid, state="succeeded")
    store.stop_worker(nas)
    loads = box.loads
    until(qtbot, lambda: box.loads > loads and dict((r[0], r[3]) for r in box.rows())["nas"]
          == "stopped", timeout=15_000)


def test_a_worker_that_cannot_reach_its_queue_is_shown_as_such(make_app, qtbot):
    app = make_app()
    store = app.engine.store
    store.register_worker(host="nas", pid=5121, version="0.1.0", mode="worker", lease=30,
                          problem="cannot reach its queue at redis://nas:6380/0 (refused)")
    box = app.window.settings_page.workers_box
    app.show_window()
    app.window.tabs.setCurrentWidget(app.window.settings_page)
    until(qtbot, lambda: box.loads > 0 and len(box.rows()) == 2)
    rows = {r[0]: r for r in box.rows()}
    assert rows["nas"][3] == "no queue"
    item = next(box.view.topLevelItem(i) for i in range(box.view.topLevelItemCount())
                if box.view.topLevelItem(i).text(0) == "nas")
    assert "redis://nas:6380/0" in item.toolTip(box.STATE)


def test_the_workers_that_run_come_first_and_ended_foreground_runs_are_counted(make_app,
                                                                                qtbot):
    """A day of `trayjobs run` from cron left a stopped worker each, newest first: the
    list (a few rows high) showed those, and the workers running now were below them."""
    app = make_app()
    store = app.engine.store
    nas = store.register_worker(host="nas", pid=5121, version="0.1.0", mode="worker", lease=30)
    old = store.register_worker(host="nas", pid=5000, version="0.1.0", mode="worker", lease=30)
    store.stop_worker(old)
    for pid in range(100, 130):
        store.stop_worker(store.register_worker(host="pi", pid=pid, version="0.1.0",
                                                mode="cli", lease=30))
    box = app.window.settings_page.workers_box
    app.show_window()
    app.window.tabs.setCurrentWidget(app.window.settings_page)
    until(qtbot, lambda: box.loads > 0 and box.ended.isVisible())
    rows = box.rows()
    assert [r[3] for r in rows] == ["running", "running", "stopped"], rows
    assert {r[1] for r in rows[:2]} == {str(os.getpid()), "5121"} and nas
    assert "And 30 foreground run(s) of `trayjobs run` that ended" in box.ended.text()
