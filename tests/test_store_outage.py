"""The run history's server away, at start or mid-run: ``trayjobs worker`` starts anyway and
says so, a run going on finishes and its end is kept in the local spool and written once
the server answers (exactly once, even across a kill -9), a command says in one sentence
what is wrong. Real PostgreSQL servers (``own_server``) that the tests stop and start;
the spool's compare-and-set rules on SQLite too."""

from __future__ import annotations

import os
import signal
import time

import pytest

from helpers import start_worker, trayjobs, wait_until
from trayjobs.engine.control import Control
from trayjobs.engine.executor import Outcome
from trayjobs.paths import Home

LEASE = "2s"
LINES = 30

JOBS = f"""
[settings]
workers = 1

[jobs.noop]
kind = "demo"
steps = 0
step_time = 0

[jobs.talk]
kind = "command"
command = ["sh", "-c", "for i in $(seq 1 {LINES}); do echo line $i; sleep 0.1; done"]
"""


@pytest.fixture
def server():
    from pg_support import own_server
    srv = own_server()
    yield srv
    srv.remove()


@pytest.fixture
def pg_home(tmp_path, monkeypatch, server):
    """A home whose history is on ``server`` (its ``postgres`` database, not migrated yet);
    the processes started from here give up on a call after 1 s."""
    monkeypatch.setenv("TRAYJOBS_STORE_TIMEOUT", "1")
    monkeypatch.delenv("TRAYJOBS_TEST_DATABASE", raising=False)
    home = Home.under(tmp_path / "home").ensure()
    monkeypatch.setenv("TRAYJOBS_HOME", str(home.root))
    home.config_file.write_text(f'[cluster]\ndatabase = "{server.url()}"\nlease = "{LEASE}"\n'
                                + JOBS, encoding="utf-8")
    yield home


def _store(server):
    from trayjobs.store.postgres import PgRunStore
    return PgRunStore(server.url(), timeout=5)


def _log(home: Home) -> str:
    return (home.log_dir / "worker-test.log").read_text()


def _stop(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(30)


def _spooled(home: Home) -> list:
    """The ends kept in the spool (not one being written: a ``.tmp`` renamed once whole)."""
    folder = home.data_dir / "spool"
    return sorted(p.name for p in folder.iterdir()
                  if not p.name.endswith(".tmp")) if folder.exists() else []


def test_a_command_says_in_one_sentence_that_the_server_is_away(pg_home, server):
    server.stop()
    for args in (["jobs"], ["runs"], ["run", "noop"]):
        t = time.monotonic()
        out = trayjobs(pg_home, *args)
        assert out.returncode != 0, out
        assert time.monotonic() - t < 15
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr  # no traceback, no pool chatter
        said = lines[0]
        assert f"127.0.0.1:{server.port}" in said and "cannot be reached" in said
        assert "start it, or check [cluster] database" in said


def test_a_worker_started_while_the_server_is_down_waits_and_then_runs(pg_home, server):
    server.stop()
    proc = start_worker(pg_home)
    try:
        wait_until(lambda: "cannot be reached" in _log(pg_home), 20, what="the worker says so")
        assert f"127.0.0.1:{server.port}" in _log(pg_home)
        assert proc.poll() is None
        server.start()
        wait_until(lambda: "answers again" in _log(pg_home), 30, what="the worker reconnects")
        rid = Control(pg_home).submit("noop")
        store = _store(server)
        try:
            wait_until(lambda: store.get_run(rid)["state"] == "succeeded", 30,
                       what="the run ran")
            assert [a["attempt"] for a in store.attempts(rid)] == [1]
            assert len(store.list_runs(limit=100)) == 1
        finally:
            store.close()
        assert "Traceback" not in _log(pg_home)
    finally:
        _stop(proc)


def _run_through_an_outage(home, server):
    """Start a worker and the talking run, stop the server while it runs, wait until its
    end is kept in the spool; (worker, run id)."""
    store = _store(server)
    proc = start_worker(home)
    try:
        try:
            wait_until(lambda: any(w["state"] == "running" for w in store.workers()), 30)
            rid = Control(home).submit("talk")
            wait_until(lambda: (r := store.get_run(rid))["state"] == "running"
                       and r["progress_done"] is None and len(store.logs(rid)) >= 2, 30,
                       what="the run going, its first lines stored")
        finally:
            store.close()
        server.stop()
        wait_until(lambda: _spooled(home), 30, what="the run's end kept in the spool")
        assert proc.poll() is None, _log(home)
    except BaseException:
        proc.kill()  # a worker left running would go on with another test's load
        proc.wait(10)
        raise
    return proc, rid


def _check_once(server, rid) -> None:
    store = _store(server)
    try:
        run = store.get_run(rid)
        assert run["state"] == "succeeded", run
        attempts = store.attempts(rid)
        assert len(attempts) == 1 and attempts[0]["state"] == "succeeded"
        assert attempts[0]["finished_at"] is not None
        said = [row["message"] for row in store.logs(rid)]
        for i in range(1, LINES + 1):
            assert said.count(f"line {i}") == 1, (i, said)
        assert [r["id"] for r in store.list_runs(limit=100)] == [rid]  # nothing resumed
    finally:
        store.close()


def test_a_run_going_on_when_the_server_stops_finishes_and_its_end_is_written_once(
        pg_home, server):
    proc, rid = _run_through_an_outage(pg_home, server)
    try:
        time.sleep(1.0)  # beats fail meanwhile: the worker goes on
        assert proc.poll() is None
        back = time.time()
        server.start()
        wait_until(lambda: not _spooled(pg_home), 30, what="the kept end written")
        _check_once(server, rid)
        store = _store(server)
        try:  # it ended when it ended, not when the server came back: its duration holds
            assert store.get_run(rid)["finished_at"] < back - 0.5
            assert store.attempts(rid)[0]["finished_at"] < back - 0.5
        finally:
            store.close()
        # The next run is claimed and run as usual: the queue goes on.
        again = Control(pg_home).submit("noop")
        store = _store(server)
        try:
            wait_until(lambda: store.get_run(again)["state"] == "succeeded", 30)
        finally:
            store.close()
        log = _log(pg_home)
        assert "kept on this machine" in log and "answers again" in log
        assert "Traceback" not in log
    finally:
        _stop(proc)


def test_the_spool_survives_a_kill_and_is_written_at_the_next_start(pg_home, server):
    proc, rid = _run_through_an_outage(pg_home, server)
    try:
        kept = _spooled(pg_home)
        assert kept == [f"run-{rid}-1.json"]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert _spooled(pg_home) == kept
    server.start()
    proc = start_worker(pg_home)
    try:
        wait_until(lambda: not _spooled(pg_home), 30, what="the kept end written at start")
        _check_once(server, rid)
    finally:
        _stop(proc)


# -- the spool's rules, on any store -------------------------------------------------------

QUICK = """
[jobs.quick]
kind = "demo"
steps = 1
step_time = 0
"""


def _claimed(eng):
    rid = eng.store.insert_run("quick", kind="demo", trigger="manual")["id"]
    return eng.store.claim(rid, pid=os.getpid(), worker_id=eng.lease.id)


def test_a_kept_end_is_written_once_however_often_it_is_replayed(make_engine):
    eng = make_engine(QUICK)
    run = _claimed(eng)
    lines = [(time.time(), "info", "kept line")]
    for _ in range(2):  # kept, written; kept again (a crash before the file went), written
        eng._spool_end(run, Outcome("succeeded", result={"n": 1}), logs=lines, stopping=False)
        assert eng.spool.entries() == []  # the store answers: written at once
    row = eng.store.get_run(run["id"])
    assert row["state"] == "succeeded" and row["result"]["n"] == 1
    assert [m["message"] for m in eng.store.logs(run["id"])].count("kept line") == 1
    assert len(eng.store.attempts(run["id"])) == 1


def test_a_kept_end_does_not_overwrite_a_run_another_worker_recovered(make_engine):
    eng = make_engine(QUICK)
    run = _claimed(eng)
    eng._store_problem = "away"  # as if the server did not answer
    eng._spool_end(run, Outcome("succeeded", result={"n": 1}),
                   logs=[(time.time(), "info", "kept line")], stopping=False)
    assert len(eng.spool.entries()) == 1
    # Meanwhile another worker found this one's lease up and recovered the run.
    eng.store.end_attempt(run["id"], state="interrupted", died=True, error="recovered",
                          expect=(run["worker_id"], run["attempt"]))
    told = []
    eng.bus.subscribe(told.append)
    eng._store_reached()
    assert eng.store_problem is None and eng.spool.entries() == []
    row = eng.store.get_run(run["id"])
    assert row["state"] == "interrupted" and row["error"] == "recovered"
    assert "kept line" not in [m["message"] for m in eng.store.logs(run["id"])]
    texts = [getattr(ev, "message", "") for ev in told]
    assert any("recovered by another worker" in t for t in texts), texts
    assert any(getattr(ev, "details", {}).get("clear") for ev in told)


def test_progress_and_log_lines_wait_while_the_store_is_away(make_engine):
    from trayjobs.engine.tracker import AttemptTracker
    from trayjobs.errors import StoreUnreachable
    eng = make_engine(QUICK, start=False)
    away = [False]
    calls = []

    class Store:
        def add_logs(self, run_id, lines):
            calls.append(len(lines))
            raise StoreUnreachable("the server at h:1 cannot be reached", where="h:1")

        def set_progress(self, *a):
            raise AssertionError("not while the store is away")

    tracker = AttemptTracker(Store(), eng.bus, {"id": 1, "job": "quick"}, clock=lambda: 1e9,
                             store_away=lambda: away[0],
                             on_unreachable=lambda exc: away.__setitem__(0, True))
    for i in range(600):
        tracker.on_message({"t": "log", "message": f"l{i}"})
        tracker.on_message({"t": "progress", "done": i, "total": 600})
    assert calls == [500] and away[0]  # one try found it away; no more after that
    lines = tracker.take_logs()
    assert [m for _, _, m in lines] == [f"l{i}" for i in range(600)]


def test_a_cancel_asked_as_a_failed_attempt_ends_wins_over_the_retry(make_engine):
    # The person cancels while the run is going; its attempt fails at that moment and would
    # be retried: the run is cancelled, not left retrying with a flag no claim accepts.
    eng = make_engine(QUICK)
    rid = eng.store.insert_run("quick", kind="demo", trigger="manual", max_attempts=3)["id"]
    run = eng.store.claim(rid, pid=os.getpid(), worker_id=eng.lease.id)
    assert eng.store.cancel_run(rid) is False  # running: asked to stop
    eng._record_outcome(run, Outcome("failed", message="boom"), user_cancel=False, logs=[],
                        stopping=False)
    row = eng.store.get_run(rid)
    assert row["state"] == "cancelled" and row["finished_at"] is not None


def test_the_clock_measured_as_the_server_comes_back_is_not_off_by_the_wait(server):
    """The clock was compared with the server's around the whole call, a wait for a
    connection included: measured as the server came back after 2 s, this machine's
    clock was taken for a second behind the server's, and leases were judged so until
    the next beat."""
    import threading
    store = _store(server)
    try:
        assert abs(store.sync_clock()) < 0.2
        server.stop()
        threading.Timer(2.0, server.start).start()
        offset = store.sync_clock()  # waits for the server, then measures
        assert abs(offset) < 0.2, offset
    finally:
        store.close()


def test_run_wait_that_loses_the_server_says_the_run_goes_on(pg_home, server):
    """`trayjobs run --wait` stopped with "the server cannot be reached" while the run went
    on on the worker, and nothing said so: it says the run goes on, and how to follow it."""
    import subprocess
    import sys
    store = _store(server)
    proc = start_worker(pg_home)
    try:
        wait_until(lambda: any(w["state"] == "running" for w in store.workers()), 30)
        waiting = subprocess.Popen([sys.executable, "-m", "trayjobs", "run", "talk", "--wait"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rid = int(waiting.stdout.readline())
        wait_until(lambda: store.get_run(rid)["state"] == "running", 30, what="the run going")
        store.close()
        server.stop()
        out, err = waiting.communicate(timeout=30)
        assert waiting.returncode != 0
        assert "cannot be reached" in err
        assert (f"Run {rid} goes on without this command: trayjobs show --follow {rid} "
                f"follows it once the server answers.") in err, err
        server.start()
        store = _store(server)
        wait_until(lambda: store.get_run(rid)["state"] == "succeeded", 30, what="its end")
    finally:
        store.close()
        _stop(proc)
