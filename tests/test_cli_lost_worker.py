"""`trayjobs runs` (and `--json`, and `show`) of a run whose worker is gone or does not
answer: the history keeps it "running" until an engine ends it; the list says it may not
be, and why, and leaves the history as it is."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

from helpers import run_state, start_worker, trayjobs, wait_until


def _row(out: str, run_id: int) -> str:
    return next(line for line in out.splitlines() if line.split()[:1] == [str(run_id)])


def test_runs_says_a_run_whose_worker_was_killed_is_not_surely_running(home):
    home.config_file.write_text('[jobs.spin]\nkind = "command"\ncommand = "sleep 600"\n')
    worker = start_worker(home)
    try:
        assert trayjobs(home, "run", "spin").stdout.strip() == "1"
        wait_until(lambda: run_state(home, 1)["state"] == "running", 30)
        # Before: it runs, and is said to.
        row = _row(trayjobs(home, "runs").stdout, 1)
        assert " running " in row and "running?" not in row, row
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    runs = trayjobs(home, "runs")
    assert runs.returncode == 0, runs.stderr
    row = _row(runs.stdout, 1)
    assert " running? " in row, runs.stdout
    assert re.search(r" its worker was gone at (\w{3} )?\d\d:\d\d: ended when trayjobs next starts$",
                     row), row
    listed = [json.loads(line) for line in trayjobs(home, "runs", "--json").stdout.splitlines()]
    assert listed[0]["state"] == "running"  # as stored: the engine ends it, not a list
    lost = listed[0]["worker_lost"]
    assert lost["pid"] == worker.pid and lost["process_gone"] is True, lost
    assert lost["mode"] == "worker" and lost["last_heard_at"] > 0
    shown = trayjobs(home, "show", "1").stdout
    assert shown.splitlines()[0].endswith("· running?"), shown
    assert json.loads(trayjobs(home, "show", "1", "--json").stdout)["run"]["worker_lost"]
    assert run_state(home, 1)["state"] == "running"  # nothing was changed by looking
    worker = start_worker(home)
    try:
        wait_until(lambda: run_state(home, 1)["state"] == "interrupted", 30)
    finally:
        worker.terminate()
        worker.wait(30)
    row = _row(trayjobs(home, "runs").stdout, 1)
    assert "interrupted" in row and "running?" not in row, row
    listed = [json.loads(line) for line in trayjobs(home, "runs", "--json").stdout.splitlines()]
    assert all(r["worker_lost"] is None for r in listed)


def test_runs_says_a_run_whose_worker_does_not_answer_may_not_be_running(home):
    """A worker stopped (kill -STOP, Ctrl-Z) past its lease: its process is there, its
    run may go on once it does; said so, and as running again once it answers."""
    home.config_file.write_text('[cluster]\nlease = "2s"\n'
                                '[jobs.spin]\nkind = "command"\ncommand = "sleep 600"\n')
    worker = start_worker(home)
    log = home.log_dir / "worker-test.log"
    try:
        wait_until(lambda: "worker started for" in log.read_text(), 30)
        assert trayjobs(home, "run", "spin").stdout.strip() == "1"
        wait_until(lambda: run_state(home, 1)["state"] == "running", 30)
        os.kill(worker.pid, signal.SIGSTOP)
        wait_until(lambda: " running? " in _row(trayjobs(home, "runs").stdout, 1), 30,
                   what="the run said not surely running")
        row = _row(trayjobs(home, "runs").stdout, 1)
        assert f"its worker (pid {worker.pid}) has not answered since " in row, row
        lost = json.loads(trayjobs(home, "runs", "--json").stdout.splitlines()[0])["worker_lost"]
        assert lost["pid"] == worker.pid and lost["process_gone"] is False, lost
        os.kill(worker.pid, signal.SIGCONT)
        wait_until(lambda: "running?" not in _row(trayjobs(home, "runs").stdout, 1), 30,
                   what="the run said running again")
        assert run_state(home, 1)["state"] == "running"
    finally:
        os.kill(worker.pid, signal.SIGCONT)
        worker.terminate()
        worker.wait(30)


def test_a_killed_worker_not_yet_reaped_is_gone_at_once(home):
    """Killed, and its parent (here, this test) not told yet: a zombie. It runs nothing,
    but answered a signal as if alive, and its run was said to go on until its lease
    ran out (and, where nothing ever reaps it, was only recovered then)."""
    home.config_file.write_text('[jobs.spin]\nkind = "command"\ncommand = "sleep 600"\n')
    worker = start_worker(home)
    try:
        assert trayjobs(home, "run", "spin").stdout.strip() == "1"
        wait_until(lambda: run_state(home, 1)["state"] == "running", 30)
        os.kill(worker.pid, signal.SIGKILL)
        wait_until(lambda: "\nState:\tZ" in Path(f"/proc/{worker.pid}/status").read_text(), 10)
        row = _row(trayjobs(home, "runs").stdout, 1)
        assert " running? " in row and "its worker was gone at " in row, row
        gone = f"`trayjobs worker` (pid {worker.pid}) that ran it is gone (killed or crashed)"
        assert gone in trayjobs(home, "show", "1").stdout
    finally:
        worker.kill()
        worker.wait(10)
