"""Shared pieces of the window tests: a fresh app per test, waiting helpers, modal helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from textwrap import dedent
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from trayjobs.ui.app import TrayApp
from trayjobs.ui.service import Service

CONFIG = dedent("""
    # Jobs for the window tests.
    [jobs.count]  # counts to ten
    kind = "demo"
    steps = 10
    step_time = 0.05
    every = "1h"

    [jobs.fails]
    kind = "demo"
    steps = 2
    step_time = 0
    fail_times = 9
    retry = { attempts = 1 }

    [jobs.broken]
    kind = "demo"
    cron = "0 25 * * *"
""")


def mnemonic_clashes(window) -> dict[str, list[str]]:
    """The Alt keys that more than one visible label, button, group or tab of ``window``
    claims: Qt then moves the focus between them instead of pressing any."""
    import re
    from PySide6.QtWidgets import QAbstractButton, QGroupBox, QLabel, QTabBar
    keys: dict[str, list[str]] = {}

    def claim(text: str) -> None:
        if m := re.search(r"&([^&\s])", text or ""):
            keys.setdefault(m.group(1).lower(), []).append(text)

    for w in window.findChildren(QAbstractButton) + window.findChildren(QLabel):
        if w.isVisibleTo(window):
            claim(w.text())
    for g in window.findChildren(QGroupBox):
        if g.isVisibleTo(window):
            claim(g.title())
    for bar in window.findChildren(QTabBar):
        if bar.isVisibleTo(window):
            for i in range(bar.count()):
                claim(bar.tabText(i))
    return {k: v for k, v in keys.items() if len(v) > 1}


def until(qtbot, predicate, timeout=10_000):
    """waitUntil that needs a true value (pytest-qt takes a None return as success)."""
    qtbot.waitUntil(lambda: bool(predicate()), timeout=timeout)


def editor_app(home) -> SimpleNamespace:
    """What a job editor needs of the app, without starting one: the home, and a service
    to check the form off the GUI thread (stopped when the editor is gone)."""
    return SimpleNamespace(home=home, service=Service())


def editor_for(qtbot, app: SimpleNamespace, dlg):
    """Let qtbot close ``dlg``, then stop its app's service; the first check answered."""
    qtbot.addWidget(dlg)
    dlg.destroyed.connect(app.service.stop)
    until(qtbot, lambda: not dlg.checking)
    return dlg


def check_form(qtbot, dlg) -> bool:
    """Check the editor's form now and wait for the answer: True if it can be saved."""
    dlg.check()
    until(qtbot, lambda: not dlg.checking)
    return dlg.valid


def jobs_settled(qtbot, ta, scheduled=("count",)) -> None:
    """Wait until the start's own reloads of the jobs are done: the ``scheduled`` jobs'
    next runs were planned (a reload follows that, a quarter second later) and read."""
    until(qtbot, lambda: all(any(j["name"] == name and j.get("next_run_at")
                                 for j in ta.jobs_snapshot()) for name in scheduled))
    until(qtbot, lambda: not ta._reload_jobs.isActive())
    answered = []
    ta.service.call(lambda: None, lambda _r: answered.append(1))  # after the reload's read
    until(qtbot, lambda: answered)


def quiet_desktop(monkeypatch, tmp_path) -> None:
    """No real session bus or desktop folders: notifications and autostart stay in the test."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture
def make_app(qtbot, home, monkeypatch, tmp_path):
    """Start a real app (engine, consumer, job processes) on the test's own home."""
    quiet_desktop(monkeypatch, tmp_path)
    apps = []

    def make(config: str | None = CONFIG, **kw) -> TrayApp:
        if config is not None:
            home.config_file.write_text(config, encoding="utf-8")
        kw.setdefault("grace", 1.0)
        ta = TrayApp(home, **kw)  # its quit() closes the window: not qtbot.addWidget
        apps.append(ta)
        with qtbot.waitSignal(ta.ready, timeout=20_000):
            ta.start()
        until(qtbot, lambda: ta.jobs_loads > 0, timeout=10_000)
        until(qtbot, lambda: ta.window.runs_model.is_loaded, timeout=5000)
        return ta

    yield make
    for ta in apps:
        if not ta._quitting:
            with qtbot.waitSignal(ta.stopped, timeout=20_000):
                ta.quit()
    for w in QApplication.topLevelWidgets():
        if isinstance(w, QDialog) and w.isVisible():
            w.close()  # details, editors: their app is gone


@pytest.fixture
def app(make_app):
    return make_app()


def find_run(ta, job, state=None):
    for r in ta.window.runs_model.loaded_runs():
        if r["job"] == job and (state is None or r["state"] == state):
            return r
    return None


@contextmanager
def answer_next_box(button_text: str, *, check_box: bool | None = None) -> Iterator[list[str]]:
    """Click ``button_text`` in the message box that the ``with`` body opens with exec().

    The box must appear while the body runs: if it does not (the confirmation was
    removed, or another box came instead), the test fails here, loudly.
    """
    answered: list[str] = []
    errors: list[str] = []
    active = True

    def click() -> None:
        if not active:
            return
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        if check_box is not None and box.checkBox() is not None:
            box.checkBox().setChecked(check_box)
        for b in box.buttons():
            if b.text().replace("&", "") == button_text:
                answered.append(box.text())
                b.click()
                return
        errors.append(f"no button {button_text!r} in {[b.text() for b in box.buttons()]}")
        box.reject()

    QTimer.singleShot(0, click)
    try:
        yield answered  # the texts of the boxes answered
    finally:
        active = False  # a box opened after the body is not ours to answer
    assert not errors, errors[0]
    assert answered, f"no message box with a {button_text!r} button opened"
