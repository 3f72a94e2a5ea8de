"""Helpers for tests that drive real trayjobs processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from trayjobs.instance import InstanceLock
from trayjobs.paths import Home
from trayjobs.store import RunStore


def trayjobs(home: Home, *args: str, timeout: float = 60, check: bool = False,
             env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess on ``home`` (``input``: its standard input)."""
    e = dict(os.environ, TRAYJOBS_HOME=str(home.root), **(env or {}))
    return subprocess.run([sys.executable, "-m", "trayjobs", *args], capture_output=True,
                          text=True, timeout=timeout, env=e, check=check, input=input)


def start_worker(home: Home, *args: str) -> subprocess.Popen:
    e = dict(os.environ, TRAYJOBS_HOME=str(home.root))
    with open(home.log_dir / "worker-test.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "worker", *args], env=e,
                                stdout=log, stderr=log)
    wait_until(lambda: InstanceLock(home).is_locked() or proc.poll() is not None, 30)
    assert proc.poll() is None, (home.log_dir / "worker-test.log").read_text()
    return proc


def wait_until(pred, timeout: float = 20, interval: float = 0.05):
    """Poll ``pred`` (for other processes' files, where no event reaches us)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def run_state(home: Home, run_id: int) -> dict:
    store = RunStore(home.runs_db)
    try:
        return store.get_run(run_id)
    finally:
        store.close()


def wait_run(home: Home, run_id: int, states=("succeeded", "failed", "cancelled", "skipped",
                                               "interrupted"), timeout: float = 30) -> dict:
    states = (states,) if isinstance(states, str) else states
    return wait_until(lambda: (r := run_state(home, run_id)) and r["state"] in states and r,
                      timeout)
