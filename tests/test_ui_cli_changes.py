"""The window follows what the command line changes behind its back: a run undone or
cancelled by `trayjobs undo` / `trayjobs cancel` in another process shows so in the running
app's Activity page at once, not only once something reloads it."""

from __future__ import annotations

import os
import time
from textwrap import dedent

from trayjobs.ui.runs_model import RunsModel

from helpers import trayjobs
from ui_support import find_run, make_app, until  # noqa: F401


def _row_text(ta, run_id: int, col: int) -> str:
    model = ta.window.runs_model
    row = model.row_of(run_id)
    return model.index(row, col).data() if row is not None else ""


def test_an_undo_from_the_command_line_shows_in_the_running_apps_activity(
        make_app, qtbot, tmp_path):
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
    rid = find_run(ta, "tidy")["id"]
    assert not _row_text(ta, rid, RunsModel.SUMMARY).startswith("undone")
    details = ta.open_run(rid)
    until(qtbot, lambda: details.run is not None and details.undo_btn.isEnabled())
    undo = trayjobs(ta.home, "undo", str(rid))
    assert undo.returncode == 0, undo.stderr
    assert sorted(p.name for p in src.iterdir()) == ["a.log", "b.log"]
    # The app's row says so without a reload (none is asked for here), and its details
    # no longer offer to undo it again.
    until(qtbot, lambda: _row_text(ta, rid, RunsModel.SUMMARY).startswith("undone · "),
          timeout=10_000)
    assert (find_run(ta, "tidy")["result"] or {}).get("undo")
    until(qtbot, lambda: not details.undo_btn.isEnabled())
    details.close()


def test_a_cancel_from_the_command_line_of_a_run_waiting_for_its_retry_shows_in_the_app(
        make_app, qtbot):
    """The app ran its first attempt (the run is the app's worker's): a message about it
    from another process was taken for one the app had told itself, and the row kept
    saying "retry 2/3 in 59 min" for a run cancelled long since."""
    ta = make_app(dedent("""
        [jobs.flaky]
        kind = "demo"
        steps = 1
        step_time = 0
        fail_times = 9
        retry = { attempts = 3, backoff = "1h", jitter = false }
    """))
    ta.run_job("flaky")
    until(qtbot, lambda: find_run(ta, "flaky", "retrying"), timeout=20_000)
    rid = find_run(ta, "flaky")["id"]
    assert _row_text(ta, rid, RunsModel.STATE).startswith("retry 2/3 in ")
    cancel = trayjobs(ta.home, "cancel", str(rid))
    assert cancel.returncode == 0 and "cancelled" in cancel.stdout, cancel.stdout + cancel.stderr
    until(qtbot, lambda: _row_text(ta, rid, RunsModel.STATE) == "cancelled", timeout=10_000)


def test_a_retry_now_from_the_command_line_of_a_run_waiting_for_its_retry_shows_in_the_app(
        make_app, qtbot):
    """`trayjobs retry` of a run waiting for its next attempt queues it at once; with the
    app's one worker busy it waits its turn, and its row said "retry 2/3 in 59 min"."""
    ta = make_app(dedent("""
        [jobs.flaky]
        kind = "demo"
        steps = 1
        step_time = 0
        fail_times = 9
        retry = { attempts = 3, backoff = "1h", jitter = false }

        [jobs.busy]
        kind = "demo"
        steps = 300
        step_time = 0.1
    """), workers=1)
    ta.run_job("flaky")
    until(qtbot, lambda: find_run(ta, "flaky", "retrying"), timeout=20_000)
    rid = find_run(ta, "flaky")["id"]
    ta.run_job("busy")
    until(qtbot, lambda: find_run(ta, "busy", "running"), timeout=20_000)
    retry = trayjobs(ta.home, "retry", str(rid))
    assert retry.returncode == 0 and retry.stdout.strip() == str(rid), retry.stderr
    until(qtbot, lambda: _row_text(ta, rid, RunsModel.STATE) == "queued", timeout=10_000)


def test_cancels_and_a_retry_from_the_command_line_show_in_the_app(make_app, qtbot):
    """A queued run cancelled, a running one stopped, a failed one retried, each by the
    command line: the app's rows follow (the run the retry made appears)."""
    ta = make_app(dedent("""
        [jobs.busy]
        kind = "demo"
        steps = 300
        step_time = 0.1

        [jobs.bad]
        kind = "demo"
        steps = 1
        step_time = 0
        fail_times = 9
        retry = { attempts = 1 }
    """), workers=1)
    ta.run_job("busy")
    until(qtbot, lambda: find_run(ta, "busy", "running"), timeout=20_000)
    busy = find_run(ta, "busy")["id"]
    ta.run_job("bad")
    until(qtbot, lambda: find_run(ta, "bad", "queued"))  # behind the busy one
    bad = find_run(ta, "bad")["id"]
    assert trayjobs(ta.home, "cancel", str(bad)).returncode == 0
    until(qtbot, lambda: _row_text(ta, bad, RunsModel.STATE) == "cancelled")
    assert trayjobs(ta.home, "cancel", str(busy)).returncode == 0
    until(qtbot, lambda: _row_text(ta, busy, RunsModel.STATE) == "cancelled", timeout=20_000)
    retry = trayjobs(ta.home, "retry", str(bad))
    assert retry.returncode == 0, retry.stderr
    again = int(retry.stdout)
    until(qtbot, lambda: _row_text(ta, again, RunsModel.STATE) == "failed", timeout=20_000)
    assert _row_text(ta, again, RunsModel.TRIGGER) == "retry"
