"""The window itself: settings, history clean-up, dark mode, keyboard and accessible names,
geometry, the activity filters, and one app per home."""

from __future__ import annotations

import os

from contextlib import closing

import time

import pytest

from PySide6.QtCore import QEvent, QPointF, QTime, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPalette
from PySide6.QtWidgets import (QAbstractButton, QApplication, QComboBox, QLineEdit,
                               QAbstractSpinBox, QTableView)

from helpers import trayjobs
from trayjobs.engine.events import RunProgress
from trayjobs.ui.activity_page import ProgressDelegate, date_range
from trayjobs.ui.settings_page import settings_changes
from trayjobs.ui.single import SingleInstance
from trayjobs.ui.theme import banner_style, is_dark, muted_colour, state_colour
from trayjobs.store.open import open_store

from ui_support import app, find_run, jobs_settled, make_app, mnemonic_clashes, until  # noqa: F401


def test_settings_page_writes_the_settings_table(app, qtbot, home, tmp_path):
    page = app.window.settings_page
    assert page.notify_failures.isChecked() and not page.notify_success.isChecked()
    assert not page.save_btn.isEnabled()  # nothing changed yet
    page.notify_success.setChecked(True)
    page.quiet.setChecked(True)
    page.quiet_from.setTime(QTime(22, 30))
    page.quiet_to.setTime(QTime(6, 45))
    page.keep_days.setValue(30)
    page.workers.setValue(3)
    assert page.workers_note.isVisible() or page.workers_note.isVisibleTo(page)
    page.autostart.setChecked(True)
    assert page.save_btn.isEnabled()
    page.save_btn.click()
    until(qtbot, lambda: "[settings]" in home.config_file.read_text())
    text = home.config_file.read_text()
    assert text.startswith("\n# Jobs for the window tests.\n\n[settings]\n")
    assert ('notify_success = true\nquiet_hours = "22:30-06:45"\nworkers = 3\nkeep_days = 30\n'
            in text)
    until(qtbot, lambda: app.engine.config.settings.keep_days == 30)
    assert app.engine.config.settings.quiet_hours == "22:30-06:45"
    autostart = tmp_path / "xdg-config" / "autostart" / "io.github.trayjobs.TrayJobs.desktop"
    until(qtbot, lambda: autostart.exists())
    assert "--minimized" in autostart.read_text()
    until(qtbot, lambda: not page.dirty)
    # Back to the default: the key goes away again.
    page.keep_days.setValue(90)
    page.save_btn.click()
    until(qtbot, lambda: "keep_days" not in home.config_file.read_text())


def test_settings_problems_are_shown_inline(app):
    page = app.window.settings_page
    page.quiet.setChecked(True)
    page.quiet_from.setTime(QTime(8, 0))
    page.quiet_to.setTime(QTime(8, 0))
    assert "same time" in page.errors.text() and not page.save_btn.isEnabled()
    page.keep_failed.setValue(10)
    assert "kept for less time" in page.history_hint.text()
    assert settings_changes({"workers": 2, "keep_days": 90}, {"workers": 2, "keep_days": 90}) == {}
    assert settings_changes({"keep_days": 30}, {"keep_days": 90}) == {"keep_days": None}


def test_clean_up_now_prunes_the_history(app, qtbot, home):
    store = app.engine.store
    old = time.time() - 400 * 86400
    for state in ("succeeded", "failed"):
        rid = store.create_run("count", kind="demo", trigger="manual", state=state)
        store.update_run(rid, finished_at=old, created_at=old)
    app.window.runs_model.reload()
    until(qtbot, lambda: app.window.runs_model.total == 2)
    page = app.window.settings_page
    page.prune_btn.click()
    until(qtbot, lambda: app.window.runs_model.total == 0)
    with closing(open_store(home)) as store:
        assert store.count_runs() == 0


def test_clean_up_now_says_it_waits_for_the_automatic_one_under_way(app, qtbot):
    # The automatic clean-up of a big history takes its time; Clean up now waited for it
    # without a word, as if the button did nothing.
    app.show_window()
    page = app.window.settings_page
    with app.engine._prune_lock:  # the automatic one, under way
        page.prune_btn.click()
        until(qtbot, lambda: "Waiting for the automatic clean-up"
              in app.window.statusBar().currentMessage())
    until(qtbot, lambda: "Removed 0 old runs" in app.window.statusBar().currentMessage())


def test_dark_theme_keeps_text_readable(app, qtbot):
    light_banner = banner_style()
    app.set_theme("dark")
    try:
        assert is_dark()
        assert app.qsettings.value("window/theme") == "dark"
        window_bg = QApplication.palette().color(QPalette.ColorRole.Base)
        for state in ("failed", "succeeded", "running", "retrying"):
            c = state_colour(state)
            assert abs(c.lightnessF() - window_bg.lightnessF()) > 0.35, state
        until(qtbot, lambda: app.window.banner.styleSheet() != light_banner)  # restyled
        assert QColor(app.window.banner.styleSheet().split("background: ")[1][:7]).lightness() < 100
        app.window.grab()  # it paints
    finally:
        app.set_theme("system")
    assert not is_dark()


def _contrast(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio of two colours."""
    def lum(c: QColor) -> float:
        def ch(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * ch(c.redF()) + 0.7152 * ch(c.greenF()) + 0.0722 * ch(c.blueF())
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_state_words_and_help_text_are_readable_in_either_theme(app, qtbot):
    # WCAG AA for text: 4.5:1. "cancelled" and "skipped" in the Activity list and the
    # editor's help lines are drawn muted, which must still be read without effort.
    try:
        for theme in ("light", "dark"):
            app.set_theme(theme)
            pal = QApplication.palette()
            for role in (QPalette.ColorRole.Base, QPalette.ColorRole.Window):
                bg = pal.color(role)
                for state in ("succeeded", "warning", "failed", "retrying", "interrupted",
                              "running", "cancelled", "skipped", "queued"):
                    ratio = _contrast(state_colour(state), bg)
                    assert ratio >= 4.5, (theme, role.name, state, round(ratio, 2))
                assert _contrast(muted_colour(), bg) >= 4.5, (theme, role.name, "muted")
    finally:
        app.set_theme("system")


def test_every_control_has_an_accessible_name_or_text(app, qtbot):
    app.window.show_runs_of()
    for w in app.window.findChildren(QAbstractButton) + app.window.findChildren(QLineEdit) + \
            app.window.findChildren(QComboBox) + app.window.findChildren(QAbstractSpinBox) + \
            app.window.findChildren(QTableView):
        if isinstance(w, QLineEdit) and isinstance(w.parent(), (QComboBox, QAbstractSpinBox)):
            continue  # the editor inside a box: the box carries the name
        if w.objectName().startswith("qt_") or not w.isVisibleTo(app.window):
            continue
        name = w.accessibleName() or (w.text() if isinstance(w, QAbstractButton) else "")
        assert name.replace("&", "").strip(), f"{type(w).__name__} {w.objectName()} has no name"


def test_keyboard_reaches_every_page(app, qtbot):
    w = app.window
    qtbot.keyClick(w, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert w.tabs.currentWidget() is w.activity
    qtbot.keyClick(w, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert w.tabs.currentWidget() is w.data_page
    qtbot.keyClick(w, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert w.tabs.currentWidget() is w.metrics
    qtbot.keyClick(w, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    assert w.tabs.currentWidget() is w.settings_page
    qtbot.keyClick(w, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert w.tabs.currentWidget() is w.jobs_page
    w.find_runs()
    assert w.tabs.currentWidget() is w.activity
    # Ctrl+R runs the selected job.
    w.jobs_page.select("count")
    w.tabs.setCurrentWidget(w.jobs_page)
    qtbot.keyClick(w.jobs_page.view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    until(qtbot, lambda: app.window.runs_model.total == 1)
    # The buttons have mnemonics.
    assert w.jobs_page.run_btn.text() == "&Run now" and w.jobs_page.edit_btn.text() == "&Edit…"


def test_data_metrics_and_settings_pages_are_built_when_first_shown(make_app, qtbot):
    from ui_support import CONFIG
    ta = make_app(CONFIG + "\n[settings]\nnotify_success = true\nkeep_days = 30\n")
    w = ta.window
    assert [w.built(p) for p in ("data_page", "metrics", "settings_page")] == [None] * 3
    assert w.tabs.count() == 5 and w.tabs.tabText(2) == "&Data"
    w.tabs.setCurrentIndex(3)  # as a click on the Metrics tab
    assert w.built("metrics") is not None and w.tabs.widget(3) is w.metrics
    assert w.tabs.currentWidget() is w.metrics and w.tabs.tabText(3) == "&Metrics"
    until(qtbot, lambda: w.metrics.loads > 0)  # shown: it read its figures
    assert w.built("data_page") is None and w.built("settings_page") is None
    # Built later, the Settings page shows what was loaded before it existed.
    page = w.settings_page
    assert w.tabs.widget(4) is page and w.tabs.currentWidget() is w.metrics
    assert page.notify_success.isChecked() and page.keep_days.value() == 30 and not page.dirty
    assert page.theme.currentData() == "system"


def test_start_up_objects_are_set_aside_from_the_collector_until_quit(make_app, qtbot):
    # A full collection walking every start-up object froze the window for tens of ms
    # while a job was logging; frozen once started, they are no longer walked.
    import gc
    ta = make_app()
    until(qtbot, lambda: gc.get_freeze_count() > 10_000)
    with qtbot.waitSignal(ta.stopped, timeout=20_000):
        ta.quit()
    assert gc.get_freeze_count() == 0  # what the app leaves behind can be collected


def test_the_app_starts_without_the_pages_it_does_not_show(tmp_path):
    # A fresh interpreter: this one has imported everything already.
    import subprocess
    import sys
    code = ("import sys\nimport trayjobs.ui.app\n"
            "lazy = [m for m in ('trayjobs.ui.data_page', 'trayjobs.ui.metrics_page',"
            " 'trayjobs.ui.settings_page', 'sqlite_utils') if m in sys.modules]\n"
            "assert not lazy, lazy\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr


def test_window_geometry_is_remembered(make_app, qtbot):
    ta = make_app()
    assert ta.window.width() >= 600 and ta.window.height() >= 400  # a sensible default
    ta.window.resize(701, 433)
    ta.window.tabs.setCurrentWidget(ta.window.settings_page)
    ta.window.save_geometry()
    with qtbot.waitSignal(ta.stopped, timeout=20_000):
        ta.quit()
    again = make_app(None)
    assert (again.window.width(), again.window.height()) == (701, 433)
    assert again.window.tabs.currentWidget() is again.window.settings_page


def test_a_long_config_file_path_does_not_widen_the_window(make_app, qtbot, home):
    ta = make_app()
    # The jobs are read off the GUI thread: once they are shown, no later read of them
    # puts the real path back over the long one below.
    until(qtbot, lambda: ta.window.jobs_page.config_label.toolTip() == str(home.config_file))
    jobs_settled(qtbot, ta)
    least = ta.window.minimumSizeHint().width()
    path = "/home/someone/" + "deeper/" * 60 + "trayjobs.toml"
    ta.window.show_config_errors([], path)
    QApplication.processEvents()  # the layouts take in the new text
    assert ta.window.minimumSizeHint().width() == least
    assert ta.window.jobs_page.config_label.toolTip() == path  # the whole path, cut or not


def test_a_long_status_message_is_cut_visibly_and_whole_in_its_tooltip(make_app, qtbot):
    # An import's failure names the file, the line and the fix: longer than the window is
    # wide, it was clipped mid-word at the edge, with nothing to show there was more.
    ta = make_app()
    ta.window.resize(900, 600)
    ta.window.show()
    qtbot.waitExposed(ta.window)
    bar = ta.window.statusBar()
    text = ("import-inbox failed: 0 rows imported; 2 of 2 files failed. bad-file.csv: line 4: "
            "a quote opened on this line is never closed: the file ends inside it (at line 4), "
            "so every line after it would be one value; close the quote")
    ta.status(text)
    shown = bar.currentMessage()
    assert shown.endswith("…") and text.startswith(shown[:-1])
    assert bar.fontMetrics().horizontalAdvance(shown) < bar.width()
    assert bar.toolTip() == text
    bar.clearMessage()  # as when its time is up: the tooltip goes with it
    assert bar.toolTip() == ""
    ta.status(text)
    ta.status("Saved greet")  # a short one is shown as it is, and needs no tooltip
    assert bar.currentMessage() == "Saved greet" and bar.toolTip() == ""


def test_activity_filters_from_the_bar(make_app, qtbot):
    ta = make_app()
    for _ in range(2):
        ta.run_job("fails")
    ta.run_job("count")
    until(qtbot, lambda: sum(r["state"] in ("failed", "succeeded")
                             for r in ta.window.runs_model.loaded_runs()) == 3, timeout=20_000)
    # One run from last year, so that each date range leaves something out.
    old = time.time() - 400 * 86400
    rid = ta.engine.store.create_run("count", kind="demo", trigger="manual", state="succeeded")
    ta.engine.store.update_run(rid, created_at=old, finished_at=old)
    ta.window.runs_model.reload()
    until(qtbot, lambda: ta.window.runs_model.total == 4)
    # Every filter on its own changes the total: one that did nothing would leave 4.
    page = ta.window.activity
    page.state_box.setCurrentText("Failed")
    until(qtbot, lambda: ta.window.runs_model.total == 2)
    assert page.count_label.text() == "2 runs match"
    page.clear_filters()
    until(qtbot, lambda: ta.window.runs_model.total == 4)
    page.search.setText("told to fail")
    until(qtbot, lambda: ta.window.runs_model.filter.text == "told to fail")
    until(qtbot, lambda: ta.window.runs_model.total == 2)
    assert {r["job"] for r in ta.window.runs_model.loaded_runs()} == {"fails"}
    page.state_box.setCurrentText("Succeeded")  # and they combine
    until(qtbot, lambda: ta.window.runs_model.total == 0)
    page.clear_filters()
    until(qtbot, lambda: ta.window.runs_model.total == 4)
    page.job_box.setCurrentIndex(page.job_box.findData("count"))
    until(qtbot, lambda: ta.window.runs_model.total == 2)
    page.clear_filters()
    until(qtbot, lambda: ta.window.runs_model.total == 4)
    page.range_box.setCurrentText("Today")
    until(qtbot, lambda: ta.window.runs_model.filter.since is not None)
    until(qtbot, lambda: ta.window.runs_model.total == 3)
    assert rid not in {r["id"] for r in ta.window.runs_model.loaded_runs()}
    assert page.count_label.text() == "3 runs match"
    since, until_ = date_range("Last 7 days")
    assert until_ is None and time.time() - since < 7 * 86400


def test_run_context_menu(make_app, qtbot):
    ta = make_app()
    ta.run_job("fails")
    until(qtbot, lambda: any(r["state"] == "failed" for r in ta.window.runs_model.loaded_runs()),
          timeout=20_000)
    run = ta.window.runs_model.run_at(0)
    menu = ta.window.activity.context_menu_for(run)
    acts = {a.objectName(): a for a in menu.actions()}
    assert acts["retry"].isEnabled() and not acts["cancel"].isEnabled()
    assert acts["retry"].text() == "Retry"
    acts["retry"].trigger()
    until(qtbot, lambda: ta.window.runs_model.total == 2)
    # On a run that succeeded, the same action runs it again, and says so.
    ok = dict(run, state="succeeded", error=None)
    menu = ta.window.activity.context_menu_for(ok)
    assert {a.objectName(): a for a in menu.actions()}["retry"].text() == "Run again"


def _double_click(qtbot, view, row: int) -> None:
    until(qtbot, lambda: view.isVisible() and view.visualRect(view.model().index(row, 1))
          .intersects(view.viewport().rect()))
    at = QPointF(view.visualRect(view.model().index(row, 1)).center())
    # As a real double-click arrives (QTest.mouseDClick gives the view no double-click).
    for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
                 QEvent.Type.MouseButtonDblClick, QEvent.Type.MouseButtonRelease):
        buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease \
            else Qt.MouseButton.LeftButton
        QApplication.sendEvent(view.viewport(), QMouseEvent(
            kind, at, view.viewport().mapToGlobal(at), Qt.MouseButton.LeftButton, buttons,
            Qt.KeyboardModifier.NoModifier))


def _settled(ta, qtbot) -> None:
    """Every command asked of the service so far has been answered (it answers in order)."""
    with qtbot.waitCallback() as done:
        ta.service.call(lambda: None, done)


def test_double_click_opens_one_window_per_run_and_per_job(make_app, qtbot):
    from trayjobs.ui.details import RunDetails
    from trayjobs.ui.editor import JobEditor
    ta = make_app()
    ta.show_window()
    ta.run_job("fails")
    until(qtbot, lambda: ta.window.runs_model.total == 1)
    ta.window.tabs.setCurrentWidget(ta.window.activity)
    _double_click(qtbot, ta.window.activity.view, 0)
    _settled(ta, qtbot)
    opened = [d for d in ta.window.findChildren(RunDetails) if d.isVisible()]
    assert len(opened) == 1
    # Opening it again (from the tray, a notification) raises the one already open.
    assert ta.open_run(opened[0].run_id) is opened[0]
    assert len([d for d in ta.window.findChildren(RunDetails) if d.isVisible()]) == 1
    opened[0].close()

    ta.window.tabs.setCurrentWidget(ta.window.jobs_page)
    _double_click(qtbot, ta.window.jobs_page.view, 0)
    until(qtbot, lambda: getattr(ta, "editor", None) is not None and ta.editor.isVisible())
    _settled(ta, qtbot)
    ta.edit_job(ta.editor.old_name)
    _settled(ta, qtbot)
    assert len([e for e in ta.window.findChildren(JobEditor) if e.isVisible()]) == 1
    ta.editor.close()


def test_a_second_start_asks_the_first_to_show_its_window(qtbot, home):
    first, second = SingleInstance(home), SingleInstance(home)
    assert first.claim()
    try:
        assert not second.claim()
        with qtbot.waitSignal(first.message, timeout=5000) as sig:
            assert second.ask("show")
        assert sig.args == ["show"]
    finally:
        first.release()
    third = SingleInstance(home)
    assert third.claim()  # the first one is gone: the next start is the app
    third.release()


def test_tab_goes_from_the_tab_bar_to_the_first_control_of_a_scrolling_page(
        make_app, qtbot, home):
    from trayjobs.firstrun import ensure_first_run
    assert ensure_first_run(home).created
    ta = make_app(None)
    w = ta.window
    w.show()
    qtbot.waitExposed(w)
    for page, first in ((w.welcome, "Open Inbox"),
                        (w.settings_page, "Notify on failures")):
        w.tabs.setCurrentWidget(page)
        w.tabs.tabBar().setFocus()
        until(qtbot, lambda: w.tabs.tabBar().hasFocus())
        w.focusNextChild()
        # Not the page's scroll area, a stop where nothing shows the focus.
        got = QApplication.focusWidget()
        assert (got.accessibleName() or got.text().replace("&", "")) == first, got


def test_settings_columns_go_one_under_the_other_in_a_narrow_window(app, qtbot):
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QGroupBox, QScrollArea
    w = app.window
    page = w.settings_page
    w.tabs.setCurrentWidget(page)
    w.resize(1260, 680)
    w.show()
    qtbot.waitExposed(w)
    groups = {g.title(): g for g in page.findChildren(QGroupBox)}
    notes, history = groups["Notifications"], groups["History"]

    def at(g) -> QPoint:
        return g.mapTo(page, QPoint(0, 0))

    until(qtbot, lambda: at(history).x() > at(notes).x() + notes.width() - 1)  # side by side
    # Narrower than both columns (1400 x 900 at 200 %): the right column was cut, the page
    # scrolled sideways.
    w.resize(notes.minimumSizeHint().width() + history.minimumSizeHint().width(), 450)
    until(qtbot, lambda: at(history).y() > at(notes).y() + notes.height())
    assert at(history).x() == at(notes).x()
    scroll = page.findChild(QScrollArea)
    assert scroll.horizontalScrollBar().maximum() == 0
    w.resize(1260, 680)
    until(qtbot, lambda: at(history).y() == at(notes).y())


def test_each_pages_alt_keys_are_its_own(make_app, qtbot, home):
    # "&Delete…" and the "&Data" tab shared Alt+D, "When a run &succeeds" and "&Settings"
    # Alt+S...: Qt then only moves the focus between the two.
    from trayjobs.firstrun import ensure_first_run
    assert ensure_first_run(home).created
    with home.config_file.open("a", encoding="utf-8") as f:
        f.write('\n[alerts.phone]\nurl = "json://127.0.0.1:9/"\n')  # Send test shows
    ta = make_app(None)
    w = ta.window
    w.resize(1300, 800)
    w.show()
    qtbot.waitExposed(w)
    for paused in (False, True):
        w.set_paused(paused)  # "Resume all" while paused, and the banner
        for i in range(w.tabs.count()):
            w.tabs.setCurrentIndex(i)
            assert mnemonic_clashes(w) == {}, w.tabs.tabText(i)


def test_first_run_welcome_page_comes_first_once(make_app, qtbot, home):
    from trayjobs.firstrun import ensure_first_run
    assert ensure_first_run(home).created
    ta = make_app(None)
    w = ta.window
    assert w.welcome is not None and w.tabs.currentWidget() is w.welcome
    assert w.tabs.indexOf(w.jobs_page) == 0  # the usual pages keep their places
    assert len(ta.window.jobs_model.rows) >= 3  # the example jobs
    # A "Run it now" there opens the run's details: the first try shows what happens.
    w.welcome.runJobRequested.emit("scratch-size")
    until(qtbot, lambda: getattr(ta, "details", None) is not None and ta.details.isVisible())
    until(qtbot, lambda: ta.details.run_id is not None
          and (ta.engine.store.get_run(ta.details.run_id) or {}).get("job") == "scratch-size")
    ta.details.close()
    with qtbot.waitSignal(w.welcome.dismissed):
        w.welcome.dismiss()
    until(qtbot, lambda: w.tabs.count() == 5)  # Jobs, Activity, Data, Metrics, Settings
    assert ta.qsettings.value("window/welcomed") is not None


def test_activity_columns_fit_what_they_show_and_the_summary_gets_the_room(make_app, qtbot):
    ta = make_app()
    ta.window.tabs.setCurrentWidget(ta.window.activity)
    ta.window.resize(1000, 600)
    ta.window.show()
    page, model = ta.window.activity, ta.window.runs_model
    ta.run_job("fails")
    until(qtbot, lambda: any(r["state"] == "failed" for r in model.loaded_runs()), timeout=20_000)
    page.fit_columns()
    view = page.view
    # Nothing runs: no empty progress column; every column shows its text whole.
    assert view.isColumnHidden(model.PROGRESS)
    for col in (model.STATE, model.JOB, model.STARTED, model.DURATION):
        assert view.columnWidth(col) >= view.sizeHintForColumn(col), model.HEADERS[col]
    assert view.columnWidth(model.SUMMARY) >= view.viewport().width() // 3
    ta.engine.store.create_run("count", kind="demo", trigger="manual", state="running")
    model.reload()
    until(qtbot, lambda: model.any_running())
    page.fit_columns()
    assert not view.isColumnHidden(model.PROGRESS)
    # Beside its bar, the progress cell holds the percentage, the time left and a message
    # whole; the tooltip has all of a longer one.
    rid = next(r["id"] for r in model.loaded_runs() if r["state"] == "running")
    model.apply_progress({rid: RunProgress(rid, "count", 3, 4, None, "n6.md", rate=1, eta=1)})
    text = model.index(model.row_of(rid), model.PROGRESS).data()
    assert text == "75 % · 1.0 s left · n6.md"
    room = ProgressDelegate.text_width(view.columnWidth(model.PROGRESS))
    assert room >= view.fontMetrics().horizontalAdvance("100 % · 12 min left · n6.md")
    assert model.index(model.row_of(rid), model.PROGRESS).data(Qt.ItemDataRole.ToolTipRole) == text


def test_jobs_page_shows_each_last_result_whole_at_the_windows_first_size(make_app, qtbot):
    from trayjobs.ui.jobs_model import JobsModel
    from trayjobs.ui.window import default_size
    assert default_size(1400, 900) == (1260, 680)  # a small screen: 90 % of it
    assert default_size(1920, 1080) == (1280, 680)
    ta = make_app()
    ta.window.tabs.setCurrentWidget(ta.window.jobs_page)
    ta.window.resize(*default_size(1366, 768))  # a common laptop's screen
    ta.window.show()
    store = ta.engine.store
    for state in ("succeeded", "failed"):  # a success for "Last success", then a failure
        rid = store.create_run("fails", kind="demo", trigger="manual")
        store.claim(rid)
        store.end_attempt(rid, state=state, error="boom" if state == "failed" else None)
    ta.refresh_jobs()
    view = ta.window.jobs_page.view
    until(qtbot, lambda: "failed ·" in (ta.window.jobs_model.index(
        ta.window.jobs_model.row_of("fails"), JobsModel.LAST).data() or ""), timeout=20_000)
    assert view.isColumnHidden(JobsModel.WAITING)  # no job has runs waiting
    for col in (JobsModel.LAST, JobsModel.KIND, JobsModel.LAST_OK):
        assert view.columnWidth(col) >= view.sizeHintForColumn(col), JobsModel.HEADERS[col]


def test_a_wide_window_shows_a_jobs_trigger_whole_and_a_narrow_one_keeps_last_result(
        make_app, qtbot, tmp_path):
    from trayjobs.ui.jobs_model import JobsModel
    (tmp_path / "in").mkdir()
    ta = make_app(f'[jobs.watcher]\nkind = "demo"\nwatch = {{ folder = "{tmp_path / "in"}" }}\n'
                  '[jobs.fails]\nkind = "demo"\nfail_times = 9\nretry = { attempts = 1 }\n')
    page, model = ta.window.jobs_page, ta.window.jobs_model
    view = page.view
    ta.window.tabs.setCurrentWidget(page)
    ta.window.resize(1400, 900)
    ta.window.show()
    qtbot.waitExposed(ta.window)
    row = model.row_of("watcher")
    trigger = str(model.index(row, JobsModel.TRIGGER).data())
    assert trigger.startswith("When files arrive")
    em = page.fontMetrics().averageCharWidth()
    # Room to spare: the trigger is shown whole, not "When files arriv…" (a path as long as
    # the test's folder, up to 44 characters' room).
    needed = min(view.fontMetrics().horizontalAdvance(trigger), em * page.WIDE_CHARS)
    until(qtbot, lambda: view.columnWidth(JobsModel.TRIGGER) >= needed)
    assert view.columnWidth(JobsModel.LAST) >= page.last_room()
    # A small window gives Last result its room first; the trigger goes back to its tooltip,
    # and Last result is not squeezed to a sliver: the table scrolls sideways instead.
    ta.window.resize(800, 600)
    until(qtbot, lambda: view.columnWidth(JobsModel.TRIGGER) == em * 17 + 16)
    assert view.columnWidth(JobsModel.LAST) >= page.last_room()
    assert view.horizontalScrollBar().maximum() > 0
    ta.window.resize(1000, 700)
    until(qtbot, lambda: view.columnWidth(JobsModel.LAST) >= page.last_room())
    # A width set by hand is kept.
    view.horizontalHeader().resizeSection(JobsModel.TRIGGER, 300)
    ta.window.resize(1400, 900)
    qtbot.wait(50)
    assert view.columnWidth(JobsModel.TRIGGER) == 300


def test_the_jobs_page_opened_after_another_tab_fits_its_columns_to_the_window(
        make_app, qtbot, tmp_path):
    from trayjobs.ui.jobs_model import JobsModel
    (tmp_path / "in").mkdir()
    ta = make_app(f'[jobs.watcher]\nkind = "demo"\nwatch = {{ folder = "{tmp_path / "in"}" }}\n')
    page, model = ta.window.jobs_page, ta.window.jobs_model
    view = page.view
    # The first start opens on the welcome page: the Jobs page is sized while hidden, and
    # its table only as it is shown.
    ta.window.tabs.setCurrentWidget(ta.window.activity)
    ta.window.resize(1400, 900)
    ta.window.show()
    qtbot.waitExposed(ta.window)
    qtbot.wait(300)  # the shown window's own sizing and the jobs' health, all while hidden
    ta.window.tabs.setCurrentWidget(page)
    trigger = str(model.index(model.row_of("watcher"), JobsModel.TRIGGER).data())
    em = page.fontMetrics().averageCharWidth()
    needed = min(view.fontMetrics().horizontalAdvance(trigger), em * page.WIDE_CHARS)
    until(qtbot, lambda: view.columnWidth(JobsModel.TRIGGER) >= needed)  # not "When files arriv…"
    hdr = view.horizontalHeader()
    assert hdr.sectionResizeMode(JobsModel.LAST) == hdr.ResizeMode.Stretch  # no gap at the right
    assert view.horizontalScrollBar().maximum() == 0


def test_a_long_job_name_is_shown_whole_where_the_window_has_room(make_app, qtbot):
    from trayjobs.ui.jobs_model import JobsModel
    name = "Sicherung der Fotos (Größe)"
    ta = make_app(f'[jobs."{name}"]\nkind = "demo"\ndescription = "photos"\n')
    page, model = ta.window.jobs_page, ta.window.jobs_model
    view = page.view
    ta.window.tabs.setCurrentWidget(page)
    ta.window.resize(1400, 900)
    ta.window.show()
    qtbot.waitExposed(ta.window)
    needed = view.fontMetrics().horizontalAdvance(name)
    until(qtbot, lambda: view.columnWidth(JobsModel.NAME) >= needed)  # not "Sicherung der …"
    assert view.columnWidth(JobsModel.LAST) >= page.last_room()
    # In a small window it is cut, and its tooltip has it whole.
    tip = model.index(model.row_of(name), JobsModel.NAME).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.splitlines() == [name, "photos"]
    ta.window.resize(800, 600)
    em = page.fontMetrics().averageCharWidth()
    until(qtbot, lambda: view.columnWidth(JobsModel.NAME) == em * 16 + 16)


def test_the_activity_job_filter_shows_the_chosen_jobs_name(home, qtbot, monkeypatch,
                                                            tmp_path):
    from trayjobs.ui.app import TrayApp
    from ui_support import quiet_desktop
    quiet_desktop(monkeypatch, tmp_path)
    name = "Sicherung der Fotos"
    long = "A really quite long job name for the nightly photo library backup to the NAS"
    home.config_file.write_text(f'[jobs."{name}"]\nkind = "demo"\n[jobs."{long}"]\n'
                                'kind = "demo"\n', encoding="utf-8")
    ta = TrayApp(home, grace=1.0)
    page = ta.window.activity
    # The window shows the page, and sizes its boxes, before the engine has read the jobs.
    ta.window.tabs.setCurrentWidget(page)
    ta.window.resize(1260, 680)
    ta.window.show()
    qtbot.waitExposed(ta.window)
    try:
        with qtbot.waitSignal(ta.ready, timeout=20_000):
            ta.start()
        until(qtbot, lambda: page.job_box.findData(name) >= 0)
        page.job_box.setCurrentIndex(page.job_box.findData(name))
        fm = page.job_box.fontMetrics()
        until(qtbot, lambda: page.job_box.width() > fm.horizontalAdvance(name))  # "Sicherung"
        assert name in page.job_box.toolTip()
        # A very long name does not crowd out the search box; the tooltip has it whole.
        page.job_box.setCurrentIndex(page.job_box.findData(long))
        assert page.job_box.width() < fm.horizontalAdvance(long)
        assert long in page.job_box.toolTip()
        assert page.search.width() > 300
        # A narrow window (1400 x 900 at 200 %) still leaves room to search in.
        ta.window.resize(680, 440)
        until(qtbot, lambda: page.search.width() >= fm.horizontalAdvance("Search errors"))
        assert page.count_label.geometry().right() <= page.width()
    finally:
        with qtbot.waitSignal(ta.stopped, timeout=20_000):
            ta.quit()


def test_activity_shows_a_host_column_once_a_second_machine_has_run_jobs(make_app, qtbot):
    ta = make_app()
    ta.window.tabs.setCurrentWidget(ta.window.activity)
    ta.window.show()
    page, model, store = ta.window.activity, ta.window.runs_model, ta.engine.store
    until(qtbot, lambda: model.is_loaded)
    page.fit_columns()
    assert page.view.isColumnHidden(model.HOST)  # one machine: nothing to tell apart
    nas = store.register_worker(host="nas", pid=4242, version="0.1.0", mode="worker", lease=30)
    here = store.create_run("count", kind="demo", trigger="manual")
    store.claim(here, pid=os.getpid(), worker_id=ta.engine.lease.id)
    model.reload()
    until(qtbot, lambda: model.row_of(here) is not None)
    page.fit_columns()
    assert page.view.isColumnHidden(model.HOST)  # a second machine, but none of its runs
    rid = store.create_run("count", kind="demo", trigger="manual")
    store.claim(rid, pid=4242, worker_id=nas)
    model.reload()
    until(qtbot, lambda: model.several_hosts() and model.row_of(rid) is not None)
    until(qtbot, lambda: not page.view.isColumnHidden(model.HOST))
    assert model.index(model.row_of(rid), model.HOST).data() == "nas"


def test_progress_ticks_do_not_remeasure_the_activity_columns(app):
    # measuring the columns costs tens of ms: a run changed as a whole asks for it, a
    # progress tick or a ticking duration (thousands a second) does not
    page, m = app.window.activity, app.window.activity.model
    page._fit.stop()
    m.dataChanged.emit(m.createIndex(0, m.STATE), m.createIndex(0, m.PROGRESS))
    m.dataChanged.emit(m.createIndex(0, m.DURATION), m.createIndex(0, m.DURATION))
    assert not page._fit.isActive()
    m.dataChanged.emit(m.createIndex(0, 0), m.createIndex(0, m.columnCount() - 1))
    assert page._fit.isActive()


def _mouse(view, kind: QEvent.Type, at: QPointF) -> None:
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease \
        else Qt.MouseButton.LeftButton
    QApplication.sendEvent(view.viewport(), QMouseEvent(
        kind, at, view.viewport().mapToGlobal(at), Qt.MouseButton.LeftButton, buttons,
        Qt.KeyboardModifier.NoModifier))


def test_a_double_click_opens_the_run_pressed_while_new_runs_push_it_down(qtbot, tmp_path):
    """Runs starting between the two clicks of a double-click insert rows above the one
    clicked; what opens is the run that was under the cursor, once."""
    from trayjobs.store import RunStore
    from trayjobs.ui.activity_page import ActivityPage
    from trayjobs.ui.runs_model import RunsModel
    from trayjobs.ui.service import Service
    store = RunStore(tmp_path / "runs.db")
    for _ in range(30):
        store.create_run("bank", kind="demo", trigger="manual", state="succeeded")
    service = Service()
    model = RunsModel(service=service)
    try:
        with qtbot.waitSignal(model.loaded, timeout=5000):
            model.attach(store, service)
        page = ActivityPage(None, model)
        qtbot.addWidget(page)
        page.resize(900, 500)
        page.show()
        opened: list[int] = []
        page.openRun.connect(opened.append)
        view = page.view
        until(qtbot, lambda: view.isVisible() and view.rowAt(60) >= 0)
        clicks = [QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
                  QEvent.Type.MouseButtonDblClick, QEvent.Type.MouseButtonRelease]
        for scrolled in (0, 4):  # at the top the rows slide; scrolled down they are kept
            view.verticalScrollBar().setValue(scrolled)
            for arrive_before in (1, 2, None):  # the first release, the second press, never
                at = QPointF(view.visualRect(model.index(view.rowAt(60), 1)).center())
                aimed = model.run_at(view.rowAt(60))["id"]
                opened.clear()
                for i, kind in enumerate(clicks):
                    if i == arrive_before:
                        for _ in range(2):  # two runs start: the rows move by two
                            model.upsert(store.insert_run("bank", kind="demo",
                                                          trigger="manual"))
                    _mouse(view, kind, at)
                assert opened == [aimed], (scrolled, arrive_before)
        # Enter opens the current run.
        view.setCurrentIndex(model.index(3, 1))
        opened.clear()
        qtbot.keyClick(view, Qt.Key.Key_Return)
        assert opened == [model.run_at(3)["id"]]
    finally:
        service.stop()
        store.close()


def test_a_data_folder_deleted_while_the_app_runs_is_said_in_the_window(make_app, home, qtbot):
    import shutil
    ta = make_app('[cluster]\nlease = "1s"\n[jobs.a]\nkind = "demo"\nsteps = 0\n')
    shutil.rmtree(home.data_dir)
    until(qtbot, lambda: "home" in ta.problems, timeout=10_000)
    text = ta.window.problems.text()
    assert f"the data folder {home.data_dir} was deleted while trayjobs ran" in text, text
    assert "Quit trayjobs and start it again" in text
    assert ta.window.problems.isVisible() or not ta.window.isVisible()


def test_a_run_history_deleted_while_the_app_runs_is_said_in_the_window(make_app, home, qtbot,
                                                                        test_database):
    if test_database:
        pytest.skip("the history is on a server")
    ta = make_app('[cluster]\nlease = "1s"\n[jobs.a]\nkind = "demo"\nsteps = 0\n')
    for side in ("", "-wal", "-shm"):
        (home.data_dir / (home.runs_db.name + side)).unlink(missing_ok=True)
    until(qtbot, lambda: "home" in ta.problems, timeout=10_000)
    text = ta.window.problems.text()
    assert f"the run history {home.runs_db} was deleted while trayjobs ran" in text, text
    assert "Quit trayjobs and start it again" in text


def test_an_engine_that_cannot_start_is_not_said_to_be_a_config_mistake(qtbot, home,
                                                                         monkeypatch, tmp_path,
                                                                         test_database):
    """A damaged run history (any reason the engine could not start) was shown under "Some
    of the config could not be used ... everything else runs as usual": nothing ran, and
    the jobs file was fine. Now it is a problem of its own, saying that jobs do not run."""
    if test_database:
        pytest.skip("the history is on a server")
    from trayjobs.ui.app import TrayApp
    from ui_support import quiet_desktop
    quiet_desktop(monkeypatch, tmp_path)
    home.config_file.write_text('[jobs.a]\nkind = "demo"\nsteps = 0\n')
    home.runs_db.write_bytes(b"no database at all " * 500)
    ta = TrayApp(home, grace=1.0)
    try:
        with qtbot.waitSignal(ta.startFailed, timeout=20_000):
            ta.start()
        assert not ta.window.banner.isVisible() or "config" not in ta.window.banner.text()
        text = ta.window.problems.text()
        assert "Jobs are not running" in text and "is damaged" in text, text
        assert "engine" in ta.problems
    finally:
        with qtbot.waitSignal(ta.stopped, timeout=20_000):
            ta.quit()


def test_a_programs_escape_codes_and_direction_overrides_are_shown_as_plain_text(make_app,
                                                                                qtbot):
    # A program's colours, a progress bar redrawn with carriage returns and a right-to-left
    # override (which shows "invoice\u202egnp.exe" as "invoiceexe.png") reach the window
    # as text: colours out, the redrawn line as it was left, the override visible.
    from trayjobs.ui.details import RunDetails
    from trayjobs.ui.runs_model import summary_text
    script = ("printf '\\033[32mgreen\\033[0m\\n10%%\\r100%%\\ninvoice\\342\\200\\256gnp.exe\\n'; "
              "printf '\\033[31mdisk\\033[0m full\\n' >&2; exit 3")
    ta = make_app(f"[jobs.colours]\nkind = \"command\"\nretry = {{ attempts = 1 }}\n"
                  f"command = '''{script}'''\n")
    ta.show_window()
    ta.run_job("colours")
    until(qtbot, lambda: find_run(ta, "colours", "failed"))
    run = find_run(ta, "colours", "failed")
    assert summary_text(run) == "exit code 3: disk full"
    details = ta.open_run(run["id"])
    until(qtbot, lambda: "invoice" in details.log.toPlainText())
    log = details.log.toPlainText()
    assert "\x1b" not in log and "\u202e" not in log and "\r" not in log
    assert "green" in log and "100%" in log and "10%" not in log
    assert "invoice\\u202egnp.exe" in log
    assert "\x1b" not in details.fields["error"].text()
    details.close()


def test_a_summary_with_a_tab_is_one_line_of_text_in_the_details(make_app, qtbot):
    # `du -sh` writes "4.0K<tab>/folder": a tab in a label is a gap half the window wide.
    ta = make_app("[jobs.size]\nkind = \"command\"\ncommand = \"printf '4.0K\\\\t/x\\\\n'\"\n")
    ta.run_job("size")
    until(qtbot, lambda: find_run(ta, "size", "succeeded"))
    details = ta.open_run(find_run(ta, "size", "succeeded")["id"])
    until(qtbot, lambda: "4.0K" in details.fields["summary"].text())
    assert details.fields["summary"].text() == "4.0K /x"
    assert details.fields["attempt"].text() == "1 of up to 3"  # not two still to come
    assert not details.open_btn.isVisibleTo(details)  # a command made nothing to open
    details.close()
    runs = trayjobs(ta.home, "runs")
    head, _rule, line = runs.stdout.splitlines()
    assert line.endswith("  4.0K /x") and len(line) == head.index("SUMMARY") + 7, runs.stdout



def test_the_activity_job_filter_keeps_jobs_removed_from_the_jobs_file(make_app, qtbot, home):
    jobs = '[jobs.keep]\nkind = "demo"\nsteps = 1\n\n[jobs.gone]\nkind = "demo"\nsteps = 1\n'
    ta = make_app(jobs)
    for name in ("gone", "gone", "keep"):
        ta.run_job(name)
    until(qtbot, lambda: sum(r["state"] == "succeeded"
                             for r in ta.window.runs_model.loaded_runs()) == 3, timeout=30_000)
    home.config_file.write_text(jobs.split("\n\n")[0] + "\n", encoding="utf-8")
    page = ta.window.activity
    until(qtbot, lambda: page.job_box.findData("keep") >= 0 and
          page.job_box.itemText(page.job_box.findData("gone")) != "gone")
    # Its runs stay in the history (`trayjobs runs --job gone` lists them): the filter
    # finds them too, the job said to be removed.
    i = page.job_box.findData("gone")
    assert page.job_box.itemText(i) == "gone (removed)"
    page.job_box.setCurrentIndex(i)
    until(qtbot, lambda: ta.window.runs_model.total == 2)
    assert {r["job"] for r in ta.window.runs_model.loaded_runs()} == {"gone"}


def test_settings_the_file_allows_are_shown_as_they_are_and_not_rewritten(make_app, qtbot, home):
    # keep_runs may be up to 1,000,000,000, but its box stopped at 10,000,000: a file with
    # 50,000,000 showed 10,000,000, the page counted as changed from the start (so it no
    # longer followed the file), and saving any other setting wrote 10000000 over the file's.
    from ui_support import CONFIG
    app = make_app("[settings]\nkeep_runs = 50_000_000  # years of runs\n" + CONFIG)
    page = app.window.settings_page
    until(qtbot, lambda: page._loaded.get("keep_runs") == 50_000_000)
    assert page.keep_runs.value() == 50_000_000
    assert not page.dirty and not page.save_btn.isEnabled()
    page.notify_success.setChecked(True)
    page.save_btn.click()
    until(qtbot, lambda: "notify_success = true" in home.config_file.read_text())
    assert "keep_runs = 50_000_000  # years of runs" in home.config_file.read_text()


def test_a_server_problem_with_signs_html_uses_reads_as_it_was_said(make_app, qtbot):
    """A full Redis says "used memory > 'maxmemory'": one such problem alone was shown as
    "used memory &gt; 'maxmemory'" in the banner."""
    from PySide6.QtGui import QTextDocument
    ta = make_app()
    said = "the Redis server refuses it (used memory > 'maxmemory' & more <here>)"
    ta.window.show_problems({"queue": said})
    assert ta.window.problems.textFormat() == Qt.TextFormat.RichText
    shown = QTextDocument()
    shown.setHtml(ta.window.problems.text())
    assert shown.toPlainText() == said
