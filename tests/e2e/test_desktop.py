"""The real app, as a person meets it: ``python -m trayjobs --home DIR`` on an X server with
a real tray host (xfce4-panel, StatusNotifierItem) and a real notification daemon (dunst).

A job is run from the tray menu and fails (its folder is missing); the freedesktop
``Notify`` call reaches dunst; the notification's action opens the run's details;
after the folder is created, the run is retried from the details (keyboard) and
succeeds. A second start brings the window forward; Quit in the tray ends the app.
Screenshots of the window, the tray menu and the notification go to tests/artifacts/.
"""

from __future__ import annotations

import subprocess
import sys
import time
from textwrap import dedent

import pytest

from trayjobs.paths import Home
from trayjobs.store.open import open_store

from xsession import wait_for

# One process of a parallel run (`dev.sh test`: pytest-xdist) takes them all: one desktop.
pytestmark = [pytest.mark.xvfb, pytest.mark.slow, pytest.mark.xdist_group("desktop")]


def runs(home: Home) -> list[dict]:
    if not home.runs_db.exists():
        return []
    store = open_store(home, readonly=True)
    try:
        return store.list_runs(limit=100)
    finally:
        store.close()


def app_log(desktop) -> str:
    p = desktop.logs / "app.log"
    return p.read_text(errors="replace")[-3000:] if p.exists() else ""


@pytest.fixture
def trial(desktop, tmp_path):
    """A home with two jobs, and the real app started on it."""
    root = tmp_path / "home"
    home = Home.under(root).ensure()
    scratch = tmp_path / "Scratch"
    home.config_file.write_text(dedent(f"""
        # Jobs for the end-to-end test.
        [jobs.tidy]  # fails until its folder exists
        kind = "cleanup"
        locations = ["{scratch}"]
        filters = [{{ age = "older than 30d" }}]
        preview = true
        retry = {{ attempts = 1 }}

        [jobs.count]
        kind = "demo"
        steps = 5
        step_time = 0.05
    """))
    proc = desktop.start_app(root)
    try:
        wait_for(lambda: proc.poll() is not None or desktop.tray_items(), 40, 0.1,
                 what="the app's tray icon")
        assert proc.poll() is None, app_log(desktop)
        # The engine is up when the jobs are in the menu.
        wait_for(lambda: _has(desktop, "Run now", "tidy"), 40, 0.2, what="jobs in the menu")
        wait_for(lambda: desktop.windows("trayjobs"), 20, 0.1, what="the window")
        yield {"home": home, "proc": proc, "scratch": scratch}
    finally:
        if proc.poll() is None:
            try:
                desktop.menu_click("Quit")
                proc.wait(30)
            except Exception:
                proc.terminate()
                proc.wait(30)


def _has(desktop, *labels) -> bool:
    try:
        desktop.menu_find(*labels)
        return True
    except AssertionError:
        return False
    except Exception:
        return False


def _menu_window(desktop) -> tuple[int, int, int, int] | None:
    """The panel's popup menu (the largest small top-level window that is not ours)."""
    out = desktop.run("xwininfo", "-root", "-children").stdout
    best = None
    for line in out.splitlines():
        if '"wrapper-2.0"' not in line or "+-" in line:
            continue
        geo = line.split(")")[-1].split()[0]
        size, _, pos = geo.partition("+")
        w, h = (int(v) for v in size.split("x"))
        x, y = (int(v) for v in pos.split("+"))
        if w > 40 and h > 40 and (best is None or w * h > best[2] * best[3]):
            best = (x, y, w, h)
    return best


def test_run_from_the_tray_fail_notify_open_and_retry(desktop, trial, artifacts):
    home, proc, scratch = trial["home"], trial["proc"], trial["scratch"]
    assert desktop.item_prop("Status") in ("Active", "Passive")
    desktop.grab(artifacts / "e2e-window.png")

    # The tray menu, as the panel shows it (right click on the icon).
    panel = desktop.xdotool("search", "--onlyvisible", "--class", "xfce4-panel").split()[0]
    px, py, pw, ph = desktop.geometry(panel)
    desktop.xdotool("mousemove", str(px + 15), str(py + ph // 2), "click", "3")
    menu = wait_for(lambda: _menu_window(desktop), 10, 0.1, what="the tray menu on screen")
    desktop.xdotool("mousemove", str(menu[0] + 40), str(menu[1] + 40))  # "Run now" opens
    time.sleep(0.5)  # let the submenu draw before the picture (nothing to wait on)
    desktop.grab(artifacts / "e2e-tray-menu.png")
    desktop.xdotool("key", "Escape")
    desktop.xdotool("key", "Escape")

    # Run now ▸ tidy: it fails for good (the folder is missing).
    desktop.menu_click("Run now", "tidy")
    failed = wait_for(lambda: next((r for r in runs(home) if r["job"] == "tidy"
                                    and r["state"] == "failed"), None), 60, 0.1,
                      what="the run to fail")
    assert "none of the locations exists" in failed["error"]
    assert failed["trigger"] == "manual"

    # The notification went through the freedesktop service (Qt's D-Bus tray) to dunst.
    wait_for(lambda: 'string "tidy failed"' in desktop.notify_calls(), 20, 0.1,
             what="the Notify call")
    calls = desktop.notify_calls()
    assert "none of the locations exists" in calls
    assert f"Run {failed['id']}" in calls
    assert 'string "default"' in calls  # clickable
    wait_for(lambda: desktop.dunst_displayed() >= 1, 10, 0.1, what="dunst showing it")
    time.sleep(0.3)  # dunst draws asynchronously
    desktop.grab(artifacts / "e2e-notification.png")

    # Its action (a click) opens the run's details.
    desktop.run("dunstctl", "action", "0")
    title = f"Run {failed['id']} – trayjobs"
    details = wait_for(lambda: desktop.windows(title), 20, 0.1, what="the run details")[0]

    # The person fixes the cause, then retries from the details with the keyboard.
    scratch.mkdir()
    desktop.xdotool("windowfocus", "--sync", details)
    desktop.xdotool("key", "--clearmodifiers", "alt+r")
    retried = wait_for(lambda: next((r for r in runs(home) if r.get("retry_of") == failed["id"]
                                     and r["state"] in ("succeeded", "failed")), None),
                       60, 0.1, what="the retry to end")
    assert retried["state"] == "succeeded", retried
    assert retried["trigger"] == "retry"
    # The details follow the retry: they now show the new run, succeeded.
    wait_for(lambda: desktop.windows(f"Run {retried['id']} – trayjobs"), 10, 0.1,
             what="the details of the retry")
    desktop.run("dunstctl", "close-all")
    time.sleep(0.5)  # the details repaint with the retry's state (nothing to wait on)
    desktop.grab(artifacts / "e2e-run-details.png")
    desktop.xdotool("windowfocus", "--sync", details)
    desktop.xdotool("key", "--clearmodifiers", "Escape")
    wait_for(lambda: not desktop.windows("– trayjobs"), 10, 0.1, what="the details to close")

    # The window's Activity page lists both runs.
    main = desktop.windows("trayjobs")[0]
    desktop.xdotool("windowfocus", "--sync", main)
    desktop.xdotool("key", "--clearmodifiers", "ctrl+2")
    time.sleep(0.5)
    desktop.grab(artifacts / "e2e-activity.png")
    assert proc.poll() is None


def test_second_start_shows_the_window_and_quit_ends_the_app(desktop, trial):
    home, proc = trial["home"], trial["proc"]
    # A left click on the tray icon hides the window, ...
    desktop.activate_tray()
    wait_for(lambda: not desktop.windows("trayjobs"), 10, 0.1, what="the window to hide")
    # ... and starting trayjobs again shows it instead of starting a second app.
    env = dict(desktop.env, QT_QPA_PLATFORM="xcb")
    second = subprocess.run([sys.executable, "-m", "trayjobs", "--home", str(home.root)],
                            env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stderr
    wait_for(lambda: desktop.windows("trayjobs"), 10, 0.1, what="the window to come back")
    assert proc.poll() is None
    # Run now from the menu works and is recorded; then Quit ends the app cleanly.
    desktop.menu_click("Run now", "count")
    wait_for(lambda: any(r["job"] == "count" and r["state"] == "succeeded" for r in runs(home)),
             60, 0.1, what="the count run")
    desktop.menu_click("Quit")
    assert proc.wait(30) == 0
    assert not desktop.tray_items() or wait_for(lambda: not desktop.tray_items(), 10, 0.1,
                                                what="the icon to go")


def test_rejected_rows_seen_in_the_data_page_fixed_and_imported_again(desktop, tmp_path,
                                                                      artifacts):
    """A file with bad rows dropped into a watched folder ends with warnings; the Data page
    shows its rejected rows; Fix and re-import writes them to a file, which, corrected, goes
    in cleanly — all from the keyboard."""
    root = tmp_path / "home"
    home = Home.under(root).ensure()
    inbox = tmp_path / "Inbox"
    inbox.mkdir()
    home.config_file.write_text(dedent(f"""
        [jobs.bank]
        kind = "import"
        types = {{ amount = "real" }}
        watch = {{ folder = "{inbox}", patterns = ["*.csv"] }}
    """))
    # The editor the fix file would open in: none here, quietly.
    desktop.env["BROWSER"] = "true"
    proc = desktop.start_app(root)
    try:
        wait_for(lambda: desktop.windows("trayjobs"), 40, 0.1, what="the window")
        wait_for(lambda: _has(desktop, "Run now", "bank"), 40, 0.2, what="jobs in the menu")
        (inbox / "pay.csv").write_text("date,amount\n2024-01-01,1.5\n2024-01-02,lots\n"
                                       "2024-01-03,2\n2024-01-04,a few\n2024-01-05,3\n")
        first = wait_for(lambda: next((r for r in runs(home) if r["job"] == "bank"
                                       and r["state"] == "succeeded"), None), 60, 0.1,
                         what="the import")
        assert first["warnings"] == 1 and first["trigger"] == "watch"
        desktop.run("dunstctl", "close-all")

        # The Data page: the table is shown; one row down, its rejected rows.
        main = desktop.windows("trayjobs")[0]
        desktop.xdotool("windowfocus", "--sync", main)
        desktop.xdotool("key", "--clearmodifiers", "ctrl+3")
        time.sleep(0.5)  # the tables are read (nothing to wait on from outside)
        desktop.xdotool("key", "--clearmodifiers", "Down")
        time.sleep(0.5)
        desktop.grab(artifacts / "e2e-data.png")

        # Fix and re-import: the rejected rows, under the header, in a file to correct.
        desktop.xdotool("key", "--clearmodifiers", "alt+f")
        fix = inbox / "processed" / f"rejected-run-{first['id']}" / "pay.csv"
        wait_for(lambda: fix.exists(), 20, 0.1, what="the fix file")
        assert fix.read_text() == "date,amount\n2024-01-02,lots\n2024-01-04,a few\n"
        fix.write_text("date,amount\n2024-01-02,4.25\n2024-01-04,0.5\n")
        desktop.xdotool("windowfocus", "--sync", main)
        desktop.xdotool("key", "--clearmodifiers", "alt+r")
        again = wait_for(lambda: next((r for r in runs(home) if r["job"] == "bank"
                                       and r["id"] > first["id"]
                                       and r["state"] in ("succeeded", "failed")), None),
                         60, 0.1, what="the re-import")
        assert again["state"] == "succeeded" and not again["warnings"], again
        assert again["result"]["rows"] == 2
    finally:
        desktop.env.pop("BROWSER", None)
        if proc.poll() is None:
            desktop.menu_click("Quit")
            proc.wait(30)
