"""``python -m trayjobs.demo``: try trayjobs on a throw-away home with files flowing.

It makes a temporary home with the first-run example set-up, adds two demo jobs
(one that fails twice and is retried, one long one with a progress bar), puts
some old files into Scratch for the cleanup preview to find, and then drops a
small sample CSV into Inbox every few seconds while the app runs. Nothing outside
the temporary folder is touched (the cleanup stays a preview); the folder is
removed when the app quits unless ``--keep`` is given.

The sample files are also what the welcome view's "Add a sample file" button
drops into Inbox.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import tomlkit

from .firstrun import ACTIVITY_REPORT, CLEANUP_JOB, ensure_first_run
from .paths import Home

__all__ = ["SAMPLES", "write_sample", "prepare", "SampleFeeder", "main"]

_CUSTOMERS = ["Ada", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Radia"]
_PRODUCTS = [("notebook", 3.5), ("pen", 1.2), ("stapler", 7.9), ("lamp", 24.0), ("mug", 6.5)]
_SHOPS = ["Grocer", "Rail", "Bookshop", "Pharmacy", "Cafe", "Hardware"]
_CITIES = ["Oslo", "Lisbon", "Kyoto", "Quito", "Perth"]


def _orders(rng: random.Random, n: int, day: date) -> tuple[list[str], list[list]]:
    rows = []
    for i in range(n):
        product, price = rng.choice(_PRODUCTS)
        rows.append([f"{day:%Y%m%d}-{rng.randrange(10**6):06d}", day.isoformat(),
                     rng.choice(_CUSTOMERS), product, rng.randint(1, 5), f"{price:.2f}"])
    return ["order_id", "date", "customer", "product", "quantity", "price"], rows


def _bank(rng: random.Random, n: int, day: date) -> tuple[list[str], list[list]]:
    rows = [[(day - timedelta(days=rng.randrange(7))).isoformat(), rng.choice(_SHOPS),
             f"{-rng.uniform(2, 120):.2f}"] for _ in range(n)]
    return ["date", "payee", "amount"], sorted(rows)


def _weather(rng: random.Random, n: int, day: date) -> tuple[list[str], list[list]]:
    return (["date", "city", "temp_c", "rain_mm"],
            [[day.isoformat(), city, f"{rng.uniform(-5, 32):.1f}", f"{max(0, rng.gauss(1, 3)):.1f}"]
             for city in rng.sample(_CITIES, min(n, len(_CITIES)))])


#: Sample sources by file name; each name always fills the same table.
SAMPLES = {"orders.csv": _orders, "bank-export.csv": _bank, "weather.csv": _weather}


def _csv_cell(value) -> str:
    text = str(value)
    return f'"{text}"' if any(c in text for c in ',"\n') else text


def write_sample(folder: str | os.PathLike[str], name: str = "orders.csv", *, rows: int = 5,
                 rng: random.Random | None = None) -> Path | None:
    """Drop a sample CSV called ``name`` into ``folder``, complete at once (written under a
    hidden name, then renamed). ``None`` when a file of that name is still waiting there."""
    folder = Path(folder)
    target = folder / name
    if target.exists():
        return None
    header, data = SAMPLES[name](rng or random.Random(), rows, date.today())
    tmp = folder / f".{name}.part"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        for row in [header, *data]:
            f.write(",".join(_csv_cell(v) for v in row) + "\r\n")
    os.replace(tmp, target)
    return target


DEMO_JOBS = """

# -- Added by the demo ------------------------------------------------------------

# Fails its first two attempts, then succeeds: see "retrying: attempt 2/4 in 10 s".
[jobs.flaky-sync]
kind = "demo"
description = "Fails twice, then works: retries with backoff"
every = "2m"
at_login = true
steps = 20
step_time = 0.25
fail_times = 2
retry = { attempts = 4, backoff = "10s", jitter = false }

# A long job, to see a progress bar with its rate and time left.
[jobs.crunch-numbers]
kind = "demo"
description = "A long job with progress"
every = "3m"
at_login = true
steps = 120
step_time = 0.25
"""


def prepare(root: str | os.PathLike[str], *, rng: random.Random | None = None) -> Home:
    """Make (or reuse) a demo home under ``root``: the example set-up plus demo jobs."""
    home = Home.under(root)
    setup = ensure_first_run(home)
    if setup is None or not setup.created:
        return home  # an existing home: leave its jobs as they are
    doc = tomlkit.parse(home.config_file.read_text(encoding="utf-8"))
    # the cleanup previews at start, and the activity report is there from the beginning
    doc["jobs"][CLEANUP_JOB]["at_login"] = True
    doc["jobs"][ACTIVITY_REPORT]["at_login"] = True
    home.config_file.write_text(tomlkit.dumps(doc).rstrip("\n") + "\n" + DEMO_JOBS,
                                encoding="utf-8")
    rng = rng or random.Random()
    now = time.time()
    for i, days in enumerate((45, 60, 90, 400, 2, 0)):
        sub = setup.scratch / ("old downloads" if i % 2 else "")
        sub.mkdir(exist_ok=True)
        path = sub / f"scratch-{i + 1}.txt"
        path.write_text("a file for the cleanup preview\n" * rng.randint(1, 50), encoding="utf-8")
        os.utime(path, (now - days * 86400, now - days * 86400))
    return home


class SampleFeeder:
    """Drops a sample file into a folder every ``interval`` seconds, on a thread."""

    def __init__(self, folder: str | os.PathLike[str], *, interval: float = 5.0,
                 rng: random.Random | None = None) -> None:
        self.folder = Path(folder)
        self.interval = interval
        self.rng = rng or random.Random()
        self.written: list[Path] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._names = list(SAMPLES)

    def tick(self) -> Path | None:
        name = self._names[len(self.written) % len(self._names)]
        path = write_sample(self.folder, name, rows=self.rng.randint(3, 40), rng=self.rng)
        if path is not None:
            self.written.append(path)
        return path

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except OSError:  # the folder went away (the demo is ending): stop quietly
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="trayjobs-demo-feeder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM") or sys.platform in ("darwin", "win32"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trayjobs.demo",
                                description="Start trayjobs on a throw-away home, with sample "
                                            "files dropped into its Inbox every few seconds.")
    p.add_argument("--home", metavar="DIR", help="use (and keep) this folder instead of a "
                                                 "temporary one")
    p.add_argument("--keep", action="store_true", help="keep the temporary home afterwards")
    p.add_argument("--interval", type=float, default=5.0, metavar="SECONDS",
                   help="seconds between sample files (default: 5)")
    p.add_argument("--worker", action="store_true",
                   help="run the headless worker instead of the app (also without a display)")
    args = p.parse_args(argv)
    temporary = args.home is None
    root = Path(tempfile.mkdtemp(prefix="trayjobs-demo-")) if temporary else Path(args.home)
    home = prepare(root)
    inbox = (root / "Inbox") if (root / "Inbox").is_dir() else None
    print(f"trayjobs demo home: {root}\n"
          f"  sample files arrive in {inbox or '(no Inbox here)'} every {args.interval:g} s; "
          f"quit trayjobs (tray menu > Quit, or Ctrl+C here) to end the demo", file=sys.stderr)
    feeder = SampleFeeder(inbox, interval=args.interval) if inbox else None
    if feeder:
        feeder.start()
    try:
        if args.worker or not _has_display():
            from .worker import run_worker
            rc = run_worker(home)
        else:
            from .ui.app import run_app  # Qt only here: importing this module stays cheap
            rc = run_app(home)
    finally:
        if feeder:
            feeder.stop()
        if temporary and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
            print(f"trayjobs demo: removed {root}", file=sys.stderr)
        else:
            print(f"trayjobs demo: kept {root} (start it again: trayjobs --home {root})",
                  file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
