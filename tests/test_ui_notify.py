"""Notification routing: final failures only, bursts summarised, quiet hours, per-job choice,
and where a click leads."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest

from trayjobs.config import Settings
from trayjobs.ui.notify import NotificationRouter, Notifier, in_quiet_hours, summarise

from dbus_support import notification_bus  # noqa: F401


class Shown(list):
    """A notifier double that records what it was asked to show."""

    def notify(self, title, message, *, critical=False, target=None):
        self.append({"title": title, "message": message, "critical": critical,
                     "target": target})


def run(i, job="bank", state="failed", kind="import", error="bad row 3"):
    return {"id": i, "job": job, "kind": kind, "state": state, "error": error,
            "created_at": 1000.0 + i, "result": {"summary": f"{i} rows"}}


@pytest.fixture
def router(qtbot):
    shown = Shown()
    settings = SimpleNamespace(value=Settings())
    prefs: dict[str, str] = {}
    r = NotificationRouter(shown, settings=lambda: settings.value,
                           job_notify=lambda job: prefs.get(job), window_ms=50)
    r.shown, r.prefs, r.settings_box = shown, prefs, settings
    return r


def test_one_failure_one_notification_that_opens_the_run(router, qtbot):
    router.run_finished(run(7))
    qtbot.waitUntil(lambda: len(router.shown) == 1, timeout=2000)
    note = router.shown[0]
    assert note["title"] == "bank failed" and note["critical"]
    assert note["message"] == "bad row 3\nRun 7 · click for details"
    assert note["target"] == ("run", 7)


def test_a_burst_is_summarised_and_opens_the_filtered_list(router, qtbot):
    for i in range(12):
        router.run_finished(run(i))
    qtbot.waitUntil(lambda: len(router.shown) == 1, timeout=2000)
    note = router.shown[0]
    assert note["title"] == "12 imports failed"
    assert note["message"].startswith("bank (12)\nLatest: bad row 3")
    assert note["target"] == ("runs", {"job": "bank", "states": ("failed",), "since": 1000.0})


def test_failures_spread_over_a_minute_are_a_few_notices_not_one_each(qtbot):
    """Runs retried with jitter fail for good one every second or so: after a notice, the
    next ones wait for the cool-down and come as one, "10 imports failed"."""
    shown = Shown()
    r = NotificationRouter(shown, settings=Settings, job_notify=lambda job: None,
                           window_ms=50, cooldown_ms=600)
    r.run_finished(run(1))
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=2000)
    for i in range(2, 12):
        r.run_finished(run(i))
        qtbot.wait(40)  # each a little apart: more than the window
    assert len(shown) == 1
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=3000)
    assert shown[1]["title"] == "10 imports failed"
    assert shown[1]["target"] == ("runs", {"job": "bank", "states": ("failed",),
                                           "since": 1002.0})
    qtbot.wait(800)  # nothing more came: nothing more is said
    assert len(shown) == 2
    r.run_finished(run(20))  # later, on its own: told after the window, as the first was
    qtbot.waitUntil(lambda: len(shown) == 3, timeout=2000)
    assert shown[2]["title"] == "bank failed"


def test_a_mixed_burst_names_the_jobs():
    title, body, target = summarise([run(1), run(2, job="cards"), run(3, job="tidy",
                                                                       kind="cleanup")],
                                    failed=True)
    assert title == "3 runs failed"
    assert body.splitlines()[0] == "bank, cards, tidy"
    assert target[1]["job"] is None


def test_successes_only_when_asked_and_never_for_a_job_that_says_never(router, qtbot):
    router.run_finished(run(1, state="succeeded"))
    router.flush()
    assert router.shown == []
    router.settings_box.value = Settings(notify_success=True)
    router.run_finished(run(2, state="succeeded"))
    router.flush()
    assert router.shown[-1]["title"] == "bank succeeded"
    assert router.shown[-1]["message"] == "2 rows" and not router.shown[-1]["critical"]
    router.prefs["bank"] = "never"
    router.run_finished(run(3))
    router.flush()
    assert len(router.shown) == 1
    router.settings_box.value = Settings(notify_failures=False)
    router.prefs["bank"] = "always"
    router.run_finished(run(4))
    router.flush()
    assert router.shown[-1]["title"] == "bank failed"


def test_skipped_and_cancelled_runs_do_not_notify(router):
    router.run_finished(run(1, state="cancelled"))
    router.run_finished(run(2, state="skipped"))
    router.flush()
    assert router.shown == []


def test_quiet_hours(router):
    assert in_quiet_hours("22:00-07:00", datetime(2024, 1, 1, 23, 30))
    assert in_quiet_hours("22:00-07:00", datetime(2024, 1, 1, 6, 59))
    assert not in_quiet_hours("22:00-07:00", datetime(2024, 1, 1, 7, 0))
    assert in_quiet_hours("12:00-13:00", datetime(2024, 1, 1, 12, 30))
    assert not in_quiet_hours(None) and not in_quiet_hours("nonsense")
    now = datetime.now()
    start = f"{now.hour:02d}:00"
    end = f"{(now.hour + 1) % 24:02d}:00"
    router.settings_box.value = Settings(quiet_hours=f"{start}-{end}")
    router.run_finished(run(1))
    router.flush()
    assert router.shown == [] and router.suppressed == 1


def test_without_a_tray_the_notifier_delivers_over_dbus_and_a_click_comes_back(
        qtbot, notification_bus):
    daemon = notification_bus.daemon
    lines = []
    n = Notifier(None, lines.append)
    try:
        assert n.via() == "dbus"
        n.notify("bank failed", "bad row 3\nRun 7", critical=True, target=("run", 7))
        n.notify("tidy succeeded", "3 files", critical=False, target=("run", 8))
        # What reached the daemon over the bus, not what the notifier meant to send.
        first, second = daemon.wait_for(2)
        assert (first["app_name"], first["summary"], first["body"]) == (
            "trayjobs", "bank failed", "bad row 3\nRun 7")
        assert first["actions"][0::2] == ["default"]  # a click on the bubble opens the run
        assert first["hints"]["urgency"] == ("y", 2) and first["timeout"] == 15_000
        assert (second["summary"], second["body"]) == ("tidy succeeded", "3 files")
        assert second["hints"]["urgency"] == ("y", 1)
        assert lines == ["bank failed: bad row 3", "tidy succeeded: 3 files"]
        # The second arrived, so the first's id is known: a click on it leads to run 7.
        with qtbot.waitSignal(n.clicked, timeout=5000) as sig:
            daemon.invoke(first["id"])
        assert sig.args == [("run", 7)]
    finally:
        n.close()


def test_without_a_bus_the_status_bar_still_has_the_message(qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    lines = []
    n = Notifier(None, lines.append)
    try:
        n.notify("bank failed", "bad row 3\nRun 7", critical=True, target=("run", 7))
        assert lines == ["bank failed: bad row 3"]
    finally:
        n.close()


def test_with_a_tray_notices_still_go_over_dbus_and_a_hung_daemon_blocks_nothing(
        qtbot, notification_bus, monkeypatch, caplog):
    """Qt's D-Bus tray calls the notification service from the event loop: a daemon that
    stops answering (SIGSTOP) froze the whole app for 25 s a notice. Ours waits on its
    own thread, and says in the log what did not get through."""
    import logging
    import time

    from PySide6.QtWidgets import QSystemTrayIcon

    from trayjobs.ui.notify import _DBusNotifications

    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(_DBusNotifications, "REPLY_TIMEOUT", 0.5)
    daemon = notification_bus.daemon
    icon = QSystemTrayIcon()
    monkeypatch.setattr(icon, "isVisible", lambda: True)  # shown in a tray
    lines = []
    n = Notifier(icon, lines.append)
    try:
        n.notify("bank failed", "bad row 3\nRun 7", critical=True, target=("run", 7))
        (first,) = daemon.wait_for(1)
        assert first["summary"] == "bank failed"
        daemon.hung = True
        caplog.set_level(logging.WARNING, logger="trayjobs.ui.notify")
        started = time.monotonic()
        n.notify("tidy failed", "no folder\nRun 8", critical=True, target=("run", 8))
        n.notify("sync failed", "offline\nRun 9", critical=True, target=("run", 9))
        assert time.monotonic() - started < 0.2  # nothing waits on the daemon
        qtbot.waitUntil(lambda: "'sync failed' not delivered" in caplog.text, timeout=10_000)
        assert "'tidy failed' not delivered" in caplog.text
        assert "did not answer" in caplog.text
        assert lines[-2:] == ["tidy failed: no folder", "sync failed: offline"]
        daemon.hung = False  # it comes back: the next notice gets through, and opens its run
        n.notify("mail failed", "refused\nRun 10", critical=True, target=("run", 10))
        last = daemon.wait_for(4)[-1]
        assert last["summary"] == "mail failed"
        # Its number is ours once the daemon's answer is read (a person clicks later).
        qtbot.waitUntil(lambda: int(last["id"]) in n._dbus._targets, timeout=5000)
        with qtbot.waitSignal(n.clicked, timeout=5000) as sig:
            daemon.invoke(last["id"])
        assert sig.args == [("run", 10)]
        # A click on the first one, older, still opens its own run, not the latest.
        with qtbot.waitSignal(n.clicked, timeout=5000) as sig:
            daemon.invoke(first["id"])
        assert sig.args == [("run", 7)]
    finally:
        n.close()


def test_with_no_notification_service_the_tray_shows_the_notice(
        qtbot, notification_bus, monkeypatch, caplog):
    import logging

    from PySide6.QtWidgets import QSystemTrayIcon

    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    notification_bus.daemon.close()  # the bus is there, no daemon on it
    icon = QSystemTrayIcon()
    monkeypatch.setattr(icon, "isVisible", lambda: True)  # shown in a tray
    shown = []
    monkeypatch.setattr(icon, "showMessage", lambda *a: shown.append(a[:2]))
    caplog.set_level(logging.WARNING, logger="trayjobs.ui.notify")
    n = Notifier(icon, lambda line: None)
    try:
        n.notify("bank failed", "bad row 3\nRun 7", critical=True, target=("run", 7))
        qtbot.waitUntil(lambda: shown == [("bank failed", "bad row 3\nRun 7")], timeout=5000)
        assert "'bank failed' not delivered: org.freedesktop.DBus.Error.ServiceUnknown" \
            in caplog.text
        with qtbot.waitSignal(n.clicked, timeout=2000) as sig:
            icon.messageClicked.emit()
        assert sig.args == [("run", 7)]
    finally:
        n.close()


# jeepney's own receiving thread ends with the connection's error when the bus goes away.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_session_bus_that_goes_away_loses_no_notice_without_a_trace(
        qtbot, notification_bus, caplog, monkeypatch):
    import logging

    from trayjobs.ui.notify import _DBusNotifications

    # A send the bus dropped under it may wait out its reply's time: short here, so the
    # log's line comes well within the wait below, also on a busy machine.
    monkeypatch.setattr(_DBusNotifications, "REPLY_TIMEOUT", 1.0)
    caplog.set_level(logging.WARNING, logger="trayjobs.ui.notify")
    lines = []
    n = Notifier(None, lines.append)
    try:
        n.notify("bank failed", "bad row 3\nRun 7", critical=True, target=("run", 7))
        notification_bus.daemon.wait_for(1)
        notification_bus.daemon.close()
        notification_bus.stop()
        n.notify("tidy failed", "no folder\nRun 8", critical=True, target=("run", 8))
        # Said not delivered, or (the first one's answer lost with the bus, which told it
        # gone already) not sent over it at all: either way, not lost without a trace.
        qtbot.waitUntil(lambda: "'tidy failed' not delivered" in caplog.text or any(
            s["title"] == "tidy failed" and s["via"] != "dbus" for s in n.sent),
            timeout=10_000)
        qtbot.waitUntil(lambda: n.via() == "status", timeout=10_000)  # no bus: the window says it
        n.notify("sync failed", "offline\nRun 9", critical=True, target=("run", 9))
        assert lines[-1] == "sync failed: offline"
    finally:
        n.close()
