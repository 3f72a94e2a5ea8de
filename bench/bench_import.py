"""Benchmark: the import kind, end to end, against the sqlite3 CLI and sqlite-utils.

Everything is measured as whole processes, the way a user runs it, from start to exit:

- trayjobs: ``python -m trayjobs run JOB --file F --wait`` in a fresh home (no app or
  worker running, so the CLI runs the job itself, in its job process);
- ``sqlite3 DB ".import --csv F t"`` (every column TEXT: the practical limit);
- ``sqlite-utils insert DB t F --csv`` with type detection (the peer), once per file,
  as it takes minutes.

trayjobs and the sqlite3 CLI run in pairs, ``--repeat`` times, alternating which goes
first; each pair gives a ratio (CLI time / trayjobs time, so higher is better for
trayjobs), and the figures are medians with their spread (min..max) over the pairs: the
machine may be shared, and pairing keeps a busy moment from favouring one side. Peak RSS
is the trayjobs process tree's largest ``ru_maxrss`` (``os.wait4``: the CLI and its job
process). A ``trayjobs run`` of a one-row file gives the fixed start-up cost, shown apart.

The input is generated (``--style plain`` or ``varied``: quoted unicode text, CRLF,
zip codes, long notes, many empty cells), or any CSV file given with ``--file``.

    .venv/bin/python bench/bench_import.py                       # 1M rows, both styles
    .venv/bin/python bench/bench_import.py --rows 100000 --repeat 3 --style varied
    .venv/bin/python bench/bench_import.py --file /path/to/big.csv --no-ndjson
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from make_import_data import STYLES, write_csv, write_ndjson  # noqa: E402

SQLITE3 = "/usr/bin/sqlite3"
SQLITE_UTILS = str(Path(sys.executable).parent / "sqlite-utils")
GOAL_VS_CLI = 0.6  # stretch 0.8
GOAL_VS_SQLITE_UTILS = 10.0
GOAL_VS_SQLITE_UTILS_NL = 4.0
GOAL_RSS_MB = 150
JOBS = ('[jobs.bench]\nkind = "import"\ntable = "t"\nprocessed_dir = "leave"\n'
        'reimport = true\n')


class Proc:
    """One whole process: wall seconds, CPU seconds, peak RSS (MB) of it and its children."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None) -> None:
        start = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        self.output = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        self.seconds = time.perf_counter() - start
        self.cpu = usage.ru_utime + usage.ru_stime
        self.rss_mb = usage.ru_maxrss / 1024  # KiB on Linux; the largest in the tree
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"{args[0]} ... failed ({code}):\n{self.output[-2000:]}")


def trayjobs(path: Path, work: Path) -> Proc:
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    (home / "trayjobs.toml").write_text(JOBS)
    # Bytecode is written and used, as an installed package has it (the first round
    # writes it): PYTHONDONTWRITEBYTECODE would recompile ~70 modules in every run.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(TRAYJOBS_HOME=str(home), PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    proc = Proc([sys.executable, "-m", "trayjobs", "run", "bench", "--file", str(path),
                 "--wait"], env=env)
    proc.rows = count(home / "data" / "data.db")
    shutil.rmtree(home, ignore_errors=True)  # a 1M-row database per round adds up
    return proc


def sqlite3_cli(path: Path, work: Path) -> Proc:
    db = work / "cli.db"
    db.unlink(missing_ok=True)
    proc = Proc([SQLITE3, str(db), f".import --csv {path} t"])
    proc.rows = count(db)
    db.unlink()
    return proc


def count(db: Path, table: str = "t") -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def sqlite_utils_csv_args() -> list[str]:
    """sqlite-utils 4 detects CSV types unless told not to; 3.x needs --detect-types."""
    help_text = subprocess.run([SQLITE_UTILS, "insert", "--help"], capture_output=True,
                               text=True).stdout
    return ["--csv"] + (["--detect-types"] if "--detect-types" in help_text else [])


def sqlite_utils(path: Path, work: Path, flags: list[str]) -> Proc:
    db = work / "su.db"
    db.unlink(missing_ok=True)
    proc = Proc([SQLITE_UTILS, "insert", str(db), "t", str(path), *flags])
    proc.rows = count(db)
    db.unlink()
    return proc


def spread(values: list[float], fmt: str = ".2f") -> str:
    """``median (min..max)``."""
    med = statistics.median(values)
    if len(values) < 2:
        return f"{med:{fmt}}"
    return f"{med:{fmt}} ({min(values):{fmt}}..{max(values):{fmt}})"


def verdict(value: float, goal: float) -> str:
    return "ok" if value >= goal else "MISS"


def bench_csv(path: Path, work: Path, *, repeat: int, peer: bool) -> dict[str, float]:
    size = path.stat().st_size / 1e6
    print(f"CSV {path.name}: {size:,.1f} MB")
    ours, cli, ratios = [], [], []
    for i in range(repeat):
        if i % 2 == 0:
            cli.append(sqlite3_cli(path, work))
            ours.append(trayjobs(path, work))
        else:
            ours.append(trayjobs(path, work))
            cli.append(sqlite3_cli(path, work))
        ratios.append(cli[-1].seconds / ours[-1].seconds)
    rows = cli[0].rows
    assert all(p.rows == rows for p in cli + ours), [p.rows for p in cli + ours]
    print(f"  {rows:,} rows; {repeat} pairs; seconds as median (min..max)")
    print(f"  sqlite3 CLI .import --csv    wall {spread([p.seconds for p in cli])} s, "
          f"cpu {spread([p.cpu for p in cli])} s  (all columns TEXT)")
    print(f"  trayjobs run --wait          wall {spread([p.seconds for p in ours])} s, "
          f"cpu {spread([p.cpu for p in ours])} s, peak RSS "
          f"{max(p.rss_mb for p in ours):.0f} MB  (types detected, provenance)")
    cpu_ratio = statistics.median(c.cpu / o.cpu for c, o in zip(cli, ours))
    result = {"vs_cli": statistics.median(ratios), "vs_cli_cpu": cpu_ratio,
              "rss_mb": max(p.rss_mb for p in ours)}
    print(f"  trayjobs vs sqlite3 CLI: {spread(ratios)}x by wall time, {cpu_ratio:.2f}x by "
          f"CPU time (goal >= {GOAL_VS_CLI}x: {verdict(result['vs_cli'], GOAL_VS_CLI)})")
    if peer:
        su = sqlite_utils(path, work, sqlite_utils_csv_args())
        assert su.rows == rows, su.rows
        result["vs_sqlite_utils"] = su.seconds / statistics.median(p.seconds for p in ours)
        print(f"  sqlite-utils insert --csv    wall {su.seconds:.2f} s (types detected); "
              f"trayjobs vs it: {result['vs_sqlite_utils']:.1f}x (goal >= "
              f"{GOAL_VS_SQLITE_UTILS:.0f}x: "
              f"{verdict(result['vs_sqlite_utils'], GOAL_VS_SQLITE_UTILS)})")
    return result


def bench_ndjson(path: Path, work: Path, *, repeat: int, peer: bool) -> dict[str, float]:
    print(f"NDJSON {path.name}: {path.stat().st_size / 1e6:,.1f} MB")
    ours = [trayjobs(path, work) for _ in range(repeat)]
    result = {"rss_mb": max(p.rss_mb for p in ours)}
    print(f"  trayjobs run --wait          wall {spread([p.seconds for p in ours])} s, "
          f"cpu {spread([p.cpu for p in ours])} s, peak RSS {result['rss_mb']:.0f} MB")
    if peer:
        su = sqlite_utils(path, work, ["--nl"])
        assert su.rows == ours[0].rows, (su.rows, ours[0].rows)
        result["vs_sqlite_utils"] = su.seconds / statistics.median(p.seconds for p in ours)
        print(f"  sqlite-utils insert --nl     wall {su.seconds:.2f} s; trayjobs vs it: "
              f"{result['vs_sqlite_utils']:.1f}x (goal >= {GOAL_VS_SQLITE_UTILS_NL:.0f}x)")
    return result


def fixed_cost(work: Path, repeat: int) -> None:
    tiny = work / "tiny.csv"
    tiny.write_text("a,b\n1,x\n")
    trayjobs(tiny, work)  # untimed: bytecode written, as an installed copy has it
    runs = [trayjobs(tiny, work).seconds for _ in range(repeat)]
    print(f"fixed cost: trayjobs run of a one-row file {spread(runs)} s (part of every figure "
          f"above)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to generate")
    parser.add_argument("--style", choices=(*STYLES, "both"), default="both",
                        help="how the generated data looks")
    parser.add_argument("--file", type=Path, action="append", default=[],
                        help="a CSV file to measure instead of generated data (repeatable)")
    parser.add_argument("--repeat", type=int, default=5, help="trayjobs/sqlite3 pairs")
    parser.add_argument("--no-peer", action="store_true", help="leave out sqlite-utils")
    parser.add_argument("--no-ndjson", action="store_true", help="leave out NDJSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trayjobs-bench-import-"))
    try:
        print(f"{os.cpu_count()} CPUs, load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        fixed_cost(work, args.repeat)
        files = [(f.resolve(), None) for f in args.file]
        if not files:
            styles = STYLES if args.style == "both" else (args.style,)
            for style in styles:
                csv_path = write_csv(work / f"{style}.csv", args.rows, style=style, seed=7)
                nd_path = None
                if not args.no_ndjson:
                    nd_path = write_ndjson(work / f"{style}.ndjson", args.rows, style=style,
                                           seed=7)
                files.append((csv_path, nd_path))
        rss = []
        for csv_path, nd_path in files:
            rss.append(bench_csv(csv_path, work, repeat=args.repeat, peer=not args.no_peer)
                       ["rss_mb"])
            if nd_path:
                rss.append(bench_ndjson(nd_path, work, repeat=max(1, args.repeat // 2),
                                        peer=not args.no_peer)["rss_mb"])
        print(f"peak RSS of trayjobs, all runs: {max(rss):.0f} MB (goal <= {GOAL_RSS_MB} MB)")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
