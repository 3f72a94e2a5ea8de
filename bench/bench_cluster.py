"""Benchmark several machines' trayjobs on shared servers against raw RedisHuey.

Every "machine" is a real ``trayjobs worker`` process with a home of its own
(``[settings] workers = 1``), all on one real redis-server (the queue) and one real
PostgreSQL (the run history), both started here on loopback in a temporary folder.

1. ``throughput``: N no-op runs (a ``demo`` job with ``steps = 0``, ``overlap =
   "parallel"``) submitted from a client home (``Control.submit``, as ``trayjobs run``
   does), with 1, 2 and 4 workers; timed from the first submit until the history holds N
   succeeded runs. The reference: W processes, each a raw ``RedisHuey`` consumer with one
   thread worker on the same redis-server, a no-op task that counts itself in Redis, N
   tasks enqueued; timed to the last one counted. Targets: >= 0.5x raw with the same
   workers, and 2 workers >= 1.6x 1 worker. Best of ``--rounds`` rounds, each a pair
   (trayjobs and raw one after the other, which goes first alternating), with the
   median and spread of the pairs' own ratios; and the CPU time per run of every process
   involved (workers and their job processes, redis-server, PostgreSQL, this client),
   which the machine's other load does not inflate as it does wall time.
   A third line, ``RedisHuey + history``, is the floor of any design that keeps one row
   per run in PostgreSQL, as the issue asks ("one list of runs", none lost): the same
   raw RedisHuey workers, but the client inserts a run row before each enqueue (its id is
   the payload) and the task marks it started, then ended (three autocommitted
   statements per run, prepared, no trayjobs code). What trayjobs adds beyond that floor
   is its own cost; what the floor loses to raw RedisHuey is the cost of the history.
2. ``latency``: submit to start with one worker idle for 0.3-0.6 s before each sample:
   the run's ``started_at`` (set by the worker as it claims the run) minus the time
   just before ``submit()``. The reference: the same for a raw RedisHuey task (its
   start noted by the task). Target p50 <= 25 ms. Then the same as a person sees it,
   whole processes: ``trayjobs run noop --wait`` from the client's home, start to exit,
   next to a ``python`` process that enqueues the raw task and waits for it to be done.

    .venv/bin/python bench/bench_cluster.py                 # both, full settings (~5 min)
    .venv/bin/python bench/bench_cluster.py throughput --runs 500 --workers 1,2
    .venv/bin/python bench/bench_cluster.py --store sqlite  # a shared SQLite file instead

The machine's other load is printed with the figures: on 2 cores, 4 workers, Redis,
PostgreSQL and the submitting client share two CPUs.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (ROOT, cpu_seconds, descendants, line, machine, percentile,  # noqa: E402
                     stop_process, wait_until)

sys.path.insert(0, str(ROOT / "tests"))

JOBS = """
[settings]
workers = 1
[cluster]
redis = "{redis}"
database = "{database}"
[jobs.noop]
kind = "demo"
steps = 0
step_time = 0
overlap = "parallel"
retry = {{ attempts = 1 }}
"""

RAW_WORKER = textwrap.dedent("""
    import signal, sys, threading
    from huey import RedisHuey
    huey = RedisHuey("rawbench", url=sys.argv[1], blocking=True, results=False)

    @huey.task()
    def noop(key=None):
        import time
        huey.storage.conn.incr("rawbench:done")
        if key is not None:
            huey.storage.conn.set(f"rawbench:start:{key}", repr(time.time()))

    consumer = huey.create_consumer(workers=1, worker_type="thread")
    consumer.run()
""")

# Raw RedisHuey keeping the least history a run list needs: a row per run, inserted by
# the client, marked started and ended by the task (the floor of any such design).
HISTORY_SQL = """
CREATE TABLE IF NOT EXISTS floor_runs (
    id bigserial PRIMARY KEY, job text NOT NULL, state text NOT NULL,
    queued_at double precision NOT NULL, started_at double precision,
    ended_at double precision, worker text)
"""
HISTORY_WORKER = textwrap.dedent("""
    import os, sys, time
    import psycopg
    from huey import RedisHuey
    huey = RedisHuey("floorbench", url=sys.argv[1], blocking=True, results=False)
    db = psycopg.connect(sys.argv[2], autocommit=True)
    me = f"{os.uname().nodename}:{os.getpid()}"

    @huey.task()
    def noop(run_id):
        db.execute("UPDATE floor_runs SET state = 'running', started_at = %s, worker = %s"
                   " WHERE id = %s AND state = 'queued'", (time.time(), me, run_id))
        db.execute("UPDATE floor_runs SET state = 'succeeded', ended_at = %s"
                   " WHERE id = %s AND worker = %s", (time.time(), run_id, me))

    consumer = huey.create_consumer(workers=1, worker_type="thread")
    consumer.run()
""")


class Servers:
    """A redis-server and (unless ``--store sqlite``) a PostgreSQL, for the whole bench."""

    def __init__(self, work: Path, store: str) -> None:
        from redis_support import RedisServer
        (work / "redis").mkdir()
        self.redis = RedisServer(work / "redis")
        self.redis.start()
        self.pg = None
        self.work = work
        self.store = store
        if store == "postgresql":
            from pg_support import PgServer, pg_bindir
            bindir = pg_bindir()
            if bindir is None:
                sys.exit("PostgreSQL is not installed: apt install postgresql, or --store sqlite")
            self.pg = PgServer(bindir)
            self.pg.start()
        self._n = 0

    def database(self) -> str:
        self._n += 1
        if self.pg is not None:
            name = f"bench{self._n}"
            self.pg.admin(f"CREATE DATABASE {name}")
            return self.pg.url(name)
        return f"sqlite:///{self.work / f'shared{self._n}.db'}"

    def cpu(self, procs) -> float:
        """CPU seconds so far of ``procs`` and their children, of redis-server, of the
        PostgreSQL server (all its processes) and of this process."""
        pids = [p.pid for p in procs] + [self.redis.proc.pid]
        if self.pg is not None:
            pids.append(self.pg.proc.pid)
        total = 0.0
        for pid in pids:
            for q in [pid, *descendants(pid)]:
                total += cpu_seconds(q) or 0.0
        t = os.times()
        return total + t.user + t.system

    def close(self) -> None:
        self.redis.kill()
        if self.pg is not None:
            self.pg.remove()


def write_home(root: Path, redis: str, database: str):
    from trayjobs.paths import Home
    home = Home.under(root).ensure()
    home.config_file.write_text(textwrap.dedent(JOBS.format(redis=redis, database=database)))
    return home


def start_workers(work: Path, servers: Servers, n: int, tag: str, redis_db: int):
    database = servers.database()
    url = servers.redis.url(redis_db)
    servers.redis.client(redis_db).flushdb()
    client = write_home(work / f"{tag}-client", url, database)
    procs = []
    for i in range(n):
        home = write_home(work / f"{tag}-w{i}", url, database)
        env = dict(os.environ, TRAYJOBS_HOME=str(home.root), TRAYJOBS_HOST=f"machine{i}")
        log = open(home.log_dir / "bench-worker.log", "ab")
        procs.append(subprocess.Popen([sys.executable, "-m", "trayjobs", "worker"], env=env,
                                      stdout=log, stderr=log))
        log.close()
    from trayjobs.engine.control import Control
    ctl = Control(client)
    # Warm-up: every worker has registered and its job process has run once.
    wait_until(lambda: len([w for w in ctl.store.workers() if w["state"] == "running"]) >= n,
               60)
    for _ in range(n * 2):
        ctl.submit("noop")
    if not wait_until(lambda: ctl.store.count_runs(state="succeeded") >= n * 2, 120, 0.05):
        sys.exit("the warm-up runs did not finish: see the workers' logs in " + str(work))
    return ctl, procs


def stop_all(ctl, procs) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        stop_process(p)
    ctl.close()


def cluster_throughput(work: Path, servers: Servers, n: int, workers: int,
                       tag: str) -> tuple[float, float]:
    """Runs per second, and CPU milliseconds per run."""
    ctl, procs = start_workers(work, servers, workers, tag, redis_db=1)
    try:
        base = ctl.store.count_runs(state="succeeded")
        cpu0 = servers.cpu(procs)
        t0 = time.perf_counter()
        for _ in range(n):
            ctl.submit("noop")
        submitted = time.perf_counter() - t0
        if not wait_until(lambda: ctl.store.count_runs(state="succeeded") >= base + n, 600,
                          0.02):
            sys.exit(f"only {ctl.store.count_runs(state='succeeded') - base} of {n} runs ended")
        elapsed = time.perf_counter() - t0
        cpu = (servers.cpu(procs) - cpu0) * 1000 / n
        hosts = {w["host"] for w in ctl.store.workers() if w["state"] == "running"}
    finally:
        stop_all(ctl, procs)
    print(f"  trayjobs, {workers} worker{'s' if workers > 1 else ''} on {len(hosts)} hosts: "
          f"{n} runs in {elapsed:.2f} s (submitting took {submitted:.2f} s), "
          f"CPU {cpu:.2f} ms/run", flush=True)
    return n / elapsed, cpu


def raw_workers(servers: Servers, n: int, db: int):
    import redis
    url = servers.redis.url(db)
    servers.redis.client(db).flushdb()
    procs = [subprocess.Popen([sys.executable, "-c", RAW_WORKER, url],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(n)]
    from huey import RedisHuey
    huey = RedisHuey("rawbench", url=url, blocking=True, results=False)

    @huey.task()
    def noop(key=None):
        pass  # runs in the workers (same name), never here

    conn = redis.Redis.from_url(url)
    done = lambda: int(conn.get("rawbench:done") or 0)  # noqa: E731
    for _ in range(n * 2):
        noop()
    if not wait_until(lambda: done() >= n * 2, 60, 0.02):
        sys.exit("raw RedisHuey workers did not start")
    return huey, noop, conn, done, procs


def raw_throughput(servers: Servers, n: int, workers: int) -> tuple[float, float]:
    """Tasks per second, and CPU milliseconds per task."""
    huey, noop, conn, done, procs = raw_workers(servers, workers, db=2)
    try:
        base = done()
        cpu0 = servers.cpu(procs)
        t0 = time.perf_counter()
        for _ in range(n):
            noop()
        submitted = time.perf_counter() - t0
        wait_until(lambda: done() >= base + n, 600, 0.005)
        elapsed = time.perf_counter() - t0
        cpu = (servers.cpu(procs) - cpu0) * 1000 / n
    finally:
        for p in procs:
            stop_process(p)
    print(f"  raw RedisHuey, {workers} worker{'s' if workers > 1 else ''}: {n} tasks in "
          f"{elapsed:.2f} s (enqueueing took {submitted:.2f} s), CPU {cpu:.2f} ms/task",
          flush=True)
    return n / elapsed, cpu


def history_throughput(servers: Servers, n: int, workers: int) -> tuple[float, float]:
    """RedisHuey with a history row per run in PostgreSQL: tasks per second, CPU ms per task."""
    import psycopg
    from huey import RedisHuey
    url = servers.redis.url(5)
    servers.redis.client(5).flushdb()
    database = servers.database()
    db = psycopg.connect(database, autocommit=True)
    db.execute(HISTORY_SQL)
    procs = [subprocess.Popen([sys.executable, "-c", HISTORY_WORKER, url, database],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(workers)]
    huey = RedisHuey("floorbench", url=url, blocking=True, results=False)

    @huey.task()
    def noop(run_id):
        pass  # runs in the workers (same name), never here

    def submit() -> None:
        row = db.execute("INSERT INTO floor_runs (job, state, queued_at) VALUES"
                         " ('noop', 'queued', %s) RETURNING id", (time.time(),)).fetchone()
        noop(row[0])

    def done() -> int:
        return db.execute("SELECT count(*) FROM floor_runs WHERE state = 'succeeded'"
                          ).fetchone()[0]

    try:
        for _ in range(workers * 2):
            submit()
        if not wait_until(lambda: done() >= workers * 2, 60, 0.02):
            sys.exit("RedisHuey + history workers did not start")
        cpu0 = servers.cpu(procs)
        t0 = time.perf_counter()
        for _ in range(n):
            submit()
        submitted = time.perf_counter() - t0
        wait_until(lambda: done() >= workers * 2 + n, 600, 0.02)
        elapsed = time.perf_counter() - t0
        cpu = (servers.cpu(procs) - cpu0) * 1000 / n
    finally:
        for p in procs:
            stop_process(p)
        db.close()
    print(f"  RedisHuey + history, {workers} worker{'s' if workers > 1 else ''}: {n} tasks in "
          f"{elapsed:.2f} s (submitting took {submitted:.2f} s), CPU {cpu:.2f} ms/task",
          flush=True)
    return n / elapsed, cpu


def throughput(args, work: Path, servers: Servers) -> None:
    counts = [int(x) for x in args.workers.split(",")]
    print(f"== throughput: {args.runs} no-op runs, best of {args.rounds} rounds", flush=True)
    best: dict[tuple[str, int], float] = {}
    pairs: dict[int, list[float]] = {w: [] for w in counts}
    cpus: dict[tuple[str, int], list[float]] = {}
    floors: dict[int, list[float]] = {}
    for r in range(args.rounds):
        for w in counts:
            # Each pair under the same load; which side goes first alternates.
            if r % 2 == 0:
                ours, ours_cpu = cluster_throughput(work, servers, args.runs, w, f"r{r}w{w}")
                raw, raw_cpu = raw_throughput(servers, args.runs, w)
            else:
                raw, raw_cpu = raw_throughput(servers, args.runs, w)
                ours, ours_cpu = cluster_throughput(work, servers, args.runs, w, f"r{r}w{w}")
            if servers.pg is not None:
                floor, floor_cpu = history_throughput(servers, args.runs, w)
                best[("floor", w)] = max(best.get(("floor", w), 0), floor)
                floors.setdefault(w, []).append(floor / raw)
                cpus.setdefault(("floor", w), []).append(floor_cpu)
            best[("ours", w)] = max(best.get(("ours", w), 0), ours)
            best[("raw", w)] = max(best.get(("raw", w), 0), raw)
            pairs[w].append(ours / raw)
            cpus.setdefault(("ours", w), []).append(ours_cpu)
            cpus.setdefault(("raw", w), []).append(raw_cpu)
    print(f"\nthroughput ({machine()}; {args.store} history):")
    for w in counts:
        o, r = best[("ours", w)], best[("raw", w)]
        print(line(f"  {w} worker{'s' if w > 1 else ''}", f"{o:.0f} runs/s",
                   "raw RedisHuey", f"{r:.0f} tasks/s", o / r, ">= 0.5", o / r >= 0.5))
        oc, rc = statistics.median(cpus[("ours", w)]), statistics.median(cpus[("raw", w)])
        print(f"    paired rounds: ratio median {statistics.median(pairs[w]):.3f} "
              f"(min {min(pairs[w]):.3f}, max {max(pairs[w]):.3f}); CPU per run, all "
              f"processes: {oc:.2f} ms (raw: {rc:.2f} ms, ratio {rc / oc:.3f})")
        if w in floors:
            f = best[("floor", w)]
            fc = statistics.median(cpus[("floor", w)])
            print(f"    the floor, RedisHuey + a history row per run in PostgreSQL: {f:.0f} "
                  f"tasks/s = {f / r:.2f}x raw (paired median "
                  f"{statistics.median(floors[w]):.3f}), CPU {fc:.2f} ms/task; trayjobs is "
                  f"{o / f:.2f}x the floor")
    if 1 in counts and 2 in counts:
        s = best[("ours", 2)] / best[("ours", 1)]
        raw_s = best[("raw", 2)] / best[("raw", 1)]
        print(line("  scaling 1 -> 2 workers", f"{s:.2f}x", "raw RedisHuey", f"{raw_s:.2f}x",
                   None, ">= 1.6x", s >= 1.6))
        if 1 in floors and 2 in floors:
            print(f"    the floor (RedisHuey + history): "
                  f"{best[('floor', 2)] / best[('floor', 1)]:.2f}x")


RAW_RUN_WAIT = textwrap.dedent("""
    import sys, time
    import redis
    from huey import RedisHuey
    huey = RedisHuey("rawbench", url=sys.argv[1], blocking=True, results=False)

    @huey.task()
    def noop(key=None):
        pass

    conn = redis.Redis.from_url(sys.argv[1])
    before = int(conn.get("rawbench:done") or 0)
    noop()
    while int(conn.get("rawbench:done") or 0) <= before:
        time.sleep(0.001)
""")


def whole_processes(ctl, raw_url: str, samples: int) -> tuple[list[float], list[float]]:
    """Milliseconds, start to exit, of ``trayjobs run noop --wait`` and of the raw
    enqueue-and-wait process, alternating."""
    env = dict(os.environ, TRAYJOBS_HOME=str(ctl.home.root))
    ours, raw = [], []
    for _ in range(samples):
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "trayjobs", "run", "noop", "--wait"],
                              env=env, capture_output=True, text=True)
        ours.append((time.perf_counter() - t0) * 1000)
        if done.returncode != 0:
            sys.exit(f"trayjobs run noop --wait failed: {done.stderr.strip()}")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", RAW_RUN_WAIT, raw_url], check=True)
        raw.append((time.perf_counter() - t0) * 1000)
    return ours, raw


def latency(args, work: Path, servers: Servers) -> None:
    print(f"== latency: {args.samples} samples, one worker idle 0.3-0.6 s before each",
          flush=True)
    ctl, procs = start_workers(work, servers, 1, "lat", redis_db=3)
    huey, noop, conn, done, raw_procs = raw_workers(servers, 1, db=4)
    ours, raw = [], []
    try:
        for i in range(args.samples):
            time.sleep(random.uniform(0.3, 0.6))
            t0 = time.time()
            rid = ctl.submit("noop")
            if not wait_until(lambda: (ctl.store.get_run(rid) or {}).get("started_at"), 30,
                              0.002):
                sys.exit(f"run {rid} did not start within 30 s")
            ours.append((ctl.store.get_run(rid)["started_at"] - t0) * 1000)
            time.sleep(random.uniform(0.3, 0.6))
            t0 = time.time()
            noop(key=i)
            wait_until(lambda: conn.get(f"rawbench:start:{i}"), 30, 0.002)
            raw.append((float(conn.get(f"rawbench:start:{i}")) - t0) * 1000)
        whole, whole_raw = whole_processes(ctl, servers.redis.url(4), max(5, args.samples // 3))
    finally:
        stop_all(ctl, procs)
        for p in raw_procs:
            stop_process(p)
    p50, r50 = statistics.median(ours), statistics.median(raw)
    print(f"\nlatency, submit to start ({machine()}; {args.store} history):")
    print(line("  p50", f"{p50:.1f} ms", "raw RedisHuey", f"{r50:.1f} ms", r50 / p50 if p50 else None,
               "<= 25 ms", p50 <= 25))
    print(f"  p90 {percentile(ours, 90):.1f} ms, max {max(ours):.1f} ms "
          f"(raw: p90 {percentile(raw, 90):.1f} ms, max {max(raw):.1f} ms)")
    w50, wr50 = statistics.median(whole), statistics.median(whole_raw)
    print(line("  whole process, `trayjobs run noop --wait`", f"{w50:.0f} ms "
               f"({min(whole):.0f}-{max(whole):.0f})", "python enqueue + wait (raw)",
               f"{wr50:.0f} ms ({min(whole_raw):.0f}-{max(whole_raw):.0f})", wr50 / w50,
               None, None))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", nargs="?", choices=["throughput", "latency", "all"], default="all")
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--samples", type=int, default=30)
    p.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trayjobs-bench-cluster-"))
    servers = Servers(work, args.store)
    try:
        if args.what in ("throughput", "all"):
            throughput(args, work, servers)
        if args.what in ("latency", "all"):
            latency(args, work, servers)
    finally:
        servers.close()
        if not args.keep:
            import shutil
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
