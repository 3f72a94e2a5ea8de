"""A success with warnings in the window: its own colour and icon, its own Activity filter,
counted in the tray's tooltip, notified; a real app, engine and job processes."""

from __future__ import annotations

from textwrap import dedent

from PySide6.QtCore import Qt

from trayjobs.ui.activity_page import STATE_CHOICES
from trayjobs.ui.icons import icon
from trayjobs.ui.jobs_model import JobsModel
from trayjobs.ui.runs_model import RunsModel
from trayjobs.ui.theme import state_colour

from ui_support import make_app, until  # noqa: F401

FG, DECO = Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.DecorationRole
TIP, ACCESS = Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole
WARNED = """
    def main(ctx):
        return {"summary": "imported 3 of 5", "warnings": ["2 of 5 rows rejected"]}
"""
CLEAN = """
    def main(ctx):
        return "all 5 imported"
"""


def finished(app, job: str) -> dict | None:
    runs = [r for r in app.window.runs_model.loaded_runs() if r["job"] == job]
    return runs[0] if runs and runs[0]["state"] in ("succeeded", "failed") else None


def row_of(model: RunsModel, run: dict) -> int:
    return model.row_of(run["id"])


def test_a_success_with_warnings_looks_filters_counts_and_notifies_as_one(make_app, qtbot,
                                                                         tmp_path):
    for name, code in (("warned.py", WARNED), ("clean.py", CLEAN)):
        (tmp_path / name).write_text(dedent(code))
    app = make_app(dedent(f"""
        [jobs.warned]
        kind = "python"
        file = '{tmp_path / "warned.py"}'
        [jobs.clean]
        kind = "python"
        file = '{tmp_path / "clean.py"}'
    """))
    app.window.hide()  # closed to the tray: what finishes now is not seen yet
    assert not app.window.isActiveWindow()
    app.run_job("clean")
    until(qtbot, lambda: finished(app, "clean"), timeout=20_000)
    app.run_job("warned")
    until(qtbot, lambda: finished(app, "warned"), timeout=20_000)
    model = app.window.runs_model
    warned, clean = finished(app, "warned"), finished(app, "clean")
    assert warned["state"] == "succeeded" and warned["warnings"] == 1

    # Its own words, colour and icon in the Activity list: never the green tick.
    at = row_of(model, warned)
    state = model.index(at, RunsModel.STATE)
    assert state.data() == "1 warning"
    assert model.data(state, role=FG) == state_colour("warning")
    assert state_colour("warning") != state_colour("succeeded")
    assert model.data(state, role=DECO).cacheKey() == icon("state-warning").cacheKey()
    assert "⚠ 2 of 5 rows rejected" in model.index(at, RunsModel.SUMMARY).data(TIP)
    assert model.data(state, role=ACCESS) == f"run {warned['id']} succeeded with 1 warning"
    ok = model.index(row_of(model, clean), RunsModel.STATE)
    assert ok.data() == "succeeded"
    assert model.data(ok, role=DECO).cacheKey() == icon("state-succeeded").cacheKey()

    # The job's last result says so too.
    jobs = app.window.jobs_model
    until(qtbot, lambda: (jobs.rowCount() == 2 and jobs.index(jobs.row_of("warned"), JobsModel.LAST)
                          .data().startswith("succeeded, 1 warning · ")))
    last = jobs.index(jobs.row_of("warned"), JobsModel.LAST)
    assert jobs.data(last, role=FG) == state_colour("warning")

    # The tray's tooltip counts it while the window was not looked at.
    assert "1 with warnings" in app.tray.icon.toolTip()
    until(qtbot, lambda: any(n["title"] == "warned finished with 1 warning"
                             for n in app.notifier.sent), timeout=5000)
    note = next(n for n in app.notifier.sent if n["title"] == "warned finished with 1 warning")
    assert "2 of 5 rows rejected" in note["message"] and note["target"] == ("run", warned["id"])
    assert not any("clean" in n["title"] for n in app.notifier.sent)  # successes: off
    app.mark_seen([warned["id"]])
    until(qtbot, lambda: "with warnings" not in app.tray.icon.toolTip())

    # Its own filter in the Activity page: only the run with warnings.
    page = app.window.activity
    labels = [label for label, _ in STATE_CHOICES]
    page.state_box.setCurrentIndex(labels.index("With warnings"))
    until(qtbot, lambda: model.filter.states == ("warning",) and model.total == 1
          and model.run_at(0)["id"] == warned["id"])
    page.state_box.setCurrentIndex(labels.index("Needs attention"))
    until(qtbot, lambda: model.filter.states == ("attention",) and model.total == 0)  # seen
    # A run with warnings that arrives while the filter is on shows up live.
    page.state_box.setCurrentIndex(labels.index("With warnings"))
    until(qtbot, lambda: model.filter.states == ("warning",) and model.total == 1)
    app.run_job("clean")
    app.run_job("warned")
    until(qtbot, lambda: model.total == 2, timeout=20_000)
    assert {model.run_at(r)["job"] for r in range(2)} == {"warned"}


def test_warnings_can_be_kept_out_of_notifications(make_app, qtbot, tmp_path):
    (tmp_path / "warned.py").write_text(dedent(WARNED))
    app = make_app(dedent(f"""
        [settings]
        notify_warnings = false
        [jobs.warned]
        kind = "python"
        file = '{tmp_path / "warned.py"}'
    """))
    assert not app.window.settings_page.notify_warnings.isChecked()
    app.run_job("warned")
    until(qtbot, lambda: finished(app, "warned"), timeout=20_000)
    app.router.flush()  # what the burst window would send now
    assert app.notifier.sent == []

