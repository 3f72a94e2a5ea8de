"""The desktop app offscreen, with a real engine: tray menu, runs, notifications, details,
jobs page commands (enable, duplicate, delete), hand edits of the config, dropped files."""

from __future__ import annotations

from contextlib import closing

import os
import re
import time
from pathlib import Path
from textwrap import dedent

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QPushButton

from trayjobs.ui.jobs_model import JobsModel
from trayjobs.ui.runs_model import RunsModel
from trayjobs.store.open import open_store

from dbus_support import notification_bus  # noqa: F401
from ui_support import (CONFIG, answer_next_box, app, find_run, jobs_settled, make_app,  # noqa: F401
                        mnemonic_clashes, until)


def test_tray_run_now_drives_a_run_to_success_in_the_window(make_app, qtbot):
    # Slow enough (10 x 0.3 s) that the run is surely seen running, percentage and all.
    app = make_app(CONFIG.replace("step_time = 0.05", "step_time = 0.3"))
    action = app.tray.action("run:count")
    assert action is not None and action.text() == "count"
    action.trigger()
    until(qtbot, lambda: find_run(app, "count", "running"))
    model = app.window.runs_model
    # Live progress reaches the model, and the tray's Running menu shows the %.
    until(qtbot, lambda: model.progress.get(find_run(app, "count")["id"]) is not None)
    row = model.row_of(find_run(app, "count")["id"])
    frac, text = model.progress_of(model.run_at(row))
    assert frac is not None and "%" in text and "step" in text
    until(qtbot, lambda: any(re.fullmatch(r"count ([1-9]\d?|100) %", t)
                             for t in app.tray.texts("running")))
    # The tooltip follows at most once a second.
    until(qtbot, lambda: re.search(r"^1 running: count \d+ %", app.tray.icon.toolTip()))
    until(qtbot, lambda: find_run(app, "count", "succeeded"), timeout=15_000)
    row = model.row_of(find_run(app, "count")["id"])
    assert model.index(row, RunsModel.SUMMARY).data() == "10 steps done"
    assert model.index(row, RunsModel.TRIGGER).data() == "manual"
    assert model.index(row, RunsModel.STATE).data() == "succeeded"
    # The jobs list shows the result too.
    jobs = app.window.jobs_model
    until(qtbot, lambda: jobs.index(jobs.row_of("count"), JobsModel.LAST).data()
          .startswith("succeeded"), timeout=5000)
    assert app.tray.texts("running") == ["Nothing is running"]


def test_tray_menu_has_every_entry(app):
    assert app.tray.texts() == ["Open trayjobs", "Run now", "Running", "Pause all",
                                "Needs attention", "Recent failures", "Open latest report",
                                "Open data folder",
                                "Quit"]
    assert app.tray.texts("runNow") == ["count", "fails"]
    assert not app.tray.action("latestReport").isEnabled()  # no report yet
    assert app.tray.texts("failures") == ["No failures"]


def test_config_errors_show_in_the_window(app):
    assert app.window.banner.isVisibleTo(app.window)
    assert "hour 25 is out of range 0-23" in app.window.banner.text()
    jobs = app.window.jobs_model
    assert [jobs.index(r, 0).data() for r in range(jobs.rowCount())] == ["count", "fails"]
    assert jobs.index(0, JobsModel.TRIGGER).data() == "Every hour"
    assert jobs.index(1, JobsModel.TRIGGER).data() == "Manual"


def test_final_failure_notifies_once_and_click_opens_details_then_retry(make_app, qtbot):
    ta = make_app(CONFIG.replace("retry = { attempts = 1 }",
                                 'retry = { attempts = 2, backoff = "0s", jitter = false }'))
    ta.run_job("fails")
    until(qtbot, lambda: find_run(ta, "fails", "failed"), timeout=20_000)
    until(qtbot, lambda: ta.notifier.sent, timeout=5000)
    run = find_run(ta, "fails")
    assert run["attempt"] == 2  # it was retried before failing for good ...
    assert len(ta.notifier.sent) == 1  # ... and only the final failure notified
    note = ta.notifier.sent[0]
    assert note["title"] == "fails failed" and "told to fail 9 times" in note["message"]
    assert note["target"] == ("run", run["id"])
    # The tray lists the failure; clicking the notification opens the run.
    assert app_failures(ta) == ["fails: failing on purpose (attempt 2, told to fail 9 times)"]
    ta.notifier.clicked.emit(note["target"])
    dlg = ta.details
    until(qtbot, lambda: dlg.run is not None, timeout=5000)
    assert "told to fail 9 times" in dlg.fields["error"].text()
    assert dlg.timeline.topLevelItemCount() == 2
    assert dlg.timeline.topLevelItem(0).text(4).startswith("failing on purpose (attempt 1")
    assert dlg.retry_btn.isEnabled() and not dlg.cancel_btn.isEnabled()
    assert dlg.retry_btn.text() == "&Retry"  # it failed
    assert "kind = \"demo\"" in dlg.params.toPlainText()
    dlg.retry_btn.click()
    until(qtbot, lambda: len([r for r in ta.window.runs_model.loaded_runs()
                              if r["job"] == "fails"]) == 2, timeout=10_000)
    newest = find_run(ta, "fails")
    assert newest["trigger"] == "retry" and newest["retry_of"] == run["id"]
    # The details follow the retry, to watch it run.
    until(qtbot, lambda: dlg.run_id == newest["id"] and dlg.run and dlg.run["id"] == newest["id"])
    assert dlg.windowTitle().startswith(f"Run {newest['id']} ")
    # Said once, as a link: not "retry (retry of run 1)".
    assert re.fullmatch(rf"retry of <a href='[\w-]+:{run['id']}'>run {run['id']}</a>",
                        dlg.fields["trigger"].text())
    dlg.close()


def test_without_a_tray_a_final_failure_reaches_the_desktop_over_dbus(
        notification_bus, make_app, qtbot, monkeypatch):
    # make_app keeps tests off the session bus; this one has a bus of its own to talk to
    # (asked for first, so that it outlives the app).
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", notification_bus.address)
    ta = make_app()
    assert not ta.tray.available()  # offscreen: no tray, so D-Bus is the way
    ta.run_job("fails")
    until(qtbot, lambda: find_run(ta, "fails", "failed"), timeout=20_000)
    run = find_run(ta, "fails")
    # The Qt loop must turn (the router gathers a burst first): wait with qtbot.
    until(qtbot, lambda: notification_bus.daemon.received, timeout=10_000)
    (note,) = notification_bus.daemon.received
    assert note["app_name"] == "trayjobs" and note["summary"] == "fails failed"
    assert note["body"] == ("failing on purpose (attempt 1, told to fail 9 times)\n"
                            f"Run {run['id']} · click for details")
    assert note["hints"]["urgency"] == ("y", 2)
    ta.router.flush()
    assert len(notification_bus.daemon.received) == 1  # once, for the final failure


def app_failures(ta) -> list[str]:
    return [t for t in ta.tray.texts("failures") if t not in ("Show all failures",)]


def test_a_burst_of_failures_is_one_notification_that_opens_the_list(make_app, qtbot):
    ta = make_app()
    for _ in range(3):
        ta.run_job("fails")
    until(qtbot, lambda: len([r for r in ta.window.runs_model.loaded_runs()
                              if r["state"] == "failed"]) == 3, timeout=20_000)
    until(qtbot, lambda: ta.notifier.sent, timeout=5000)
    ta.router.flush()
    assert len(ta.notifier.sent) == 1, ta.notifier.sent
    note = ta.notifier.sent[0]
    assert note["title"] == "3 runs failed"
    what, target = note["target"]
    assert what == "runs" and target["job"] == "fails" and target["states"] == ("failed",)
    ta.open_target(note["target"])
    page = ta.window.activity
    assert ta.window.tabs.currentWidget() is page
    assert page.current_filter().job == "fails"
    assert page.current_filter().states == ("failed",)
    until(qtbot, lambda: ta.window.runs_model.total == 3)


def test_pause_from_the_tray_persists(app, qtbot, home):
    pause = app.tray.action("pause")
    assert pause.text() == "Pause all"
    pause.trigger()
    until(qtbot, lambda: app.paused, timeout=5000)
    assert app.tray.action("pause").text() == "Resume"
    # With a key of its own, as "&Pause all" had (r, u, m are Run now, Duplicate, Metrics).
    page = app.window.jobs_page
    assert page.pause_btn.text() == "Resume a&ll"
    keys = [b.text().lower().split("&")[1][0] for b in page.findChildren(QPushButton)
            if "&" in b.text()]
    assert keys.count("l") == 1
    assert app.tray.state == "paused"
    with closing(open_store(home)) as store:
        assert store.get_value("paused") == "1"
    # Every page says so, with the way back.
    banner = app.window.paused_banner
    assert not banner.isHidden() and "All jobs are paused" in banner.text()
    banner.linkActivated.emit("resume")
    until(qtbot, lambda: not app.paused, timeout=5000)
    assert banner.isHidden()


def test_one_job_paused_from_its_menu(app, qtbot, home):
    page = app.window.jobs_page
    job = app.window.jobs_model.job_at(app.window.jobs_model.row_of("count"))
    menu = page.context_menu_for(job)
    act = next(a for a in menu.actions() if a.objectName() == "pause")
    assert act.text() == "Pause this job"
    act.trigger()
    jobs = app.window.jobs_model
    until(qtbot, lambda: jobs.index(jobs.row_of("count"), JobsModel.NEXT).data()
          .startswith("paused · next slot "))  # not due yet: its time when resumed
    with closing(open_store(home)) as store:
        assert store.job_states()["count"]["paused"] == 1


def test_without_a_tray_the_window_opens_and_closing_asks(app, qtbot):
    # Offscreen has no system tray: the window must be there instead.
    assert not app.tray.available()
    assert app.window.isVisible()
    with answer_next_box("Keep running"):
        app.window.close()
    assert not app._quitting  # still running, in the background
    with qtbot.waitSignal(app.stopped, timeout=20_000), answer_next_box("Quit", check_box=True):
        app.window.close()
    assert app.qsettings.value("window/close_action") == "quit"


def test_enable_switch_writes_the_config_and_keeps_comments(app, qtbot, home):
    jobs = app.window.jobs_model
    idx = jobs.index(jobs.row_of("count"), JobsModel.ENABLED)
    assert idx.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert jobs.setData(idx, Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    until(qtbot, lambda: "enabled = false" in home.config_file.read_text())
    text = home.config_file.read_text()
    assert "# Jobs for the window tests." in text and "[jobs.count]  # counts to ten" in text
    until(qtbot, lambda: app.engine.config.jobs["count"].enabled is False)
    until(qtbot, lambda: jobs.index(jobs.row_of("count"), JobsModel.NEXT).data() == "off")
    assert app.tray.texts("runNow") == ["fails"]  # only enabled jobs in Run now


def test_duplicate_and_delete_a_job(app, qtbot, home):
    page = app.window.jobs_page
    page.select("count")
    page.duplicate_selected()
    until(qtbot, lambda: "count copy" in app.engine.config.jobs)
    assert app.engine.config.jobs["count copy"].enabled is False
    assert app.engine.config.jobs["count copy"].params.steps == 10
    until(qtbot, lambda: app.window.jobs_model.row_of("count copy") is not None)
    page.select("count copy")
    with answer_next_box("Cancel"):
        page.delete_selected()
    assert "count copy" in home.config_file.read_text()
    assert "count copy" in app.engine.config.jobs
    with answer_next_box("Delete"):
        page.delete_selected()
    until(qtbot, lambda: "count copy" not in app.engine.config.jobs)
    assert "[jobs.\"count copy\"]" not in home.config_file.read_text()
    assert "# counts to ten" in home.config_file.read_text()


def test_deleting_the_first_job_keeps_the_next_jobs_comments(make_app, qtbot, home):
    # They sat at the end of the first job's table as tomlkit reads the file, and went with it.
    head = "# My jobs.\n"
    first = '\n# count: the first job\n[jobs.count]\nkind = "demo"\nevery = "1h"\n'
    rest = ('\n# fails: keep these words\n# and these\n[jobs.fails]  # inline\nkind = "demo"\n'
            'steps = 2\n\n[jobs.fails.retry]\nattempts = 1\n\n# The end.\n')
    app = make_app(head + first + rest)
    page = app.window.jobs_page
    page.select("count")
    with answer_next_box("Delete"):
        page.delete_selected()
    until(qtbot, lambda: "count" not in app.engine.config.jobs)
    assert home.config_file.read_text() == head + rest


def test_a_hand_edit_of_the_config_is_reloaded_with_its_errors(app, qtbot, home):
    text = home.config_file.read_text()
    home.config_file.write_text(text + dedent("""
        [jobs.later]
        kind = "demo"
        every = "2h"
        [jobs.typo]
        kind = "demo"
        stepz = 3
    """))
    jobs = app.window.jobs_model
    until(qtbot, lambda: jobs.row_of("later") is not None, timeout=10_000)
    assert jobs.index(jobs.row_of("later"), JobsModel.TRIGGER).data() == "Every 2 hours"
    assert "unknown key; did you mean 'steps'?" in app.window.banner.text()
    # Not even a broken file stops the app: it shows why.
    home.config_file.write_text("[jobs.count\nkind = ")
    until(qtbot, lambda: "not valid TOML" in app.window.banner.text(), timeout=10_000)
    assert app.engine is not None


def _drop(window, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    ev = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                    Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(ev)


def test_files_dropped_on_the_window_run_a_chosen_job(make_app, qtbot, home, tmp_path):
    ta = make_app(CONFIG + dedent(f"""
        [jobs.bank]
        kind = "import"
        database = "{tmp_path / 'bank.db'}"
        processed_dir = "leave"
    """))
    csv = tmp_path / "bank-2024.csv"
    csv.write_text("date,amount\n2024-01-02,3.50\n2024-01-03,-1\n")
    _drop(ta.window, [csv])
    until(qtbot, lambda: ta.window.drop_menu is not None)
    names = [a.objectName() for a in ta.window.drop_menu.actions()]
    assert "drop:bank" in names and "drop:count" not in names
    next(a for a in ta.window.drop_menu.actions() if a.objectName() == "drop:bank").trigger()
    until(qtbot, lambda: find_run(ta, "bank", "succeeded"), timeout=20_000)
    run = find_run(ta, "bank")
    assert run["trigger"] == "drop" and run["inputs"]["files"] == [str(csv)]
    assert "2 rows" in run["result"]["summary"]


def test_undo_a_cleanup_run_from_its_details(make_app, qtbot, tmp_path):
    src, dest = tmp_path / "Scratch", tmp_path / "Old"
    src.mkdir()
    old = time.time() - 90 * 86400
    for name in ("a.log", "b.log"):
        (src / name).write_text("x")
        os.utime(src / name, (old, old))
    ta = make_app(dedent(f"""
        [jobs.tidy]
        kind = "cleanup"
        locations = ["{src}"]
        filters = [{{ age = "older than 30d" }}]
        action = {{ move = "{dest}" }}
    """))
    ta.run_job("tidy")
    until(qtbot, lambda: find_run(ta, "tidy", "succeeded"), timeout=20_000)
    assert sorted(p.name for p in dest.iterdir()) == ["a.log", "b.log"]
    dlg = ta.open_run(find_run(ta, "tidy")["id"])
    until(qtbot, lambda: dlg.run is not None)
    assert dlg.undo_btn.isVisible() and dlg.undo_btn.isEnabled()
    assert mnemonic_clashes(dlg) == {}  # "Res&ult data" and "&Undo…" shared Alt+U
    assert dlg.open_btn.isEnabled()
    assert any("Old" in label for label in [dlg.fields["links"].text()])
    dlg.undo(confirm=False)
    until(qtbot, lambda: sorted(p.name for p in src.iterdir()) == ["a.log", "b.log"],
          timeout=20_000)
    until(qtbot, lambda: dlg.run and (dlg.run.get("result") or {}).get("undo"))
    assert not dlg.undo_btn.isEnabled()
    dlg.close()


def test_import_details_link_to_the_rejected_rows(make_app, qtbot, tmp_path):
    ta = make_app(dedent(f"""
        [jobs.bank]
        kind = "import"
        database = "{tmp_path / 'bank.db'}"
        processed_dir = "leave"
        types = {{ amount = "real" }}
    """))
    csv = tmp_path / "bank.csv"
    csv.write_text("date,amount\n2024-01-02,3.50\n2024-01-03,lots\n")
    ta.run_job("bank", files=[str(csv)])
    until(qtbot, lambda: find_run(ta, "bank", "succeeded"), timeout=20_000)
    dlg = ta.open_run(find_run(ta, "bank")["id"])
    until(qtbot, lambda: dlg.run is not None)
    assert "1 rejected row (quarantine)" in dlg.fields["links"].text()
    dlg.open_link(f"trayjobs-rejected:{dlg.run_id}")
    from trayjobs.ui.details import RejectedRows
    rejected = dlg.findChild(RejectedRows)
    until(qtbot, lambda: rejected.table.rowCount() == 1)
    assert rejected.table.item(0, 1).text() == "3"
    assert "amount" in rejected.table.item(0, 2).text()
    dlg.close()


def test_latest_report_in_the_tray(make_app, qtbot, home):
    ta = make_app(dedent("""
        [jobs.activity]
        kind = "report"
        builtin = "job-activity"
        formats = ["html"]
    """))
    assert not ta.tray.action("latestReport").isEnabled()
    ta.run_job("activity")
    until(qtbot, lambda: find_run(ta, "activity", "succeeded"), timeout=30_000)
    until(qtbot, lambda: ta.tray.action("latestReport").isEnabled())
    assert Path(ta.latest_report()).name == "activity-latest.html"
    assert Path(ta.latest_report()).exists()


def test_quit_while_the_engine_starts_stops_it(qtbot, home):
    from trayjobs.instance import InstanceLock
    from trayjobs.ui.app import TrayApp
    home.config_file.write_text(CONFIG)
    ta = TrayApp(home, grace=1.0)
    with qtbot.waitSignal(ta.stopped, timeout=30_000):
        ta.start()
        ta.quit()  # before the boot thread has brought the engine up
    assert not InstanceLock(home).is_locked()


IMPORT_JOB = """
    [jobs.bank]
    kind = "import"
    database = "{db}"
    table = "t"
    retry = {{ attempts = 1 }}
"""


def test_a_failed_import_is_retried_from_its_details_once_its_file_is_fixed(make_app, qtbot,
                                                                            tmp_path):
    ta = make_app(dedent(IMPORT_JOB.format(db=tmp_path / "bank.db")))
    csv = tmp_path / "inbox" / "bank.csv"
    csv.parent.mkdir()
    csv.write_bytes(b"")
    ta.run_job("bank", files=[str(csv)])
    until(qtbot, lambda: find_run(ta, "bank", "failed"), timeout=20_000)
    until(qtbot, lambda: ta.notifier.sent, timeout=5000)
    failed = tmp_path / "inbox" / "failed" / "bank.csv"
    assert failed.exists() and not csv.exists()
    dlg = ta.open_run(find_run(ta, "bank")["id"])
    until(qtbot, lambda: dlg.run is not None)
    # It changed nothing: there is nothing to undo.
    assert dlg.undo_btn.isVisible() and not dlg.undo_btn.isEnabled()
    assert "changed nothing" in dlg.undo_btn.toolTip()
    failed.write_text("id,amount\n1,2\n")  # fixed where the .error.txt says it is
    dlg.retry_btn.click()
    until(qtbot, lambda: find_run(ta, "bank", "succeeded"), timeout=20_000)
    run = find_run(ta, "bank", "succeeded")
    assert run["inputs"]["files"] == [str(csv)] and run["result"]["rows"] == 1
    assert (tmp_path / "inbox" / "processed" / "bank.csv").exists()
    assert not (tmp_path / "inbox" / "failed" / "bank.csv.error.txt").exists()
    until(qtbot, lambda: dlg.run and dlg.run["id"] == run["id"]
          and dlg.run["state"] == "succeeded")
    assert dlg.undo_btn.isEnabled()  # this one imported a row
    ta.router.flush()
    assert len(ta.notifier.sent) == 1  # the first failure only


def test_undo_of_a_failed_run_does_not_notify_its_failure_again(make_app, qtbot, tmp_path):
    ta = make_app(dedent(IMPORT_JOB.format(db=tmp_path / "bank.db")))
    good, bad = tmp_path / "jan.csv", tmp_path / "feb.csv"
    good.write_text("id,amount\n1,2\n")
    bad.write_bytes(b"")
    ta.run_job("bank", files=[str(good), str(bad)])
    until(qtbot, lambda: find_run(ta, "bank", "failed"), timeout=20_000)
    until(qtbot, lambda: ta.notifier.sent, timeout=5000)
    dlg = ta.open_run(find_run(ta, "bank")["id"])
    until(qtbot, lambda: dlg.run is not None)
    assert dlg.undo_btn.isEnabled()  # jan.csv was imported before feb.csv failed
    dlg.undo(confirm=False)
    until(qtbot, lambda: dlg.run and (dlg.run.get("result") or {}).get("undo"), timeout=20_000)
    ta.router.flush()
    assert len(ta.notifier.sent) == 1
    assert not dlg.undo_btn.isEnabled()


def test_run_now_of_a_job_that_needs_files_asks_for_them(make_app, qtbot, tmp_path):
    inbox = tmp_path / "Inbox"
    inbox.mkdir()
    ta = make_app(dedent(IMPORT_JOB.format(db=tmp_path / "bank.db")) + dedent(f"""
        watch = {{ folder = "{inbox}", patterns = ["*.csv"] }}
    """))
    ta.tray.action("run:bank").trigger()  # from the tray: the window's file dialog
    until(qtbot, lambda: getattr(ta, "file_dialog", None) is not None)
    dlg = ta.file_dialog
    assert dlg.isVisible() and dlg.directory().absolutePath() == str(inbox)
    # It offers the files the job's folder takes first, not every file there is.
    assert dlg.nameFilters() == ["Files bank takes (*.csv)", "All files (*)"]
    dlg.reject()
    assert "not started" in ta.window.statusBar().currentMessage()
    csv = tmp_path / "jan.csv"
    csv.write_text("id,amount\n1,2\n")
    ta.tray.action("run:bank").trigger()
    until(qtbot, lambda: ta.file_dialog is not dlg and ta.file_dialog.isVisible())
    ta.file_dialog.selectFile(str(csv))
    ta.file_dialog.accept()
    until(qtbot, lambda: find_run(ta, "bank", "succeeded"), timeout=20_000)
    assert find_run(ta, "bank")["inputs"]["files"] == [str(csv)]
    assert ta.window.runs_model.total == 1  # no failed run before it
    ta.router.flush()
    assert ta.notifier.sent == []


def test_opening_a_running_run_does_not_read_the_whole_history_again(make_app, qtbot):
    # Opening details marks a finished run seen; only a run that needed attention changes what
    # the Activity page and the tray show. A running one re-read the history (count,
    # first page, columns re-measured) and the jobs' health: a stall of the window.
    ta = make_app(CONFIG.replace("step_time = 0.05", "step_time = 0.3"))
    model = ta.window.runs_model
    ta.run_job("count")
    until(qtbot, lambda: find_run(ta, "count", "running"))
    rid = find_run(ta, "count")["id"]
    # The start's own reload of the jobs (its schedule was planned) is done first: on a
    # busy machine it came in the middle of what is measured here.
    # The start's own reload of the jobs (its schedule was planned) is done first: on a
    # busy machine it came in the middle of what is measured here.
    jobs_settled(qtbot, ta)
    resets, loads = [], ta.jobs_loads
    model.modelReset.connect(lambda: resets.append(1))
    dlg = ta.open_run(rid)
    flushed = []
    ta.service.call(lambda: None, lambda _r: flushed.append(1))  # after mark_seen's answer
    until(qtbot, lambda: flushed)
    assert find_run(ta, "count", "running")
    assert ta.engine.store.get_run(rid)["seen"] == 0  # how it ends is not known yet
    assert resets == [] and ta.jobs_loads == loads
    dlg.close()


def test_a_log_longer_than_the_view_says_so_and_saves_whole(make_app, qtbot, monkeypatch,
                                                             tmp_path):
    from trayjobs.ui import details
    monkeypatch.setattr(details, "LOG_LINES", 100)
    # The view is handed only what it keeps: given all of a big log to lay out, and only
    # then cutting it, it held the window still for seconds.
    handed = []
    set_text = details.QPlainTextEdit.setPlainText
    monkeypatch.setattr(details.QPlainTextEdit, "setPlainText",
                        lambda view, text: (handed.append(text.count("\n") + 1),
                                            set_text(view, text)))
    ta = make_app(CONFIG + '\n[jobs.chatty]\nkind = "command"\ncommand = "seq 300"\n')
    ta.run_job("chatty")
    until(qtbot, lambda: find_run(ta, "chatty", "succeeded"), timeout=10_000)
    dlg = ta.open_run(find_run(ta, "chatty")["id"])
    # Before the run is read, nothing offers to cancel, undo or apply what is not known.
    assert not dlg.cancel_btn.isEnabled() and not dlg.retry_btn.isEnabled()
    assert dlg.undo_btn.isHidden() and dlg.apply_btn.isHidden()
    until(qtbot, lambda: dlg.log_note.isVisibleTo(dlg))
    assert dlg.retry_btn.isEnabled()
    assert dlg.retry_btn.text() == "Run a&gain"  # it succeeded: nothing to retry
    shown = dlg.log.toPlainText().splitlines()
    assert len(shown) == 100 and shown[-1].split()[-1] == "300"
    assert handed and max(handed) <= 100
    assert "last 100 of 30" in dlg.log_note.text()  # the log's own lines besides the 300
    assert f"trayjobs show {dlg.run_id}" in dlg.log_note.text()
    out = tmp_path / "saved.log"
    dlg.write_log(out)
    until(qtbot, lambda: "saved to" in dlg.log_note.text())
    saved = out.read_text().splitlines()
    import re
    numbers = [m[1] for m in map(re.compile(r"(?:\S+ \S+ +)?(\d+)").fullmatch, saved) if m]
    assert numbers == [str(i) for i in range(1, 301)]
    warned = []
    monkeypatch.setattr(details.QMessageBox, "warning", lambda *a: warned.append(a[2]))
    dlg.write_log(tmp_path / "no-such-folder" / "x.log")
    until(qtbot, lambda: warned)
    assert "could not be written" in warned[0] and "No such file" in warned[0]
    dlg.close()


def test_save_log_writes_a_log_of_more_entries_than_a_page(make_app, qtbot, tmp_path):
    # The store hands a log 10,000 entries a read: Save log wrote the first 10,000 of a
    # longer one and said "The whole log was saved".
    ta = make_app(CONFIG)
    store = ta.engine.store
    rid = store.create_run("count", kind="demo", trigger="manual", state="succeeded")
    store.add_logs(rid, [(1.0 + i, "info", f"entry {i}") for i in range(25_001)])
    dlg = ta.open_run(rid)
    out = tmp_path / "saved.log"
    dlg.write_log(out)
    until(qtbot, lambda: "saved to" in dlg.log_note.text(), timeout=20_000)
    saved = out.read_text().splitlines()
    assert len(saved) == 25_001
    assert saved[0].endswith("entry 0") and saved[-1].endswith("entry 25000")
    dlg.close()


def test_a_huge_log_opens_reading_only_what_the_view_keeps(make_app, qtbot, monkeypatch):
    # A run's details read its whole log to show the last lines of it: a 100 MB log (a
    # million entries) took 10 s and 900 MB before the window showed anything.
    from trayjobs.ui import details
    monkeypatch.setattr(details, "LOG_LINES", 1000)
    ta = make_app(CONFIG)
    store = ta.engine.store
    rid = store.create_run("count", kind="demo", trigger="manual", state="succeeded")
    store.add_logs(rid, [(1.0 + i, "info", f"entry {i}") for i in range(30_000)])
    store.add_logs(rid, [(40_000.0, "info", "two\nlines")])
    read = []
    for name in ("logs", "log_tail"):
        real = getattr(store, name)

        def counting(*a, real=real, **kw):
            out = real(*a, **kw)
            read.append(len(out[0] if isinstance(out, tuple) else out))
            return out
        monkeypatch.setattr(store, name, counting)
    import threading
    written_on_gui = []
    line = details.RunDetails._line
    monkeypatch.setattr(details.RunDetails, "_line", staticmethod(
        lambda *a: (written_on_gui.append(threading.current_thread() is threading.main_thread()),
                    line(*a))[1]))
    dlg = ta.open_run(rid)
    until(qtbot, lambda: dlg.log_note.isVisibleTo(dlg))
    shown = dlg.log.toPlainText().splitlines()
    assert len(shown) == 1000 and shown[-2].endswith("two") and shown[-1] == "lines"
    # Nor written out on the GUI thread: 50,000 lines held the window 0.5 s.
    assert len(written_on_gui) >= 1000 and not any(written_on_gui)
    assert shown[0].endswith("entry 29002")
    assert "last 1,000 of 30,002 lines" in dlg.log_note.text()
    assert sum(read) <= 1000, read
    dlg.close()


def test_the_details_log_shows_its_newest_lines_and_follows_them(make_app, qtbot):
    # Opened on a run that has logged more than the view holds, the log showed its first
    # lines and stayed there while new ones came in below, out of sight; at the run's end
    # the whole log came again, at the top.
    ta = make_app(CONFIG + '\n[jobs.chatty]\nkind = "command"\n'
                  'command = "seq 200; sleep 1; seq 201 400; sleep 1"\n')
    ta.run_job("chatty")
    until(qtbot, lambda: find_run(ta, "chatty", "running"), timeout=10_000)
    rid = find_run(ta, "chatty")["id"]
    until(qtbot, lambda: any(l["message"].endswith("200") for l in ta.engine.store.logs(rid)))
    dlg = ta.open_run(rid)
    dlg.show()
    bar = dlg.log.verticalScrollBar()
    until(qtbot, lambda: dlg.log.toPlainText().endswith("200"))
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    until(qtbot, lambda: dlg.log.toPlainText().endswith("400"))
    assert bar.value() == bar.maximum()  # followed the live lines
    bar.setValue(bar.maximum() // 2)  # reading: the lines coming do not pull the view away
    until(qtbot, lambda: find_run(ta, "chatty", "succeeded"), timeout=10_000)
    until(qtbot, lambda: dlg._log_whole)
    assert 0 < bar.value() < bar.maximum()
    dlg.close()
    dlg = ta.open_run(find_run(ta, "chatty")["id"])
    dlg.show()
    until(qtbot, lambda: dlg._log_whole)
    bar = dlg.log.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    dlg.close()


def test_a_retrying_runs_details_say_when_its_next_attempt_starts(make_app, qtbot):
    ta = make_app(CONFIG.replace("retry = { attempts = 1 }",
                                 'retry = { attempts = 3, backoff = "1h", jitter = false }'))
    ta.run_job("fails")
    until(qtbot, lambda: find_run(ta, "fails", "retrying"), timeout=20_000)
    dlg = ta.open_run(find_run(ta, "fails")["id"])
    until(qtbot, lambda: dlg.run is not None and dlg.run["state"] == "retrying")
    # It said "retrying (attempt 2 of 3 00:57:21)", a time with no word for it.
    assert re.search(r">retrying \(attempt 2 of 3 at (\w+ )?\d\d:\d\d:\d\d\)<",
                     dlg.fields["state"].text()), dlg.fields["state"].text()
    dlg.close()


def test_a_run_of_a_job_named_in_arabic_has_its_title_read_left_to_right(make_app, qtbot):
    from PySide6.QtGui import QTextDocument
    name = "نسخ احتياطي للصور"
    ta = make_app(f'[jobs."{name}"]\nkind = "demo"\nsteps = 1\nstep_time = 0\n')
    ta.run_job(name)
    until(qtbot, lambda: find_run(ta, name, "succeeded"), timeout=20_000)
    dlg = ta.open_run(find_run(ta, name)["id"])
    until(qtbot, lambda: dlg.run is not None)
    doc = QTextDocument()
    doc.setHtml(dlg.title.text())
    assert doc.toPlainText().endswith(f"{name} (demo) · run {dlg.run_id}")
    # Not laid out right to left as a whole: "run 1 · (demo) <name>", at the far end.
    assert doc.begin().textDirection() == Qt.LayoutDirection.LeftToRight
    dlg.close()


def test_enter_in_a_runs_details_closes_them(make_app, qtbot):
    from PySide6.QtWidgets import QPushButton
    ta = make_app()
    ta.run_job("count")
    until(qtbot, lambda: find_run(ta, "count", "succeeded"), timeout=20_000)
    dlg = ta.open_run(find_run(ta, "count")["id"])
    until(qtbot, lambda: dlg.run is not None)
    qtbot.waitExposed(dlg)
    # Not "Save log…", the first button, which Qt made the default: Enter opened a file
    # dialog.
    assert [b.text() for b in dlg.findChildren(QPushButton) if b.isDefault()] == ["Close"]
    assert dlg.focusWidget() is dlg.log
    qtbot.keyClick(dlg.log, Qt.Key.Key_Return)
    until(qtbot, lambda: not dlg.isVisible())


def test_a_one_off_runs_details_say_its_time_and_cancel_it(make_app, qtbot):
    # The list said "waiting until 23:59"; the details said "scheduled" with no time, and
    # the time it was asked for as "Started".
    ta = make_app(CONFIG)
    rid = ta.engine.submit("count", trigger="manual", due_at=time.time() + 3600)
    dlg = ta.open_run(rid)
    until(qtbot, lambda: dlg.run is not None)
    # (An hour from 23:00 on is tomorrow: its day is named.)
    assert re.search(r">waiting until (\w+ )?\d\d:\d\d \(in (1 h 00|59) min\)<",
                     dlg.fields["state"].text())
    assert dlg.fields["started"].text().startswith("not yet (asked for at ")
    assert dlg.cancel_btn.isEnabled() and not dlg.retry_btn.isEnabled()
    dlg.cancel()
    until(qtbot, lambda: dlg.run["state"] == "cancelled")
    assert not dlg.cancel_btn.isEnabled()
    assert dlg.fields["started"].text().startswith("never (asked for at ")
    dlg.close()


def test_the_details_show_the_end_of_a_log_written_line_by_line(make_app, qtbot,
                                                                 monkeypatch):
    # Only the first page of log entries was read (10,000 of them): a program writing
    # a line at a time showed its beginning and never its end.
    from trayjobs.ui import details
    monkeypatch.setattr(details, "LOG_PAGE", 20)
    ta = make_app(CONFIG + '\n[jobs.slow]\nkind = "command"\n'
                  'command = "for i in $(seq 60); do echo $i; sleep 0.01; done"\n')
    ta.run_job("slow")
    until(qtbot, lambda: find_run(ta, "slow", "succeeded"), timeout=10_000)
    rid = find_run(ta, "slow")["id"]
    assert len(ta.engine.store.logs(rid)) > 40  # entries enough for three pages
    dlg = ta.open_run(rid)
    until(qtbot, lambda: dlg._log_whole)
    numbers = [int(line.split()[-1]) for line in dlg.log.toPlainText().splitlines()
               if line.split() and line.split()[-1].isdigit()]
    assert numbers == list(range(1, 61))
    dlg.close()


def test_details_of_a_run_without_progress_do_not_animate(make_app, qtbot):
    # A job that reports no progress: the bar says so, without Qt's busy animation (which
    # repainted it ~50 times a second for as long as the run went on).
    from PySide6.QtCore import QEvent, QObject
    ta = make_app(CONFIG + '\n[jobs.quiet]\nkind = "command"\ncommand = ["sleep", "30"]\n')
    ta.run_job("quiet")
    until(qtbot, lambda: find_run(ta, "quiet", "running"), timeout=10_000)
    dlg = ta.open_run(find_run(ta, "quiet")["id"])
    until(qtbot, lambda: dlg.progress.isVisibleTo(dlg))
    assert dlg.progress.maximum() > 0 and dlg.progress.text() == "running"

    class Paints(QObject):
        n = 0

        def eventFilter(self, obj, ev):  # noqa: N802 (Qt's name)
            if ev.type() == QEvent.Type.Paint:
                self.n += 1
            return False

    paints = Paints()
    dlg.progress.installEventFilter(paints)
    qtbot.wait(1000)
    assert paints.n <= 5  # the busy animation: about 50
    ta.cancel_run(dlg.run_id)
    until(qtbot, lambda: find_run(ta, "quiet", "cancelled"), timeout=10_000)
    # Cancelled is not an error: the details say why it ended, the log warns.
    until(qtbot, lambda: dlg.fields["error"].text() == "cancelled")
    assert dlg.form.labelForField(dlg.fields["error"]).text() == "Why:"
    until(qtbot, lambda: "cancelled" in dlg.log.toPlainText())
    line = next(ln for ln in dlg.log.toPlainText().splitlines() if ln.endswith("cancelled"))
    assert "ERROR" not in line.upper(), line
    dlg.close()


def test_run_details_are_live_progress_time_log_and_timeline(make_app, qtbot):
    ta = make_app(CONFIG.replace("step_time = 0.05", "step_time = 0.3")
                  .replace("steps = 10", "steps = 20"))
    ta.run_job("count")
    until(qtbot, lambda: find_run(ta, "count"))
    dlg = ta.open_run(find_run(ta, "count")["id"])  # opened while it starts
    until(qtbot, lambda: dlg.progress.isVisibleTo(dlg) and dlg.progress.value() > 0)
    assert "step" in dlg.progress.text() and "%" in dlg.progress.text()
    # The log streams while the run goes on (not only at its end).
    until(qtbot, lambda: "attempt 1 of " in dlg.log.toPlainText())
    assert ta.engine.store.get_run(dlg.run_id)["state"] == "running"
    until(qtbot, lambda: find_run(ta, "count", "running"))  # the list follows, batched
    took = dlg.fields["took"].text()
    until(qtbot, lambda: dlg.fields["took"].text() != took, timeout=3000)  # it counts
    assert dlg.form.labelForField(dlg.fields["took"]).text() == "Running for:"  # not "Took"
    assert find_run(ta, "count", "running")
    assert dlg.timeline.topLevelItem(0).text(2)  # the attempt going on counts too
    value = dlg.progress.value()
    until(qtbot, lambda: dlg.progress.value() > value, timeout=3000)
    until(qtbot, lambda: find_run(ta, "count", "succeeded"), timeout=20_000)
    until(qtbot, lambda: not dlg.progress.isVisibleTo(dlg))
    assert dlg.form.labelForField(dlg.fields["took"]).text() == "Took:"
    assert dlg.log.toPlainText().count("attempt 1 of ") == 1
    assert dlg.timeline.topLevelItem(0).text(3) == "succeeded"
    dlg.close()


def test_the_tray_always_shows_the_app_icon_with_a_badge(app):
    from PySide6.QtGui import QColor
    from trayjobs.ui.icons import icon
    own = icon("trayjobs").pixmap(32, 32).toImage()
    for state, badge in (("failed", 2), ("warning", 1), ("running", 0), ("idle", 0)):
        app.tray.set_state(state, "tip", badge=badge)
        shown = app.tray.icon.icon().pixmap(32, 32).toImage()
        # the top left is the app's own icon (a whole red tile read as a "no entry" sign)
        assert shown.pixelColor(4, 16) == own.pixelColor(4, 16), state
        corner = shown.pixelColor(27, 27)
        if state == "failed":
            assert corner.red() > 180 and corner.green() < 90, corner.name()
        elif state == "idle":
            assert corner == own.pixelColor(27, 27)
    assert QColor(own.pixelColor(4, 16)).blue() > 150


def test_a_cleanup_preview_is_applied_from_its_details(make_app, qtbot, tmp_path):
    src, dest = tmp_path / "Scratch", tmp_path / "Old"
    src.mkdir()
    old = time.time() - 90 * 86400
    for name in ("a.log", "b.log"):
        (src / name).write_text("x")
        os.utime(src / name, (old, old))
    ta = make_app(dedent(f"""
        [jobs.tidy]
        kind = "cleanup"
        locations = ["{src}"]
        filters = [{{ age = "older than 30d" }}]
        action = {{ move = "{dest}" }}
        preview = true
    """))
    ta.run_job("tidy")
    until(qtbot, lambda: find_run(ta, "tidy", "succeeded"), timeout=20_000)
    preview = find_run(ta, "tidy", "succeeded")
    (src / "c.log").write_text("x")  # arrives after the preview: not part of it
    os.utime(src / "c.log", (old, old))
    dlg = ta.open_run(preview["id"])
    until(qtbot, lambda: dlg.run is not None and dlg.apply_btn.isEnabled())
    assert dlg.apply_btn.isVisible() and not dlg.undo_btn.isEnabled()
    dlg.apply_btn.click()
    until(qtbot, lambda: dest.is_dir() and sorted(p.name for p in dest.iterdir())
          == ["a.log", "b.log"], timeout=20_000)
    assert sorted(p.name for p in src.iterdir()) == ["c.log"]
    until(qtbot, lambda: any(r["id"] != preview["id"] and r["state"] == "succeeded"
                             for r in ta.window.runs_model.loaded_runs()), timeout=20_000)
    applied = next(r for r in ta.window.runs_model.loaded_runs() if r["id"] != preview["id"])
    assert applied["inputs"]["plan"]["from_run"] == preview["id"]
    details = ta.details  # the applied run's own window opened
    until(qtbot, lambda: details.run_id == applied["id"] and details.run is not None)
    assert not details.apply_btn.isVisible()
    details.close()
    dlg.close()


def test_a_failed_runs_details_link_to_the_run_its_hook_started_and_back(make_app, qtbot):
    ta = make_app(CONFIG.replace("[jobs.fails]\n", '[jobs.fails]\non_failure = ["diagnose"]\n')
                  + '\n[jobs.diagnose]\nkind = "demo"\nsteps = 3\nstep_time = 0.1\n')
    ta.run_job("fails")
    until(qtbot, lambda: find_run(ta, "fails"), timeout=10_000)
    failed = find_run(ta, "fails")
    # Opened before the hook has started: its run shows up, and how it ends, as it goes.
    dlg = ta.open_run(failed["id"])
    until(qtbot, lambda: find_run(ta, "diagnose", "succeeded"), timeout=20_000)
    hook = find_run(ta, "diagnose")
    started = dlg.fields["started_runs"]
    until(qtbot, lambda: "succeeded" in started.text())
    assert started.text() == (f"on_failure: <a href='trayjobs-run:{hook['id']}'>run {hook['id']}"
                              f"</a> of diagnose, succeeded")
    assert dlg.form.isRowVisible(started)
    started.linkActivated.emit(f"trayjobs-run:{hook['id']}")  # a click on the link
    child = ta.details
    assert child is not dlg and child.run_id == hook["id"]
    until(qtbot, lambda: child.run is not None)
    assert f"(after <a href='trayjobs-run:{failed['id']}'>run {failed['id']}</a>)" in (
        child.fields["trigger"].text())
    assert not child.form.isRowVisible(child.fields["started_runs"])  # it started none
    child.fields["trigger"].linkActivated.emit(f"trayjobs-run:{failed['id']}")
    assert ta.details is dlg  # the parent's details, open already, come to the front
    child.close()
    dlg.close()



STUBBORN_APP = """
import sys
from PySide6.QtWidgets import QApplication, QWidget
from trayjobs.paths import Home
from trayjobs.ui.app import run_app

class Stubborn(QWidget):  # a window that refuses to close, as a dialog waiting for an answer
    def closeEvent(self, event):
        event.ignore()

app = QApplication(sys.argv)
stubborn = Stubborn()
stubborn.show()
sys.exit(run_app(Home.under(sys.argv[1])))
"""


def test_sigterm_ends_the_app_even_while_a_window_refuses_to_close(home, tmp_path):
    # Once the engine has stopped the app must go: a window that refuses to close vetoed
    # Qt's quit(), leaving a window up whose engine had stopped and ran no job. SIGTERM (a
    # logout) and the tray's Quit both end there. The real app, in a process of its own.
    import signal
    import subprocess
    import sys
    import time

    from trayjobs.instance import InstanceLock
    home.config_file.write_text(CONFIG)
    script = tmp_path / "stubborn_app.py"
    script.write_text(STUBBORN_APP)
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(script), str(home.root)],
                                stdout=subprocess.DEVNULL, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while not InstanceLock(home).is_locked():  # its engine runs
            assert proc.poll() is None, err.read_text()[-2000:]
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, err.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _inotify_instances() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += "inotify" in os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="Linux's /proc")
def test_an_app_that_quit_holds_no_inotify_instance(make_app, qtbot):
    # The jobs file's watcher kept its inotify instance after the app quit: a user has 128
    # of them, and a process that started and quit apps ran out, its watched folders then
    # "unavailable".
    before = _inotify_instances()
    ta = make_app()
    assert _inotify_instances() > before  # the jobs file is watched
    with qtbot.waitSignal(ta.stopped, timeout=20_000):
        ta.quit()
    until(qtbot, lambda: _inotify_instances() == before)
