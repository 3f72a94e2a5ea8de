"""Needs attention: runs that failed for good or finished with warnings stay listed, and
badge the tray, until someone looks at them; bulk actions on a selection in Activity."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel

from trayjobs.ui.activity_page import STATE_CHOICES

from ui_support import make_app, until  # noqa: F401


def _ended(app, qtbot, n: int) -> list[dict]:
    until(qtbot, lambda: sum(r["state"] == "failed" for r in app.window.runs_model.loaded_runs())
          == n, timeout=20_000)
    return [r for r in app.window.runs_model.loaded_runs() if r["state"] == "failed"]


def test_failures_need_attention_until_seen_not_until_the_window_is_focused(make_app, qtbot):
    app = make_app()
    app.show_window()
    app.window.activateWindow()
    app.run_job("fails")
    app.run_job("fails")
    first, second = _ended(app, qtbot, 2)
    until(qtbot, lambda: app.unseen_failures == 2)
    # Focusing the window does not clear it; the tray keeps its badge and lists them.
    app.window.activateWindow()
    app.show_window()
    qtbot.wait(50)
    assert app.tray.state == "failed" and app.tray.badge == 2
    assert app.tray.action("attention").text() == "Needs attention (2)"
    page, model = app.window.activity, app.window.runs_model
    app.tray.action("attention").trigger()
    until(qtbot, lambda: model.filter.states == ("attention",) and model.total == 2)
    assert page.state_box.currentText() == "Needs attention"
    # Opening one's details is looking at it.
    app.open_run(first["id"])
    until(qtbot, lambda: app.unseen_failures == 1 and model.total == 1)
    assert model.run_at(0)["id"] == second["id"]
    menu = page.context_menu_for(model.run_at(0))
    next(a for a in menu.actions() if a.objectName() == "seen").trigger()
    until(qtbot, lambda: app.unseen_failures == 0 and model.total == 0)
    until(qtbot, lambda: app.tray.state != "failed" and app.tray.badge == 0)
    assert app.tray.action("attention").text() == "Needs attention"
    assert app.engine.store.attention_counts() == {"failed": 0, "warning": 0}


def test_bulk_actions_on_a_selection(make_app, qtbot):
    app = make_app()
    for _ in range(3):
        app.run_job("fails")
    _ended(app, qtbot, 3)
    page, model = app.window.activity, app.window.runs_model
    page.state_box.setCurrentIndex([label for label, _ in STATE_CHOICES].index("Needs attention"))
    until(qtbot, lambda: model.total == 3)
    sel = page.view.selectionModel()
    for row in range(3):
        sel.select(model.index(row, 0), QItemSelectionModel.SelectionFlag.Select
                   | QItemSelectionModel.SelectionFlag.Rows)
    runs = page.selected_runs()
    assert len(runs) == 3
    menu = page.bulk_menu_for(runs)
    acts = {a.objectName(): a for a in menu.actions()}
    assert acts["retryAll"].text() == "Retry 3 runs" and not acts["cancelAll"].isEnabled()
    acts["markSeen"].trigger()
    until(qtbot, lambda: model.total == 0 and app.unseen_failures == 0)
    page.clear_filters()
    until(qtbot, lambda: model.total == 3)
    for row in range(3):
        sel.select(model.index(row, 0), QItemSelectionModel.SelectionFlag.Select
                   | QItemSelectionModel.SelectionFlag.Rows)
    acts = {a.objectName(): a for a in page.bulk_menu_for(page.selected_runs()).actions()}
    assert not acts["markSeen"].isEnabled()
    acts["retryAll"].trigger()
    until(qtbot, lambda: model.total == 6, timeout=20_000)
