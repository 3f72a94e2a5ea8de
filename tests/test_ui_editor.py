"""The job editor: forms per kind, inline validation, the trigger editor, preview, saving."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from types import SimpleNamespace

import pytest
from pydantic import Field
from PySide6.QtCore import Qt, QTime, QTimer

from trayjobs.kinds import JobKind, KindParams, registry
from trayjobs.ui.editor import JobEditor
from trayjobs.ui.editor.trigger import days_cron, every_parts, next_runs, parse_days_cron
from trayjobs.ui.jobs_model import JobsModel
from trayjobs.ui.theme import state_colour
from trayjobs.schedule import Cron

from ui_support import (CONFIG, answer_next_box, app, check_form, editor_app, editor_for,  # noqa: F401
                        find_run, make_app, mnemonic_clashes, until)


def editor(qtbot, home, *, name=None, values=None, text=CONFIG) -> JobEditor:
    app = editor_app(home)
    return editor_for(qtbot, app, JobEditor(app, name=name,
                                            values=values or {"kind": "import"}, config_text=text))


def test_trigger_words_round_trip():
    assert days_cron(["mon", "tue", "wed", "thu", "fri"], 9, 0) == "0 9 * * mon-fri"
    assert days_cron(["sat", "sun"], 10, 30) == "30 10 * * sat,sun"
    assert days_cron(["mon", "thu"], 7, 5) == "5 7 * * mon,thu"
    assert parse_days_cron("0 9 * * 1-5") == (["mon", "tue", "wed", "thu", "fri"], 9, 0)
    assert parse_days_cron("15 6 * * *")[0] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert parse_days_cron("0 9 1 * *") is None and parse_days_cron("*/5 * * * *") is None
    # digits a str.isdigit takes but int() does not: not a days schedule, not an error
    assert parse_days_cron("² 9 * * mon") is None and parse_days_cron("0 9 * * ²") is None
    assert every_parts(5400) == (90, "minutes") and every_parts(7200) == (2, "hours")
    runs = next_runs(Cron("0 9 * * mon-fri"), 5, datetime(2024, 1, 5, 10, 0).astimezone())
    assert [r.strftime("%a %H:%M") for r in runs] == ["Mon 09:00", "Tue 09:00", "Wed 09:00",
                                                      "Thu 09:00", "Fri 09:00"]


def test_a_schedules_error_stays_while_the_job_has_no_name_yet(qtbot, home):
    # A new job's schedule is often set before its name: the check of the whole form,
    # stopped by the missing name, wiped the schedule's own error, and "61 * * * *" looked
    # accepted.
    dlg = editor(qtbot, home, values={"kind": "demo"})
    dlg.trigger.mode.button(dlg.trigger.CRON).setChecked(True)
    dlg.trigger.cron.setText("61 * * * *")
    assert not check_form(qtbot, dlg)
    assert "minute 61 is out of range 0-59" in dlg.trigger.schedule_error.text()
    assert not dlg.trigger.schedule_error.isHidden()
    # in the colour of the form's other errors, not the black of its help text
    image = dlg.trigger.schedule_error.grab().toImage()
    red = state_colour("failed").rgb()
    assert any(image.pixel(x, y) == red for x in range(image.width())
               for y in range(image.height()))
    dlg.trigger.cron.setText("0 9 * * mon")
    assert not check_form(qtbot, dlg)  # the name is still missing, but the schedule is fine now
    assert dlg.trigger.schedule_error.isHidden()
    assert "next runs" in dlg.trigger.next_label.text()


def test_an_existing_job_is_shown_and_errors_appear_under_their_field(qtbot, home):
    values = {"kind": "demo", "steps": 10, "step_time": 0.05, "every": "1h"}
    dlg = editor(qtbot, home, name="count", values=values)
    assert dlg.valid
    assert dlg.rows["steps"].editor.value() == (True, 10)
    assert dlg.trigger.mode.checkedId() == dlg.trigger.EVERY
    assert "Every hour" in dlg.trigger.next_label.text()
    # An impossible cron: the schedule says why, and the job cannot be saved.
    dlg.trigger.mode.button(dlg.trigger.CRON).setChecked(True)
    dlg.trigger.cron.setText("0 25 * * *")
    assert not check_form(qtbot, dlg)
    assert "hour 25 is out of range 0-23" in dlg.trigger.schedule_error.text()
    assert not dlg.save_btn.isEnabled()
    dlg.trigger.cron.setText("*/15 9-17 * * mon-fri")
    assert check_form(qtbot, dlg) and dlg.save_btn.isEnabled()
    assert len(dlg.trigger.upcoming) == 5  # the next five runs, listed
    assert all(r.strftime("%a") not in ("Sat", "Sun") and 9 <= r.hour <= 17
               for r in dlg.trigger.upcoming)
    assert dlg.trigger.upcoming[0].strftime("%a %d %b %H:%M") in dlg.trigger.next_label.text()
    # A number out of range is stopped by its box; a bad value typed as text is explained.
    dlg.rows["retry.backoff"].editor.w.setText("soon")
    assert not check_form(qtbot, dlg)
    assert "not a duration" in dlg.rows["retry.backoff"].error.text()


def test_a_new_import_job_is_checked_as_it_is_filled_in(qtbot, home):
    dlg = editor(qtbot, home)
    assert not check_form(qtbot, dlg)
    assert dlg.name_error.text() == "Give the job a name."
    # Before anything is typed it is a hint (muted), not an error (red); after, an error.
    from trayjobs.ui.theme import muted_colour, state_colour
    assert muted_colour().name() in dlg.name_error.styleSheet()
    qtbot.keyClicks(dlg.name, "x")
    dlg.name.clear()
    assert not check_form(qtbot, dlg) and state_colour("failed").name() in dlg.name_error.styleSheet()
    dlg.name.setText("count")
    assert not check_form(qtbot, dlg) and "already a job" in dlg.name_error.text()
    dlg.name.setText("Bank imports")
    assert check_form(qtbot, dlg)
    dlg.rows["mode"].editor.w.setCurrentText("upsert")
    assert not check_form(qtbot, dlg)
    # Under the field to change, not at the foot of the form.
    assert "needs pk" in dlg.rows["mode"].error.text() and "needs pk" not in dlg.errors.text()
    dlg.rows["pk"].editor.w.setText("id")
    dlg.rows["types"].editor.w.setText('{ zip = "text" }')
    assert check_form(qtbot, dlg)
    values = dlg.values()
    assert values == {"kind": "import", "mode": "upsert", "pk": ["id"], "types": {"zip": "text"}}
    dlg.rows["types"].editor.w.setText('{ zip = }')
    assert not check_form(qtbot, dlg) and dlg.rows["types"].error.isVisibleTo(dlg)


def test_a_command_line_is_typed_as_it_would_be_in_a_terminal(qtbot, home, tmp_path):
    script = tmp_path / "nightly.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    dlg = editor(qtbot, home, name="nightly", values={"kind": "command", "command": ["true"]})
    command = dlg.rows["command"].editor.w
    assert command.placeholderText().startswith("a shell line, e.g. ~/bin/backup.sh")
    assert dlg.rows["success_codes"].editor.w.placeholderText() == "default: [0]"
    command.setText(f"{script} --all")  # no quotes: a shell line, as the README writes it
    assert check_form(qtbot, dlg), dlg.rows["command"].error.text()
    assert dlg.values()["command"] == f"{script} --all"
    command.setText('["rsync", "-a"')  # a list begun and not closed is still a mistake
    assert not check_form(qtbot, dlg) and dlg.rows["command"].error.text().startswith("Command:")


def test_kind_change_rebuilds_the_form(qtbot, home):
    dlg = editor(qtbot, home, values={"kind": "demo", "steps": 3, "every": "2h"})
    dlg.name.setText("x")
    dlg.kind.setCurrentText("report")
    assert "steps" not in dlg.rows and "builtin" in dlg.rows
    assert not check_form(qtbot, dlg) and "Built-in report" in dlg.errors.text()
    dlg.rows["builtin"].editor.w.setCurrentText("job-activity")
    assert check_form(qtbot, dlg)
    assert dlg.values()["every"] == "2h"  # the trigger stays


def test_days_trigger_and_watch_folder(qtbot, home, tmp_path):
    dlg = editor(qtbot, home)
    dlg.name.setText("inbox")
    t = dlg.trigger
    # Runs by hand miss nothing: "Runs missed while…" shows only with a schedule.
    assert t.mode.checkedId() == t.MANUAL and t.missed_row.isHidden()
    t.mode.button(t.DAYS).setChecked(True)
    assert not t.missed_row.isHidden()
    for d, box in t.day_boxes.items():
        box.setChecked(d in ("sat", "sun"))
    t.at.setTime(QTime(8, 15))
    t.watch_on.setChecked(True)
    t.watch_folder.setText(str(tmp_path))
    t.watch_patterns.setText("*.csv, *.tsv")
    assert check_form(qtbot, dlg)
    v = dlg.values()
    assert v["cron"] == "15 8 * * sat,sun"
    assert v["watch"] == {"folder": str(tmp_path), "patterns": ["*.csv", "*.tsv"]}
    assert "Sundays" in t.next_label.text() or "Weekends" in t.next_label.text()


def test_save_writes_the_file_keeping_comments_and_reloads(app, qtbot, home):
    app.edit_job("count")
    until(qtbot, lambda: getattr(app, "editor", None) is not None)
    dlg = app.editor
    assert dlg.windowTitle().startswith("Edit count")
    dlg.rows["steps"].editor.w.setValue(4)
    t = dlg.trigger
    t.mode.button(t.DAYS).setChecked(True)
    for d, box in t.day_boxes.items():
        box.setChecked(d in ("mon", "tue", "wed", "thu", "fri"))
    t.at.setTime(QTime(7, 30))
    with qtbot.waitSignal(dlg.saved, timeout=10_000):
        dlg.save()
    text = home.config_file.read_text()
    assert "# Jobs for the window tests." in text and "[jobs.count]  # counts to ten" in text
    assert 'steps = 4\n' in text and 'cron = "30 7 * * mon-fri"' in text and "every" not in text
    assert app.engine.config.jobs["count"].params.steps == 4
    jobs = app.window.jobs_model
    until(qtbot, lambda: jobs.index(jobs.row_of("count"), JobsModel.TRIGGER).data()
          == "Weekdays at 07:30")


def test_a_save_keeps_the_keys_the_form_has_no_field_for(make_app, qtbot, home):
    # Tags, host, ping, stale_after, alerts, deliver, on_failure and always have no field:
    # a save from the editor took them out of the file.
    kept = ('tags = ["home"]\nhost = "nas"\nping = "https://hc-ping.com/x"\n'
            'stale_after = "3d"\nalerts = ["me"]\ndeliver = { to = ["me"] }\n'
            'on_failure = ["other"]\nalways = ["other"]\n')
    app = make_app(f'[jobs.count]\nkind = "demo"\nsteps = 3\n{kept}\n'
                   f'[jobs.other]\nkind = "demo"\n\n[alerts.me]\nurl = "json://localhost:9/"\n')
    app.edit_job("count")
    until(qtbot, lambda: getattr(app, "editor", None) is not None)
    dlg = app.editor
    dlg.rows["steps"].editor.w.setValue(4)
    with qtbot.waitSignal(dlg.saved, timeout=10_000):
        dlg.save()
    assert f'steps = 4\n{kept}' in home.config_file.read_text()
    # Made a job of another kind, it keeps those every job has, not the old kind's own.
    app.edit_job("count")
    until(qtbot, lambda: getattr(app, "editor", None) is not None and app.editor is not dlg)
    dlg = app.editor
    dlg.kind.setCurrentIndex(dlg.kind.findData("command"))
    dlg.rows["command"].editor.w.setText("true")
    values = dlg.values()
    assert "steps" not in values and values["host"] == "nas" and values["tags"] == ["home"]


@pytest.mark.parametrize("values", [
    # A tab or a space as the delimiter, no quoting: the field read them as empty, and a
    # save from the editor took them out of the file (the delimiter sniffed again, the
    # quotes read again).
    {"kind": "import", "delimiter": "\t", "quotechar": ""},
    {"kind": "import", "delimiter": " ", "quotechar": " "},
    # Spaces the field trims, and defaults written out, are kept as written.
    {"kind": "report", "builtin": "job-activity", "title": " x ", "description": " d "},
    {"kind": "demo", "enabled": True, "description": "", "when_unknown": "run",
     "at_login": False, "when": {}, "params": {}, "inhibit_sleep": False},
])
def test_fields_left_as_they_were_give_back_the_jobs_own_values(qtbot, home, values):
    dlg = editor(qtbot, home, name="j", values=values)
    assert dlg.values() == values
    assert not dlg.changed_since_opened()


@pytest.mark.parametrize("every", [1_000_000, "100001s", 86401])
def test_a_long_interval_is_shown_and_saved_as_written(qtbot, home, every):
    # The box stopped at 100,000: every = 1000000 (seconds) was shown as 100000 seconds,
    # and a save wrote every = "100000s", a tenth of it.
    dlg = editor(qtbot, home, name="j", values={"kind": "demo", "every": every})
    assert dlg.values()["every"] == every
    assert dlg.trigger.every_n.value() == int(str(every).rstrip("s"))


def test_a_misspelt_kind_is_shown_and_said_until_the_right_one_is_chosen(qtbot, home):
    # The first kind of the list (cleanup) took its place with no word of it: a save made
    # the job a cleanup, and choosing "demo" then had lost its steps.
    dlg = editor(qtbot, home, name="j", values={"kind": "demoo", "steps": 3, "every": "1h"})
    assert dlg.kind.currentData() == "demoo"
    assert not check_form(qtbot, dlg)
    assert "unknown kind 'demoo'; did you mean 'demo'?" in dlg.errors.text()
    dlg.kind.setCurrentIndex(dlg.kind.findData("demo"))
    assert check_form(qtbot, dlg)
    assert dlg.values() == {"kind": "demo", "every": "1h", "steps": 3}


def test_a_new_job_starts_as_a_command_of_your_own_with_its_few_settings_first(app, qtbot):
    app.edit_job(None)
    until(qtbot, lambda: getattr(app, "editor", None) is not None)
    dlg = app.editor
    assert dlg.kind.currentData() == "command"
    assert dlg.kind_summary.text().startswith("Runs a program")
    shown = [k for k, r in dlg.rows.items() if k in dlg.param_keys and not r.in_more]
    assert shown == ["command", "cwd", "env"]  # the rest waits under "More options"
    assert not dlg.more_toggle.isChecked()
    assert "terminal" in dlg.rows["command"].help.text()
    dlg.name.setText("backup")
    dlg.rows["command"].editor.w.setText("true")
    assert check_form(qtbot, dlg) and dlg.values()["command"] == "true"


def test_a_command_line_that_looks_like_a_toml_value_is_still_a_command_line(qtbot, home):
    dlg = editor(qtbot, home, name="n", values={"kind": "command", "command": "date +%s"})
    command = dlg.rows["command"].editor.w
    assert command.text() == "date +%s"  # shown as typed, without TOML's quotes
    for line in ("true", "42", "2024-01-01", "inf"):
        command.setText(line)
        assert check_form(qtbot, dlg) and dlg.values()["command"] == line
    command.setText('"two words"')  # a quoted text is still TOML's
    assert dlg.values()["command"] == "two words"
    dlg = editor(qtbot, home, name="n", values={"kind": "command", "command": "42"})
    assert dlg.rows["command"].editor.w.text() == "42" and dlg.values()["command"] == "42"
    # where a number means something (a sheet's index), 2 stays a number, "2" a name
    dlg = editor(qtbot, home, name="n", values={"kind": "import", "sheet": "2"})
    assert dlg.rows["sheet"].editor.w.text() == '"2"'
    dlg.rows["sheet"].editor.w.setText("2")
    assert dlg.values()["sheet"] == 2


def test_a_new_job_from_the_editor_runs(app, qtbot, home):
    app.edit_job(None)
    until(qtbot, lambda: getattr(app, "editor", None) is not None)
    dlg = app.editor
    dlg.name.setText("quick")
    dlg.kind.setCurrentText("demo")
    dlg.rows["steps"].editor.w.setValue(2)
    dlg.rows["step_time"].editor.w.setValue(0)
    with qtbot.waitSignal(dlg.saved, timeout=10_000):
        dlg.save()
    until(qtbot, lambda: app.window.jobs_model.row_of("quick") is not None)
    # the new job is the current one: Run now runs it, not the job that was selected
    until(qtbot, lambda: (app.window.jobs_page.selected() or {}).get("name") == "quick")
    assert '[jobs.quick]\nkind = "demo"\nsteps = 2\nstep_time = 0.0\n' in home.config_file.read_text()
    app.tray.action("run:quick").trigger()
    until(qtbot, lambda: find_run(app, "quick", "succeeded"), timeout=15_000)


def test_cleanup_preview_lists_what_would_happen_and_touches_nothing(qtbot, home, tmp_path):
    src = tmp_path / "Downloads"
    src.mkdir()
    old = time.time() - 60 * 86400
    for name in ("a.zip", "b.zip", "keep.txt"):
        (src / name).write_text("x" * 10)
        os.utime(src / name, (old, old))
    dlg = editor(qtbot, home, values={"kind": "cleanup", "locations": [str(src)],
                                      "filters": [{"extension": "zip"}],
                                      "action": {"move": str(tmp_path / "Archive")}})
    dlg.name.setText("tidy")
    rows = dlg.rows
    assert rows["locations"].editor.value() == (True, [str(src)])
    assert rows["action"].editor.combo.currentData() == "move"
    flt = rows["filters"].editor
    flt.add_row({"age": "older than 30d"})
    assert flt.value() == (True, [{"extension": "zip"}, {"age": "older than 30d"}])
    assert check_form(qtbot, dlg)
    with qtbot.waitSignal(dlg.preview_runner.finished, timeout=30_000):
        dlg.run_preview()
    assert "would move 2 files" in dlg.preview.summary.text()
    table = dlg.preview.body.widget(0)
    assert table.rowCount() == 2
    assert {table.item(i, 1).text() for i in range(2)} == {str(src / "a.zip"), str(src / "b.zip")}
    assert sorted(p.name for p in src.iterdir()) == ["a.zip", "b.zip", "keep.txt"]
    assert not (tmp_path / "Archive").exists()


def test_import_preview_shows_types_first_rows_and_rejects(qtbot, home, tmp_path):
    csv = tmp_path / "bank.csv"
    csv.write_text("date,amount,note\n2024-01-02,3.50,coffee\n2024-01-03,lots,?\n"
                   "2024-01-04,-2,tea\n")
    dlg = editor(qtbot, home, values={"kind": "import", "types": {"amount": "real"}})
    dlg.name.setText("bank")
    dlg.preview_files = [str(csv)]
    with qtbot.waitSignal(dlg.preview_runner.finished, timeout=30_000):
        dlg.run_preview()
    assert "3 columns" in dlg.preview.summary.text()
    page = dlg.preview.body.widget(0)
    from PySide6.QtWidgets import QTableWidget
    tables = {t.accessibleName(): t for t in page.findChildren(QTableWidget)}
    types = tables["Detected types"]
    assert [types.item(0, i).text() for i in range(3)] == ["text", "real", "text"]
    assert tables["First rows"].rowCount() == 2
    assert tables["Rejected rows"].item(0, 0).text() == "3"
    assert not (home.data_dir / "data.db").exists()  # a preview writes nothing


def test_preview_asks_for_sample_files_and_fixes_first(qtbot, home):
    dlg = editor(qtbot, home)
    dlg.run_preview()
    assert "Fix the problems" in dlg.preview.summary.text()  # no name yet
    dlg.name.setText("bank")
    dlg.run_preview()
    until(qtbot, lambda: "Choose one or more sample files" in dlg.preview.summary.text())
    dlg.kind.setCurrentText("demo")
    assert not dlg.preview_btn.isEnabled()


def test_import_preview_takes_files_waiting_in_its_watched_folder(qtbot, home, tmp_path):
    inbox = tmp_path / "Inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text("x,y\n1,2\n")
    (inbox / "notes.txt").write_text("not for this job")
    dlg = editor(qtbot, home, values={"kind": "import",
                                      "watch": {"folder": str(inbox), "patterns": ["*.csv"]}})
    dlg.name.setText("inbox")
    with qtbot.waitSignal(dlg.preview_runner.finished, timeout=30_000):
        dlg.run_preview()
    assert dlg.preview_files == [str(inbox / "a.csv")]
    assert dlg.files_label.text() == "a.csv"
    assert "preview of a.csv: 2 columns" in dlg.preview.summary.text()


def test_messages_name_the_field_in_words_and_rules_keep_their_size(qtbot, home, tmp_path):
    values = {"kind": "cleanup", "locations": [str(tmp_path)],
              "filters": [{"age": "old"}, {"size": "huge"}]}
    dlg = editor(qtbot, home, name="tidy", values=values)
    dlg.resize(760, 420)  # short: the form scrolls rather than squeezing the rules
    dlg.show()
    qtbot.waitExposed(dlg)
    assert not check_form(qtbot, dlg)
    text = dlg.rows["filters"].error.text()
    assert "Filters, rule 1: age 'old'" in text and "Filters, rule 2: size 'huge'" in text
    assert "age.age" not in text and "item" not in text
    qtbot.wait(0)
    for rule in dlg.rows["filters"].editor.rows:
        assert rule.height() >= rule.sizeHint().height()
        assert rule.text.height() >= rule.text.sizeHint().height()
    dlg.rows["locations"].editor.set_value(True, [])
    assert not check_form(qtbot, dlg)
    assert dlg.rows["locations"].error.text() == "Locations: add at least one"


def test_the_form_does_not_jump_as_messages_come_and_go(qtbot, home):
    dlg = editor(qtbot, home, name="count", values={"kind": "demo", "steps": 3})
    dlg.show()
    qtbot.waitExposed(dlg)
    assert check_form(qtbot, dlg)
    tabs, steps = dlg.tabs.geometry(), dlg.rows["steps"].help.geometry()
    dlg.name.setText("")  # a message under the name, and one under a field
    dlg.rows["retry.backoff"].editor.w.setText("soon")
    assert not check_form(qtbot, dlg)
    qtbot.wait(0)
    assert dlg.name_error.isVisible() and dlg.tabs.geometry() == tabs
    assert dlg.rows["steps"].help.geometry() == steps


def test_a_python_job_without_call_or_file_says_so_in_the_forms_words(qtbot, home):
    dlg = editor(qtbot, home, values={"kind": "python"})
    dlg.name.setText("mine")
    assert not check_form(qtbot, dlg)
    assert dlg.errors.text() == ("Fill in either Call (package.module:function) or File "
                                 "(a .py file), not both")


def test_a_cron_line_with_an_impossible_time_is_shown_as_written_not_changed(qtbot, home):
    # "0 25 * * *" is no time of day: the Days editor cannot show it, and must not turn it
    # into 09:00 (Save would then write a schedule nobody chose).
    from trayjobs.ui.editor.trigger import parse_days_cron
    assert parse_days_cron("0 25 * * *") is None and parse_days_cron("61 9 * * *") is None
    dlg = editor(qtbot, home, values={"kind": "command", "command": "true",
                                      "cron": "0 25 * * *"})
    dlg.name.setText("x")
    t = dlg.trigger
    assert t.mode.checkedId() == t.CRON and t.cron.text() == "0 25 * * *"
    assert not check_form(qtbot, dlg) and not dlg.save_btn.isEnabled()


def test_a_report_with_neither_builtin_nor_sections_says_so_in_the_forms_words(qtbot, home):
    dlg = editor(qtbot, home, values={"kind": "report"})
    dlg.name.setText("mine")
    assert not check_form(qtbot, dlg)
    assert dlg.errors.text() == ("Choose a Built-in report (job-activity or imported-data), or "
                                 "add Sections, each with a title and a query")


def test_escape_on_a_changed_form_asks(qtbot, home):
    dlg = editor(qtbot, home)
    dlg.show()
    qtbot.keyClick(dlg, Qt.Key.Key_Escape)  # nothing typed yet: closes without a question
    assert not dlg.isVisible()
    dlg = editor(qtbot, home)
    dlg.show()
    dlg.name.setText("half done")
    with answer_next_box("Keep editing") as asked:
        qtbot.keyClick(dlg, Qt.Key.Key_Escape)
    assert "Discard your changes to half done?" in asked[0] and dlg.isVisible()
    with answer_next_box("Discard"):
        qtbot.keyClick(dlg, Qt.Key.Key_Escape)
    assert not dlg.isVisible()


def test_nothing_is_saved_that_cannot_run(qtbot, home, tmp_path):
    # No rules and no preview: it would act on everything in the folder.
    dlg = editor(qtbot, home, name="tidy", values={"kind": "cleanup", "locations": [str(tmp_path)],
                                                   "filters": []})
    assert not check_form(qtbot, dlg) and not dlg.save_btn.isEnabled()
    assert "add a rule (one for every item: { name = \"*\" }), or switch preview on" in \
        dlg.rows["filters"].error.text()
    dlg.rows["preview"].editor.w.setChecked(True)
    assert check_form(qtbot, dlg) and dlg.save_btn.isEnabled()
    dlg.rows["preview"].editor.w.setChecked(False)
    dlg.rows["filters"].editor.add_row({"extension": "tmp"})
    assert check_form(qtbot, dlg)


def test_the_editor_fits_a_small_screen_whatever_the_kind(qtbot, home):
    # Every option a job may have (retries, alerts, pings, conditions...) once made the
    # Options tab 945 px tall and the editor taller than a laptop's screen.
    from trayjobs.kinds.registry import kind_names
    for kind in kind_names():
        dlg = editor(qtbot, home, values={"kind": kind})
        assert dlg.minimumSizeHint().height() <= 650, (kind, dlg.minimumSizeHint())


def test_one_text_where_a_list_may_be_is_one_item_of_the_list(qtbot, home):
    # pk = "id" is the import's ["id"]: the form must not read it as ["i", "d"] and save that.
    dlg = editor(qtbot, home, name="bank", values={"kind": "import", "table": "t",
                                                   "mode": "upsert", "pk": "id"})
    assert dlg.rows["pk"].editor.w.text() == "id"
    assert check_form(qtbot, dlg)
    assert dlg.values()["pk"] == "id"  # as the file has it (the kind reads it as ["id"])


def test_the_editor_writes_true_false_and_numbers_as_toml_types(qtbot, home):
    # The config's keys take TOML's own true/false and numbers, not text that looks like
    # one: every value the form writes must be of its key's type, or the job it saved
    # would be refused.
    from trayjobs.config import parse_config
    from trayjobs.config_edit import toml_value
    dlg = editor(qtbot, home, values={"kind": "demo", "steps": 3})
    dlg.rows["steps"].editor.w.setValue(7)
    dlg.rows["step_time"].editor.w.setValue(0.25)
    dlg.rows["hang"].editor.w.setChecked(True)
    dlg.rows["priority"].editor.w.setValue(5)
    dlg.rows["retry.attempts"].editor.w.setValue(4)
    dlg.rows["retry.jitter"].editor.w.setChecked(False)
    c = dlg.conditions
    c.battery_on.setChecked(True)
    c.battery.setValue(40)
    c.cpu_on.setChecked(True)
    c.cpu.setValue(50)
    values = dlg.values()
    assert (values["steps"], values["step_time"], values["hang"], values["priority"]) == (
        7, 0.25, True, 5)
    assert type(values["steps"]) is int and type(values["hang"]) is bool
    assert type(values["step_time"]) is float and type(values["priority"]) is int
    assert values["retry"] == {"attempts": 4, "jitter": False}
    assert type(values["retry"]["jitter"]) is bool
    assert values["when"] == {"battery_above": 40, "cpu_below": 50}
    text = "[jobs.x]\n" + "".join(f"{k} = {toml_value(v).as_string()}\n"
                                  for k, v in values.items())
    cfg = parse_config(text)
    assert cfg.errors == [] and cfg.jobs["x"].params.hang is True, text



def test_a_pattern_that_can_backtrack_is_a_warning_under_its_rule_not_a_refusal(qtbot, home,
                                                                               tmp_path):
    values = {"kind": "cleanup", "locations": [str(tmp_path)], "preview": True,
              "filters": [{"age": "older than 1d"}, {"regex": "^(a+)+$"}]}
    dlg = editor(qtbot, home, name="tidy", values=values)
    assert check_form(qtbot, dlg) and dlg.save_btn.isEnabled()
    said = dlg.rows["filters"].error.text()
    assert said.startswith("Warning: Filters, rule 2: regex '^(a+)+$' has a repeat inside a "
                           "repeat"), said
    dlg.rows["filters"].editor.set_value(True, [{"regex": "^a+$"}])
    assert check_form(qtbot, dlg) and dlg.rows["filters"].error.text() == ""


def test_a_save_does_not_overwrite_what_changed_in_the_file_since_the_editor_opened(
        app, qtbot, home):
    # The editor wrote its whole form over the job: a hand edit made to the same job while
    # the editor was open was lost, and a new job saved under a name just added by hand
    # replaced that job, both without a word.
    app.edit_job("count")
    until(qtbot, lambda: getattr(app, "editor", None) is not None)
    dlg = app.editor
    dlg.description.setText("from the editor")
    path = home.config_file
    path.write_text(path.read_text().replace("steps = 10", "steps = 7"))
    dlg.save()
    until(qtbot, lambda: dlg.errors.text().startswith("Not saved"))
    assert "count was changed in the jobs file since this editor opened" in dlg.errors.text()
    assert "steps = 7" in path.read_text() and "from the editor" not in path.read_text()
    assert dlg.isVisible() and dlg.description.text() == "from the editor"  # nothing lost
    dlg.done(0)

    app.edit_job(None)
    until(qtbot, lambda: getattr(app, "editor", None) is not None and app.editor is not dlg)
    new = app.editor
    new.name.setText("fresh")
    new.rows["command"].editor.w.setText("true")
    path.write_text(path.read_text() + '\n[jobs.fresh]\nkind = "demo"  # mine\n')
    new.save()
    until(qtbot, lambda: new.errors.text().startswith("Not saved"))
    assert "a job called “fresh” was added to the jobs file" in new.errors.text()
    assert 'kind = "demo"  # mine' in path.read_text()


def test_a_read_only_jobs_file_is_not_written_and_the_editor_says_why(app, qtbot, home):
    # The file was replaced all the same (a new file renamed over it, given its mode), so a
    # jobs file made read-only to keep it as it is was changed from the window anyway.
    path = home.config_file
    before = path.read_text()
    path.chmod(0o444)
    app.edit_job("count")
    until(qtbot, lambda: getattr(app, "editor", None) is not None)
    dlg = app.editor
    dlg.description.setText("changed")
    dlg.save()
    until(qtbot, lambda: dlg.errors.text().startswith("Not saved"))
    assert f"{path} is read-only" in dlg.errors.text() and "chmod u+w" in dlg.errors.text()
    assert path.read_text() == before and dlg.isVisible() and dlg.save_btn.isEnabled()
    path.chmod(0o644)
    with qtbot.waitSignal(dlg.saved, timeout=10_000):
        dlg.save()
    assert 'description = "changed"' in path.read_text()


def test_a_watched_folder_written_in_short_is_shown_not_dropped(qtbot, home, tmp_path):
    # `watch = "~/Downloads"` (the file's check asks for a table) opened as a job watching
    # nothing, and a save took the folder out of the job for good; a pattern written as a
    # string went the same way.
    dlg = editor(qtbot, home, name="j", values={"kind": "import", "watch": str(tmp_path)})
    assert dlg.trigger.watch_on.isChecked() and dlg.trigger.watch_folder.text() == str(tmp_path)
    assert dlg.trigger.values()["watch"] == {"folder": str(tmp_path)}
    dlg = editor(qtbot, home, name="j", values={
        "kind": "import", "watch": {"folder": str(tmp_path), "patterns": "*.csv"}})
    assert dlg.trigger.values()["watch"] == {"folder": str(tmp_path), "patterns": ["*.csv"]}


def test_an_every_the_file_cannot_read_is_kept_and_explained_not_made_hourly(qtbot, home):
    # `every = "1 fortnight"` opened as "Every 1 hour", accepted: a save made the job hourly.
    dlg = editor(qtbot, home, name="j", values={"kind": "demo", "every": "1 fortnight"})
    assert dlg.trigger.values()["every"] == "1 fortnight"
    assert not check_form(qtbot, dlg) and not dlg.save_btn.isEnabled()
    assert "fortnight" in dlg.trigger.schedule_error.text()
    dlg.trigger.every_n.setValue(14)
    dlg.trigger.every_unit.setCurrentIndex(dlg.trigger.every_unit.findData("days"))
    assert dlg.trigger.values()["every"] == "14d" and check_form(qtbot, dlg)


def test_a_lone_folder_or_rule_written_without_brackets_is_shown_as_one_item(qtbot, home):
    # `locations = "~/Downloads"` opened as eleven folders of one letter each ("/", "t", …),
    # and `filters = { age = "older than 30d" }` as no rule at all.
    dlg = editor(qtbot, home, name="j", values={
        "kind": "cleanup", "locations": "/tmp/in", "filters": {"age": "older than 30d"}})
    assert dlg.rows["locations"].editor.value() == (True, ["/tmp/in"])
    assert dlg.rows["filters"].editor.value() == (True, [{"age": "older than 30d"}])


def test_a_one_item_list_written_as_text_is_written_back_as_it_was(qtbot, home):
    # `pk = "id"` and `then = "tidy"` (a list of one, written short) came back as
    # ["id"] and ["tidy"] after a save that changed something else.
    text = ('[jobs.j]\nkind = "import"\ndatabase = "/tmp/x.db"\ntable = "t"\npk = "id"\n'
            'then = "tidy"\n\n[jobs.tidy]\nkind = "demo"\n')
    values = {"kind": "import", "database": "/tmp/x.db", "table": "t", "pk": "id",
              "then": "tidy"}
    dlg = editor(qtbot, home, name="j", values=values, text=text)
    out = dlg.values()
    assert out["pk"] == "id" and out["then"] == "tidy"
    dlg.rows["pk"].editor.w.setText("id, day")
    assert dlg.values()["pk"] == ["id", "day"]


def test_an_environment_value_written_as_a_toml_true_or_number_is_shown_as_written(qtbot, home):
    # `DEBUG = true` (the file asks for text in quotes) became the text "True", Python's
    # spelling: a program testing for "true" or "1" was then given something else.
    dlg = editor(qtbot, home, name="j", values={
        "kind": "command", "command": "true", "env": {"DEBUG": True, "N": 3, "R": 0.5}})
    assert dlg.rows["env"].editor.value() == (True, {"DEBUG": "true", "N": "3", "R": "0.5"})
    assert check_form(qtbot, dlg)


def test_an_every_the_boxes_can_only_come_near_is_kept_while_they_are_untouched(qtbot, home):
    dlg = editor(qtbot, home, name="j", values={"kind": "demo", "every": 5400.5})
    assert dlg.trigger.values()["every"] == 5400.5  # not "90m"
    dlg.trigger.every_n.setValue(2)
    dlg.trigger.every_unit.setCurrentIndex(dlg.trigger.every_unit.findData("hours"))
    assert dlg.trigger.values()["every"] == "2h"


class _LookParams(KindParams):
    path: str = Field(description="A file the kind's own check reads.")


class _LookKind(JobKind):
    """A plug-in whose own check reads a file, as one on a network mount may be read."""

    name = "look"
    summary = "Reads a file when checked."
    Params = _LookParams

    @classmethod
    def problems(cls, params):
        with open(params.path, "rb") as f:  # a FIFO: waits until something writes to it
            said = f.read()
        return [] if said == b"ok" else [("path", f"the file says {said.decode()}")]

    def run(self, ctx, params):
        return {"summary": "looked"}


def _answer_later(fifo, release: threading.Event, text: bytes) -> threading.Thread:
    """Write ``text`` into the FIFO once released (or after 5 s, so that a check that held
    the GUI thread fails the test rather than hangs it)."""
    def write():
        release.wait(5)
        with open(fifo, "wb") as f:
            f.write(text)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_a_check_that_waits_on_a_file_does_not_hold_the_window(qtbot, home, tmp_path,
                                                              monkeypatch):
    # The whole check ran on the GUI thread: a job naming a folder on a mount that does not
    # answer froze the window as the person typed.
    monkeypatch.setitem(registry._KINDS, "look", _LookKind)
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_bytes(b"ok")
    bad.write_bytes(b"no")
    slow, slower = tmp_path / "slow", tmp_path / "slower"
    os.mkfifo(slow)
    os.mkfifo(slower)
    dlg = editor(qtbot, home, name="look", values={"kind": "look", "path": str(good)},
                 text='[jobs.look]\nkind = "look"\npath = "x"\n')
    assert dlg.valid
    path = dlg.rows["path"].editor.w
    ticks = []
    clock = QTimer(dlg, interval=20)
    clock.timeout.connect(lambda: ticks.append(time.monotonic()))
    clock.start()

    release = threading.Event()
    writer = _answer_later(slow, release, b"late")
    path.setText(str(slow))
    dlg.check()
    qtbot.wait(600)
    assert len(ticks) >= 15, "the window stopped while the check waited on the file"
    assert dlg.checking and not release.is_set()
    until(qtbot, lambda: "Still checking" in dlg.errors.text())
    release.set()
    until(qtbot, lambda: not dlg.checking)
    writer.join(5)
    assert not dlg.valid and not dlg.save_btn.isEnabled()
    assert "the file says late" in dlg.rows["path"].error.text()
    assert "Still checking" not in dlg.errors.text()

    # Typing on while a check waits: only the newest form's answer is shown; the late
    # answer about what was typed before is dropped when it comes.
    release = threading.Event()
    writer = _answer_later(slower, release, b"stale")
    path.setText(str(slower))
    dlg.check()
    path.setText(str(bad))
    dlg.check()
    until(qtbot, lambda: not dlg.checking)  # answered though the first one still waits
    assert "the file says no" in dlg.rows["path"].error.text() and not dlg.valid
    # and the checks after it do not wait behind the one that hangs
    path.setText(str(good))
    asked = time.monotonic()
    assert check_form(qtbot, dlg) and dlg.save_btn.isEnabled()
    assert time.monotonic() - asked < 1.0
    release.set()
    writer.join(5)
    until(qtbot, lambda: not dlg._out)
    assert dlg.valid and dlg.rows["path"].error.text() == ""


def test_spaces_around_a_name_are_trimmed_where_they_are_seen(qtbot, home):
    # "count " was trimmed only on the way to the file: a rename, or another job's name,
    # with no word of it.
    dlg = editor(qtbot, home, values={"kind": "demo"})
    dlg.show()
    qtbot.waitExposed(dlg)
    dlg.activateWindow()
    dlg.name.setFocus()
    until(qtbot, dlg.name.hasFocus)
    qtbot.keyClicks(dlg.name, "Nightly ")  # the gap before the next word is no error
    assert check_form(qtbot, dlg) and dlg.name_error.text() == ""
    qtbot.keyClicks(dlg.name, "sync")
    assert check_form(qtbot, dlg)
    dlg.name.clear()
    qtbot.keyClicks(dlg.name, "count ")  # another job's name, with a space after it
    assert not check_form(qtbot, dlg)
    assert dlg.name_error.text() == "There is already a job called “count”."
    qtbot.keyClick(dlg.name, Qt.Key.Key_Tab)  # leaving the field trims it, in sight
    until(qtbot, lambda: dlg.name.text() == "count")
    assert not check_form(qtbot, dlg) and "already a job" in dlg.name_error.text()
    # a leading space is told at once, with what to write
    dlg.name.setText(" backup")
    assert not check_form(qtbot, dlg) and not dlg.save_btn.isEnabled()
    assert dlg.name_error.text() == ("A job name cannot begin or end with a space: write "
                                     "“backup” (leaving the field trims it).")
    # Save trims it too, where it is seen, before anything is written
    dlg.name.setText(" count")
    dlg.save()
    assert dlg.name.text() == "count"
    until(qtbot, lambda: not dlg.checking)
    assert "already a job" in dlg.name_error.text() and dlg.isVisible()


def test_a_job_whose_name_has_spaces_in_the_file_is_told_so_not_saved_as_another(qtbot, home):
    text = '[jobs." spaced"]\nkind = "demo"\n\n[jobs.spaced]\nkind = "demo"\n'
    dlg = editor(qtbot, home, name=" spaced", values={"kind": "demo"}, text=text)
    assert not dlg.valid and not dlg.save_btn.isEnabled()
    assert "cannot begin or end with a space: write “spaced”" in dlg.name_error.text()
    dlg.name.editingFinished.emit()
    until(qtbot, lambda: dlg.name.text() == "spaced")
    assert not check_form(qtbot, dlg)
    assert dlg.name_error.text() == "There is already a job called “spaced”."


def test_a_message_stays_until_the_next_answer_replaces_it(qtbot, home):
    # Cleared when a check was asked and shown again when it answered, every message
    # blinked at each pause in typing.
    dlg = editor(qtbot, home, name="tidy", values={"kind": "cleanup"})
    said = dlg.rows["locations"].error.text()
    assert said == "Locations: add at least one"
    dlg.description.setText("my downloads")
    dlg.check()
    assert dlg.checking and dlg.rows["locations"].error.text() == said
    until(qtbot, lambda: not dlg.checking)
    assert dlg.rows["locations"].error.text() == said
    dlg.rows["locations"].editor.add_folder(str(home.root))
    check_form(qtbot, dlg)  # the answer replaces it
    assert dlg.rows["locations"].error.text() == ""


def test_an_editor_closed_while_its_check_waits_takes_the_late_answer_quietly(
        qtbot, home, tmp_path, monkeypatch):
    monkeypatch.setitem(registry._KINDS, "look", _LookKind)
    good, slow = tmp_path / "good", tmp_path / "slow"
    good.write_bytes(b"ok")
    os.mkfifo(slow)
    app = editor_app(home)
    dlg = JobEditor(app, name="look", values={"kind": "look", "path": str(good)},
                    config_text='[jobs.look]\nkind = "look"\npath = "x"\n')
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # as the app opens it
    gone = []
    dlg.destroyed.connect(lambda: gone.append(True))
    until(qtbot, lambda: not dlg.checking)
    release = threading.Event()
    writer = _answer_later(slow, release, b"late")
    dlg.rows["path"].editor.w.setText(str(slow))
    dlg.check()
    dlg.close()
    until(qtbot, lambda: gone)
    release.set()
    writer.join(5)
    # the check's thread has handed its answer to the window, which takes it quietly
    until(qtbot, lambda: not any(t.name == "trayjobs-ui-slow" for t in threading.enumerate()))
    qtbot.wait(50)
    app.service.stop()


def test_the_forms_of_command_and_python_jobs_offer_max_memory(qtbot, home, tmp_path):
    job = tmp_path / "job.py"
    job.write_text("def main(ctx):\n    return 'ok'\n")
    for values in ({"kind": "command", "command": ["true"]},
                   {"kind": "python", "file": str(job)}):
        dlg = editor(qtbot, home, name="limited", values=values)
        assert check_form(qtbot, dlg), values
        row = dlg.rows["max_memory"]
        assert row.help.text().startswith("The most memory the job may take")
        row.editor.w.setText("2 gigs")
        assert not check_form(qtbot, dlg)
        assert "'2 gigs' is not a size" in row.error.text()
        row.editor.w.setText("2 GB")
        assert check_form(qtbot, dlg)
        assert dlg.values() == {**values, "max_memory": "2 GB"}


def test_tab_goes_from_the_tabs_through_the_fields_to_the_buttons(qtbot, home):
    from PySide6.QtWidgets import QApplication, QScrollArea, QTabBar

    def stops(dlg) -> list[str]:
        dlg.name.setFocus()
        until(qtbot, lambda: dlg.name.hasFocus())
        names = []
        while True:
            dlg.focusNextChild()
            w = QApplication.focusWidget()
            if w is dlg.name or len(names) > 60:
                return names
            assert not isinstance(w, QScrollArea), names  # a stop nothing shows
            names.append("tabs" if isinstance(w, QTabBar) else w.accessibleName())

    dlg = editor(qtbot, home, values={"kind": "command"})
    dlg.show()
    qtbot.waitExposed(dlg)
    dlg.rows["command"].editor.w.setText("true")
    dlg.name.setText("backup")
    assert check_form(qtbot, dlg)
    got = stops(dlg)
    assert got[:6] == ["Kind", "Description", "Enabled", "tabs", "Command", "Working folder"]
    assert got[-2:] == ["Cancel", "Save job"]  # not Cancel before Command
    dlg.kind.setCurrentIndex(dlg.kind.findData("cleanup"))  # a new form, made after the buttons
    got = stops(dlg)
    assert got[got.index("tabs") + 1] == "Folders" and got[-2:] == ["Cancel", "Save job"], got


def test_the_when_tabs_groups_line_up(qtbot, home):
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QGroupBox
    dlg = editor(qtbot, home, values={"kind": "command"})
    dlg.tabs.setCurrentIndex(1)
    dlg.show()
    qtbot.waitExposed(dlg)
    page = dlg.conditions.parentWidget()
    schedule = next(b for b in dlg.trigger.findChildren(QGroupBox) if b.title() == "Schedule")

    def left(w) -> int:
        return w.mapTo(page, QPoint(0, 0)).x()

    assert left(schedule) == left(dlg.trigger.watch_on) == left(dlg.conditions) > 0
    assert left(dlg.conditions) + dlg.conditions.width() == left(schedule) + schedule.width()


def test_the_editor_opens_within_a_small_screen(qtbot, home, monkeypatch):
    # A netbook's 1024 x 600 screen less its panel (or 1400 x 900 at 200 %): the editor
    # opened 640 pixels tall, its Save and Cancel below the screen's edge.
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QScreen
    dlg = editor(qtbot, home, values={"kind": "command"})
    assert (dlg.width(), dlg.height()) == (760, 640)  # where there is room
    monkeypatch.setattr(QScreen, "availableGeometry", lambda self: QRect(0, 0, 1024, 570))
    dlg = editor(qtbot, home, values={"kind": "command"})
    assert dlg.height() <= 570 * 0.9 and dlg.width() == 760
    dlg.show()
    qtbot.waitExposed(dlg)
    assert dlg.height() <= 570 * 0.9  # its layout allows it: the tabs scroll
    assert dlg.save_btn.mapTo(dlg, dlg.save_btn.rect().bottomLeft()).y() < dlg.height()


def test_folder_pickers_open_in_the_fields_folder_or_the_home_folder(qtbot, home, monkeypatch,
                                                                     tmp_path):
    # Given no folder, the dialogs opened in the app's working folder: the clone trayjobs
    # was started from, or wherever the desktop started it.
    from PySide6.QtWidgets import QFileDialog, QPushButton
    monkeypatch.chdir(tmp_path)
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda parent, title, start="", *a, **k: asked.append(start)
                                     or ""))
    dlg = editor(qtbot, home, values={"kind": "cleanup"})

    def click(name: str) -> None:
        next(b for b in dlg.findChildren(QPushButton) if b.accessibleName() == name).click()

    click("Add folder")
    dlg.trigger.watch_on.setChecked(True)
    click("Choose watched folder")
    (tmp_path / "in").mkdir()
    dlg.trigger.watch_folder.setText(str(tmp_path / "in"))
    click("Choose watched folder")
    dlg.trigger.watch_folder.setText(str(tmp_path / "in" / "{year}" / "{month}"))
    click("Choose watched folder")  # a folder still to be made: the nearest one there is
    home_dir = os.path.expanduser("~")
    assert asked == [home_dir, home_dir, str(tmp_path / "in"), str(tmp_path / "in")]


def test_the_editors_alt_keys_are_its_own_on_every_tab(qtbot, home):
    # The Preview button and tab shared Alt+V (with "E&very…"), "&Description" and "On
    # &days at a time" Alt+D, "&Kind" and "&Keep the computer awake" Alt+K...
    from trayjobs.kinds.registry import kind_names
    for kind in kind_names():
        dlg = editor(qtbot, home, values={"kind": kind})
        dlg.show()
        qtbot.waitExposed(dlg)
        for i in range(dlg.tabs.count()):
            dlg.tabs.setCurrentIndex(i)
            assert mnemonic_clashes(dlg) == {}, (kind, dlg.tabs.tabText(i))
        dlg.close()
