"""Benchmark: the fixed cost of a command-line call, as whole processes.

What a person waits for before any work is done: each sample is one process,
timed from spawn to exit, with no app or worker running for its home. The
home is the default one (the platform's folders, found through platformdirs),
pointed at a temporary folder by the XDG variables rather than by
``TRAYJOBS_HOME``, so that the usual path is the one measured.

- ``trayjobs jobs`` on a config of two jobs;
- ``trayjobs run JOB --wait`` of a ``command`` job running ``true``;
- ``trayjobs run JOB --file tiny.csv --wait`` of an ``import`` job, a new
  3-row file each time (so each run really imports it).

References, timed the same way: ``python -c pass`` (the interpreter alone,
with this venv's site-packages) and ``sqlite3 :memory: 'select 1'``. Each
figure is the median of ``--runs`` samples with the spread (min-max) and the
CPU time (user + system, the process and its children); the ratios are to
the median of ``python -c pass`` (wall time, then CPU time, which a busy
machine distorts less). The goal is a median of at most 0.3 s.

Modules are compiled to bytecode once before timing, as an installed package
is (``PYTHONDONTWRITEBYTECODE`` is dropped for the measured processes).

On a machine shared with other work, times vary with its load; ``--instructions``
also counts the instructions each call executes (once, under valgrind's
cachegrind, all its processes together), which does not.

    .venv/bin/python bench/bench_cli.py
    .venv/bin/python bench/bench_cli.py --runs 20 --instructions
    .venv/bin/python bench/bench_cli.py --source /path/to/another/checkout
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, line, machine  # noqa: E402

SQLITE3 = shutil.which("sqlite3") or "/usr/bin/sqlite3"
GOAL = 0.3  # seconds, the median of a whole `trayjobs run` or `trayjobs jobs`

CONFIG = """\
[jobs.true-command]
kind = "command"
command = ["true"]

[jobs.tiny-import]
kind = "import"
table = "t"
processed_dir = "leave"
"""


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one process (its children included), spawn to exit. It
    starts in a neutral folder: ``python -m`` looks for modules in the current one first."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=tempfile.gettempdir())
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{err.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime


def instructions(argv: list[str], env: dict[str, str], work: Path) -> int:
    """Instructions executed by one process and every process it starts (valgrind)."""
    out = work / "cachegrind"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes",
                    f"--cachegrind-out-file={out}/cg.%p", *argv], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   cwd=tempfile.gettempdir())
    total = 0
    for f in out.iterdir():
        for ln in f.read_text().splitlines():
            if ln.startswith("summary:"):
                total += int(ln.split()[1])
    return total


def sample(argv_for_round, env: dict[str, str], runs: int) -> dict[str, float]:
    walls, cpus = [], []
    for i in range(runs):
        wall, cpu = timed(argv_for_round(i), env)
        walls.append(wall)
        cpus.append(cpu)
    return {"median": statistics.median(walls), "min": min(walls), "max": max(walls),
            "cpu": statistics.median(cpus)}


def fmt(s: dict[str, float]) -> str:
    return (f"{s['median'] * 1000:.0f} ms (spread {s['min'] * 1000:.0f}-{s['max'] * 1000:.0f}, "
            f"cpu {s['cpu'] * 1000:.0f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15, help="samples per figure (at least 10)")
    ap.add_argument("--source", type=Path, default=ROOT,
                    help="the checkout whose trayjobs is measured (default: this one)")
    ap.add_argument("--instructions", action="store_true",
                    help="also count each call's instructions under valgrind (slow)")
    args = ap.parse_args()
    if args.instructions and not shutil.which("valgrind"):
        ap.error("--instructions needs valgrind")
    runs = max(10, args.runs)
    work = Path(tempfile.mkdtemp(prefix="trayjobs-bench-cli-"))
    try:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONDONTWRITEBYTECODE", "QT_QPA_PLATFORM", "TRAYJOBS_HOME")}
        env.update(XDG_CONFIG_HOME=str(work / "config"), XDG_DATA_HOME=str(work / "data"),
                   XDG_STATE_HOME=str(work / "state"), PYTHONPATH=str(args.source.resolve()))
        config = work / "config" / "trayjobs" / "trayjobs.toml"
        config.parent.mkdir(parents=True)
        config.write_text(CONFIG)
        tj = [sys.executable, "-m", "trayjobs"]

        def tiny(i: int) -> str:
            path = work / f"tiny-{i}.csv"
            path.write_text(f"id,name,amount\n{i},a,2.5\n{i + 1},b,3\n")
            return str(path)

        # Once, untimed: bytecode written, the home's databases made.
        for argv in (tj + ["jobs"], tj + ["run", "true-command", "--wait"],
                     tj + ["run", "tiny-import", "--file", tiny(-1), "--wait"]):
            timed(argv, env)
        timed([sys.executable, "-c", "pass"], env)

        print(f"fixed cost of a command-line call, {runs} processes each ({machine()})")
        ref = sample(lambda i: [sys.executable, "-c", "pass"], env, runs)
        print(f"python -c pass: {fmt(ref)}")
        if os.path.exists(SQLITE3):
            sq = sample(lambda i: [SQLITE3, ":memory:", "select 1"], env, runs)
            print(f"sqlite3 :memory: 'select 1': {fmt(sq)}")
        cases = [
            ("trayjobs jobs", lambda i: tj + ["jobs"]),
            ("trayjobs run true-command --wait", lambda i: tj + ["run", "true-command", "--wait"]),
            ("trayjobs run tiny-import --file tiny.csv --wait",
             lambda i: tj + ["run", "tiny-import", "--file", tiny(i), "--wait"]),
        ]
        for name, argv in cases:
            s = sample(argv, env, runs)
            print(line(name, fmt(s), "python -c pass", f"{ref['median'] * 1000:.0f} ms",
                       s["median"] / ref["median"], f"<= {GOAL * 1000:.0f} ms",
                       s["median"] <= GOAL)
                  + f"; cpu ratio {s['cpu'] / ref['cpu']:.1f}")
        if args.instructions:
            base = instructions([sys.executable, "-c", "pass"], env, work)
            print(f"instructions: python -c pass {base / 1e6:.0f} M")
            for name, argv in cases:
                n = instructions(argv(runs), env, work)
                print(line(f"instructions: {name}", f"{n / 1e6:.0f} M", "python -c pass",
                           f"{base / 1e6:.0f} M", n / base))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
