"""Benchmark the engine against raw Huey: throughput, start latency, idle CPU.

1. ``throughput``: N no-op runs (a ``demo`` job with ``steps = 0``) submitted
   through ``Engine.submit`` with W workers: store row, dispatcher, Huey queue,
   claim, a warm job process, outcome recorded. Timed from the first submit to
   the last run's final ``RunChanged(succeeded)`` on the engine's bus. The
   reference is a raw ``huey.SqliteHuey`` (default settings, fresh file) with a
   no-op task and ``create_consumer(workers=W)`` thread workers, N tasks
   enqueued while it consumes, timed to the last task executed; also shown for
   raw Huey with our storage setting (``synchronous=NORMAL``). Target >= 0.5x.
   Best of ``--rounds`` interleaved rounds. The job has ``overlap = "parallel"``
   so that both workers can take its runs; one more engine pass with N/10 runs
   shows whether the per-run cost grows with the backlog.
2. ``latency``: enqueue to job code start. Before each sample the engine sits
   idle for ``--idle`` s (plus up to a sixth more, at random, so that samples do
   not lock onto the phase of Huey's polling); then ``submit()``, and the
   wall-clock ``ts`` of the demo job's first ``ctx.log`` line, written in the
   job process at the top of ``run()``. In the same idle window a raw
   SqliteHuey consumer with default polling, idle just as long, gets one task
   that notes its start time: the reference. Then ``--samples`` samples after
   0-0.1 s idle, through ``Engine.submit`` and through the control socket
   (``Control.submit``, as the CLI does it). Targets p50 <= 25 ms, p99 <= 100 ms.
3. ``idle-cpu``: a real ``python -m trayjobs worker`` over a home with a few
   hourly/daily jobs and a watched folder, nothing due; after warm-up, its CPU
   time and that of its job processes over ``--seconds`` s, from /proc. The
   reference, over the same window, is a raw Huey consumer with default
   settings (it polls). Target <= 0.5 % of one core.

    .venv/bin/python bench/bench_engine.py                  # all three, full settings (~20 min)
    .venv/bin/python bench/bench_engine.py throughput       # or latency, idle-cpu
    .venv/bin/python bench/bench_engine.py --quick          # smoke run, ~1 min
    .venv/bin/python bench/bench_engine.py latency --idle 30 --samples 30 [--via control] [-v]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (ROOT, cpu_seconds, descendants, line, machine, percentile,  # noqa: E402
                     stop_process, wait_until, wakeups)

NOOP_JOB = """
[jobs.noop]
kind = "demo"
steps = 0
step_time = 0
overlap = "{overlap}"
retry = {{ attempts = 1 }}
"""


def write_home(root: Path, config: str):
    from trayjobs.paths import Home
    home = Home.under(root).ensure()
    home.config_file.write_text(textwrap.dedent(config))
    return home


class RunWaiter:
    """Collects final outcomes and first-log times from an engine's bus (no polling)."""

    def __init__(self, bus) -> None:
        from trayjobs.engine.events import RunChanged, RunLog
        self._RunChanged, self._RunLog = RunChanged, RunLog
        self.cond = threading.Condition()
        self.succeeded = 0
        self.failed: list[dict] = []
        self.final: dict[int, str] = {}
        self.first_log: dict[int, float] = {}
        self.unsubscribe = bus.subscribe(self._on_event)

    def _on_event(self, ev) -> None:
        if isinstance(ev, self._RunLog):
            with self.cond:
                if ev.run_id not in self.first_log:
                    self.first_log[ev.run_id] = ev.ts
                    self.cond.notify_all()
        elif isinstance(ev, self._RunChanged) and ev.final:
            with self.cond:
                self.final[ev.run["id"]] = ev.run["state"]
                if ev.run["state"] == "succeeded":
                    self.succeeded += 1
                else:
                    self.failed.append(ev.run)
                self.cond.notify_all()

    def wait_count(self, n: int, timeout: float) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.succeeded + len(self.failed) >= n, timeout):
                raise TimeoutError(f"only {self.succeeded} of {n} runs ended within {timeout:.0f} s")
            if self.failed:
                r = self.failed[0]
                raise RuntimeError(f"run {r['id']} ended {r['state']}: {r.get('error')}")

    def wait_final(self, rid: int, timeout: float) -> str:
        with self.cond:
            if not self.cond.wait_for(lambda: rid in self.final, timeout):
                raise TimeoutError(f"run {rid} did not end within {timeout:.0f} s")
            return self.final[rid]

    def wait_log(self, rid: int, timeout: float) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: rid in self.first_log, timeout):
                raise TimeoutError(f"run {rid} logged nothing within {timeout:.0f} s")
            return self.first_log[rid]


def start_engine(root: Path, workers: int, overlap: str = "parallel"):
    from trayjobs.engine.engine import Engine
    home = write_home(root, NOOP_JOB.format(overlap=overlap))
    eng = Engine(home, workers=workers, grace=1.0)
    waiter = RunWaiter(eng.bus)
    eng.start()
    # Warm-up: every worker's job process has started and run once.
    for _ in range(workers * 2):
        eng.submit("noop")
    waiter.wait_count(workers * 2, 120)
    return eng, waiter


# -- raw Huey ------------------------------------------------------------------------

def raw_huey(path: Path, *, normal: bool):
    from huey import SqliteHuey
    from huey.storage import SqliteStorage

    path.parent.mkdir(parents=True, exist_ok=True)

    class NormalStorage(SqliteStorage):
        def _create_connection(self):
            conn = super()._create_connection()
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

    if normal:
        class NormalHuey(SqliteHuey):
            storage_class = NormalStorage
        return NormalHuey("bench", filename=str(path))
    return SqliteHuey("bench", filename=str(path))


def start_consumer(huey, workers: int):
    """``create_consumer(workers=W).start()`` with defaults, keeping our own signal handlers."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    consumer = huey.create_consumer(workers=workers, worker_type="thread")
    consumer.start()
    for s, h in saved.items():
        signal.signal(s, h)
    return consumer


class Counter:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.n = 0
        self.stamps: dict[int, float] = {}

    def hit(self, key: int | None = None) -> None:
        t = time.time()
        with self.cond:
            self.n += 1
            if key is not None:
                self.stamps[key] = t
            self.cond.notify_all()

    def wait(self, n: int, timeout: float) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.n >= n, timeout):
                raise TimeoutError(f"raw Huey ran {self.n} of {n} tasks within {timeout:.0f} s")


# -- 1. throughput ---------------------------------------------------------------------

def engine_throughput(work: Path, n: int, workers: int) -> float:
    eng, waiter = start_engine(work, workers)
    try:
        base = waiter.succeeded
        t0 = time.perf_counter()
        for _ in range(n):
            eng.submit("noop")
        submitted = time.perf_counter() - t0
        waiter.wait_count(base + n, 600)
        elapsed = time.perf_counter() - t0
    finally:
        eng.stop()
        eng.close()
    print(f"  trayjobs: {n} runs in {elapsed:.2f} s (submitting took {submitted:.2f} s)", flush=True)
    return n / elapsed


def raw_throughput(work: Path, n: int, workers: int, *, normal: bool) -> float:
    huey = raw_huey(work / "raw.db", normal=normal)
    counter = Counter()

    @huey.task()
    def noop():
        counter.hit()

    consumer = start_consumer(huey, workers)
    try:
        for _ in range(workers * 2):  # warm-up, as for the engine
            noop()
        counter.wait(workers * 2, 60)
        base = counter.n
        t0 = time.perf_counter()
        for _ in range(n):
            noop()
        submitted = time.perf_counter() - t0
        counter.wait(base + n, 600)
        elapsed = time.perf_counter() - t0
    finally:
        consumer.stop(graceful=True)
        huey.storage.close()
    what = "NORMAL" if normal else "default"
    print(f"  raw Huey ({what}): {n} tasks in {elapsed:.2f} s (enqueueing took {submitted:.2f} s)",
          flush=True)
    return n / elapsed


def bench_throughput(args, work: Path) -> list[tuple[str, bool | None]]:
    best = {"ours": 0.0, "raw": 0.0, "raw_normal": 0.0}
    for r in range(args.rounds):
        print(f"throughput round {r + 1}/{args.rounds}", flush=True)
        d = work / f"tp-{r}"
        best["raw"] = max(best["raw"], raw_throughput(d / "raw", args.runs, args.workers, normal=False))
        best["ours"] = max(best["ours"], engine_throughput(d / "home", args.runs, args.workers))
        best["raw_normal"] = max(best["raw_normal"],
                                 raw_throughput(d / "rawn", args.runs, args.workers, normal=True))
        shutil.rmtree(d, ignore_errors=True)
    # The same engine with a tenth of the backlog: a rate that falls as N grows means a
    # per-run cost that grows with the number of waiting runs.
    small = max(args.workers * 10, args.runs // 10)
    small_rate = engine_throughput(work / "tp-small", small, args.workers)
    ratio = best["ours"] / best["raw"]
    out = [
        (line(f"throughput, {args.runs} no-op runs, {args.workers} workers",
              f"{best['ours']:,.0f} runs/s", "raw SqliteHuey defaults", f"{best['raw']:,.0f} tasks/s",
              ratio, ">= 0.5x", ratio >= 0.5), ratio >= 0.5),
        (line("  same, against raw SqliteHuey with synchronous=NORMAL (our storage setting)",
              f"{best['ours']:,.0f} runs/s", "raw SqliteHuey NORMAL",
              f"{best['raw_normal']:,.0f} tasks/s", best["ours"] / best["raw_normal"]), None),
        (f"  scaling: {small:,} runs at {small_rate:,.0f} runs/s, {args.runs:,} runs at "
         f"{best['ours']:,.0f} runs/s ({best['ours'] / small_rate:.2f}x)", None),
    ]
    return out


# -- 2. latency ------------------------------------------------------------------------

def bench_latency(args, work: Path) -> list[tuple[str, bool | None]]:
    from trayjobs.engine.control import Control

    eng, waiter = start_engine(work / "home", args.workers, overlap="queue")
    ctl = Control(eng.home)  # a second process's view: store + queue, tells the engine by socket
    huey = raw_huey(work / "raw.db", normal=False)
    counter = Counter()

    @huey.task()
    def mark(key):
        counter.hit(key)

    consumer = start_consumer(huey, args.workers)
    seq = [0]

    def ours(submitter) -> float:
        t0 = time.time()
        rid = submitter.submit("noop")
        ts = waiter.wait_log(rid, 60)
        waiter.wait_final(rid, 60)
        return ts - t0

    def raw() -> float:
        seq[0] += 1
        key = seq[0]
        t0 = time.time()
        mark(key)
        counter.wait(key + warm, 60)
        return counter.stamps[key] - t0

    warm = 0
    try:
        for _ in range(args.workers):  # the raw consumer's warm-up
            warm += 1
            mark(-warm)
        counter.wait(warm, 60)
        submitter = ctl if args.via == "control" else eng
        idle_ours, idle_raw = [], []
        t_start = time.monotonic()
        print(f"latency: {args.samples} samples after {args.idle:g} s idle each "
              f"(~{args.samples * args.idle / 60:.0f} min), via {args.via}", flush=True)
        rnd = random.Random(args.seed)
        for i in range(args.samples):
            # The jitter keeps the samples from locking onto the phase of raw Huey's polling
            # (its backoff restarts at its last task, as our idle time does).
            time.sleep(args.idle + rnd.uniform(0, args.idle / 6))
            a = ours(submitter)
            b = raw()
            idle_ours.append(a)
            idle_raw.append(b)
            if args.verbose:
                print(f"  sample {i + 1:3}: trayjobs {a * 1000:8.1f} ms   raw Huey {b * 1000:8.1f} ms"
                      f"   (t+{time.monotonic() - t_start:.0f} s, load {os.getloadavg()[0]:.2f})",
                      flush=True)
        hot = {"engine": [], "control": [], "raw": []}
        for _ in range(args.samples):
            time.sleep(rnd.uniform(0, 0.1))
            hot["engine"].append(ours(eng))
            hot["control"].append(ours(ctl))
            hot["raw"].append(raw())
    finally:
        consumer.stop(graceful=True)
        huey.storage.close()
        ctl.close()
        eng.stop()
        eng.close()

    def ms(v: float) -> str:
        return f"{v * 1000:.1f} ms"

    p50, p99 = percentile(idle_ours, 50), percentile(idle_ours, 99)
    r50, r99 = percentile(idle_raw, 50), percentile(idle_raw, 99)
    ok50, ok99 = p50 <= 0.025, p99 <= 0.100
    via = "Engine.submit" if args.via == "engine" else "Control.submit (control socket)"
    out = [
        (line(f"start latency p50 after {args.idle:g} s idle ({len(idle_ours)} samples, {via})",
              ms(p50), "raw Huey, default polling", ms(r50), p50 / r50, "<= 25 ms", ok50), ok50),
        (line(f"start latency p99 after {args.idle:g} s idle", ms(p99), "raw Huey, default polling",
              ms(r99), p99 / r99, "<= 100 ms", ok99), ok99),
        (f"  after {args.idle:g} s idle, all samples: trayjobs min {ms(min(idle_ours))} max "
         f"{ms(max(idle_ours))}; raw Huey min {ms(min(idle_raw))} max {ms(max(idle_raw))}", None),
    ]
    for key, label in (("engine", "Engine.submit"), ("control", "Control.submit")):
        v = hot[key]
        out.append((line(f"  start latency after 0-0.1 s idle, {label} p50/p99",
                         f"{ms(percentile(v, 50))} / {ms(percentile(v, 99))}", "raw Huey",
                         f"{ms(percentile(hot['raw'], 50))} / {ms(percentile(hot['raw'], 99))}",
                         percentile(v, 50) / percentile(hot["raw"], 50)), None))
    return out


# -- 3. idle CPU -------------------------------------------------------------------------

IDLE_JOBS = """
[settings]
workers = 2

[jobs.hourly]
kind = "demo"
every = "1h"

[jobs.daily]
kind = "demo"
cron = "0 3 * * *"

[jobs.twice-a-day]
kind = "demo"
every = "12h"
steps = 3

[jobs.by-hand]
kind = "demo"

[jobs.inbox]
kind = "import"
table = "rows"
watch = {{ folder = "{inbox}", patterns = ["*.csv"] }}
"""

RAW_CONSUMER = """
import sys, time
from huey import SqliteHuey
huey = SqliteHuey("idle", filename=sys.argv[1])

@huey.task()
def noop():
    pass

huey.create_consumer(workers=int(sys.argv[2])).run()
"""


def group_cpu(pid: int) -> tuple[float, int, int]:
    """CPU seconds and context switches of ``pid`` and its live descendants, and how many."""
    pids = [pid, *descendants(pid)]
    return (sum(cpu_seconds(p) or 0.0 for p in pids), sum(wakeups(p) for p in pids), len(pids) - 1)


def bench_idle_cpu(args, work: Path) -> list[tuple[str, bool | None]]:
    (work / "inbox").mkdir(parents=True)
    home = write_home(work / "home", IDLE_JOBS.format(inbox=work / "inbox"))
    env = dict(os.environ, TRAYJOBS_HOME=str(home.root), PYTHONPATH=str(ROOT))
    env.pop("QT_QPA_PLATFORM", None)
    log = open(work / "worker.log", "wb")
    ours = subprocess.Popen([sys.executable, "-m", "trayjobs", "worker"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=work)
    raw = subprocess.Popen([sys.executable, "-c", RAW_CONSUMER, str(work / "raw.db"), str(args.workers)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    sleeper = subprocess.Popen(["sleep", str(int(args.seconds + args.warmup + 60))])
    try:
        if not wait_until(lambda: len(descendants(ours.pid)) >= 2 or ours.poll() is not None, 60):
            raise RuntimeError("the worker's job processes did not start")
        if ours.poll() is not None:
            raise RuntimeError(f"trayjobs worker exited: {(work / 'worker.log').read_text()}")
        print(f"idle CPU: warm-up {args.warmup:g} s, then {args.seconds:g} s of measurement", flush=True)
        time.sleep(args.warmup)
        a0, r0, s0 = group_cpu(ours.pid), group_cpu(raw.pid), group_cpu(sleeper.pid)
        t0 = time.monotonic()
        time.sleep(args.seconds)
        a1, r1, s1 = group_cpu(ours.pid), group_cpu(raw.pid), group_cpu(sleeper.pid)
        dt = time.monotonic() - t0
        for p in (ours, raw):
            if p.poll() is not None:
                raise RuntimeError(f"process {p.args[:3]} exited early with {p.returncode}")
    finally:
        stop_process(ours)
        stop_process(raw)
        stop_process(sleeper)
        log.close()

    def pct(b, e) -> float:
        return 100 * (e[0] - b[0]) / dt

    def wps(b, e) -> float:
        return (e[1] - b[1]) / dt

    mine, ref, floor = pct(a0, a1), pct(r0, r1), pct(s0, s1)
    ok = mine <= 0.5
    return [
        (line(f"idle CPU of `trayjobs worker` + {a1[2]} job processes over {dt:.0f} s",
              f"{mine:.3f} % of a core, {wps(a0, a1):.1f} wakeups/s",
              "raw Huey consumer, defaults", f"{ref:.3f} %, {wps(r0, r1):.1f} wakeups/s",
              mine / ref if ref else float("nan"), "<= 0.5 %", ok), ok),
        (f"  `sleep` over the same window: {floor:.3f} % ({wps(s0, s1):.1f} wakeups/s); "
         f"CPU time is counted in {1000 / os.sysconf('SC_CLK_TCK'):.0f} ms ticks", None),
    ]


# -- main ---------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="*", metavar="{throughput,latency,idle-cpu}",
                    help="which benchmarks (default: all three)")
    ap.add_argument("--quick", action="store_true", help="a fast smoke run: small N, short idle")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=None, help="no-op runs for throughput (2000)")
    ap.add_argument("--rounds", type=int, default=None, help="throughput rounds, best kept (3)")
    ap.add_argument("--idle", type=float, default=None, help="idle seconds before each latency sample (30)")
    ap.add_argument("--samples", type=int, default=None, help="latency samples (30)")
    ap.add_argument("--via", choices=["engine", "control"], default="engine",
                    help="submit idle latency samples through Engine.submit or the control socket")
    ap.add_argument("--seconds", type=float, default=None, help="idle CPU measuring window (60)")
    ap.add_argument("--warmup", type=float, default=None, help="idle CPU warm-up (10)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the idle-time jitter")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every latency sample")
    ap.add_argument("--dir", default=None, help="where to make the temporary folder")
    args = ap.parse_args()
    q = args.quick
    for name, full, quick in (("runs", 2000, 200), ("rounds", 3, 1), ("idle", 30.0, 2.0),
                              ("samples", 30, 5), ("seconds", 60.0, 10.0), ("warmup", 10.0, 3.0)):
        if getattr(args, name) is None:
            setattr(args, name, quick if q else full)
    every = ["throughput", "latency", "idle-cpu"]
    what = args.what or every
    if set(what) - set(every):
        ap.error(f"unknown benchmark(s): {', '.join(sorted(set(what) - set(every)))}")

    work = Path(tempfile.mkdtemp(prefix="bench-engine-", dir=args.dir))
    os.environ["TRAYJOBS_HOME"] = str(work / "home")
    results: list[tuple[str, bool | None]] = []
    try:
        if "throughput" in what:
            results += bench_throughput(args, work)
        if "idle-cpu" in what:
            results += bench_idle_cpu(args, work / "idle")
        if "latency" in what:
            results += bench_latency(args, work / "latency")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    for text, _ok in results:
        print(text)
    print(f"({machine()}{'; --quick' if q else ''})")
    return 0 if all(ok is not False for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
