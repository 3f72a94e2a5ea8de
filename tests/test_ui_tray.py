"""The tray tells the truth about runs between attempts: a failed attempt waiting for its
retry is work still under way, not "idle"."""

from __future__ import annotations

from trayjobs.ui.tray import tray_status

from ui_support import CONFIG, make_app, until  # noqa: F401

FLAKY = CONFIG + """
[jobs.flaky]
kind = "demo"
steps = 2
step_time = 0
fail_times = 9
retry = { attempts = 3, backoff = "1h" }
"""


def test_tray_words_for_runs_waiting_to_retry():
    retrying = [{"job": "sync", "attempt": 1, "max_attempts": 3, "next_attempt_at": 2e9},
                {"job": "backup", "attempt": 2, "max_attempts": 4, "next_attempt_at": 1.9e9}]
    state, tip = tray_status(running=[], next_job=None, paused=False, failed=0,
                             retrying=retrying[:1])
    assert state == "running"
    assert tip.startswith("1 retrying: sync, attempt 2/3 at ")
    _, tip = tray_status(running=[], next_job=None, paused=False, failed=0, retrying=retrying)
    assert tip.startswith("2 retrying: backup, attempt 3/4 at ")  # the soonest first
    assert tip.endswith(" (and 1 more)")


def test_a_run_waiting_for_its_retry_shows_in_the_tray_until_cancelled(make_app, qtbot):
    ta = make_app(FLAKY)
    ta.run_job("flaky")
    until(qtbot, lambda: "1 retrying: flaky, attempt 2/3 at " in ta.tray.icon.toolTip(),
          timeout=10_000)
    assert ta.tray.state == "running"
    ta.refresh_jobs()  # read afresh from the history (a restart does the same)
    loads = ta.jobs_loads
    until(qtbot, lambda: ta.jobs_loads > loads)
    assert "1 retrying: flaky" in ta.tray.icon.toolTip() and ta.tray.state == "running"
    rid = next(r["id"] for r in ta.window.runs_model.loaded_runs() if r["job"] == "flaky")
    ta.cancel_run(rid)
    until(qtbot, lambda: "retrying" not in ta.tray.icon.toolTip(), timeout=10_000)
    assert ta.tray.state != "running"


def test_a_one_off_that_started_is_no_longer_the_next_run(make_app, qtbot):
    """A run at a later time (`trayjobs run --at`) is the job's next run until it starts;
    one that then waits for its retry left "next: flaky 14:05", a time gone by."""
    import time

    ta = make_app(FLAKY)
    ta.engine.submit("flaky", trigger="cli", due_at=time.time() + 1.5)
    until(qtbot, lambda: "next: flaky" in ta.tray.icon.toolTip(), timeout=5000)
    until(qtbot, lambda: "1 retrying: flaky" in ta.tray.icon.toolTip(), timeout=10_000)
    until(qtbot, lambda: "next: flaky" not in ta.tray.icon.toolTip(), timeout=3000)


def test_the_icon_appears_when_the_desktop_gets_a_tray_after_the_start(
        make_app, qtbot, monkeypatch):
    """Started at login before the panel: no tray yet, so the window opens; once the panel
    is up, the icon is there too (it never appeared: the icon was shown only at start)."""
    from trayjobs.ui import tray as tray_module
    from trayjobs.ui.tray import Tray

    monkeypatch.setattr(tray_module, "TRAY_RECHECK_MS", 50)
    there = {"tray": False}
    monkeypatch.setattr(Tray, "available", staticmethod(lambda: there["tray"]))
    shown = []
    real_init = Tray.__init__

    def init(self, app):
        real_init(self, app)
        monkeypatch.setattr(self.icon, "show", lambda: shown.append(True))

    monkeypatch.setattr(Tray, "__init__", init)
    ta = make_app(CONFIG, minimized=True)
    assert ta.window.isVisible()  # no tray: the window instead
    qtbot.wait(200)
    assert shown == []
    there["tray"] = True  # the panel has started
    until(qtbot, lambda: shown == [True], timeout=2000)
    qtbot.wait(200)
    assert shown == [True]  # once
