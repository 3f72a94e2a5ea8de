"""Benchmark a big run history as its person lives with it: 1,000,000 runs of 200 jobs over
two years (a tenth of the jobs since removed from the config), long logs, big tracebacks
and results, one run with a 100 MB log (``make_big_history.py`` builds it through the
store). Every figure is a whole process, median and spread of ``--rounds``; beside each
CLI figure, the sqlite3 shell doing the same reads on the same file, in the same run.

1. The command line: ``trayjobs runs``, ``runs --job``, ``runs --state failed``,
   ``show N`` (the 100 MB log, with its peak memory), ``stats`` (7 days, 2 years),
   ``jobs``.
2. The app in one process (offscreen): start to the Activity page painted with rows,
   filters by job, state and text, a jump to the oldest runs, a run's details with the
   100 MB log, the Metrics page's 30 days; and the GUI thread's worst stall meanwhile.
3. Retention: the default settings (90 days, 100,000 runs, failures a year) pruning the
   history: its time, the longest wait of another process writing meanwhile (a worker's
   heartbeat every 50 ms), the file's size before and after.

    python bench/bench_history.py [--runs 1000000] [--home DIR (built once, reused)]
        [--rounds 5] [--skip-prune]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, line, machine  # noqa: E402

KEEP_ALL = "[settings]\nkeep_days = 36500\nkeep_runs = 1000000000\nkeep_failed_days = 36500\n\n"


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak resident KB of one process, spawn to exit. The peak is GNU
    time's: a forked child's own counts the parent's memory until it runs the program."""
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{p.stderr[-2000:]}")
    return wall, int(p.stderr.split()[-1])


def sample(argv: list[str], env: dict[str, str], rounds: int) -> dict[str, float]:
    walls, rss = [], []
    for _ in range(rounds):
        w, r = run_once(argv, env)
        walls.append(w)
        rss.append(r)
    return {"median": statistics.median(walls), "min": min(walls), "max": max(walls),
            "rss_mb": max(rss) / 1024}


def fmt(s: dict[str, float]) -> str:
    return f"{s['median']:.2f} s ({s['min']:.2f}-{s['max']:.2f}, {s['rss_mb']:.0f} MB)"


def cli_figures(home: Path, big_run: int, env: dict[str, str], rounds: int) -> list[str]:
    db = str(home / "data" / "runs.db")
    tj = [sys.executable, "-m", "trayjobs"]
    sq = ["sqlite3", "-readonly", db]
    now = time.time()
    hours = lambda days: int((now - days * 86400) // 3600)  # noqa: E731
    skip_jobs = ("WITH RECURSIVE j(job) AS (SELECT min(job) FROM runs UNION ALL SELECT (SELECT"
                 " min(job) FROM runs WHERE job > j.job) FROM j WHERE j.job IS NOT NULL) ")
    cases = [
        ("runs", ["runs"], "SELECT * FROM runs ORDER BY id DESC LIMIT 20"),
        ("runs --job job-007", ["runs", "--job", "job-007"],
         "SELECT * FROM runs WHERE job = 'job-007' ORDER BY id DESC LIMIT 20"),
        ("runs --state failed", ["runs", "--state", "failed"],
         "SELECT * FROM runs WHERE state = 'failed' ORDER BY id DESC LIMIT 20"),
        (f"show {big_run} (100 MB log)", ["show", str(big_run)],
         f"SELECT datetime(ts, 'unixepoch'), level, message FROM run_log WHERE run_id = {big_run}"
         " ORDER BY id"),
        ("stats (7 days)", ["stats"],
         "SELECT job, sum(ended), sum(succeeded), sum(warned), sum(failed) FROM run_hours"
         f" WHERE hour >= {hours(7)} GROUP BY job"),
        ("stats --since 730d", ["stats", "--since", "730d"],
         "SELECT job, sum(ended), sum(succeeded), sum(warned), sum(failed) FROM run_hours"
         f" WHERE hour >= {hours(730)} GROUP BY job"),
        ("jobs", ["jobs"],
         skip_jobs + "SELECT r.* FROM j JOIN runs r ON r.id = (SELECT id FROM runs WHERE"
         " job = j.job AND state NOT IN ('queued', 'scheduled') ORDER BY id DESC LIMIT 1)"),
    ]
    out = []
    for name, args, sql in cases:
        mine = sample(tj + args, env, rounds)
        ref = sample(sq + [sql], env, rounds)
        out.append(line(f"trayjobs {name}", fmt(mine), "sqlite3", fmt(ref),
                        mine["median"] / ref["median"]))
        print(out[-1], flush=True)
    return out


DRIVER = textwrap.dedent('''
    import json, os, sys, time
    SPAWNED = float(sys.argv[4])  # the parent's clock as it started this process
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    sys.path.insert(0, sys.argv[3])
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    from bench_ui import PaintWatch, spin
    from trayjobs.paths import Home
    from trayjobs.ui.app import TrayApp
    from trayjobs.ui.runs_model import RunFilter
    home, big_run = Home.under(sys.argv[1]), int(sys.argv[2])
    qapp = QApplication([])
    s = QSettings(str(home.config_dir / "window.ini"), QSettings.Format.IniFormat)
    s.setValue("window/tab", 1)
    s.sync()
    out, worst, last = {}, [0.0], [time.perf_counter()]
    def tick():
        now = time.perf_counter()
        worst[0] = max(worst[0], now - last[0] - 0.01)
        last[0] = now
    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    ta = TrayApp(home, grace=1.0)
    model, view = ta.window.runs_model, ta.window.activity.view
    watch = PaintWatch(ta)
    watch.attach(view)
    watch.arm(lambda: model.is_loaded and model.run_at(0) is not None)
    ta.start()
    watch.wait(qapp, 120)
    out["start to Activity painted (whole process)"] = time.time() - SPAWNED
    out["rows"] = model.rowCount()
    resets = [0]
    model.modelReset.connect(lambda: resets.__setitem__(0, resets[0] + 1))
    for label, f in [("filter job", RunFilter(job="job-007")),
                     ("filter failed", RunFilter(states=("failed",))),
                     ("filter text", RunFilter(text="statement-12345.")),
                     ("filter none", RunFilter())]:
        seen = resets[0]
        watch.arm(lambda f=f, seen=seen: resets[0] > seen and model.is_loaded
                  and (model.rowCount() == 0 or model.run_at(0) is not None))
        t = time.perf_counter()
        model.set_filter(f)
        out[label] = watch.wait(qapp, 120) - t
    lastrow = model.rowCount() - 1
    watch.arm(lambda: model.run_at(lastrow) is not None)
    t = time.perf_counter()
    view.scrollToBottom()
    out["jump to oldest"] = watch.wait(qapp, 120) - t
    t = time.perf_counter()
    dlg = ta.open_run(big_run)
    spin(qapp, lambda: dlg._log_loaded, 300)
    out["details, 100 MB log"] = time.perf_counter() - t
    dlg.close()
    page = ta.window.metrics
    loads = page.loads
    t = time.perf_counter()
    ta.window.tabs.setCurrentWidget(page)
    page.period_box.setCurrentIndex(page.period_box.count() - 1)
    spin(qapp, lambda: page.loads > loads and page.buckets, 120)
    out["metrics, 30 days"] = time.perf_counter() - t
    out["GUI worst stall"] = worst[0]
    import resource
    out["peak MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out), flush=True)
    os._exit(0)
''')

REFERENCE = textwrap.dedent('''
    import os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import sqlite3
    from PySide6.QtWidgets import QApplication, QTableWidget, QTableWidgetItem
    app = QApplication([])
    rows = sqlite3.connect(sys.argv[1]).execute(
        "SELECT id, job, state, error FROM runs ORDER BY id DESC LIMIT 200").fetchall()
    t = QTableWidget(len(rows), 4)
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            t.setItem(i, j, QTableWidgetItem(str(v)))
    t.show()
    app.processEvents()
    t.viewport().repaint()
    print(time.time() - float(sys.argv[2]))
''')


def app_figures(home: Path, big_run: int, env: dict[str, str], rounds: int) -> list[str]:
    runs = []
    for _ in range(rounds):
        p = subprocess.run([sys.executable, "-c", DRIVER, str(home), str(big_run),
                            str(ROOT / "bench"), repr(time.time())], env=env,
                           capture_output=True, text=True,
                           timeout=900, cwd=tempfile.gettempdir())
        last = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
        if not last:
            raise SystemExit(f"the app driver failed:\n{p.stderr[-3000:]}")
        runs.append(json.loads(last[-1]))
    refs = []
    for _ in range(rounds):
        p = subprocess.run([sys.executable, "-c", REFERENCE, str(home / "data" / "runs.db"),
                            repr(time.time())],
                           env=env, capture_output=True, text=True, timeout=300, check=True)
        refs.append(float(p.stdout.split()[-1]))
    out = []
    ref = statistics.median(refs)
    for key in runs[0]:
        vals = [r[key] for r in runs]
        med = statistics.median(vals)
        if key.startswith("start"):
            out.append(line(f"app {key}", f"{med:.2f} s ({min(vals):.2f}-{max(vals):.2f})",
                            "a bare window painting the first 200 rows", f"{ref:.2f} s",
                            med / ref))
        elif key in ("rows", "peak MB"):
            out.append(f"app {key}: {med:,.0f}")
        else:
            out.append(f"app {key}: {med * 1000:.0f} ms ({min(vals) * 1000:.0f}-"
                       f"{max(vals) * 1000:.0f})")
        print(out[-1], flush=True)
    return out


WRITER = textwrap.dedent('''
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
    worst, n = 0.0, 0
    while True:
        t = time.perf_counter()
        conn.execute("INSERT OR REPLACE INTO app_state (key, value) VALUES ('bench', ?)", (str(t),))
        worst = max(worst, time.perf_counter() - t)
        n += 1
        print(f"{worst} {n}", flush=True)
        time.sleep(0.05)
''')


def prune_figures(home: Path, work: Path, env: dict[str, str]) -> list[str]:
    copy = work / "prune-home"
    shutil.copytree(home, copy)
    db = copy / "data" / "runs.db"
    before = db.stat().st_size
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE,
                              text=True)
    time.sleep(1)
    code = ("import sys, time; from trayjobs.store import RunStore\n"
            "s = RunStore(sys.argv[1]); t = time.perf_counter()\n"
            "n = len(s.prune(keep_days=90, keep_runs=100_000, keep_failed_days=365))\n"
            "print(n, time.perf_counter() - t); s.close()")
    p = subprocess.run([sys.executable, "-c", code, str(db)], env=env, capture_output=True,
                       text=True, check=True)
    writer.terminate()
    lines = writer.stdout.read().split("\n")
    writer.wait()
    worst = max(float(ln.split()[0]) for ln in lines if ln.strip())
    n, took = p.stdout.split()
    wal = db.with_name("runs.db-wal")
    free = subprocess.run(["sqlite3", str(db), "PRAGMA freelist_count; PRAGMA page_size"],
                          capture_output=True, text=True).stdout.split()
    out = [f"prune (default retention) of {int(n):,} runs: {float(took):.1f} s; another "
           f"process writing every 50 ms waited at most {worst * 1000:.0f} ms",
           f"history file: {before / 1e6:.0f} MB before, {db.stat().st_size / 1e6:.0f} MB after"
           f" (WAL {wal.stat().st_size / 1e6 if wal.exists() else 0:.0f} MB), "
           f"{int(free[0]) * int(free[1]) / 1e6:.0f} MB of it free for new runs"]
    print("\n".join(out), flush=True)
    shutil.rmtree(copy)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--home", type=Path, help="build the history here once and reuse it")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-prune", action="store_true")
    args = ap.parse_args(argv)
    if not shutil.which("sqlite3") or not Path("/usr/bin/time").exists():
        ap.error("needs the sqlite3 shell (the reference) and GNU time (/usr/bin/time)")
    work = Path(tempfile.mkdtemp(prefix="trayjobs-bench-history-"))
    env = {k: v for k, v in os.environ.items() if k not in ("TRAYJOBS_HOME",)}
    env["PYTHONPATH"] = str(ROOT)
    try:
        home = args.home or work / "home"
        meta = home / "bench-history.json"
        if not meta.exists():
            import make_big_history
            t = time.perf_counter()
            built = make_big_history.build(home, runs=args.runs, jobs=200, days=730,
                                           big_log_mb=100)
            built["seconds"] = time.perf_counter() - t
            meta.write_text(json.dumps(built))
            config = home / "trayjobs.toml"
            config.write_text(KEEP_ALL + config.read_text())  # the app must not prune it
        built = json.loads(meta.read_text())
        env["TRAYJOBS_HOME"] = str(home)
        print(f"# {machine()}; {built['runs']:,} runs, history {built['db_bytes'] / 1e6:.0f} MB")
        cli_figures(home, built["big_log_run"], env, args.rounds)
        app_figures(home, built["big_log_run"], env, max(1, args.rounds // 2))
        if not args.skip_prune:
            prune_figures(home, work, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
