"""Whatever a job says or does, its run ends and is recorded: text that is not UTF-8, a
result that is not JSON, a process that dies every time, the engine's own bookkeeping
failing. Real engines, worker processes, job processes and SQLite files."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from helpers import run_state, start_worker, trayjobs, wait_run, wait_until
from trayjobs.textfmt import escape_undecodable
from trayjobs.store.open import open_store

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def odd_kinds(tmp_path, monkeypatch):
    """Register the kinds of ``odd_kinds`` here and in every process started from here."""
    import odd_kinds
    from trayjobs.kinds import registry

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import odd_kinds\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(site), str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]))
    for kind in odd_kinds.KINDS:
        registry.register(kind)
    yield odd_kinds
    for kind in odd_kinds.KINDS:  # the docs list every registered kind: leave none behind
        registry._KINDS.pop(kind.name, None)


def test_escape_undecodable():
    assert escape_undecodable(os.fsdecode(b"bad\xff.txt")) == "bad\\xff.txt"
    assert escape_undecodable("x\ud800y") == "x\\ud800y"
    assert escape_undecodable("café ✓") == "café ✓"


# -- text that is not UTF-8 ------------------------------------------------------------

def test_undecodable_text_from_a_job_is_stored_and_shown_escaped(make_engine, odd_kinds, home):
    eng = make_engine("""
        [jobs.odd]
        kind = "odd-text"
    """)
    rid = eng.submit("odd")
    run = eng.watcher.wait(rid)
    assert run["state"] == "succeeded", run
    shown = odd_kinds.SHOWN
    assert run["result"] == {"summary": f"kept {shown}", "names": [shown], shown: 1}
    assert run["progress_message"] == f"looking at {shown}"
    assert run["progress_unit"] == shown
    assert [l["message"] for l in eng.store.logs(rid)] == [
        f"found {shown}", f"printed {shown}", "odd \\ud800 surrogate"]

    out = trayjobs(home, "show", str(rid))
    assert out.returncode == 0, out.stderr
    assert f"result:   kept {shown}" in out.stdout
    assert f"found {shown}" in out.stdout and "Traceback" not in out.stderr
    data = json.loads(trayjobs(home, "show", str(rid), "--json", check=True).stdout)
    assert data["run"]["result"]["names"] == [shown]


def test_a_preview_saying_undecodable_names_in_the_foreground(odd_kinds, home, write_config):
    # `run --dry-run --wait` with nothing else running: the run happens in the CLI itself.
    write_config("""
        [jobs.odd]
        kind = "odd-text"
    """)
    out = trayjobs(home, "run", "odd", "--dry-run", "--wait")
    assert out.returncode == 0, out.stderr
    assert f"succeeded: kept {odd_kinds.SHOWN}" in out.stderr
    assert "Traceback" not in out.stderr
    run = run_state(home, int(out.stdout))
    assert run["state"] == "succeeded" and run["max_attempts"] == 1


def test_a_failure_that_cannot_be_retried_ends_at_once(make_engine, odd_kinds):
    eng = make_engine("""
        [jobs.odd]
        kind = "odd-text"
        fail = true
        retry = { attempts = 4, backoff = "1h" }
    """)
    run = eng.watcher.wait(eng.submit("odd"))
    assert run["state"] == "failed" and run["attempt"] == 1
    assert run["error"] == f"cannot trash {odd_kinds.SHOWN}"
    assert "retrying" not in eng.watcher.states_of(run["id"])


# -- results and bookkeeping ------------------------------------------------------------

def test_a_result_that_is_not_json_fails_the_run(make_engine, odd_kinds):
    eng = make_engine("""
        [jobs.loop]
        kind = "bad-result"
        retry = { attempts = 3, backoff = "1h" }
    """)
    run = eng.watcher.wait(eng.submit("loop"))
    assert run["state"] == "failed" and run["attempt"] == 1
    assert "the job's result could not be stored: it is not JSON data" in run["error"]


class DiskError:
    """The store's ``end_attempt``, failing as a full disk would, ``times`` times."""

    def __init__(self, store, times: int) -> None:
        self.real, self.times = store.end_attempt, times

    def __call__(self, *args, **kw):
        if self.times:
            self.times -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return self.real(*args, **kw)


@pytest.mark.parametrize("where", ["worker", "foreground"])
def test_a_failure_to_record_the_end_fails_the_run(make_engine, where, monkeypatch):
    eng = make_engine("""
        [jobs.ok]
        kind = "demo"
        steps = 1
        step_time = 0
    """, start=where == "worker")
    monkeypatch.setattr(eng.store, "end_attempt", DiskError(eng.store, times=1))
    rid = eng.submit("ok")
    if where == "worker":
        run = eng.watcher.wait(rid)
    else:  # as `trayjobs run --wait` does when nothing else runs jobs
        try:
            run = eng.run_inline(rid)
        finally:
            eng.executor.close()
    assert run["state"] == "failed"
    assert run["error"] == ("trayjobs could not record how this run ended (OperationalError: "
                            "database or disk is full); the attempt itself succeeded")
    assert eng.store.attempts(rid)[-1]["state"] == "failed"


def test_a_store_that_fails_for_good_leaves_the_run_to_recovery(make_engine, monkeypatch):
    eng = make_engine("""
        [jobs.ok]
        kind = "demo"
        steps = 1
        step_time = 0
    """, start=False)
    monkeypatch.setattr(eng.store, "end_attempt", DiskError(eng.store, times=2))
    rid = eng.submit("ok")
    try:
        assert eng.run_inline(rid)["state"] == "running"  # the CLI says so, no traceback
    finally:
        eng.executor.close()
    monkeypatch.undo()
    eng.lock.acquire("worker")
    try:
        eng.recover()
    finally:
        eng.lock.release()
    assert eng.store.get_run(rid)["state"] == "interrupted"


# -- job processes that die -------------------------------------------------------------

def test_a_process_that_dies_every_attempt_is_not_retried_on_and_on(odd_kinds, home,
                                                                    write_config):
    write_config("""
        [jobs.die]
        kind = "kill-self"
        retry = { attempts = 5, backoff = "0.1s", jitter = false }
    """)
    worker = start_worker(home)
    try:
        rid = int(trayjobs(home, "run", "die", check=True).stdout)
        run = wait_run(home, rid)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
    assert run["state"] == "failed" and run["attempt"] == 2
    assert "killed by SIGKILL" in run["error"]
    assert run["error"].endswith("The job process died 2 times in a row running this; "
                                 "not retried again.")


def test_a_run_that_kills_the_worker_is_resumed_once_not_for_ever(odd_kinds, home,
                                                                  write_config):
    write_config("""
        [jobs.bomb]
        kind = "kill-app"
    """)
    store = open_store(home)

    def runs():
        return sorted(store.list_runs(job="bomb"), key=lambda r: r["id"])

    worker = start_worker(home)
    first = int(trayjobs(home, "run", "bomb", check=True).stdout)
    assert worker.wait(30) == -signal.SIGKILL
    # The next start resumes it once (it might have been the machine, not the job) ...
    worker = start_worker(home)
    assert worker.wait(30) == -signal.SIGKILL
    old, resumed = runs()
    assert old["id"] == first and old["state"] == "interrupted"
    assert resumed["trigger"] == "recovered" and resumed["retry_of"] == first
    # ... and the one after that gives up on it.
    log = home.log_dir / "worker-test.log"
    seen = log.stat().st_size
    worker = start_worker(home)
    try:
        wait_until(lambda: b"worker started" in log.read_bytes()[seen:])
        assert runs()[-1]["state"] == "failed"
        assert worker.poll() is None
        assert len(runs()) == 2
        assert runs()[-1]["error"].endswith(
            "The job process died 2 times in a row running this; not retried again.")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
        store.close()
    assert worker.returncode == 0


def test_a_crashing_preview_in_the_foreground_fails_with_a_message(odd_kinds, home, write_config):
    write_config("""
        [jobs.crash]
        kind = "kill-self"
    """)
    t0 = time.monotonic()
    out = trayjobs(home, "run", "crash", "--dry-run", "--wait")
    assert out.returncode == 1
    assert "SIGKILL" in out.stderr
    assert "Traceback" not in out.stderr
    run = run_state(home, int(out.stdout))
    assert run["state"] == "failed" and run["attempt"] == 1  # a preview is not retried
    assert time.monotonic() - t0 < 20


def test_a_cancel_from_a_signal_handler_that_lands_while_the_runs_are_being_updated(
        make_engine):
    # A foreground run's Ctrl-C handler runs on the main thread, which also takes the lock
    # of the running runs for a moment at each attempt's start and end: a signal landing
    # there must not deadlock the run.
    eng = make_engine("""
        [jobs.noop]
        kind = "demo"
        steps = 0
    """)

    with eng._handles_lock:
        # what the handler's cancel takes, taken again by the thread holding it (a lock that
        # is not reentrant would wait for ever: it is only tried here)
        assert eng._handles_lock.acquire(timeout=1), "a cancel would wait for its own thread"
        eng._handles_lock.release()
        eng.cancel_local(12345)
    assert 12345 in eng._early_cancels
