"""Take the README's screenshots from the real app on a private X server.

    .venv/bin/python packaging/screenshots.py [--out resources/screenshots] [--keep]

It starts Xvfb, a session bus, dunst and an xfce4-panel tray (tests/e2e/xsession.py,
the same desktop the end-to-end tests use), makes a throw-away home with a few
everyday jobs and some history, starts ``python -m trayjobs --home`` on it, and saves

- ``window.png``: the Activity page with a live progress bar, a retry and a failure;
- ``data.png``: the Data page on the imported statement, its rejected row listed;
- ``tray-menu.png``: the tray menu as the panel shows it, with "Run now" open.
- ``editor-generic.png``: the job editor's form for a kind without a hand-made one (a
  python job), built from the kind's options;
- ``run-with.png``: the "Run with…" dialog for that job's parameters.
- ``settings.png``: Settings, with the conditions every job inherits and the alert channels;
- ``editor-conditions.png``: the job editor's When tab, with its "Only when…" group;
- ``activity-hosts.png``: Activity on a laptop whose runs share one history with a NAS's
  worker (``[cluster] database``), with the Host column.
- ``jobs-health.png`` and ``metrics.png``: the Jobs page's health columns and the Metrics
  page, over a month of history written into the home before the app starts (as weeks of
  use would have left it).

The two dialogs are drawn by a child process on the same display (``--dialogs``), from
the same home's config.

Needs the programs packaging/dev.sh installs for the tests (xvfb, dbus, dunst,
xfce4-panel, xdotool, x11-utils).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from textwrap import dedent

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from alert_servers import HTTPRecorder, SMTPServer  # noqa: E402
from xsession import MISSING, DesktopSession, wait_for  # noqa: E402

from trayjobs.paths import Home  # noqa: E402
from trayjobs.store import RunStore  # noqa: E402

SIZE = (1280, 800)
#: A month of a bank export; one line has an unquoted comma, so it is set aside.
STATEMENT = "date,description,amount\n" + "".join(f"2024-05-{d:02},{what},{amount}\n"
                                                 for d, what, amount in (
    (2, "Coffee", -3.50), (3, "Salary", 2450.00), (4, "Groceries", -54.20), (6, "Rent", -900),
    (7, "Electricity", -61.35), (8, "Book shop, Paris", -12.90), (9, "Train ticket", -23.00),
    (11, "Pharmacy", -8.75), (13, "Refund", 19.99), (15, "Groceries", -71.10),
    (17, "Phone", -15.00), (20, "Restaurant", -42.60), (22, "Cinema", -11.50),
    (25, "Insurance", -35.80), (28, "Groceries", -49.05)))


def make_home(base: Path, mail: SMTPServer, web: HTTPRecorder) -> tuple[Home, Path]:
    """The home; its alert channels and heartbeat ping go to ``mail`` and ``web``, real
    servers on this machine, so the window shows deliveries as a working set-up has them
    (not the errors of made-up hosts)."""
    home = Home.under(base / "home").ensure()
    inbox, downloads = base / "Inbox", base / "Downloads"
    inbox.mkdir()
    downloads.mkdir()
    scripts = base / "scripts"
    scripts.mkdir()
    (scripts / "tag_photos.py").write_text(
        "def main(ctx):\n    ctx.progress(0, 1, 'tagging')\n    return 'no new photos'\n")
    old = time.time() - 45 * 86400
    for name in ("setup-1.4.dmg", "photos-2023.zip", "invoice-march.pdf"):
        (downloads / name).write_bytes(b"x" * 4096)
        os.utime(downloads / name, (old, old))
    home.config_file.write_text(dedent(f"""\
        # trayjobs: my everyday chores.

        [jobs."Bank statements"]  # CSV exports from the bank
        kind = "import"
        tags = ["money", "home"]
        table = "transactions"
        watch = {{ folder = "{inbox}", patterns = ["*.csv"] }}
        then = ["Weekly report"]

        [jobs."Tidy Downloads"]
        kind = "cleanup"
        tags = ["home"]
        locations = ["{downloads}"]
        filters = [{{ age = "older than 30d" }}, {{ extension = ["zip", "dmg"] }}]
        preview = true
        cron = "0 18 * * *"

        [jobs."Weekly report"]
        kind = "report"
        tags = ["money"]
        builtin = "imported-data"
        formats = ["html", "csv"]
        cron = "0 9 * * mon"

        [jobs."Photo backup"]  # a long job: it shows progress
        kind = "demo"
        tags = ["photos"]
        steps = 400
        step_time = 0.05
        every = "6h"
        when = {{ ac_power = true, battery_above = 30, network = "unmetered" }}
        max_wait = "2d"
        inhibit_sleep = true
        ping = "{web.base}/photo-backup"

        [jobs."Tag new photos"]  # my own script
        kind = "python"
        file = "{scripts / 'tag_photos.py'}"
        description = "Adds place names to new holiday photos"
        params = {{ album = "Holidays 2024", overwrite = false, limit = 200 }}

        [jobs."Sync to NAS"]
        kind = "demo"
        steps = 4
        step_time = 0.05
        fail_times = 9
        retry = {{ attempts = 2, backoff = "1s", jitter = false }}

        [alerts.phone]  # failures and stale jobs to my phone
        url = "ntfy://127.0.0.1:{web.port}/chores"
        on = ["failure", "recovered", "stale"]

        [alerts.mail]
        url = "{mail.url()}"
        on = ["failure", "missed"]
        quiet_hours = "22:00-07:00"
    """), encoding="utf-8")
    return home, inbox


def past_month(home: Home) -> None:
    """A month of history, as the jobs above would have left it: the figures the Jobs
    page's health columns and the Metrics page show."""
    import random
    rnd = random.Random(14)
    now = time.time()
    plan = [("Bank statements", "import", 3 * 3600, 2.0, 0.02, 0.08),
            ("Tidy Downloads", "cleanup", 86400, 0.6, 0.0, 0.1),
            ("Weekly report", "report", 7 * 86400, 4.0, 0.0, 0.0),
            ("Photo backup", "demo", 6 * 3600, 20.0, 0.03, 0.0),
            ("Sync to NAS", "demo", 2 * 3600, 8.0, 0.15, 0.0)]
    rows = []
    for job, kind, every, took, fail, warn in plan:
        t = now - 30 * 86400 + rnd.uniform(0, every)
        while t < now - 3600:
            busy = 1 + 2 * (abs(((t % 86400) / 3600) - 13) < 4)  # afternoons are busier
            wait = rnd.expovariate(1 / (0.4 * busy))
            d = took * rnd.lognormvariate(0, 0.35)
            state = "failed" if rnd.random() < fail else "succeeded"
            warned = int(state == "succeeded" and rnd.random() < warn)
            rows.append((job, kind, "schedule", state, t, t + wait, t + wait + d, warned))
            t += every * rnd.uniform(0.5, 1.0) / busy
    store = RunStore(home.runs_db)
    with store.transaction() as conn:
        conn.executemany("INSERT INTO runs (job, kind, trigger, state, created_at, started_at,"
                         " finished_at, warnings, attempt, max_attempts)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 1)", sorted(rows, key=lambda r: r[4]))
    store.close()


def runs(home: Home) -> list[dict]:
    if not home.runs_db.exists():
        return []
    store = RunStore(home.runs_db, readonly=True)
    try:
        return store.list_runs(limit=100)
    finally:
        store.close()


def _menu_window(desktop: DesktopSession) -> tuple[int, int, int, int] | None:
    out = desktop.run("xwininfo", "-root", "-children").stdout
    found = []
    for line in out.splitlines():
        if '"wrapper-2.0"' not in line or "+-" in line:
            continue
        size, _, pos = line.split(")")[-1].split()[0].partition("+")
        w, h = (int(v) for v in size.split("x"))
        x, y = (int(v) for v in pos.split("+"))
        if w > 40 and h > 40:
            found.append((x, y, w, h))
    if not found:
        return None
    x0 = min(f[0] for f in found)
    y0 = min(f[1] for f in found)
    x1 = max(f[0] + f[2] for f in found)
    return x0, y0, x1 - x0, max(f[1] + f[3] for f in found) - y0


def shoot(out: Path, workdir: Path) -> list[Path]:
    mail, web = SMTPServer().start(), HTTPRecorder().start()
    home, inbox = make_home(workdir, mail, web)
    past_month(home)
    desktop = DesktopSession(workdir / "desktop", size=f"{SIZE[0]}x{SIZE[1]}").start()
    saved = []
    try:
        proc = desktop.start_app(home.root)
        wait_for(lambda: desktop.tray_items(), 60, 0.1, what="the tray icon")
        wait_for(lambda: _menu_has(desktop, "Run now", "Photo backup"), 60, 0.2,
                 what="the jobs")
        # Some history: an import (and the report it chains to), a cleanup preview, a
        # failure after its retry, and a long run in progress.
        (inbox / "statement-2024-05.csv").write_text(STATEMENT)
        wait_for(lambda: any(r["job"] == "Weekly report" and r["state"] == "succeeded"
                             for r in runs(home)), 90, 0.2, what="the import and its report")
        desktop.menu_click("Run now", "Tidy Downloads")
        desktop.menu_click("Run now", "Sync to NAS")
        wait_for(lambda: any(r["job"] == "Sync to NAS" and r["state"] == "failed"
                             for r in runs(home)), 60, 0.2, what="the failure")
        wait_for(lambda: desktop.dunst_displayed() >= 1, 20, 0.1, what="its notification")
        desktop.run("dunstctl", "close-all")  # a clear view of the window
        desktop.menu_click("Run now", "Photo backup")
        wait_for(lambda: any(r["job"] == "Photo backup" and (r.get("progress_done") or 0) > 110
                             for r in runs(home)), 60, 0.2, what="progress")

        main = desktop.windows("trayjobs")[0]
        desktop.xdotool("windowsize", main, "1220", "620")
        desktop.xdotool("windowmove", main, "40", "30")
        desktop.xdotool("windowfocus", "--sync", main)
        desktop.xdotool("key", "--clearmodifiers", "ctrl+2")
        desktop.run("dunstctl", "close-all")  # the retry's failure notice came meanwhile
        time.sleep(1.0)  # a repaint or two of the progress bar
        x, y, w, h = desktop.geometry(main)
        saved.append(desktop.grab(out / "window.png", (x, y, w, h)))
        desktop.xdotool("key", "--clearmodifiers", "ctrl+3")
        time.sleep(1.0)  # the tables read and the first one shown
        saved.append(desktop.grab(out / "data.png", (x, y, w, h)))
        desktop.xdotool("key", "--clearmodifiers", "ctrl+1")
        time.sleep(0.6)
        saved.append(desktop.grab(out / "jobs-health.png", (x, y, w, h)))
        desktop.xdotool("key", "--clearmodifiers", "ctrl+4")
        time.sleep(0.6)
        saved.append(desktop.grab(out / "metrics.png", (x, y, w, h)))
        desktop.xdotool("key", "--clearmodifiers", "ctrl+5")
        time.sleep(1.0)  # the alert channels' latest deliveries read
        saved.append(desktop.grab(out / "settings.png", (x, y, w, h)))

        desktop.activate_tray()  # the window hides: the menu on a clear desktop
        wait_for(lambda: not desktop.windows("trayjobs"), 10, 0.1, what="the window to hide")
        panel = desktop.xdotool("search", "--onlyvisible", "--class", "xfce4-panel").split()[0]
        px, py, pw, ph = desktop.geometry(panel)
        desktop.xdotool("mousemove", str(px + 15), str(py + ph // 2), "click", "3")
        menu = wait_for(lambda: _menu_window(desktop), 10, 0.1, what="the menu")
        desktop.xdotool("mousemove", str(menu[0] + 50), str(menu[1] + 40))
        time.sleep(0.8)  # the submenu opens on hover
        mx, my, mw, mh = _menu_window(desktop)
        top = max(0, my - 12)
        saved.append(desktop.grab(out / "tray-menu.png",
                                  (0, top, min(SIZE[0], mx + mw + 12), SIZE[1] - top)))
        desktop.xdotool("key", "Escape")
        desktop.xdotool("key", "Escape")
        desktop.menu_click("Quit")
        proc.wait(30)
        shots = desktop._spawn("dialogs", [sys.executable, __file__, "--dialogs", str(home.root),
                                           "--out", str(out)],
                               env=dict(desktop.env, QT_QPA_PLATFORM="xcb"))
        if shots.wait(60) != 0:
            raise RuntimeError("drawing the dialogs failed; see the dialogs log (--keep)")
        saved += [out / "editor-generic.png", out / "run-with.png", out / "editor-conditions.png"]
    finally:
        desktop.stop()
        mail.stop()
        web.stop()
    return saved


CLUSTER_JOBS = """
[cluster]
database = "sqlite:///{db}"
host = "{host}"

[jobs."Photo backup"]
kind = "demo"
host = "nas"
steps = 400
step_time = 0.05

[jobs."Sync to NAS"]
kind = "demo"
host = "nas"
steps = 10
step_time = 0.05

[jobs."Tidy Downloads"]
kind = "demo"
host = "laptop"
steps = 5
step_time = 0.05
"""


def cluster_shot(out: Path, workdir: Path) -> list[Path]:
    """The app on "laptop" and a ``trayjobs worker`` on "nas" sharing one history."""
    import subprocess
    db = workdir / "shared" / "runs.db"
    db.parent.mkdir(parents=True)
    homes = {}
    for host in ("laptop", "nas"):
        homes[host] = Home.under(workdir / host).ensure()
        homes[host].config_file.write_text(CLUSTER_JOBS.format(db=db, host=host))
    env = {k: v for k, v in os.environ.items() if k not in ("TRAYJOBS_HOME", "TRAYJOBS_HOST")}
    nas_log = open(workdir / "nas-worker.log", "ab")
    nas = subprocess.Popen([sys.executable, "-m", "trayjobs", "--home", str(homes["nas"].root),
                            "worker"], env=env, stdout=nas_log, stderr=nas_log)
    desktop = DesktopSession(workdir / "desktop-cluster", size=f"{SIZE[0]}x{SIZE[1]}").start()
    store = RunStore(db)
    try:
        proc = desktop.start_app(homes["laptop"].root)
        wait_for(lambda: len({w["host"] for w in store.workers() if w["state"] == "running"})
                 == 2, 60, 0.2, what="both machines' workers")

        def run(job: str) -> None:
            subprocess.run([sys.executable, "-m", "trayjobs", "--home",
                            str(homes["laptop"].root), "run", job], env=env, check=True,
                           capture_output=True)
        for job in ("Sync to NAS", "Tidy Downloads", "Sync to NAS", "Tidy Downloads"):
            run(job)
        wait_for(lambda: store.count_runs(state="succeeded") >= 4, 60, 0.2, what="the runs")
        run("Photo backup")
        wait_for(lambda: any((r.get("progress_done") or 0) > 60
                             for r in store.list_runs(state="running")), 60, 0.2,
                 what="progress on the NAS")
        main = desktop.windows("trayjobs")
        if not main:
            desktop.menu_click("Open trayjobs")
            main = wait_for(lambda: desktop.windows("trayjobs"), 20, 0.2, what="the window")
        main = main[0]
        desktop.xdotool("windowsize", main, "1220", "420")
        desktop.xdotool("windowmove", main, "40", "30")
        desktop.xdotool("windowfocus", "--sync", main)
        desktop.xdotool("key", "--clearmodifiers", "ctrl+2")
        desktop.run("dunstctl", "close-all")
        time.sleep(1.5)  # the hosts read, the columns fitted
        saved = [desktop.grab(out / "activity-hosts.png", desktop.geometry(main))]
        desktop.menu_click("Quit")
        proc.wait(30)
        return saved
    finally:
        store.close()
        nas.terminate()
        nas.wait(30)
        nas_log.close()
        desktop.stop()


def _menu_has(desktop: DesktopSession, *labels: str) -> bool:
    try:
        desktop.menu_find(*labels)
        return True
    except Exception:
        return False


def dialogs(home_root: Path, out: Path) -> None:
    """Draw the generic job editor and "Run with…" for the python job (child process)."""
    from types import SimpleNamespace

    from PySide6.QtWidgets import QApplication

    from trayjobs.config import parse_config
    from trayjobs.config_edit import ConfigDocument
    from trayjobs.ui.editor import JobEditor
    from trayjobs.ui.runwith import RunWithDialog, param_specs
    from trayjobs.ui.service import Service

    qapp = QApplication([])
    home = Home.under(home_root)
    app = SimpleNamespace(home=home, service=Service())  # the editors check off this thread
    text = home.config_file.read_text(encoding="utf-8")
    name = "Tag new photos"
    editor = JobEditor(app, name=name,
                       values=ConfigDocument(text).job(name), config_text=text)
    editor.resize(760, 600)
    run_with = RunWithDialog(None, name, param_specs(parse_config(text).jobs[name]))
    when = JobEditor(app, name="Photo backup",
                     values=ConfigDocument(text).job("Photo backup"), config_text=text)
    when.resize(760, 720)
    when.tabs.setCurrentIndex(1)
    for widget, file in ((editor, "editor-generic.png"), (run_with, "run-with.png"),
                         (when, "editor-conditions.png")):
        widget.show()
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # a few rounds of layout and paint
            qapp.processEvents()
            time.sleep(0.02)
        if widget is when:  # the "Only when…" group, below the schedule
            area = when.tabs.currentWidget()
            area.verticalScrollBar().setValue(area.verticalScrollBar().maximum())
            for _ in range(10):
                qapp.processEvents()
                time.sleep(0.02)
        widget.grab().save(str(out / file))
        widget.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots")
    p.add_argument("--keep", action="store_true", help="keep the throw-away home and logs")
    p.add_argument("--dialogs", type=Path, metavar="HOME", help=argparse.SUPPRESS)
    p.add_argument("--only-cluster", action="store_true", help="only activity-hosts.png")
    args = p.parse_args(argv)
    if args.dialogs:
        dialogs(args.dialogs, args.out)
        return 0
    if MISSING:
        print(f"missing programs: {', '.join(MISSING)} (bash packaging/dev.sh test installs "
              f"them)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="trayjobs-shots-"))
    try:
        shots = [] if args.only_cluster else shoot(args.out, work)
        for path in shots + cluster_shot(args.out, work):
            print(path)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
