"""The window's models without widgets: the paged run history over a real store, its
filters and live updates, the jobs model, and the tray's words."""

from __future__ import annotations

import json
import time

import pytest
from PySide6.QtCore import Qt

from trayjobs.engine.events import RunProgress
from trayjobs.store import RunStore
from trayjobs.textfmt import when
from trayjobs.ui import runs_model as rm
from trayjobs.ui.jobs_model import JobsModel, last_text, watch_text
from trayjobs.ui.runs_model import PAGE, RunFilter, RunsModel, progress_text, summary_text
from trayjobs.ui.service import Service
from trayjobs.ui.tray import tray_status

from ui_support import make_app, until  # noqa: F401

N = 5_000


def fill(store: RunStore, n: int, *, now: float | None = None) -> None:
    """``n`` finished runs: every 7th failed (of job "bank", a file named in its inputs)."""
    now = now or time.time()
    rows = []
    for i in range(n):
        failed = i % 7 == 0
        job = "bank" if i % 2 else "tidy"
        rows.append((job, "import" if job == "bank" else "cleanup", "schedule",
                     "failed" if failed else "succeeded", 1, 1, now - (n - i) * 60,
                     now - (n - i) * 60, now - (n - i) * 60 + 2,
                     "bad row in statement-%d.csv" % i if failed else None,
                     json.dumps({"files": [f"/in/statement-{i}.csv"]}),
                     json.dumps({"summary": f"{i} rows"})))
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO runs (job, kind, trigger, state, attempt, max_attempts, created_at,"
            " started_at, finished_at, error, inputs, result, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [r + (r[6],) for r in rows])


@pytest.fixture
def store(tmp_path, make_store):
    s = make_store(tmp_path / "runs.db")
    yield s
    s.close()


@pytest.fixture
def model(qtbot, store):
    service = Service()
    m = RunsModel(service=service)
    with qtbot.waitSignal(m.loaded, timeout=5000):
        fill(store, N)
        m.attach(store, service)
    yield m
    service.stop()


def test_a_run_told_while_the_first_page_is_read_is_not_lost(qtbot, store):
    # The app attaches the model once its engine has started: a run the CLI scheduled
    # in that moment was told before the first page came back, and was dropped.
    fill(store, 3)
    service = Service()
    try:
        m = RunsModel(service=service)
        reads = []
        service.call = lambda fn, done, *a, **k: reads.append((fn, done))  # held: in flight
        m.attach(store, service)
        fn, done = reads.pop()
        result = fn()  # the page as read, before the new run was written
        new = _run(store, state="scheduled", due_at=time.time() + 3600)
        m.upsert(new)
        m.upsert({**store.get_run(3), "state": "cancelled"})
        done(result)
        assert m.rowCount() == 4 and m.run_at(0)["id"] == new["id"]
        assert m.run_at(1)["state"] == "cancelled"  # a loaded run told meanwhile: updated
    finally:
        service.stop()


def test_paged_model_counts_everything_and_loads_pages_on_demand(model, qtbot):
    assert model.rowCount() == N
    assert len(model.loaded_runs()) == PAGE  # only the first page was read
    assert model.index(0, RunsModel.ID).data() == str(N)  # newest first
    assert model.index(0, RunsModel.SUMMARY).data() == f"{N - 1} rows"
    far = N - 10
    assert model.run_at(far) is None  # not loaded: a placeholder, and its page is asked for
    assert model.index(far, RunsModel.JOB).data() == "…"
    with qtbot.waitSignal(model.pageLoaded, timeout=5000):
        pass
    until(qtbot, lambda: model.run_at(far) is not None)
    assert model.run_at(far)["id"] == 10
    assert model.index(far, RunsModel.STATE).data(Qt.ItemDataRole.DecorationRole) is not None


def test_page_cache_is_bounded(model, qtbot, monkeypatch):
    monkeypatch.setattr(rm, "MAX_PAGES", 3)
    for page in range(6):
        model.run_at(page * PAGE)
        until(qtbot, lambda p=page: model.run_at(p * PAGE) is not None)
    assert len(model._pages) <= 3
    assert len(model._where) <= 3 * PAGE


@pytest.mark.parametrize("f, expected", [
    (RunFilter(job="bank"), N // 2),
    (RunFilter(states=("failed",)), len(range(0, N, 7))),
    (RunFilter(text="statement-700.csv"), 1),
    (RunFilter(text="bad row", job="tidy"), len([i for i in range(0, N, 7) if i % 2 == 0])),
])
def test_filters_match_the_sql(model, qtbot, f, expected):
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_filter(f)
    assert model.rowCount() == expected
    for run in model.loaded_runs():
        assert f.matches(run)


def test_date_range_filter(model, qtbot):
    since = time.time() - 100 * 60
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_filter(RunFilter(since=since))
    assert model.rowCount() in (99, 100)


def test_a_stale_filter_result_is_ignored(model, qtbot):
    model.set_filter(RunFilter(job="bank"))
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_filter(RunFilter(job="tidy"))
    until(qtbot, lambda: model.rowCount() == N // 2)
    assert all(r["job"] == "tidy" for r in model.loaded_runs())


def _run(store, job="bank", state="queued", **kw):
    rid = store.create_run(job, kind="import", trigger="manual", state=state, **kw)
    return store.get_run(rid)


def test_live_runs_go_on_top_without_a_query(model, store, qtbot):
    calls = []
    model.service.call = lambda *a, **k: calls.append(a)  # any query now would be a bug
    new = _run(store)
    model.upsert(new)
    assert model.rowCount() == N + 1
    assert model.run_at(0)["id"] == new["id"]
    # It starts, reports progress, finishes: the row changes in place.
    model.upsert({**new, "state": "running", "attempt": 1, "started_at": time.time()})
    model.apply_progress({new["id"]: RunProgress(new["id"], "bank", 50, 200, "rows", "reading",
                                                 rate=10, eta=15)})
    assert model.index(0, RunsModel.PROGRESS).data() == "25 % · 15 s left · reading"
    # (said once, in its own column: the State column, sized when the run started, says
    # "running" and is not cut off as the figure grows)
    assert model.index(0, RunsModel.STATE).data() == "running"
    assert model._ticker.isActive()  # the running time ticks
    model.upsert({**new, "state": "succeeded", "result": {"summary": "9 rows"}})
    assert model.index(0, RunsModel.SUMMARY).data() == "9 rows"
    assert not model._ticker.isActive()
    assert new["id"] not in model.progress
    # A loaded older run changes in place too.
    old = dict(model.run_at(5))
    model.upsert({**old, "state": "cancelled"})
    assert model.run_at(5)["state"] == "cancelled"
    assert model.rowCount() == N + 1
    assert calls == []


def test_live_runs_respect_the_filter(model, store, qtbot):
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_filter(RunFilter(states=("failed",)))
    before = model.rowCount()
    run = _run(store)
    model.upsert(run)
    assert model.rowCount() == before  # queued: not a failure (yet)
    model.upsert({**run, "state": "failed", "error": "boom"})
    assert model.rowCount() == before + 1 and model.run_at(0)["id"] == run["id"]
    model.upsert({**run, "state": "queued"})  # retried: no longer matches, leaves the top
    assert model.rowCount() == before


def test_runs_created_while_a_page_is_read_are_kept(model, store, qtbot):
    model.reload()
    new = _run(store)      # after the anchor was read? then the event brings it
    model.upsert(new)
    until(qtbot, lambda: model.rowCount() == N + 1)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.reload()
    assert model.rowCount() == N + 1 and model.run_at(0)["id"] == new["id"]


def test_progress_and_summary_words():
    run = {"id": 1, "state": "running", "progress_done": 3, "progress_total": 4}
    assert progress_text(run, None) == (0.75, "75 %")
    p = RunProgress(1, "j", 1200, None, "rows", None, rate=100, eta=None)
    assert progress_text(run, p) == (None, "1,200 rows")
    # All done but still running (the work after the last step): no "0 ms left".
    p = RunProgress(1, "j", 8, 8, None, "n8.md", rate=2, eta=0)
    assert progress_text(run, p) == (1.0, "100 % · n8.md")
    assert progress_text({"state": "succeeded"}, None) == (1.0, "")
    # A command that prints no progress: its time so far, once ("12 s · running for 12 s").
    p = RunProgress(1, "j", 12, None, "s", "running for 12 s", rate=1, eta=None)
    assert progress_text(run, p) == (None, "running for 12 s")
    assert summary_text({"state": "failed", "error": "line 1\nline 2"}) == "line 1"
    assert summary_text({"state": "waiting", "wait_reason": "/mnt/backup is not there"}) == \
        "waits for its conditions: /mnt/backup is not there"
    due = time.time() + 3600
    assert summary_text({"state": "scheduled", "due_at": due}) == f"starts at {when(due)}"
    assert summary_text({"state": "succeeded", "result": {"summary": "ok", "undo": {}}}) == "ok"
    assert summary_text({"state": "succeeded",
                         "result": {"summary": "ok", "undo": {"at": 1}}}) == "undone · ok"


def test_jobs_model_switch_and_words(qtbot):
    m = JobsModel()
    now = time.time()
    m.set_rows([
        {"name": "a", "kind": "import", "trigger": "Weekdays at 09:00", "enabled": True,
         "watch": {"state": "watching", "folder": "~/Inbox", "pending": 2},
         "next_run_at": now + 3600, "last": {"state": "failed", "finished_at": now - 120,
                                             "error": "bad file"}},
        {"name": "b", "kind": "cleanup", "trigger": "Manual", "enabled": False, "watch": None,
         "last": None},
    ])
    assert m.index(0, JobsModel.WATCH).data() == "watching ~/Inbox · 2 files waiting"
    assert m.index(0, JobsModel.LAST).data() == "failed · 2 min ago"
    assert m.index(0, JobsModel.LAST).data(Qt.ItemDataRole.ToolTipRole) == "bad file"
    assert m.index(1, JobsModel.NEXT).data() == "off"
    assert m.index(1, JobsModel.LAST).data() == "never run"
    with qtbot.waitSignal(m.enabledToggled) as sig:
        assert m.setData(m.index(1, JobsModel.ENABLED), Qt.CheckState.Checked.value,
                         Qt.ItemDataRole.CheckStateRole)
    assert sig.args == ["b", True]
    assert m.flags(m.index(0, JobsModel.ENABLED)) & Qt.ItemFlag.ItemIsUserCheckable
    assert watch_text({"watch": {"state": "unavailable", "reason": "the folder does not exist",
                                 "folder": "~/X"}}) == "unavailable: the folder does not exist"
    assert last_text({"last": {"state": "queued", "created_at": now - 5}}, now) == "queued · 5 s ago"
    # a moment ago, in words
    assert last_text({"last": {"state": "running", "started_at": now - 0.034}}, now) == \
        "running · just now"


def test_jobs_model_relative_times_tick_repainting_only_those_columns(qtbot):
    from trayjobs.overview import Health
    m = JobsModel()
    done = time.time() - 39
    m.set_rows([{"name": "a", "kind": "demo", "trigger": "Manual", "enabled": True,
                 "watch": None, "last": {"state": "succeeded", "finished_at": done},
                 "health": Health(runs=1, succeeded=1, last_success_at=done)}])
    seen = []
    m.dataChanged.connect(lambda tl, br, roles: seen.append((tl.column(), br.column())))
    until(qtbot, lambda: len(seen) >= 2, timeout=3000)  # "39 s ago" does not stay
    # Last success counts on beside Last result, never frozen at "291 ms ago".
    assert set(seen) == {(JobsModel.LAST, JobsModel.LAST), (JobsModel.LAST_OK, JobsModel.LAST_OK)}
    assert m._ticker.interval() == 1000
    # "4 min 33 s ago" shows its seconds: it ticks each second too; "12 min ago" every 10 s.
    for age, interval in ((273, 1000), (720, 10_000)):
        m.set_rows([{"name": "a", "kind": "demo", "trigger": "Manual", "enabled": True,
                     "watch": None, "last": {"state": "succeeded",
                                             "finished_at": time.time() - age}}])
        assert m._ticker.interval() == interval, age
    m.set_rows([])
    assert not m._ticker.isActive()  # nothing to count: no work


def test_tray_words():
    running = [{"id": 1, "job": "import", "text": "42 %"}]
    nxt = {"name": "Weekly report", "next_run_at": time.time() + 3600}
    state, tip = tray_status(running=running * 2, next_job=nxt, paused=False, failed=1)
    assert state == "failed"
    assert tip.startswith("2 running · next: Weekly report ") and tip.endswith(" · 1 failed")
    assert tray_status(running=running, next_job=None, paused=False, failed=0) == (
        "running", "1 running: import 42 %")
    assert tray_status(running=[], next_job=nxt, paused=True, failed=0) == ("paused", "paused")
    assert tray_status(running=[], next_job=None, paused=False, failed=0) == (
        "idle", "trayjobs · idle")


def test_jobs_model_shows_a_run_that_started_before_the_list_reloads(qtbot):
    m = JobsModel()
    now = time.time()
    m.set_rows([{"name": "a", "kind": "demo", "trigger": "Manual", "enabled": True,
                 "watch": None, "last": None},
                {"name": "b", "kind": "demo", "trigger": "Manual", "enabled": True,
                 "watch": None, "last": {"id": 9, "state": "failed", "finished_at": now - 60}}])
    m.show_run({"id": 3, "job": "a", "state": "queued", "created_at": now})
    assert m.index(0, JobsModel.LAST).data() == "never run"  # not begun: not shown
    with qtbot.waitSignal(m.dataChanged):
        m.show_run({"id": 4, "job": "a", "state": "running", "started_at": now - 2})
    assert m.index(0, JobsModel.LAST).data().startswith("running · ")
    m.show_run({"id": 8, "job": "b", "state": "retrying", "started_at": now - 70})
    assert m.index(1, JobsModel.LAST).data() == "failed · 1 min ago"  # an older run stays out
    m.show_run({"id": 10, "job": "b", "state": "retrying", "started_at": now - 5})
    assert m.index(1, JobsModel.LAST).data().startswith("retrying · ")
    m.show_run({"id": 11, "job": "gone", "state": "running", "started_at": now})  # no row: no-op


def test_the_jobs_page_says_running_while_a_run_runs(make_app, qtbot):
    ta = make_app(CONFIG_SLOW)
    ta.run_job("slow")
    row = ta.window.jobs_model.row_of("slow")
    until(qtbot, lambda: str(ta.window.jobs_model.index(row, JobsModel.LAST).data())
          .startswith("running"), timeout=5000)
    until(qtbot, lambda: str(ta.window.jobs_model.index(row, JobsModel.LAST).data())
          .startswith("succeeded"), timeout=10_000)


CONFIG_SLOW = """
[jobs.slow]
kind = "demo"
steps = 20
step_time = 0.1
"""


def _retried(store, monkeypatch, t0: float) -> int:
    """A run that failed at t0 + 1 s and succeeded in its second attempt, t0 + 30..35 s."""
    def at(t: float) -> None:
        monkeypatch.setattr(store, "now", lambda: t)

    at(t0)
    rid = store.create_run("bank", kind="demo", trigger="manual", max_attempts=2)
    store.claim(rid)
    at(t0 + 1)
    store.end_attempt(rid, state="retrying", error="boom", next_attempt_at=0)
    assert store.requeue_retry(rid, early=True)
    at(t0 + 30)
    store.claim(rid)
    at(t0 + 35)
    store.end_attempt(rid, state="succeeded", result={"summary": "ok"})
    monkeypatch.setattr(store, "now", time.time)
    return rid


def test_a_retried_run_s_start_and_time_count_from_its_first_attempt(qtbot, store, monkeypatch):
    t0 = time.time() - 600
    rid = _retried(store, monkeypatch, t0)
    service = Service()
    m = RunsModel(service=service)
    with qtbot.waitSignal(m.loaded, timeout=5000):
        m.attach(store, service)
    row = m.row_of(rid)
    tip = Qt.ItemDataRole.ToolTipRole
    assert m.index(row, RunsModel.DURATION).data() == "35 s"  # not the last attempt's 5.0 s
    assert m.index(row, RunsModel.DURATION).data(tip) == "35 s in all, the last attempt 5.0 s"
    assert m.index(row, RunsModel.STARTED).data() == when(t0)
    assert m.index(row, RunsModel.STARTED).data(tip).startswith(
        f"{when(t0, seconds=True)} (attempt 2 at ")
    # Told afresh (a row as the engine sends it, the last attempt's start only): kept.
    m.upsert({**store.get_run(rid), "note": "seen"})
    assert m.index(row, RunsModel.DURATION).data() == "35 s"

    # A run seen live from its first attempt counts from it too, with no query.
    m.service.call = lambda *a, **k: pytest.fail("no query for a live run")
    new = _run(store)
    m.upsert(new)
    m.upsert({**new, "state": "running", "attempt": 1, "started_at": t0})
    m.upsert({**new, "state": "retrying", "attempt": 1, "started_at": t0})
    m.upsert({**new, "state": "failed", "attempt": 2, "started_at": t0 + 20,
              "finished_at": t0 + 21})
    assert m.index(0, RunsModel.DURATION).data() == "21 s"
    assert m.index(0, RunsModel.STARTED).data() == when(t0)
    service.stop()
