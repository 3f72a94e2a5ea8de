"""Build a home with a big run history, as a person who has used trayjobs for years has.

``--runs`` finished runs (default 1,000,000) of ``--jobs`` jobs (default 200) spread over
``--days`` days (default 730), written through the store (its transaction, so the
run_hours triggers keep the Metrics page's table as real runs do). The config names all
but the last tenth of the jobs: the rest were removed since, their runs stay. About one
run in 25 failed with a traceback, one in 200 has a big one (~30 KB) and a big result
(~50 KB); one in 100 has a log of 200 lines; run ``--big-log-run`` (the newest failed
run of ``job-000``) has a log of ``--big-log-mb`` MB (default 100).

    python bench/make_big_history.py HOME_DIR [--runs 1000000] [--jobs 200] [--days 730]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STATES = ["succeeded"] * 22 + ["failed", "cancelled", "skipped"]
FRAME = ('  File "/home/me/jobs/import_{i}.py", line {n}, in step_{n}\n'
         "    rows = parse(chunk, schema=schema, strict=True)\n")


def traceback(i: int, frames: int) -> str:
    body = "".join(FRAME.format(i=i, n=n) for n in range(frames))
    return ("Traceback (most recent call last):\n" + body
            + f"ValueError: statement-{i}.csv: line 3: amount 'x' is not a number\n")


def config(jobs: int) -> str:
    kept = jobs - jobs // 10
    return "".join(f'[jobs."job-{j:03d}"]\nkind = "demo"\nsteps = 3\nstep_time = 0.01\n'
                   '\n'
                   for j in range(kept))


def build(root: Path, *, runs: int, jobs: int, days: float, big_log_mb: float,
          seed: int = 1) -> dict:
    from trayjobs.paths import Home
    from trayjobs.store import RunStore
    home = Home.under(root).ensure()
    home.config_file.write_text(config(jobs))
    rnd = random.Random(seed)
    store = RunStore(home.runs_db)
    store.migrate()
    now = time.time()
    span = days * 86400
    batch = 20_000
    big_log_run = None
    for start in range(0, runs, batch):
        rows, logs = [], []
        first_id = start + 1
        for i in range(start, min(start + batch, runs)):
            t = now - span + span * i / runs
            job = f"job-{rnd.randrange(jobs):03d}"
            state = rnd.choice(STATES)
            big = i % 200 == 0
            tb = traceback(i, 150 if big else 8) if state == "failed" else None
            err = f"statement-{i}.csv: line 3: amount 'x' is not a number" if tb else None
            result = None
            if state == "succeeded":
                result = {"summary": f"{i % 997} rows imported", "rows": i % 997}
                if big:
                    result["files"] = [f"/home/me/Reports/{i}/part-{k:05d}.csv"
                                       for k in range(1500)]
            took = rnd.uniform(0.2, 120)
            rows.append((job, "demo", "schedule" if i % 3 else "watch", state, 1, 3,
                         t, t, t + took, t + took, err, tb,
                         json.dumps({"files": [f"/home/me/Inbox/statement-{i}.csv"]}),
                         json.dumps(result) if result else None, 1))
            if i % 100 == 0:
                logs += [(first_id + i - start, t + k * 0.01, "info",
                          f"step {k}: read 1000 rows from statement-{i}.csv") for k in range(200)]
        with store.transaction() as conn:
            conn.executemany(
                "INSERT INTO runs (job, kind, trigger, state, attempt, max_attempts,"
                " created_at, started_at, finished_at, updated_at, error, traceback, inputs,"
                " result, seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT INTO run_log (run_id, ts, level, message)"
                             " VALUES (?, ?, ?, ?)", logs)
    if big_log_mb:
        run = store.list_runs(job="job-000", state="failed", limit=1)[0]
        big_log_run = run["id"]
        line = "x" * 90
        n = int(big_log_mb * 1e6 / 100)
        t0 = run["started_at"]
        for s in range(0, n, 50_000):
            store.add_logs(big_log_run, [(t0 + k * 0.001, "info", f"{k:08d} {line}")
                                         for k in range(s, min(s + 50_000, n))])
    store.close()
    return {"home": str(root), "runs": runs, "big_log_run": big_log_run,
            "db_bytes": home.runs_db.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("home")
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--days", type=float, default=730)
    ap.add_argument("--big-log-mb", type=float, default=100)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    out = build(Path(args.home), runs=args.runs, jobs=args.jobs, days=args.days,
                big_log_mb=args.big_log_mb)
    out["seconds"] = round(time.perf_counter() - t, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
