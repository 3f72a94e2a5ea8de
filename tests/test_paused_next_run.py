"""A paused job's Next run, in `trayjobs jobs` and the window's Jobs page: not its next
time, which lies in the past once a slot went by ("overdue") and does not come while it is
paused, but that it is paused and what resuming it does, as its `missed` rule says. So
for a slot gone by while no app or worker runs: what happens when one starts."""

from __future__ import annotations

import time
from textwrap import dedent

from trayjobs.config import load_config
from trayjobs.store.open import open_store
from trayjobs.textfmt import when
from trayjobs.ui.jobs_model import JobsModel

from helpers import start_worker, trayjobs, wait_until
from ui_support import make_app, until  # noqa: F401

JOBS = dedent("""
    [jobs.once]
    kind = "demo"
    steps = 1
    step_time = 0
    every = "1h"
    missed = "once"

    [jobs.each]
    kind = "demo"
    steps = 1
    step_time = 0
    every = "1h"
    missed = "all"

    [jobs.skip]
    kind = "demo"
    steps = 1
    step_time = 0
    every = "1h"
    missed = "skip"

    [jobs.later]
    kind = "demo"
    steps = 1
    step_time = 0
    every = "1h"

    [jobs.by_hand]
    kind = "demo"
""")


def slept_through(home, jobs=("once", "each", "skip"), *, now: float) -> float:
    """The schedules as the app planned them before the computer was off for 3 h 10 min:
    four slots of each of ``jobs`` went by (``later``'s comes in 20 min). Returns when the
    first of them was due."""
    cfg = load_config(home.config_file)
    due = now - 3 * 3600 - 600
    store = open_store(home)
    try:
        for name in jobs:
            store.set_job_state(name, next_run_at=due, schedule_spec=cfg.jobs[name].schedule_spec)
        store.set_job_state("later", next_run_at=now + 1200,
                            schedule_spec=cfg.jobs["later"].schedule_spec)
    finally:
        store.close()
    return due


def _line(out: str, job: str) -> str:
    return next(line for line in out.splitlines() if line.split()[:1] == [job])


def test_jobs_says_what_resuming_a_paused_job_does_not_an_overdue_time(home):
    home.config_file.write_text(JOBS)
    assert trayjobs(home, "jobs").returncode == 0
    due = slept_through(home, now=time.time())
    since = f"missed 4 since {when(due)}"
    assert "paused all jobs" in trayjobs(home, "pause").stdout
    out = trayjobs(home, "jobs").stdout
    assert f"paused · {since}: runs once on resume" in _line(out, "once"), out
    assert f"paused · {since}: 4 runs on resume" in _line(out, "each"), out
    assert f"paused · {since}: skipped on resume" in _line(out, "skip"), out
    assert "paused · next slot " in _line(out, "later"), out
    # Resumed, and one job paused: that one says so. The others are overdue, and run as
    # their `missed` says once the app or a worker starts (none runs here).
    trayjobs(home, "resume", check=True)
    trayjobs(home, "pause", "once", check=True)
    out = trayjobs(home, "jobs").stdout
    assert f"paused · {since}: runs once on resume" in _line(out, "once"), out
    each = _line(out, "each")
    assert f"overdue · {since}: 4 runs when trayjobs starts" in each, out
    assert "overdue" not in _line(out, "later") and "paused" not in _line(out, "later"), out
    worker = start_worker(home)
    try:
        # It catches up, and the next slot is ahead: no time gone by is shown.
        wait_until(lambda: when(due) not in _line(trayjobs(home, "jobs").stdout, "each"), 30,
                   what="the worker catching up")
        out = trayjobs(home, "jobs").stdout
    finally:
        worker.terminate()
        worker.wait(30)
    assert "overdue" not in out, out
    assert f"paused · {since}: runs once on resume" in _line(out, "once"), out


def test_the_jobs_page_says_what_resuming_a_paused_job_does(make_app, qtbot, home):
    home.config_file.write_text(JOBS)
    trayjobs(home, "pause", "once", check=True)
    due = slept_through(home, jobs=("once",), now=time.time())
    ta = make_app(JOBS)
    jobs = ta.window.jobs_model

    def next_run(job: str, role=None) -> str:
        index = jobs.index(jobs.row_of(job), JobsModel.NEXT)
        return index.data() if role is None else index.data(role)

    shown = f"paused · missed 4 since {when(due)}: runs once on resume"
    assert next_run("once") == shown
    from PySide6.QtCore import Qt
    assert next_run("once", Qt.ItemDataRole.ToolTipRole) == shown
    assert not next_run("each").startswith("paused")
    ta.toggle_pause()  # all of them
    until(qtbot, lambda: next_run("each").startswith("paused · next slot "))
    assert next_run("once") == shown
    # With room in the window, the column widens to what it shows (up to a bound: the longest
    # is whole in its tooltip), not "paused · ..." beside empty space.
    ta.window.resize(1600, 700)
    ta.window.show()
    qtbot.waitExposed(ta.window)
    ta.window.tabs.setCurrentWidget(ta.window.jobs_page)
    view = ta.window.jobs_page.view
    wanted = view.fontMetrics().horizontalAdvance(next_run("each"))
    until(qtbot, lambda: view.columnWidth(JobsModel.NEXT) > wanted)
