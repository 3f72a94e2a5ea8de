"""Alert channels in the window: Settings lists them with Send test, which sends a real
message to a loopback server (or shows the exact error); a desktop:// channel is shown by
the app's own notifier."""

from __future__ import annotations

import re

from alert_servers import HTTPRecorder, free_port
from ui_support import make_app, until  # noqa: F401 (fixtures)


def test_send_test_in_settings_reaches_the_server_or_says_why_not(make_app, qtbot):
    server = HTTPRecorder().start()
    try:
        app = make_app(f"""
[alerts.hook]
url = "json://127.0.0.1:{server.port}/hook"

[alerts.down]
url = "json://127.0.0.1:{free_port()}/hook"

[jobs.ok]
kind = "demo"
steps = 1
step_time = 0
""")
        box = app.window.settings_page.alerts
        app.window.tabs.setCurrentWidget(app.window.settings_page)
        until(qtbot, lambda: box.view.topLevelItemCount() == 2)
        assert box.isVisible()
        assert not box.test_btn.isEnabled()  # nothing chosen yet
        box.view.topLevelItem(1).setSelected(True)  # sorted: down, hook
        assert box.selected() == "hook"
        qtbot.mouseClick(box.test_btn, qtbot_button())
        until(qtbot, lambda: box.results)
        assert box.results == ["Sent a test message to 'hook'."]
        assert server.bodies("/hook")[0]["title"] == "trayjobs test message"
        box.view.clearSelection()
        box.view.topLevelItem(0).setSelected(True)
        qtbot.mouseClick(box.test_btn, qtbot_button())
        until(qtbot, lambda: len(box.results) == 2)
        # a sentence, as the success above (not the lower-case of a log line)
        assert box.results[1].startswith(
            "Alert channel 'down': the test message was not sent: connection refused")
        assert box.result.text() == box.results[1]
    finally:
        server.stop()


def test_a_desktop_channel_is_shown_by_the_apps_notifier(make_app, qtbot):
    app = make_app("""
[alerts.popup]
url = "desktop://"
on = ["success"]

[jobs.ok]
kind = "demo"
steps = 1
step_time = 0
notify = "never"
""")
    app.engine.alerts.sender.gather = 0.1
    app.engine.submit("ok")
    until(qtbot, lambda: any(n["title"] == "ok succeeded" for n in app.notifier.sent),
          timeout=15_000)


def test_no_channels_says_how_to_add_one(make_app, qtbot):
    app = make_app("""
[jobs.ok]
kind = "demo"
""")
    box = app.window.settings_page.alerts
    # Not hidden: a newcomer learns that alerts exist and what one takes.
    assert not box.isHidden()
    assert box.intro.text().startswith("No alert channels yet")
    assert "[alerts.phone]" in box.intro.text()
    assert box.view.isHidden() and box.test_btn.isHidden()


def qtbot_button():
    from PySide6.QtCore import Qt
    return Qt.MouseButton.LeftButton


def test_a_link_from_a_message_opens_the_run(make_app, qtbot):
    app = make_app("""
[jobs.ok]
kind = "demo"
steps = 1
step_time = 0
""")
    rid = app.engine.submit("ok")
    opened = []
    app.open_run = opened.append  # what the details window is opened with
    app._on_control({"op": "show", "run": rid})  # `trayjobs trayjobs://run/ID` while it runs
    assert opened == [rid]


def test_a_failed_delivery_shows_in_the_channel_list_as_it_happens(make_app, qtbot):
    app = make_app(f"""
[alerts.down]
url = "json://127.0.0.1:{free_port()}/hook"
on = ["failure"]

[jobs.bad]
kind = "demo"
steps = 1
step_time = 0
fail_times = 1
retry = {{ attempts = 1 }}
notify = "never"
""")
    app.engine.alerts.sender.gather = 0.1
    box = app.window.settings_page.alerts
    until(qtbot, lambda: box.view.topLevelItemCount() == 1)
    assert "nothing sent yet" in box.view.topLevelItem(0).text(2)
    app.engine.submit("bad")
    until(qtbot, lambda: "connection refused" in box.view.topLevelItem(0).text(2),
          timeout=15_000)


def test_the_run_details_show_each_delivery_and_follow_it_live(make_app, qtbot):
    from datetime import datetime, timedelta
    now = datetime.now()
    quiet = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=2)):%H:%M}"
    server = HTTPRecorder().start()
    try:
        app = make_app(f"""
[alerts.hook]
url = "json://127.0.0.1:{server.port}/hook"

[alerts.down]
url = "json://127.0.0.1:{free_port()}/hook"

[alerts.night]
url = "json://127.0.0.1:{server.port}/night"
quiet_hours = "{quiet}"

[jobs.fails]
kind = "demo"
steps = 1
step_time = 0
fail_times = 9
retry = {{ attempts = 1 }}
ping = "{server.base}/ping/fails"
""")
        sender = app.engine.alerts.sender
        sender.gather, sender.backoff, sender.tries = 0.1, 0.5, 3
        rid = app.engine.submit("fails")
        dlg = app.open_run(rid)
        view = dlg.deliveries

        def rows():
            return {(view.topLevelItem(i).text(0), view.topLevelItem(i).text(1)):
                    (view.topLevelItem(i).text(2), view.topLevelItem(i).text(3))
                    for i in range(view.topLevelItemCount())}

        until(qtbot, lambda: rows().get(("down", "failure"), ("",))[0] == "retrying",
              timeout=15_000)
        assert re.match(r"try [23] at ", rows()[("down", "failure")][1])
        assert "connection refused" in rows()[("down", "failure")][1]
        until(qtbot, lambda: rows().get(("hook", "failure"), ("",))[0] == "sent")
        until(qtbot, lambda: rows().get(("ping", "ping fail"), ("",))[0] == "sent")
        assert rows()[("ping", "ping start")][0] == "sent"
        night = rows()[("night", "failure")]
        assert night[0] == "waiting" and night[1].startswith("held for quiet hours until")
        # No more run events come: the window follows the deliveries themselves.
        until(qtbot, lambda: rows()[("down", "failure")][0] == "failed", timeout=15_000)
        assert rows()[("down", "failure")][1].startswith("after 3 tries: connection refused")
        assert dlg.tabs.tabText(dlg.tabs.indexOf(view)) == "Alert&s (5)"
    finally:
        server.stop()


def test_a_channels_latest_delivery_is_a_time_that_stays_true():
    import time

    from trayjobs.textfmt import when
    from trayjobs.ui.alerts_box import _health_text
    sent = time.time() - 581
    assert _health_text({"state": "sent", "sent_at": sent}) == f"sent at {when(sent)}"


def test_a_channels_error_is_shown_as_plain_text():
    # A server's answer is quoted in the error: its escape codes and overrides stay text.
    from trayjobs.ui.alerts_box import _health_text
    row = {"state": "failing", "last_error": "HTTP 500: \x1b[31mboom\x1b[0m\r\nsee \u202eexe.txt"}
    assert _health_text(row) == "failing: HTTP 500: boom see \\u202eexe.txt"


def test_a_test_that_goes_sends_the_waiting_alerts_at_once(make_app, qtbot):
    # The server back: the failure told while it was down waited for its backoff (up to
    # an hour) after Send test showed the channel works.
    port = free_port()
    app = make_app(f"""
[alerts.hook]
url = "json://127.0.0.1:{port}/hook"

[jobs.bad]
kind = "demo"
steps = 1
step_time = 0
fail_times = 5
retry = {{ attempts = 1 }}
""")
    store = app.engine.store
    app.engine.submit("bad")
    until(qtbot, lambda: any(r["attempts"] for r in store.outbox_log()), timeout=20000)
    server = HTTPRecorder(port).start()
    try:
        box = app.window.settings_page.alerts
        app.window.tabs.setCurrentWidget(app.window.settings_page)
        until(qtbot, lambda: box.view.topLevelItemCount() == 1)
        box.view.topLevelItem(0).setSelected(True)
        qtbot.mouseClick(box.test_btn, qtbot_button())
        until(qtbot, lambda: box.results)
        assert box.results == ["Sent a test message to 'hook'; 1 message waiting for another "
                               "try goes now."], box.results
        until(qtbot, lambda: "bad failed" in [b["title"] for b in server.bodies("/hook")],
              timeout=20000)
    finally:
        server.stop()


def test_send_test_stays_off_while_a_test_is_on_its_way(make_app, qtbot):
    # Choosing another channel (or the list being redrawn) while a slow server had the
    # first test turned Send test back on: a second test went while the first still waited.
    server = HTTPRecorder().start()
    server.delay = 2.0
    try:
        app = make_app(f"""
[alerts.one]
url = "json://127.0.0.1:{server.port}/one"

[alerts.two]
url = "json://127.0.0.1:{server.port}/two"

[jobs.ok]
kind = "demo"
steps = 1
step_time = 0
""")
        box = app.window.settings_page.alerts
        app.window.tabs.setCurrentWidget(app.window.settings_page)
        until(qtbot, lambda: box.view.topLevelItemCount() == 2)
        box.view.topLevelItem(0).setSelected(True)
        qtbot.mouseClick(box.test_btn, qtbot_button())
        assert not box.test_btn.isEnabled()
        box.view.clearSelection()
        box.view.topLevelItem(1).setSelected(True)
        assert not box.test_btn.isEnabled()
        box.show_channels(box.config, {})
        assert not box.test_btn.isEnabled()
        until(qtbot, lambda: box.results, timeout=10_000)
        assert box.results == ["Sent a test message to 'one'."]
        assert box.test_btn.isEnabled()  # done: "two" may be tested now
    finally:
        server.stop()


def test_a_runs_alerts_tab_says_when_there_are_none(make_app, qtbot):
    # An empty list under its headers looked like one that had not loaded.
    app = make_app("""
[jobs.ok]
kind = "demo"
steps = 1
step_time = 0
""")
    rid = app.engine.submit("ok")
    dlg = app.open_run(rid)
    until(qtbot, lambda: dlg.run is not None and dlg.run["state"] == "succeeded",
          timeout=15_000)
    view = dlg.deliveries
    until(qtbot, lambda: view.topLevelItemCount() == 1)
    assert view.topLevelItem(0).text(0).startswith("No alert or ping for this run")
    assert dlg.tabs.tabText(dlg.tabs.indexOf(view)) == "Alert&s"  # no count: nothing sent
    dlg.close()
