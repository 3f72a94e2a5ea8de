"""First run: a home without jobs gets a working, commented example set-up, once."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from helpers import start_worker, trayjobs, wait_until
from trayjobs.config import load_config, parse_config
from trayjobs.firstrun import (ACTIVITY_REPORT, CLEANUP_JOB, COMMAND_JOB, DATA_REPORT, IMPORT_JOB,
                               dismiss_welcome, ensure_first_run, example_setup, workspace_dir)
from trayjobs.paths import Home
from ui_support import answer_next_box

CSV = "id,name,amount\r\n1,apple,3.50\r\n2,pear,1.25\r\n3,plum,0.75\r\n"


def drop(folder: Path, name: str, text: str) -> Path:
    """Put a complete file into a folder the way a browser or file manager does."""
    tmp = folder / f".{name}.part"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, folder / name)
    return folder / name


def test_first_run_creates_a_working_example_under_the_home(home):
    setup = ensure_first_run(home)
    assert setup is not None and setup.created
    assert setup.inbox == home.root / "Inbox" and setup.inbox.is_dir()
    assert setup.scratch == home.root / "Scratch" and setup.scratch.is_dir()
    assert setup.database == home.data_dir / "data.db"
    cfg = load_config(home.config_file)
    assert cfg.errors == []
    assert set(cfg.jobs) == {IMPORT_JOB, CLEANUP_JOB, DATA_REPORT, ACTIVITY_REPORT, COMMAND_JOB}

    imp = cfg.jobs[IMPORT_JOB]
    assert imp.kind == "import" and imp.watch.path == setup.inbox
    assert "*.csv" in imp.watch.patterns
    assert imp.params.database is None  # data.db in the data folder

    clean = cfg.jobs[CLEANUP_JOB]
    assert clean.kind == "cleanup" and clean.params.preview is True
    assert [Path(loc.path) for loc in clean.params.locations] == [setup.scratch]
    assert clean.params.action.name == "trash"
    assert clean.params.filters[0].age == "older than 30d"
    assert clean.trigger_text() == "Every day"

    for name, builtin in ((DATA_REPORT, "imported-data"), (ACTIVITY_REPORT, "job-activity")):
        job = cfg.jobs[name]
        assert job.kind == "report" and job.params.builtin == builtin
        assert job.trigger_text() == "Mondays at 09:00"

    size = cfg.jobs[COMMAND_JOB]
    assert size.kind == "command" and size.trigger_text() == "Manual"
    assert size.params.command == ["du", "-sh", str(setup.scratch)]

    # Everything stays inside the home the tests gave.
    made = {p.relative_to(home.root).parts[0] for p in home.root.rglob("*")}
    assert made <= {"Inbox", "Scratch", "data", "logs", "reports", "trayjobs.toml"}


def test_the_example_jobs_file_is_commented_and_passes_check(home):
    ensure_first_run(home)
    text = home.config_file.read_text(encoding="utf-8")
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 20
    assert "preview = false" in text  # it says how to switch the cleanup on
    out = trayjobs(home, "check")
    assert out.returncode == 0, out.stderr
    assert "5 jobs OK, 0 errors" in out.stdout
    assert "warning" not in out.stderr
    # The commented-out alternatives are valid too.
    uncommented = text.replace('# table = "transactions"', 'table = "transactions"').replace(
        f'# then = ["{DATA_REPORT}"]', f'then = ["{DATA_REPORT}"]')
    assert uncommented != text
    assert parse_config(uncommented).errors == []


def test_the_example_command_runs_and_only_reads(home):
    setup = ensure_first_run(home)
    (setup.scratch / "note.txt").write_text("x" * 5000)
    before = sorted(p.name for p in setup.scratch.rglob("*"))
    out = trayjobs(home, "run", COMMAND_JOB, "--wait")
    assert out.returncode == 0, out.stderr
    shown = trayjobs(home, "show", out.stdout.split()[0]).stdout
    assert str(setup.scratch) in shown  # du's line, in the run's log
    assert sorted(p.name for p in setup.scratch.rglob("*")) == before


def test_first_run_never_overwrites_a_jobs_file(home):
    home.config_file.write_text('[jobs.mine]\nkind = "demo"\n', encoding="utf-8")
    assert ensure_first_run(home) is None
    assert home.config_file.read_text() == '[jobs.mine]\nkind = "demo"\n'
    assert not (home.root / "Inbox").exists()


def test_first_run_is_idempotent_and_not_repeated_after_the_file_is_deleted(home):
    first = ensure_first_run(home)
    text = home.config_file.read_text(encoding="utf-8")
    home.config_file.write_text(text + "\n# my note\n", encoding="utf-8")
    again = ensure_first_run(home)
    assert again is not None and not again.created and again.inbox == first.inbox
    assert home.config_file.read_text(encoding="utf-8").endswith("# my note\n")
    # A user who deletes the jobs file wants no jobs: it is not written again.
    home.config_file.unlink()
    later = ensure_first_run(home)
    assert later is not None and not later.created
    assert not home.config_file.exists()


def test_a_normal_installation_gets_visible_folders_in_home_trayjobs(tmp_path, monkeypatch):
    user = tmp_path / "user"
    user.mkdir()
    monkeypatch.setenv("HOME", str(user))
    home = Home(config_dir=user / ".config/trayjobs", data_dir=user / ".local/share/trayjobs",
                log_dir=user / ".local/state/trayjobs/log",
                reports_dir=user / ".local/share/trayjobs/reports")
    assert workspace_dir(home) == user / "trayjobs"
    setup = ensure_first_run(home)
    assert setup.inbox == user / "trayjobs" / "Inbox" and setup.inbox.is_dir()
    text = home.config_file.read_text(encoding="utf-8")
    # written the way a person would write them, so the file reads well and moves with $HOME
    assert 'folder = "~/trayjobs/Inbox"' in text
    assert 'path = "~/trayjobs/Scratch"' in text
    cfg = load_config(home.config_file)
    assert cfg.errors == []
    assert cfg.jobs[IMPORT_JOB].watch.path == user / "trayjobs" / "Inbox"


def test_unusual_characters_in_the_home_path_survive(tmp_path, monkeypatch):
    root = tmp_path / 'Jo\'s "jobs" \\ ünï'
    home = Home.under(root)
    setup = ensure_first_run(home)
    cfg = load_config(home.config_file)
    assert cfg.errors == []
    assert cfg.jobs[IMPORT_JOB].watch.path == setup.inbox
    assert Path(cfg.jobs[CLEANUP_JOB].params.locations[0].path) == setup.scratch


def test_the_worker_sets_up_an_empty_home(home):
    assert not home.config_file.exists()
    worker = start_worker(home)
    try:
        assert home.config_file.exists()
        jobs = trayjobs(home, "jobs")
        assert IMPORT_JOB in jobs.stdout and "Mondays at 09:00" in jobs.stdout
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)


def test_welcome_view_explains_and_opens_the_folders(qtbot, home):
    from trayjobs.ui.welcome import WelcomeView, welcome_for

    setup = ensure_first_run(home)
    ran: list[str] = []
    view = welcome_for(home, run_job=ran.append)
    assert isinstance(view, WelcomeView)
    qtbot.addWidget(view)
    opened: list[Path] = []
    view.open_path = opened.append

    view.buttons["open:inbox"].click()
    view.buttons["open:scratch"].click()
    view.buttons["open:reports"].click()
    view.buttons["open:config"].click()
    view.buttons["open:data"].click()
    assert opened == [setup.inbox, setup.scratch, home.reports_dir, home.config_file,
                      home.data_dir]
    view.buttons[f"run:{DATA_REPORT}"].click()
    view.buttons[f"run:{CLEANUP_JOB}"].click()
    view.buttons[f"run:{COMMAND_JOB}"].click()
    assert ran == [DATA_REPORT, CLEANUP_JOB, COMMAND_JOB]

    view.buttons["sample"].click()
    sample = setup.inbox / "orders.csv"
    assert sample.is_file() and sample.read_text().startswith("order_id,date,customer")
    assert "Added orders.csv" in view.status.text()
    view.buttons["sample"].click()  # the first one is still waiting: nothing is replaced
    assert "still waiting" in view.status.text()
    assert len(list(setup.inbox.iterdir())) == 1

    texts = " ".join(lbl.text() for lbl in view.findChildren(type(view.status)))
    for words in (str(setup.inbox), str(setup.scratch), "Apply this preview", "Mondays"):
        assert words.replace("Mondays", "Monday") in texts


def test_welcome_view_stays_hidden_once_dismissed(qtbot, home):
    from trayjobs.ui.welcome import welcome_for

    assert welcome_for(home) is None  # no example set-up: nothing to welcome to
    ensure_first_run(home)
    view = welcome_for(home)
    qtbot.addWidget(view)
    # It does not come back: the button asks first, and "Keep it" keeps it.
    with answer_next_box("Keep it"):
        view.buttons["dismiss"].click()
    assert welcome_for(home) is not None and example_setup(home).welcome is True
    with qtbot.waitSignal(view.dismissed, timeout=1000), answer_next_box("Hide it"):
        view.buttons["dismiss"].click()
    assert welcome_for(home) is None
    assert example_setup(home).welcome is False
    dismiss_welcome(home)  # twice is harmless
    assert example_setup(home).inbox == home.root / "Inbox"


def test_a_csv_dropped_right_after_the_first_start_becomes_rows_and_a_report(qtbot, home):
    """The issue's promise: start on an empty home, drop a CSV into Inbox, see the imported
    rows in the window, make the "Imported data" report with one click."""
    from trayjobs.ui.app import TrayApp

    setup = ensure_first_run(home)  # what run_app does before the window exists
    ta = TrayApp(home, grace=1.0)
    with qtbot.waitSignal(ta.ready, timeout=20_000):
        ta.start()
    try:
        drop(setup.inbox, "fruit.csv", CSV)
        model = ta.window.runs_model
        cols = type(model)

        def imported_row():
            for row in range(model.rowCount()):
                if model.index(row, cols.JOB).data() == IMPORT_JOB:
                    summary = model.index(row, cols.SUMMARY).data() or ""
                    if "3 rows imported" in summary:
                        return summary
            return None

        qtbot.waitUntil(lambda: bool(imported_row()), timeout=20_000)
        assert "fruit" in imported_row()
        with sqlite3.connect(setup.database) as db:
            assert db.execute("SELECT count(*) FROM fruit").fetchone() == (3,)
        assert (setup.inbox / "processed" / "fruit.csv").is_file()

        # One click: the tray menu's Run now entry for the report.
        action = ta.tray.action(f"run:{DATA_REPORT}")
        assert action is not None
        action.trigger()
        latest = home.reports_dir / DATA_REPORT / f"{DATA_REPORT}-latest.html"
        qtbot.waitUntil(latest.is_file, timeout=30_000)
        page = latest.read_text(encoding="utf-8")
        assert "fruit" in page and "Imported data" in page
    finally:
        with qtbot.waitSignal(ta.stopped, timeout=20_000):
            ta.quit()


def test_a_blocked_folder_only_costs_the_example(tmp_path, monkeypatch):
    user = tmp_path / "user"
    user.mkdir()
    (user / "trayjobs").write_text("a file where the folder would go")
    monkeypatch.setenv("HOME", str(user))
    home = Home(config_dir=user / ".config/trayjobs", data_dir=user / ".local/share/trayjobs",
                log_dir=user / ".local/state/trayjobs/log",
                reports_dir=user / ".local/share/trayjobs/reports")
    assert ensure_first_run(home) is None
    assert not home.config_file.exists()
    assert (user / "trayjobs").read_text() == "a file where the folder would go"


def test_the_sample_files_message_is_scrolled_into_sight(qtbot, home):
    # In a window of the usual size the message sits below the fold: without scrolling to
    # it, "Add a sample file" seemed to do nothing.
    from trayjobs.ui.welcome import welcome_for

    ensure_first_run(home)
    view = welcome_for(home)
    qtbot.addWidget(view)
    view.resize(1200, 560)
    view.show()
    qtbot.waitExposed(view)
    assert view.status.visibleRegion().isEmpty() or not view.status.text()
    view.buttons["sample"].click()
    assert "Added orders.csv" in view.status.text()
    qtbot.waitUntil(lambda: not view.status.visibleRegion().isEmpty(), timeout=1000)
    assert view.status.visibleRegion().boundingRect().height() == view.status.height()
