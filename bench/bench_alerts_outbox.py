"""Benchmark a delivery round of the alerts sender when a channel is dead and its messages
pile up in the outbox.

A real run store on disk holds N pending messages (10,000 by default) for one channel
whose server is down: the oldest has failed and waits an hour for its next try, the
others wait behind it, in order. Two figures, each next to the reference, an empty
outbox, measured in the same run:

- ``round``: one ``Sender.run_once`` (what the alerts thread does each time it wakes: a
  message queued, a channel's next try due, the stale timer), median and p90 of R rounds;
- ``idle thread``: the sender's own thread, started with the oldest message alone (its
  start tries it once, as a restart does: it fails and waits an hour), then the others
  queued behind it; watched for S seconds: how many rounds it makes and the CPU time the
  process spends. Nothing can go for an hour, so it should sleep.

    .venv/bin/python bench/bench_alerts_outbox.py            # 10,000 rows, 30 rounds, 3 s
    .venv/bin/python bench/bench_alerts_outbox.py --rows 1000 --rounds 10 --idle 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import line, machine, percentile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from alert_servers import free_port  # noqa: E402


def queue_behind(store, rows: int, now: float, *, start: int = 0) -> None:
    """Messages ``start`` .. ``rows`` of the dead channel, queued one a second until now."""
    store.outbox_add({"channel": "dead", "event": "failure", "job": "nightly",
                      "run_id": i + 1, "dedupe": f"dead:failure:run:{i + 1}",
                      "title": "nightly failed", "body": "nightly failed.\n\n" + "x" * 300,
                      "created_at": now - rows + i, "due_at": now - rows + i}
                     for i in range(start, rows))


def setup(root: Path, rows: int):
    from trayjobs.alerts.service import Alerts
    from trayjobs.config import parse_config
    from trayjobs.store import RunStore

    store = RunStore(root / "runs.db")
    cfg = parse_config(f'[alerts.dead]\nurl = "json://127.0.0.1:{free_port()}/hook"\n'
                       '[jobs.nightly]\nkind = "demo"\n')
    assert not cfg.errors, cfg.errors
    now = time.time()
    if rows:
        queue_behind(store, rows, now)
        head = store.outbox_log(channel="dead", limit=rows)[-1]
        store.outbox_tried(head["id"], error="connection refused", due_at=now + 3600)
    alerts = Alerts(store, lambda: cfg, gather=2.0, backoff=3600.0)
    return store, alerts


def rounds(root: Path, rows: int, n: int) -> list[float]:
    store, alerts = setup(root, rows)
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            alerts.sender.run_once()
            out.append(time.perf_counter() - t0)
    finally:
        store.close()
    return out


def idle(root: Path, rows: int, seconds: float) -> tuple[int, float]:
    """The thread starts with the oldest message alone (its start tries it once: it fails
    and waits an hour); then the others are queued behind it, as runs end meanwhile."""
    store, alerts = setup(root, min(rows, 1))
    count = 0
    real = alerts.sender.extra  # the stale timer: asked once a round

    def counted(now):
        nonlocal count
        count += 1
        return real(now)

    alerts.sender.extra = counted
    try:
        alerts.start()
        time.sleep(0.5)  # the start's one try of the dead channel
        if rows > 1:
            queue_behind(store, rows, time.time(), start=1)
            alerts.sender.wake()
        count, cpu0 = 0, time.process_time()
        time.sleep(seconds)
        cpu = time.process_time() - cpu0
        n = count
        alerts.stop()
    finally:
        store.close()
    return n, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--idle", type=float, default=3.0, help="seconds the idle thread is watched")
    args = ap.parse_args()
    print(f"# {machine()}; {args.rows:,} pending rows for a dead channel")
    with tempfile.TemporaryDirectory() as tmp:
        ref = rounds(Path(tmp) / "ref", 0, args.rounds)
        full = rounds(Path(tmp) / "full", args.rows, args.rounds)
        ms = lambda v: f"median {statistics.median(v) * 1e3:.2f} ms, p90 {percentile(v, 90) * 1e3:.2f} ms"  # noqa: E731
        print(line("round", ms(full), "empty outbox", ms(ref),
                   statistics.median(full) / statistics.median(ref),
                   "<= 2 ms", statistics.median(full) <= 0.002))
        n_ref, cpu_ref = idle(Path(tmp) / "ref2", 0, args.idle)
        n, cpu = idle(Path(tmp) / "full2", args.rows, args.idle)
        print(line(f"idle thread, {args.idle:g} s", f"{n} rounds, {cpu * 1e3:.0f} ms CPU",
                   "empty outbox", f"{n_ref} rounds, {cpu_ref * 1e3:.0f} ms CPU",
                   (cpu / cpu_ref) if cpu_ref else None, "<= 5 rounds", n <= 5))


if __name__ == "__main__":
    main()
