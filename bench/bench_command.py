"""Benchmark: what a ``command`` job costs over running the same program directly.

1. ``true``, in the engine: a real engine in this process (one worker, its job
   process warm) runs a command job ``["true"]``; each sample is the time from
   ``submit()`` to the run's final ``RunChanged(succeeded)`` on the bus. The
   reference runs ``true`` with ``subprocess.run`` from this process. The
   figure is the difference (the overhead per run): target <= 30 ms. A no-op
   ``demo`` run (``steps = 0``) through the same engine is shown too: the part of
   the overhead every run has, whatever its kind.
2. ``true``, whole processes: ``trayjobs run JOB --wait`` with no app running (the
   CLI starts an engine and a job process, runs, exits) against the process
   ``true``, each timed from spawn to exit.
3. 100,000 lines: a command job ``cat FILE`` where FILE holds ``seq 100000``
   (every line reaches the run's log in the store), in the engine, against
   ``cat FILE > OUT`` as a process. The figure is the reference's time over the
   job's (a throughput ratio): target >= 0.5. The same through ``trayjobs run
   JOB --wait`` is shown too.

Each figure is the median of ``--runs`` samples, with the spread (min-max).

    .venv/bin/python bench/bench_command.py
    .venv/bin/python bench/bench_command.py --runs 5 --lines 20000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, line, machine  # noqa: E402

CONFIG = """
[jobs.true]
kind = "command"
command = ["true"]
retry = {{ attempts = 1 }}

[jobs.noop]
kind = "demo"
steps = 0
step_time = 0
retry = {{ attempts = 1 }}

[jobs.lines]
kind = "command"
command = ["cat", "{data}"]
retry = {{ attempts = 1 }}
"""


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def figure(samples: list[float]) -> str:
    return f"{ms(statistics.median(samples))} (spread {ms(min(samples))}-{ms(max(samples))})"


class Finished:
    """Final run states from the engine's bus, waited for without polling."""

    def __init__(self, bus) -> None:
        from trayjobs.engine.events import RunChanged
        self._RunChanged = RunChanged
        self.cond = threading.Condition()
        self.final: dict[int, dict] = {}
        bus.subscribe(self._on_event)

    def _on_event(self, ev) -> None:
        if isinstance(ev, self._RunChanged) and ev.final:
            with self.cond:
                self.final[ev.run["id"]] = ev.run
                self.cond.notify_all()

    def wait(self, rid: int, timeout: float = 300) -> dict:
        with self.cond:
            if not self.cond.wait_for(lambda: rid in self.final, timeout):
                raise TimeoutError(f"run {rid} did not end within {timeout:.0f} s")
        run = self.final[rid]
        if run["state"] != "succeeded":
            raise RuntimeError(f"run {rid} ended {run['state']}: {run.get('error')}")
        return run


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def in_engine(home, job: str, runs: int) -> list[float]:
    from trayjobs.engine.engine import Engine
    eng = Engine(home, workers=1, scheduler=False, grace=1.0, mode="worker")
    done = Finished(eng.bus)
    eng.start()
    try:
        done.wait(eng.submit(job))  # warm: the job process is up and has run once
        return [timed(lambda: done.wait(eng.submit(job))) for _ in range(runs)]
    finally:
        eng.stop()
        eng.close()


def cli_run(home, job: str) -> None:
    env = dict(os.environ, TRAYJOBS_HOME=str(home.root), PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "trayjobs", "run", job, "--wait"], env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=15, help="samples per figure (default 15)")
    p.add_argument("--lines", type=int, default=100_000, help="lines printed (default 100,000)")
    args = p.parse_args(argv)

    from trayjobs.paths import Home
    print(f"bench_command: {machine()}")
    with tempfile.TemporaryDirectory(prefix="trayjobs-bench-command-") as tmp:
        tmp = Path(tmp)
        data = tmp / "lines.txt"
        data.write_text("".join(f"{i}\n" for i in range(1, args.lines + 1)))
        home = Home.under(tmp / "home").ensure()
        home.config_file.write_text(textwrap.dedent(CONFIG.format(data=data)))

        # 1. true, in the engine
        direct = [timed(lambda: subprocess.run(["true"], check=True)) for _ in range(args.runs)]
        job = in_engine(home, "true", args.runs)
        noop = in_engine(home, "noop", args.runs)
        overhead = statistics.median(job) - statistics.median(direct)
        print(line("true as a command job, in the engine", figure(job),
                   "true run directly", figure(direct),
                   statistics.median(job) / statistics.median(direct)))
        print(line("  overhead per run", ms(overhead), "a no-op demo run",
                   figure(noop), None, "<= 30 ms", overhead <= 0.030))

        # 2. true, whole processes
        cli = [timed(lambda: cli_run(home, "true")) for _ in range(max(3, args.runs // 3))]
        print(line("trayjobs run true --wait (whole process)", figure(cli),
                   "true run directly", figure(direct),
                   statistics.median(cli) / statistics.median(direct)))

        # 3. many lines
        out = tmp / "out.txt"
        cat = [timed(lambda: subprocess.run(f"cat '{data}' > '{out}'", shell=True, check=True))
               for _ in range(args.runs)]
        many = in_engine(home, "lines", max(3, args.runs // 3))
        ratio = statistics.median(cat) / statistics.median(many)
        print(line(f"{args.lines:,} lines into the run log, in the engine", figure(many),
                   "cat to a file", figure(cat), ratio, ">= 0.5", ratio >= 0.5))
        per_line = (statistics.median(many) - statistics.median(job)) / args.lines
        print(f"  about {per_line * 1e6:.1f} µs per line beyond the run itself")
        cli_many = [timed(lambda: cli_run(home, "lines")) for _ in range(3)]
        print(line(f"trayjobs run lines --wait (whole process)", figure(cli_many),
                   "cat to a file", figure(cat), statistics.median(cat) / statistics.median(cli_many)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
