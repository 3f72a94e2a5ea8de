"""The window and the tray say what lasts: the run history's server away (from the start
on, until it answers), workers of another version. A real PostgreSQL server that the test
stops and starts."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from trayjobs.paths import Home
from trayjobs.store.open import open_store
from trayjobs.ui.app import TrayApp

from ui_support import CONFIG, make_app, quiet_desktop, until  # noqa: F401


@pytest.fixture
def server():
    from pg_support import own_server
    srv = own_server()
    yield srv
    srv.remove()


def test_the_window_and_the_tray_say_the_history_is_away_until_it_answers(
        qtbot, tmp_path, monkeypatch, server):
    quiet_desktop(monkeypatch, tmp_path)
    monkeypatch.setenv("TRAYJOBS_STORE_TIMEOUT", "1")
    monkeypatch.delenv("TRAYJOBS_TEST_DATABASE", raising=False)
    home = Home.under(tmp_path / "home").ensure()
    home.config_file.write_text(f'[cluster]\ndatabase = "{server.url()}"\nlease = "2s"\n'
                                + CONFIG, encoding="utf-8")
    server.stop()
    ta = TrayApp(home, grace=1.0)
    try:
        ta.start()
        banner = ta.window.problems
        until(qtbot, lambda: not banner.isHidden(), timeout=20_000)
        assert f"127.0.0.1:{server.port}" in banner.text()
        assert "cannot be reached" in ta.tray.icon.toolTip()
        assert ta.tray.state == "warning"
        assert ta.engine is None  # not started: it waits for the server
        with qtbot.waitSignal(ta.ready, timeout=30_000):
            server.start()
        until(qtbot, lambda: banner.isHidden())
        until(qtbot, lambda: ta.jobs_loads > 0)
        assert "cannot be reached" not in ta.tray.icon.toolTip()
    finally:
        with qtbot.waitSignal(ta.stopped, timeout=30_000):
            ta.quit()


def test_workers_of_another_version_are_named_in_the_window(make_app, home, qtbot):
    store = open_store(home)
    try:
        store.register_worker(host="nas", pid=5121, version="0.0.1", mode="worker", lease=300)
    finally:
        store.close()
    app = make_app()
    banner = app.window.problems
    until(qtbot, lambda: not banner.isHidden())
    assert "nas (pid 5121) runs 0.0.1" in banner.text()
    assert "other versions" in app.tray.icon.toolTip()
    assert QApplication.instance() is not None
