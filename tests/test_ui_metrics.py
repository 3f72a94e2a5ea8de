"""The Jobs page's health columns and tag filter, the Activity page's tag filter, and the
Metrics page painted with data and with none."""

from __future__ import annotations

import json
import time
from datetime import datetime
from textwrap import dedent

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from trayjobs.ui.jobs_model import RECENT_ROLE, JobsModel
from trayjobs.ui.theme import state_colour
from trayjobs.store.open import open_store
from helpers import trayjobs
from ui_support import make_app, until  # noqa: F401 (a fixture)

CONFIG = dedent("""
    [jobs.bank]
    kind = "demo"
    steps = 1
    step_time = 0
    tags = ["money", "home"]

    [jobs.tidy]
    kind = "demo"
    steps = 1
    step_time = 0
    tags = ["home"]

    [jobs.other]
    kind = "demo"
    steps = 1
    step_time = 0
""")


def fill(home, now: float) -> None:
    store = open_store(home)
    rows = []
    for i, took in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]):
        t = now - 3600 * (i + 2)
        rows.append(("bank", "succeeded", t, t, t + took, 0))
    rows.append(("bank", "failed", now - 1800, now - 1800, now - 1799, 0))
    rows.append(("tidy", "succeeded", now - 900, now - 890, now - 880, 2))
    with store.transaction() as conn:
        conn.executemany("INSERT INTO runs (job, kind, trigger, state, created_at, started_at,"
                         " finished_at, warnings) VALUES (?, 'demo', 'cli', ?, ?, ?, ?, ?)", rows)
    store.close()


def cell(app, job: str, col: int, role=Qt.ItemDataRole.DisplayRole):
    m = app.window.jobs_model
    return m.index(m.row_of(job), col).data(role)


def test_jobs_page_shows_health_and_filters_by_tag(make_app, home, qtbot):
    fill(home, time.time())
    app = make_app(CONFIG)
    assert cell(app, "bank", JobsModel.SUCCESS) == "91 %"
    assert cell(app, "bank", JobsModel.DURATION) == "5.0 s / 10 s"
    # said in words, not "p50 / p95"; the exact meaning is in the tooltips
    m = app.window.jobs_model
    head = m.headerData(JobsModel.DURATION, Qt.Orientation.Horizontal)
    assert head == "Typical /\nslowest 5 %"
    assert "(the median)" in m.headerData(JobsModel.DURATION, Qt.Orientation.Horizontal,
                                          Qt.ItemDataRole.ToolTipRole)
    assert cell(app, "bank", JobsModel.DURATION, Qt.ItemDataRole.ToolTipRole) == (
        "Typically 5.0 s (half of its successes over the last 7 days took less, half more); "
        "its slowest success took 10 s")
    assert cell(app, "other", JobsModel.DURATION, Qt.ItemDataRole.ToolTipRole) is None
    assert cell(app, "bank", JobsModel.LAST_OK).endswith("ago")
    assert cell(app, "other", JobsModel.LAST_OK) == "never"
    assert cell(app, "tidy", JobsModel.SUCCESS) == "100 %"
    assert cell(app, "tidy", JobsModel.SUCCESS, Qt.ItemDataRole.ToolTipRole) == (
        "1 of 1 succeeded (1 with warnings) over the last 7 days")
    recent = cell(app, "bank", JobsModel.RECENT, RECENT_ROLE)
    assert len(recent) == 11 and recent[-1] == "failed"
    assert "1 failed" in cell(app, "bank", JobsModel.RECENT, Qt.ItemDataRole.ToolTipRole)

    page = app.window.jobs_page
    assert [page.tag_box.itemData(i) for i in range(page.tag_box.count())] == [
        None, "home", "money"]
    page.tag_box.setCurrentIndex(page.tag_box.findData("money"))
    assert page.visible_jobs() == ["bank"]
    page.tag_box.setCurrentIndex(page.tag_box.findData("home"))
    assert page.visible_jobs() == ["bank", "tidy"]
    page.tag_box.setCurrentIndex(0)
    assert page.visible_jobs() == ["bank", "tidy", "other"]

    # The sparkline is painted: the failed run's colour is in the cell.
    app.window.show()
    view = page.view
    index = app.window.jobs_model.index(0, JobsModel.RECENT)
    view.scrollTo(index)
    until(qtbot, lambda: view.viewport().rect().contains(view.visualRect(index)))
    image = view.viewport().grab(view.visualRect(index)).toImage().convertToFormat(
        QImage.Format.Format_RGB32)
    failed = state_colour("failed").rgb()
    assert any(image.pixel(x, y) == failed for x in range(image.width())
               for y in range(image.height()))


def shown_jobs(model) -> set[str]:
    return {model.run_at(r)["job"] for r in range(model.rowCount())}


def test_activity_page_filters_by_tag(make_app, home, qtbot):
    fill(home, time.time())
    app = make_app(CONFIG)
    act, model = app.window.activity, app.window.runs_model
    until(qtbot, lambda: shown_jobs(model) == {"bank", "tidy"})  # "other" never ran
    act.tag_box.setCurrentIndex(act.tag_box.findData("money"))
    assert act.current_filter().job == ("bank",)
    until(qtbot, lambda: model.rowCount() == 11 and shown_jobs(model) == {"bank"})
    act.clear_filters()
    assert act.tag_box.currentData() is None
    until(qtbot, lambda: model.rowCount() == 12)


def colours_in(widget) -> set[int]:
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    return {image.pixel(x, y) for x in range(0, image.width(), 2)
            for y in range(0, image.height(), 2)}


def test_metrics_page_paints_with_data(make_app, home, qtbot):
    now = time.time()
    fill(home, now)
    app = make_app(CONFIG)
    page = app.window.metrics
    app.window.show()
    app.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.loads > 0)
    assert page.summary.text() == "12 runs · 1 failed · 1 with warnings"
    # 25 hourly bars: the hour 24 hours ago began in, as trayjobs stats --since 24h counts
    assert len(page.buckets) == 25 and sum(b["runs"] for b in page.buckets) == 12
    assert sum(b["failed"] for b in page.buckets) == 1
    assert page.runs_chart.peak() in (1, 2)  # two runs share an hour, or not: the clock says
    assert page.duration_chart.peak() == 10
    assert page.duration_chart.title == "Time a success took (average)"  # not "mean"
    assert page.wait_chart.title == "Wait before starting (average)"  # not "queue wait"
    assert "once they were due" in page.wait_chart.toolTip()
    assert state_colour("failed").rgb() in colours_in(page.runs_chart)

    page.tag_box.setCurrentIndex(page.tag_box.findData("money"))
    until(qtbot, lambda: page.summary.text() == "11 runs · 1 failed · 0 with warnings")
    page.period_box.setCurrentIndex(page.period_box.findData("30d"))
    until(qtbot, lambda: len(page.buckets) == 31)  # today, and the day 30 days ago began


def test_metrics_page_paints_empty(make_app, qtbot):
    app = make_app(CONFIG)
    page = app.window.metrics
    app.window.show()
    app.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.loads > 0)
    assert page.summary.text() == "No runs in this period"
    assert page.runs_chart.peak() == 0
    assert "nothing in this period" in page.runs_chart.accessibleDescription()
    assert len(colours_in(page.wait_chart)) > 1  # its title, axis and message are drawn


def test_metrics_tag_filter_shows_only_when_there_are_tags(make_app, qtbot):
    # Without tags it offered one choice, "All jobs", and did nothing; the Jobs and
    # Activity pages hide theirs then.
    untagged = CONFIG.replace('tags = ["money", "home"]', "").replace('tags = ["home"]', "")
    app = make_app(untagged)
    page = app.window.metrics
    app.window.show()
    app.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.loads > 0)
    assert page.tag_box.isHidden()
    assert page.summary.isVisible()


def test_a_charts_left_end_names_the_day_when_it_is_not_today():
    from datetime import datetime

    from trayjobs.ui.metrics_page import PERIODS, period_window, start_label
    now = datetime(2026, 12, 3, 15, 17).timestamp()
    _key, _label, length, bucket, _unit = PERIODS[0]  # the last 24 hours: yesterday's 15:00
    since, _until = period_window(length, bucket, now)
    assert start_label(since, bucket, now) == "Wed 15:00"  # not "15:00", after 15:17
    assert start_label(datetime(2026, 12, 3, 9, 0).timestamp(), 3600, now) == "09:00"
    assert start_label(datetime(2026, 11, 4).timestamp(), 86400, now) == "Nov 04"


def test_the_metrics_page_reads_off_the_gui_thread_and_follows_runs_that_end(
        make_app, qtbot):
    app = make_app(CONFIG)
    store = app.engine.store
    read_on: list[bool] = []
    metrics = store.metrics

    def recorded(**kw):  # where the page reads: the window must not wait on the store
        import threading
        read_on.append(threading.current_thread() is threading.main_thread())
        return metrics(**kw)

    store.metrics = recorded
    page = app.window.metrics
    app.window.show()
    app.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.loads > 0)
    assert page.summary.text() == "No runs in this period"
    # A run that ends while the page is shown is in its figures, without leaving the page.
    app.run_job("bank")
    until(qtbot, lambda: page.summary.text() == "1 run · 0 failed · 0 with warnings",
          timeout=20_000)
    assert read_on and not any(read_on)


def two_years(home, now: float) -> None:
    """A run every 7 hours for two years, half past the hour (an hour's edge is where the
    page and the CLI could part): every fifth failed, every seventh with warnings."""
    rows = []
    hour = int(now // 3600)
    for i, h in enumerate(range(hour - 730 * 24, hour, 7)):
        t = h * 3600 + 1800
        if t > now:
            break
        state = "failed" if i % 5 == 0 else "succeeded"
        rows.append(("bank" if i % 2 else "tidy", state, t, t, t + 3, int(i % 7 == 0)))
    store = open_store(home)
    with store.transaction() as conn:
        conn.executemany("INSERT INTO runs (job, kind, trigger, state, created_at, started_at,"
                         " finished_at, warnings) VALUES (?, 'demo', 'cli', ?, ?, ?, ?, ?)", rows)
    store.close()


def test_long_periods_have_coarse_bars_and_the_totals_of_trayjobs_stats(
        make_app, home, qtbot):
    two_years(home, time.time())
    app = make_app(CONFIG)
    page = app.window.metrics
    app.window.show()
    app.window.tabs.setCurrentWidget(page)
    until(qtbot, lambda: page.loads > 0)
    assert [page.period_box.itemText(i) for i in range(page.period_box.count())] == [
        "Last 24 hours", "Last 7 days", "Last 30 days", "Last 90 days", "Last year"]
    bars = {"24h": (25, 25), "7d": (29, 29), "30d": (31, 31), "90d": (91, 91),
            "365d": (53, 54)}  # the oldest bar may be cut short; weeks from Monday
    for key, (fewest, most) in bars.items():
        for _try in range(2):  # again if the clock passed an hour meanwhile
            hour = time.time() // 3600
            loads = page.loads
            if page.period_box.currentData() == key:
                page.reload()
            else:
                page.period_box.setCurrentIndex(page.period_box.findData(key))
            until(qtbot, lambda: page.loads > loads)
            out = trayjobs(app.home, "stats", "--json", "--since", key)
            if time.time() // 3600 == hour:
                break
        assert out.returncode == 0, out.stderr
        figures = json.loads(out.stdout)["jobs"].values()
        runs, failed, warned = (sum(f[k] for f in figures) for k in ("runs", "failed",
                                                                      "warned"))
        assert runs > 0
        assert page.summary.text() == (f"{runs:,} runs · {failed:,} failed · "
                                       f"{warned:,} with warnings"), key
        assert fewest <= len(page.buckets) <= most, key
    assert page.runs_chart.title == "Runs per week"
    starts = [b["start"] for b in page.buckets[1:]]
    assert {b - a for a, b in zip(starts, starts[1:])} == {7 * 86400}
    newest = datetime.fromtimestamp(starts[-1])
    assert (newest.weekday(), newest.hour, newest.minute) == (0, 0, 0)  # this Monday


def test_the_period_chosen_is_kept_across_restarts(make_app, home, qtbot):
    app = make_app(CONFIG)
    page = app.window.metrics
    assert page.period_box.currentData() == "24h"  # the first time
    page.period_box.setCurrentIndex(page.period_box.findData("90d"))
    with qtbot.waitSignal(app.stopped, timeout=20_000):
        app.quit()
    again = make_app(CONFIG)
    assert again.window.metrics.period_box.currentData() == "90d"
    again.window.show()
    again.window.tabs.setCurrentWidget(again.window.metrics)
    until(qtbot, lambda: again.window.metrics.loads > 0)
    assert len(again.window.metrics.buckets) == 91


def test_the_metrics_page_open_as_the_app_starts_shows_the_history(home, qtbot, monkeypatch,
                                                                      tmp_path):
    from trayjobs.ui.app import TrayApp
    from ui_support import quiet_desktop
    quiet_desktop(monkeypatch, tmp_path)
    fill(home, time.time())
    home.config_file.write_text(CONFIG, encoding="utf-8")
    app = TrayApp(home, grace=1.0)
    # The window shows the tab open when the app last quit before the engine has started.
    app.window.tabs.setCurrentWidget(app.window.metrics)
    app.window.show()
    page = app.window.metrics
    try:
        with qtbot.waitSignal(app.ready, timeout=20_000):
            app.start()
        until(qtbot, lambda: page.summary.text() == "12 runs · 1 failed · 1 with warnings")
    finally:
        with qtbot.waitSignal(app.stopped, timeout=20_000):
            app.quit()
