"""Crash safety: a worker killed with SIGKILL mid-run loses nothing, and a queue message
lost in a crash is sent again, once."""

from __future__ import annotations

import json
import os
import signal
import time
from textwrap import dedent

from helpers import start_worker, trayjobs, wait_run, wait_until, run_state
from trayjobs.store.open import open_store

CONFIG = dedent("""
    [jobs.slow]
    kind = "demo"
    steps = 40
    step_time = 0.05
    [jobs.quick]
    kind = "demo"
    steps = 1
    step_time = 0
""")


def test_kill_9_mid_run_then_restart_recovers(home):
    home.config_file.write_text(CONFIG)
    worker = start_worker(home, "--workers", "1")
    try:
        slow = int(trayjobs(home, "run", "slow", check=True).stdout)
        queued = int(trayjobs(home, "run", "quick", check=True).stdout)
        running = wait_run(home, slow, "running")
        assert running["pid"] == worker.pid  # the worker, not the CLI, runs it
        wait_until(lambda: (run_state(home, slow)["progress_done"] or 0) >= 3)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        killed_at = time.time()
    finally:
        if worker.poll() is None:
            worker.kill()
    # The queued run is still queued; the running one still says running.
    assert run_state(home, slow)["state"] == "running"
    assert run_state(home, queued)["state"] == "queued"
    # Its worker is known lost at once (a process of this machine that is gone), without
    # waiting for its lease.
    (gone,) = [w for w in map(json.loads, trayjobs(home, "workers", "--json", check=True)
                              .stdout.splitlines()) if w["pid"] == worker.pid]
    assert gone["state"] == "lost" and gone["id"] == run_state(home, slow)["worker_id"]

    worker = start_worker(home)
    try:
        old = wait_run(home, slow, "interrupted")
        assert "trayjobs stopped while this run was going" in old["error"]
        # It ended when its worker was last heard of, not when the next one found it
        # gone: "took" is not the time nothing ran (a night, after a crash at 23:00).
        assert old["started_at"] < old["finished_at"] <= killed_at
        store = open_store(home)
        resumed = wait_until(lambda: [r for r in store.list_runs(job="slow")
                                      if r["trigger"] == "recovered"])
        assert len(resumed) == 1 and resumed[0]["retry_of"] == slow
        assert wait_run(home, resumed[0]["id"])["state"] == "succeeded"
        assert wait_run(home, queued)["state"] == "succeeded"
        assert store.get_worker(gone["id"])["state"] == "lost"  # recorded so, by the start
        store.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
    assert worker.returncode == 0


def test_sigterm_stops_the_worker_gracefully(home):
    home.config_file.write_text(CONFIG)
    worker = start_worker(home)
    slow = int(trayjobs(home, "run", "slow", check=True).stdout)
    wait_run(home, slow, "running")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    run = run_state(home, slow)
    assert run["state"] == "interrupted"
    assert "resumes when trayjobs starts again" in run["error"]


def test_a_queued_run_whose_queue_message_was_lost_is_sent_again_exactly_once(make_engine):
    # Two runs were handed to the queue before a crash; only one message made it into
    # the queue file (the other was lost with the crash).
    eng = make_engine(CONFIG, start=False)
    kept = eng.store.create_run("quick", kind="demo", trigger="manual")
    lost = eng.store.create_run("quick", kind="demo", trigger="manual")
    eng.store._execute("UPDATE runs SET dispatched = 1 WHERE id IN (?, ?)", (lost, kept))
    eng.queue.enqueue(kept)
    assert eng.queue.pending_run_ids() == {kept}
    # Recovery (part of start) marks only the lost one as waiting to be sent.
    eng.recover()
    assert {r["id"]: r["dispatched"] for r in eng.store.list_runs()} == {kept: 1, lost: 0}
    sent = []
    enqueue = eng.queue.enqueue
    eng.queue.enqueue = lambda run_id, **kw: (sent.append(run_id), enqueue(run_id, **kw))
    eng.start()
    assert eng.watcher.wait(kept, timeout=15)["state"] == "succeeded"
    assert eng.watcher.wait(lost, timeout=15)["state"] == "succeeded"
    assert sent == [lost]  # the lost one sent again, once; the kept one not doubled
    assert [a["attempt"] for a in eng.store.attempts(lost)] == [1]
    assert [a["attempt"] for a in eng.store.attempts(kept)] == [1]
    assert eng.queue.pending_count() == 0
