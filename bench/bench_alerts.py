"""Benchmark what alerting adds to a run's end on the engine's path.

A real engine (worker mode: consumer threads, warm job processes, the run store on
disk) runs N failing ``demo`` runs one after another (one attempt, no steps), each
making a failure message for one channel, a heartbeat ``/start`` and a ``/fail`` ping,
in three set-ups, interleaved round by round:

- ``reference``: no channel, no ping (the engine as it was);
- ``down``: the channel and the ping point at a loopback port where nothing listens,
  so every delivery fails and is retried (the outbox keeps growing);
- ``slow``: a loopback HTTP server that answers each request after 2 s, so the alerts
  thread is always busy sending.

Measured per run, on the consumer thread: ``Engine._record`` (the attempt's end in the
store, hooks, and the ``RunChanged`` event with all its handlers) and, within it,
``Alerts.on_event`` alone. Result: the median and p90 of each, and the added cost
(median of ``_record`` with alerts minus the reference's). Target: alerting adds
<= 1 ms.

    .venv/bin/python bench/bench_alerts.py            # 3 rounds of 100 runs per set-up
    .venv/bin/python bench/bench_alerts.py --quick    # 1 round of 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import line, machine, percentile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from alert_servers import HTTPRecorder, free_port  # noqa: E402

JOB = """
[jobs.nightly]
kind = "demo"
steps = 0
step_time = 0
fail_times = 1000000
retry = {{ attempts = 1 }}
{ping}
"""


def config(kind: str, port: int) -> str:
    if kind == "reference":
        return JOB.format(ping="")
    return (f'[alerts.me]\nurl = "json://127.0.0.1:{port}/hook"\n'
            + JOB.format(ping=f'ping = "http://127.0.0.1:{port}/ping/uuid"'))


def measure(kind: str, port: int, runs: int) -> tuple[list[float], list[float], int]:
    from trayjobs.alerts.service import Alerts
    from trayjobs.engine.engine import Engine
    from trayjobs.engine.events import RunChanged
    from trayjobs.paths import Home

    home = Home.under(Path(tempfile.mkdtemp(prefix="bench-alerts-")) / "home").ensure()
    home.config_file.write_text(config(kind, port), encoding="utf-8")
    records: list[float] = []
    alerting: list[float] = []
    original = Alerts.on_event

    def timed(self, ev):  # the engine-path cost of alerts alone
        t = time.perf_counter()
        try:
            return original(self, ev)
        finally:
            if isinstance(ev, RunChanged) and ev.final:
                alerting.append(time.perf_counter() - t)

    Alerts.on_event = timed
    try:
        eng = Engine(home, workers=1, mode="worker", grace=1.0)
    finally:
        Alerts.on_event = original
    record = eng._record

    def timed_record(*a, **kw):
        t = time.perf_counter()
        try:
            return record(*a, **kw)
        finally:
            records.append(time.perf_counter() - t)

    eng._record = timed_record
    done = threading.Event()
    eng.bus.subscribe(lambda ev: isinstance(ev, RunChanged) and ev.final and done.set())
    eng.start()
    try:
        for _ in range(3):  # warm-up: job process, imports, first inserts
            done.clear()
            eng.submit("nightly")
            done.wait(30)
        records.clear()
        alerting.clear()
        for _ in range(runs):
            done.clear()
            eng.submit("nightly")
            if not done.wait(30):
                raise RuntimeError("a run did not end within 30 s")
        pending = sum(1 for r in eng.store.outbox_log(limit=100_000) if r["state"] == "pending")
    finally:
        eng.stop(timeout=5)
        eng.close()
    return records, alerting, pending


def ms(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:.3f} ms, "
            f"p90 {percentile(values, 90) * 1000:.3f} ms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.runs, args.rounds = 30, 1
    print(f"# {machine()}; {args.rounds} round(s) of {args.runs} runs per set-up")
    slow = HTTPRecorder().start()
    slow.delay = 2.0
    dead = free_port()
    got: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in
                                                       ("reference", "down", "slow")}
    try:
        for _ in range(args.rounds):
            for kind, port in (("reference", 0), ("down", dead), ("slow", slow.port)):
                records, alerting, pending = measure(kind, port, args.runs)
                got[kind][0].extend(records)
                got[kind][1].extend(alerting)
                if kind != "reference":
                    print(f"  {kind}: {pending} message(s) and pings still waiting in the "
                          f"outbox at the end of the round")
    finally:
        slow.stop()
    ref = statistics.median(got["reference"][0])
    ok_all = True
    for kind in ("down", "slow"):
        records, alerting = got[kind]
        added = statistics.median(records) - ref
        ok = added <= 0.001 and statistics.median(alerting) <= 0.001
        ok_all &= ok
        print(f"{kind}: a run's end {ms(records)}; of it, Alerts.on_event {ms(alerting)}")
        print(line(f"{kind}: added to a run's end", f"{added * 1000:+.3f} ms", "reference",
                   f"{ms(got['reference'][0])}", statistics.median(records) / ref,
                   "<= 1 ms", ok))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
