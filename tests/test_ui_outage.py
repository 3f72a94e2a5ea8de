"""The window and the tray say what lasts: the run history's server away (from the start
on, until it answers), workers of another version. A real PostgreSQL server that the test
stops and starts."""

from __future__ import annotations

import time

import pytest
from PySide6.QtWidgets import QApplication

from trayjobs.paths import Home
from trayjobs.store.open import open_store
from trayjobs.ui.app import TrayApp

from ui_support import CONFIG, find_run, make_app, quiet_desktop, until  # noqa: F401


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


class _Ticks:
    """The GUI thread's longest pause between two ticks of a 10 ms timer."""

    def __init__(self) -> None:
        from PySide6.QtCore import QElapsedTimer, QTimer
        self.clock = QElapsedTimer()
        self.clock.start()
        self.last = self.longest = 0
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = self.clock.elapsed()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def restart(self) -> None:
        self.last, self.longest = self.clock.elapsed(), 0


def _shown_app(qtbot, home) -> TrayApp:
    ta = TrayApp(home, grace=1.0)
    with qtbot.waitSignal(ta.ready, timeout=30_000):
        ta.start()
    until(qtbot, lambda: ta.jobs_loads > 0)
    ta.show_window()
    return ta


def _quit_within(qtbot, ta, seconds: float) -> None:
    t0 = time.monotonic()
    with qtbot.waitSignal(ta.stopped, timeout=30_000):
        ta.quit()
    assert time.monotonic() - t0 < seconds


def _quit_if_not(qtbot, ta) -> None:
    if ta is not None and not ta._quitting:
        with qtbot.waitSignal(ta.stopped, timeout=30_000):
            ta.quit()


def test_a_history_server_that_stops_answering_is_said_and_the_window_goes_on(
        qtbot, tmp_path, monkeypatch, server):
    """A server that takes connections but does not answer (stopped): the window says so
    within seconds, keeps answering the person meanwhile, a run going on finishes and is
    written once the server answers again; quitting does not wait for it."""
    quiet_desktop(monkeypatch, tmp_path)
    monkeypatch.delenv("TRAYJOBS_TEST_DATABASE", raising=False)
    monkeypatch.delenv("TRAYJOBS_STORE_TIMEOUT", raising=False)  # as a person has it
    home = Home.under(tmp_path / "home").ensure()
    home.config_file.write_text(
        f'[cluster]\ndatabase = "{server.url()}"\nlease = "3s"\n' + CONFIG
        + '\n[jobs.slow]\nkind = "demo"\nsteps = 40\nstep_time = 0.25\n', encoding="utf-8")
    ta = None
    try:
        ta = _shown_app(qtbot, home)
        ta.run_job("slow")
        until(qtbot, lambda: (r := find_run(ta, "slow")) and r["state"] == "running")
        ticks = _Ticks()
        server.pause()
        paused_at = time.monotonic()
        for i in range(ta.window.tabs.count()):  # the person looks around meanwhile
            ta.window.tabs.setCurrentIndex(i)
            qtbot.wait(200)
        ta.window.tabs.setCurrentIndex(0)
        ta.refresh()
        banner = ta.window.problems
        until(qtbot, lambda: not banner.isHidden(), timeout=20_000)
        assert time.monotonic() - paused_at < 15
        assert f"127.0.0.1:{server.port} does not answer" in banner.text()
        assert "cannot be reached" in ta.tray.icon.toolTip()
        assert ticks.longest < 1000, f"the window stood still for {ticks.longest} ms"
        server.resume()
        until(qtbot, lambda: banner.isHidden(), timeout=30_000)
        until(qtbot, lambda: (r := find_run(ta, "slow")) and r["state"] == "succeeded",
              timeout=30_000)
        runs = [r for r in ta.window.runs_model.loaded_runs() if r["job"] == "slow"]
        assert len(runs) == 1
        server.pause()  # and now quit, with it stopped again
        _quit_within(qtbot, ta, 15)
    finally:
        server.resume()
        _quit_if_not(qtbot, ta)


def test_a_queue_server_that_stops_answering_is_said_and_does_not_hold_the_quit(
        qtbot, tmp_path, monkeypatch, server):
    from redis_support import RedisServer
    quiet_desktop(monkeypatch, tmp_path)
    monkeypatch.delenv("TRAYJOBS_TEST_DATABASE", raising=False)
    monkeypatch.delenv("TRAYJOBS_STORE_TIMEOUT", raising=False)
    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    home = Home.under(tmp_path / "home").ensure()
    home.config_file.write_text(
        f'[cluster]\ndatabase = "{server.url()}"\nredis = "{redis.url(2)}"\nlease = "3s"\n'
        + CONFIG, encoding="utf-8")
    ta = None
    try:
        ta = _shown_app(qtbot, home)
        ticks = _Ticks()
        redis.pause()
        banner = ta.window.problems
        until(qtbot, lambda: not banner.isHidden(), timeout=20_000)
        assert "Redis server" in banner.text() and "does not answer" in banner.text()
        assert ticks.longest < 1000, f"the window stood still for {ticks.longest} ms"
        _quit_within(qtbot, ta, 10)
    finally:
        redis.resume()
        _quit_if_not(qtbot, ta)
        redis.kill()
