"""Benchmark: watched folders, with a real engine, real watchdog observers and real files.

1. Latency: a CSV file is written into the watched folder and closed; the figure is the
   time from the close to its run starting (the run's ``started_at``), one file at a time.
   Target: p50 <= settle + 100 ms.
2. A burst: N small CSV files (default 1,000) are moved into the watched folder at once;
   the figure is the time from the first move to the end of the last run. The reference
   imports the same files with one CLI call (``trayjobs run JOB --wait --file ...`` with no
   app running, so the run happens in that process), timed from its start to its exit.
   Target: ratio <= 2.

The engine runs in this process, as the app's does; everything lives in a temporary folder
that is deleted afterwards.

    .venv/bin/python bench/bench_watch.py
    .venv/bin/python bench/bench_watch.py --settle 0.5 --samples 10 --files 300
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trayjobs.engine.engine import Engine  # noqa: E402
from trayjobs.engine.events import RunChanged  # noqa: E402
from trayjobs.paths import Home  # noqa: E402


def config(folder: Path, settle: float) -> str:
    return (f"[jobs.inbox]\nkind = \"import\"\ntable = \"t\"\n"
            f"watch = {{ folder = '{folder}', patterns = [\"*.csv\"], settle = \"{settle}s\" }}\n")


def write_csv(path: Path, i: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"id,name,amount\n{i},row {i},{i * 1.5}\n{i + 100_000},other,{i}\n")


class Runs:
    """Ended runs of the engine, waited on through its events."""

    def __init__(self, engine: Engine) -> None:
        self.cond = threading.Condition()
        self.ended: list[dict] = []
        engine.bus.subscribe(self._on)

    def _on(self, ev) -> None:
        if isinstance(ev, RunChanged) and ev.final:
            with self.cond:
                self.ended.append(ev.run)
                self.cond.notify_all()

    def wait(self, pred, timeout: float) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: pred(self.ended), timeout):
                raise SystemExit(f"timed out; ended runs: {len(self.ended)}")


def start_engine(work: Path, name: str, settle: float) -> tuple[Engine, Path, Runs]:
    home = Home.under(work / f"home-{name}").ensure()
    inbox = work / f"inbox-{name}"
    inbox.mkdir()
    home.config_file.write_text(config(inbox, settle), encoding="utf-8")
    eng = Engine(home, mode="worker", grace=2.0)
    runs = Runs(eng)
    eng.start()
    deadline = time.monotonic() + 10
    while eng.watch_status().get("inbox", {}).get("state") != "watching":
        if time.monotonic() > deadline:
            raise SystemExit(f"the watch did not start: {eng.watch_status()}")
        time.sleep(0.01)
    return eng, inbox, runs


def latency(work: Path, settle: float, samples: int) -> dict[str, float]:
    eng, inbox, runs = start_engine(work, "latency", settle)
    start_lat, create_lat = [], []
    try:
        for i in range(samples):
            path = inbox / f"one-{i}.csv"
            write_csv(path, i)
            closed = time.time()
            runs.wait(lambda ended, n=i + 1: len(ended) >= n, 30)
            run = eng.store.get_run(runs.ended[i]["id"])
            if run["state"] != "succeeded":
                raise SystemExit(f"run failed: {run['error']}")
            start_lat.append(run["started_at"] - closed)
            create_lat.append(run["created_at"] - closed)
    finally:
        eng.stop()
        eng.close()
    return {"p50": statistics.median(start_lat), "max": max(start_lat),
            "min": min(start_lat), "created_p50": statistics.median(create_lat)}


def burst(work: Path, settle: float, files: int) -> tuple[float, int, list[int]]:
    staging = work / "staging-watch"
    staging.mkdir()
    names = [f"bank-{i:05}.csv" for i in range(files)]
    for i, name in enumerate(names):
        write_csv(staging / name, i)
    eng, inbox, runs = start_engine(work, "burst", settle)

    def all_done(ended) -> bool:
        return sum(len((r.get("inputs") or {}).get("files") or []) for r in ended) >= files
    try:
        t0 = time.perf_counter()
        for name in names:
            os.rename(staging / name, inbox / name)
        runs.wait(all_done, 600)
        took = time.perf_counter() - t0
        ended = [eng.store.get_run(r["id"]) for r in runs.ended]
    finally:
        eng.stop()
        eng.close()
    bad = [r for r in ended if r["state"] != "succeeded"]
    if bad:
        raise SystemExit(f"{len(bad)} run(s) did not succeed: {bad[0]['error']}")
    imported = sum(len(r["result"]["files"]) for r in ended)
    if imported != files or len(os.listdir(inbox / "processed")) != files:
        raise SystemExit(f"{imported} files imported, expected {files}")
    return took, len(ended), [len(r["inputs"]["files"]) for r in ended]


def cli(work: Path, files: int) -> float:
    home = Home.under(work / "home-cli").ensure()
    folder = work / "cli-files"
    folder.mkdir()
    home.config_file.write_text("[jobs.inbox]\nkind = \"import\"\ntable = \"t\"\n",
                                encoding="utf-8")
    args = []
    for i in range(files):
        write_csv(folder / f"bank-{i:05}.csv", i)
        args += ["--file", str(folder / f"bank-{i:05}.csv")]
    env = dict(os.environ, TRAYJOBS_HOME=str(home.root))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "trayjobs", "run", "inbox", "--wait", *args],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    took = time.perf_counter() - t0
    if out.returncode != 0 or f"{files} files" not in out.stderr:
        raise SystemExit(f"the CLI import failed: {out.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=1.0, help="the watch's settle time (s)")
    parser.add_argument("--samples", type=int, default=20, help="files for the latency figure")
    parser.add_argument("--files", type=int, default=1000, help="files in the burst")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trayjobs-bench-watch-"))
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, Python "
          f"{sys.version.split()[0]}; settle {args.settle:g} s; in {work}")
    try:
        lat = latency(work, args.settle, args.samples)
        ref = args.settle + 0.1
        print(f"close -> run start, p50 over {args.samples} files: {lat['p50'] * 1000:.0f} ms "
              f"(reference: settle + 100 ms = {ref * 1000:.0f} ms) ratio {lat['p50'] / ref:.2f}"
              f" — {'ok' if lat['p50'] <= ref else 'MISS'}")
        print(f"  min {lat['min'] * 1000:.0f} ms, max {lat['max'] * 1000:.0f} ms; "
              f"close -> run created, p50 {lat['created_p50'] * 1000:.0f} ms")
        watch_s, n_runs, sizes = burst(work, args.settle, args.files)
        cli_s = cli(work, args.files)
        ratio = watch_s / cli_s
        print(f"{args.files:,} files dropped at once, first move -> last run ended: "
              f"{watch_s:.2f} s (reference: one CLI call with {args.files:,} --file: "
              f"{cli_s:.2f} s) ratio {ratio:.2f} — target <= 2: {'ok' if ratio <= 2 else 'MISS'}")
        print(f"  {n_runs} runs, files per run: {sizes}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
