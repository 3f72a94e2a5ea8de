"""Benchmark the idle memory of the GUI app (target: <= 120 MB RSS).

Starts the real app, ``python -m trayjobs`` with ``QT_QPA_PLATFORM=offscreen``,
on a temporary home holding a few jobs of every kind (schedules, a watched
folder) and a history of finished runs with log lines. Once its job processes
are up it is left alone for ``--settle`` s, then the VmRSS of the app process
and, separately, of its job processes is read from /proc. The reference is a
bare ``QApplication`` with one ``QWidget`` shown, measured the same way.

    .venv/bin/python bench/bench_app.py                 # 2,000 runs of history, 10 s settle
    .venv/bin/python bench/bench_app.py --quick
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (ROOT, descendants, line, machine, pss_kb, status_kb,  # noqa: E402
                     stop_process, wait_until)

CONFIG = """
[settings]
workers = 2

[jobs.nightly]
kind = "demo"
cron = "30 2 * * *"
steps = 10

[jobs.hourly]
kind = "demo"
every = "1h"
steps = 3
step_time = 0

[jobs.bank]
kind = "import"
table = "transactions"
watch = {{ folder = "{inbox}", patterns = ["*.csv"] }}

[jobs.tidy]
kind = "cleanup"
every = "1d"
locations = [{{ path = "{downloads}", recursive = true }}]
filters = [{{ age = "older than 30d" }}]
action = "trash"

[jobs.activity]
kind = "report"
builtin = "job-activity"
every = "1d"
"""

BARE_QT = """
import sys
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv)
w = QWidget()
w.resize(900, 600)
w.show()
sys.exit(app.exec())
"""


def build_home(root: Path, runs: int):
    from trayjobs.paths import Home
    from trayjobs.store import RunStore

    home = Home.under(root / "home").ensure()
    (root / "inbox").mkdir()
    (root / "downloads").mkdir()
    home.config_file.write_text(textwrap.dedent(CONFIG.format(inbox=root / "inbox",
                                                              downloads=root / "downloads")))
    store = RunStore(home.runs_db)
    rnd = random.Random(7)
    jobs = [("nightly", "demo"), ("hourly", "demo"), ("bank", "import"), ("tidy", "cleanup"),
            ("activity", "report")]
    for i in range(runs):
        job, kind = rnd.choice(jobs)
        rid = store.create_run(job, kind=kind, trigger=rnd.choice(["schedule", "manual", "watch"]),
                               max_attempts=3)
        store.claim(rid, pid=1)
        store.add_logs(rid, [(time.time(), "info", f"step {n} of 5 of run {i}") for n in range(5)])
        failed = rnd.random() < 0.05
        store.end_attempt(rid, state="failed" if failed else "succeeded",
                          error="failing on purpose" if failed else None,
                          result=None if failed else {"summary": "5 steps done"})
    store.close()
    return home


def measure(cmd: list[str], env: dict[str, str], *, children: int, settle: float, log: Path
            ) -> tuple[int, int, list[int], list[int]]:
    """Start ``cmd``, wait for ``children`` child processes, settle; RSS/PSS of it and its children."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            ok = wait_until(lambda: proc.poll() is not None or
                            len(descendants(proc.pid)) >= children, 90)
            if proc.poll() is not None or not ok:
                raise RuntimeError(f"{cmd[-1]} did not come up:\n{log.read_text()[-2000:]}")
            time.sleep(settle)
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[-1]} exited:\n{log.read_text()[-2000:]}")
            kids = descendants(proc.pid)
            return (status_kb(proc.pid) or 0, pss_kb(proc.pid) or 0,
                    [status_kb(k) or 0 for k in kids], [pss_kb(k) or 0 for k in kids])
        finally:
            stop_process(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a fast smoke run")
    ap.add_argument("--runs", type=int, default=None, help="finished runs in the history (2000)")
    ap.add_argument("--settle", type=float, default=None, help="idle seconds before reading (10)")
    ap.add_argument("--dir", default=None, help="where to make the temporary folder")
    args = ap.parse_args()
    if args.runs is None:
        args.runs = 200 if args.quick else 2000
    if args.settle is None:
        args.settle = 3.0 if args.quick else 10.0

    work = Path(tempfile.mkdtemp(prefix="bench-app-", dir=args.dir))
    try:
        home = build_home(work, args.runs)
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TRAYJOBS_HOME=str(home.root),
                   PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(work / "xdg"),
                   XDG_CONFIG_HOME=str(work / "xdg-config"), XDG_RUNTIME_DIR=str(work / "xdg-run"))
        (work / "xdg-run").mkdir(mode=0o700)
        print(f"home with {args.runs:,} runs in the history; settle {args.settle:g} s", flush=True)
        app_rss, app_pss, kid_rss, kid_pss = measure(
            [sys.executable, "-m", "trayjobs", "--home", str(home.root)], env, children=2,
            settle=args.settle, log=work / "app.log")
        bare_rss, bare_pss, _, _ = measure([sys.executable, "-c", BARE_QT], env, children=0,
                                           settle=args.settle, log=work / "bare.log")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mb = 1024
    ok = app_rss / mb <= 120
    print()
    print(line("idle RSS of the app process", f"{app_rss / mb:.1f} MB", "bare QApplication + QWidget",
               f"{bare_rss / mb:.1f} MB", app_rss / bare_rss, "<= 120 MB", ok))
    print(f"  its {len(kid_rss)} job processes: {sum(kid_rss) / mb:.1f} MB RSS "
          f"({', '.join(f'{k / mb:.1f}' for k in kid_rss)}); app + job processes "
          f"{(app_rss + sum(kid_rss)) / mb:.1f} MB RSS, {(app_pss + sum(kid_pss)) / mb:.1f} MB PSS "
          f"(app alone {app_pss / mb:.1f} MB PSS, bare Qt {bare_pss / mb:.1f} MB PSS)")
    print(f"({machine()}{'; --quick' if args.quick else ''})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
