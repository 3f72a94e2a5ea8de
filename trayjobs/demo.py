"""``python -m trayjobs.demo``: try trayjobs on a throw-away home with files flowing.

It makes a temporary home with the first-run example set-up, adds two demo jobs
(one that fails twice and is retried, one long one with a progress bar), puts
some old files into Scratch for the cleanup preview to find, and then drops a
small sample CSV into Inbox every few seconds while the app runs. Nothing outside
the temporary folder is touched (the cleanup stays a preview); the folder is
removed when the app quits unless ``--keep`` is given.

The sample files themselves are in :mod:`trayjobs.samples`.
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
from pathlib import Path

import tomlkit

from .firstrun import ACTIVITY_REPORT, CLEANUP_JOB, ensure_first_run
from .paths import Home
from .samples import SAMPLES, write_sample

__all__ = ["prepare", "SampleFeeder", "main"]

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
