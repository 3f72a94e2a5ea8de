"""Benchmark the report kind against the same queries run by the sqlite3 CLI.

Two reports, built in a temporary trayjobs home:

* "Job activity" over a run history of 100,000 runs (all inside the period);
* a group-by report over a 1,000,000-row sales table (per category, per day,
  per region, totals).

Each report is run once through the kind (queries, CSV, HTML with charts,
PDF) and its wall time is set beside the same SQL run by ``sqlite3 -readonly``
with the same parameters, output written as CSV. The target is
``report <= 1.5 x CLI + 1 s``.

    .venv/bin/python bench/bench_report.py [--runs 100000] [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trayjobs.context import JobContext  # noqa: E402
from trayjobs.kinds.registry import get_kind  # noqa: E402
from trayjobs.kinds.report.builtin import JOB_ACTIVITY  # noqa: E402
from trayjobs.kinds.report.periods import resolve_period  # noqa: E402
from trayjobs.paths import Home  # noqa: E402
from trayjobs.store import RunStore  # noqa: E402

JOBS = [f"job-{i:02d}" for i in range(25)]
STATES = ["succeeded"] * 16 + ["failed", "failed", "cancelled", "interrupted"]
CATEGORIES = ["food", "home", "travel", "income", "health", "leisure", "tax", "gifts"]
REGIONS = ["north", "south", "east", "west", "centre", "islands"]

SALES_SECTIONS = [
    {"title": "Totals", "show": "figure",
     "query": "SELECT count(*) AS sales, sum(amount) AS amount, avg(amount) AS average "
              "FROM sales WHERE day BETWEEN :start AND :end"},
    {"title": "Per category", "show": "bar",
     "query": "SELECT category, sum(amount) AS amount, count(*) AS sales FROM sales "
              "WHERE day BETWEEN :start AND :end GROUP BY category ORDER BY amount DESC"},
    {"title": "Per day", "show": "line",
     "query": "SELECT day, sum(amount) AS amount FROM sales WHERE day BETWEEN :start AND :end "
              "GROUP BY day ORDER BY day"},
    {"title": "Per region and category",
     "query": "SELECT region, category, count(*) AS sales, round(sum(amount), 2) AS amount, "
              "max(amount) AS largest FROM sales WHERE day BETWEEN :start AND :end "
              "GROUP BY region, category ORDER BY region, category"},
]


def build_runs(home: Home, n: int, days: int) -> None:
    RunStore(home.runs_db).close()  # the real schema, through the store's migrations
    rnd = random.Random(1)
    now = time.time()
    rows = []
    for i in range(1, n + 1):
        created = now - rnd.uniform(0, days * 86400 - 3600)
        state = rnd.choice(STATES)
        attempt = 1 if rnd.random() < 0.85 else rnd.randint(2, 4)
        took = rnd.expovariate(1 / 20)
        rows.append((i, rnd.choice(JOBS), "demo", "schedule", state, attempt, 4, created,
                     created + 0.5, created + 0.5 + took, created + 0.5 + took,
                     "disk full\nTraceback (most recent call last): ..." if state == "failed"
                     else None))
    conn = sqlite3.connect(home.runs_db)
    with conn:
        conn.executemany(
            "INSERT INTO runs (id, job, kind, trigger, state, attempt, max_attempts, created_at,"
            " started_at, finished_at, updated_at, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.close()


def build_sales(path: Path, n: int, days: int) -> None:
    rnd = random.Random(2)
    today = date.today()
    day_names = [(today - timedelta(days=d)).isoformat() for d in range(days)]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, day TEXT, category TEXT, "
                 "region TEXT, amount REAL)")
    with conn:
        conn.executemany("INSERT INTO sales (day, category, region, amount) VALUES (?,?,?,?)",
                         ((rnd.choice(day_names), rnd.choice(CATEGORIES), rnd.choice(REGIONS),
                           round(rnd.uniform(-50, 500), 2)) for _ in range(n)))
    conn.close()


def cli_time(db: Path, queries: list[str], values: dict, out: Path) -> float:
    """Wall time of the sqlite3 CLI running ``queries`` with the same named parameters."""
    lines = [".parameter init"]
    for k, v in values.items():
        literal = f"'{v}'" if isinstance(v, str) else repr(v)
        lines.append(f'.parameter set :{k} "{literal}"' if isinstance(v, str)
                     else f".parameter set :{k} {literal}")
    lines += [q.strip().rstrip(";") + ";" for q in queries]
    script = "\n".join(lines) + "\n"
    start = time.perf_counter()
    with open(out, "w") as f:
        subprocess.run(["sqlite3", "-readonly", "-csv", "-header", str(db)], input=script,
                       text=True, stdout=f, check=True)
    return time.perf_counter() - start


def report_time(home: Home, job: str, raw: dict) -> tuple[float, dict]:
    kind = get_kind("report")
    params = kind.parse_params(raw)
    ctx = JobContext(run_id=1, job=job, home=home, sink=lambda m: None)
    start = time.perf_counter()
    result = kind().run(ctx, params)
    return time.perf_counter() - start, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = ap.parse_args()
    if not shutil.which("sqlite3"):
        print("the sqlite3 command-line shell is needed for the reference figures")
        return 2

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="trayjobs-bench-report-"))
    home = Home.under(tmp).ensure()
    period = "last_30_days"
    values = resolve_period(period).params()
    t = time.perf_counter()
    build_runs(home, args.runs, 30)
    build_sales(home.default_data_db, args.rows, 60)
    print(f"built {args.runs:,} runs and {args.rows:,} sales rows in {time.perf_counter() - t:.1f} s "
          f"({tmp})")
    print(f"sqlite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}, period {period}\n")

    cases = [
        ("Job activity", home.runs_db, [s.query for s in JOB_ACTIVITY],
         "activity", {"builtin": "job-activity", "period": period}),
        ("Sales group-by", home.default_data_db, [s["query"] for s in SALES_SECTIONS],
         "sales", {"title": "Sales", "period": period, "sections": SALES_SECTIONS}),
    ]
    ok = True
    print(f"{'report':<16} {'rows':>10} {'sqlite3 CLI':>12} {'report':>9} {'ratio':>6} "
          f"{'limit':>8}  files")
    for name, db, queries, job, raw in cases:
        ref = cli_time(db, queries, values, tmp / f"{job}-cli.csv")
        took, result = report_time(home, job, raw)
        limit = 1.5 * ref + 1.0
        ok &= took <= limit
        rows = sum(s["rows"] for s in result["sections"])
        kinds = ",".join(sorted({Path(p).suffix[1:] for p in result["outputs"]}))
        print(f"{name:<16} {rows:>10,} {ref:>10.2f} s {took:>7.2f} s {took / ref:>5.2f}x "
              f"{limit:>6.2f} s  {kinds} {'ok' if took <= limit else 'OVER'}")
    print(f"\ntarget: report <= 1.5 x CLI + 1 s: {'met' if ok else 'NOT met'}")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
