"""Benchmark: run conditions, as a person sees them, with whole processes.

A private ``dbus-daemon`` stands for the system bus (``DBUS_SYSTEM_BUS_ADDRESS`` points at
it) and a stand-in UPower and NetworkManager run on it in a process of their own (the
tests' :mod:`system_bus_support`); ``trayjobs worker`` runs the jobs; runs are started
with the real CLI.

1. Start latency: a run waits on battery (``trayjobs run JOB --when-ready``); the charger
   is plugged in (the stand-in emits ``PropertiesChanged``); the figure is the time from
   that signal to the run's ``started_at``. The reference is the same job started with
   ``trayjobs run JOB`` (no conditions): from the run's creation to its start, the
   engine's own dispatch time. Target: p50 <= 200 ms.
2. Idle CPU with 20 waiting jobs: 20 jobs wait on battery while the battery drains (a
   ``Percentage`` change every 10 s, faster than UPower sends them); the figure is the CPU
   time of the worker and its job processes over quiet windows, as a share of one core.
   The reference is the same worker with the same 20 jobs and nothing waiting (its own
   idle cost: the consumer's threads). Target: the 20 waiting runs add <= 0.1 % of a core
   (no polling).

    .venv/bin/python bench/bench_conditions.py
    .venv/bin/python bench/bench_conditions.py --samples 30 --window 20
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

from _common import (ROOT, cpu_seconds, descendants, line, machine, percentile,
                     stop_process, wait_until)

from trayjobs.instance import InstanceLock  # noqa: E402
from trayjobs.paths import Home  # noqa: E402

SUPPORT = ROOT / "tests" / "system_bus_support.py"
sys.path.insert(0, str(ROOT / "tests"))
from system_bus_support import start_bus  # noqa: E402

JOBS = 20


def config(conditions: bool) -> str:
    when = 'when = { ac_power = true }\n' if conditions else ""
    out = f'[jobs.latency]\nkind = "command"\ncommand = ["true"]\n{when}'
    for i in range(JOBS):
        out += f'[jobs.backup-{i}]\nkind = "command"\ncommand = ["true"]\nevery = "1d"\n{when}'
    return out


class Setup:
    def __init__(self, work: Path, address: str) -> None:
        self.work = work
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("PYTHONDONTWRITEBYTECODE", "QT_QPA_PLATFORM")}
        self.env.update(TRAYJOBS_HOME=str(work / "home"), DBUS_SYSTEM_BUS_ADDRESS=address,
                        PYTHONPATH=str(ROOT))
        self.home = Home.under(work / "home").ensure()
        self.db = self.home.runs_db

    def cli(self, *args: str) -> str:
        return subprocess.run([sys.executable, "-m", "trayjobs", *args], env=self.env,
                              capture_output=True, text=True, check=True).stdout

    def run(self, run_id: int) -> dict:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            return dict(row) if row else {}
        finally:
            conn.close()

    def worker(self, text: str) -> subprocess.Popen:
        self.home.config_file.write_text(text)
        log = open(self.work / "worker.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "worker"], env=self.env,
                                stdout=log, stderr=log)
        log.close()
        if not wait_until(lambda: InstanceLock(self.home).is_locked() or proc.poll() is not None,
                          30) or proc.poll() is not None:
            raise SystemExit("the worker did not start: " + (self.work / "worker.log").read_text())
        return proc


class Power:
    """The stand-in services' process; ``send`` returns when the signal was emitted."""

    def __init__(self, address: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(SUPPORT), address],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def send(self, cmd: str) -> float:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline().split()[1])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


def tree_cpu(pid: int) -> float:
    return sum(cpu_seconds(p) or 0.0 for p in [pid, *descendants(pid)])


def latency(s: Setup, power: Power, samples: int) -> tuple[list[float], list[float]]:
    waited, direct = [], []
    for _ in range(samples):
        power.send("battery 50")
        time.sleep(0.3)  # the worker hears it (harness side: no event reaches this process)
        rid = int(s.cli("run", "latency", "--when-ready").strip())
        if not wait_until(lambda: s.run(rid).get("state") == "waiting", 10, 0.02):
            raise SystemExit(f"run {rid} did not wait: {s.run(rid)}")
        sent = power.send("ac")
        wait_until(lambda: s.run(rid).get("started_at"), 10, 0.01)
        waited.append(s.run(rid)["started_at"] - sent)
        rid = int(s.cli("run", "latency").strip())
        wait_until(lambda: s.run(rid).get("started_at"), 10, 0.01)
        r = s.run(rid)
        direct.append(r["started_at"] - r["created_at"])
        wait_until(lambda: s.run(rid).get("state") == "succeeded", 10, 0.02)
    return waited, direct


def idle_cpu(s: Setup, power: Power | None, pid: int, window: float, windows: int) -> list[float]:
    out = []
    pct = 90.0
    for _ in range(windows):
        start_cpu, start = tree_cpu(pid), time.monotonic()
        while time.monotonic() - start < window:
            time.sleep(max(0.0, min(10.0, window - (time.monotonic() - start))))
            if power is not None:
                pct = max(5.0, pct - 1)
                power.send(f"battery {pct}")  # the battery drains: UPower says so
        out.append(100.0 * (tree_cpu(pid) - start_cpu) / (time.monotonic() - start))
    return out


def spread(values: list[float], unit: str, scale: float = 1.0) -> str:
    v = [x * scale for x in values]
    return (f"p50 {statistics.median(v):.2f} {unit} (p90 {percentile(v, 90):.2f}, "
            f"min {min(v):.2f}, max {max(v):.2f}, n={len(v)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=20, help="latency samples (at least 5)")
    ap.add_argument("--window", type=float, default=30.0, help="seconds per idle window")
    ap.add_argument("--windows", type=int, default=3, help="idle windows per figure")
    args = ap.parse_args()
    if shutil.which("dbus-daemon") is None:
        raise SystemExit("needs dbus-daemon (apt: dbus)")
    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="tj-bc-"))
    bus, address = start_bus(work)
    power = Power(address)
    workers: list[subprocess.Popen] = []
    try:
        s = Setup(work, address)
        # The reference first: the same jobs, no conditions, nothing waiting.
        w = s.worker(config(False))
        workers.append(w)
        time.sleep(2)  # its start is over
        ref_idle = idle_cpu(s, None, w.pid, args.window, args.windows)
        stop_process(w)
        w = s.worker(config(True))
        workers.append(w)
        waited, direct = latency(s, power, max(5, args.samples))
        power.send("battery 90")
        time.sleep(0.3)
        for i in range(JOBS):
            s.cli("run", f"backup-{i}", "--when-ready")
        conn = sqlite3.connect(f"file:{s.db}?mode=ro", uri=True)
        wait_until(lambda: conn.execute("SELECT count(*) FROM runs WHERE state = 'waiting'")
                   .fetchone()[0] == JOBS, 30)
        time.sleep(2)
        idle = idle_cpu(s, power, w.pid, args.window, args.windows)
        still = conn.execute("SELECT count(*) FROM runs WHERE state = 'waiting'").fetchone()[0]
        conn.close()
        p50 = statistics.median(waited)
        print(line("start after the condition turns true", spread(waited, "ms", 1000),
                   "a run started at once", spread(direct, "ms", 1000),
                   p50 / statistics.median(direct), "p50 <= 200 ms", p50 <= 0.2))
        idle_p50, ref_p50 = statistics.median(idle), statistics.median(ref_idle)
        print(line(f"idle CPU, {still} runs waiting", spread(idle, "% of a core", 1.0),
                   "nothing waiting", spread(ref_idle, "% of a core", 1.0),
                   idle_p50 / ref_p50 if ref_p50 else None))
        added = idle_p50 - ref_p50
        print(f"CPU the {still} waiting runs add: {added:.2f} % of a core — target <= 0.1 % "
              f"of a core: {'ok' if added <= 0.1 else 'MISS'}")
    finally:
        for w in workers:
            stop_process(w)
        power.close()
        stop_process(bus)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
