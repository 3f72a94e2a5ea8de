"""Every way a run can end for good makes its alert exactly once: a normal failure, a
timeout, a run that crash recovery marks failed (its job process died twice) and an
interrupted run that is not run again, whether trayjobs was closed or died meanwhile;
restarts never send one twice. A cancel, or an interrupted run that is resumed, makes none
of its own. Real engines, real job processes, a real HTTP server on loopback."""

from __future__ import annotations

import pytest

from alert_servers import HTTPRecorder
from helpers import wait_until


@pytest.fixture
def http():
    server = HTTPRecorder().start()
    yield server
    server.stop()


def channel(http) -> str:
    return f"""
        [alerts.hook]
        url = "json://127.0.0.1:{http.port}/hook"
        on = ["failure"]
    """


def started(make_engine, config: str | None = None):
    eng = make_engine(config, start=False)
    eng.alerts.sender.gather = 0.1
    eng.alerts.sender.backoff = 0.1
    eng.start()
    return eng


def settled(eng) -> None:
    wait_until(lambda: all(r["state"] != "pending" for r in eng.store.outbox_log(limit=500)))


def titles(http) -> list[str]:
    return [b["title"] for b in http.bodies("/hook")]


def left_running(store, job: str, *, kind: str = "demo", deaths: int = 0) -> int:
    """A run as a crash leaves it: ``running``, its process gone (no pid alive). With
    ``deaths``, it resumes a run whose process died that many times before."""
    before = None
    for _ in range(deaths):
        rid = store.create_run(job, kind=kind, trigger="manual" if before is None else
                               "recovered", retry_of=before)
        store.claim(rid)
        store.end_attempt(rid, state="interrupted", died=True, error="died")
        before = rid
    rid = store.create_run(job, kind=kind, trigger="manual" if before is None else
                           "recovered", retry_of=before)
    store.claim(rid)
    return rid


def test_a_run_crash_recovery_marks_failed_is_told_once_across_restarts(make_engine, http):
    config = channel(http) + f"""
        [jobs.bomb]
        kind = "demo"
        ping = "{http.base}/ping/bomb"
    """
    eng = make_engine(config, start=False)
    rid = left_running(eng.store, "bomb", deaths=1)  # its process died twice in a row
    eng = started(make_engine)
    run = eng.store.get_run(rid)
    assert run["state"] == "failed" and "died 2 times in a row" in run["error"]
    wait_until(lambda: "/hook" in http.paths() and "/ping/bomb/fail" in http.paths())
    settled(eng)
    body = http.bodies("/hook")[0]
    assert body["title"] == "bomb failed" and f"Run {rid}" in body["message"]
    assert "died 2 times in a row" in body["message"]
    eng.stop()
    again = started(make_engine)  # a restart tells nothing new
    settled(again)
    again.stop()
    assert titles(http) == ["bomb failed"]
    assert http.paths().count("/ping/bomb/fail") == 1


def test_a_run_interrupted_by_a_crash_and_not_run_again_is_told(make_engine, http):
    config = channel(http) + """
        [jobs.cmd]
        kind = "command"
        command = "true"
    """
    eng = make_engine(config, start=False)
    rid = left_running(eng.store, "cmd", kind="command")
    eng = started(make_engine)
    assert eng.store.get_run(rid)["state"] == "interrupted"
    wait_until(lambda: "/hook" in http.paths())
    settled(eng)
    body = http.bodies("/hook")[0]
    assert body["title"] == "cmd was interrupted"
    assert "not run again by itself" in body["message"]
    assert "trayjobs stopped while this run was going" in body["message"]
    eng.stop()
    settled(started(make_engine))
    assert titles(http) == ["cmd was interrupted"]


def test_closing_trayjobs_during_a_run_that_is_not_run_again_tells_it_once(make_engine, http):
    eng = started(make_engine, channel(http) + """
        [jobs.cmd]
        kind = "command"
        command = "echo started; sleep 30"
    """)
    rid = eng.submit("cmd")
    wait_until(lambda: any(l["message"] == "started" for l in eng.store.logs(rid)))
    eng.stop()
    assert eng.store.get_run(rid)["state"] == "interrupted"
    # Queued as it stopped, sent by the next start; that start finds nothing more to tell.
    again = started(make_engine)
    wait_until(lambda: "/hook" in http.paths())
    settled(again)
    again.stop()
    settled(started(make_engine))
    assert titles(http) == ["cmd was interrupted"]


def test_an_interrupted_run_that_is_resumed_is_told_by_its_resumed_run(make_engine, http):
    eng = make_engine(channel(http).replace('["failure"]', '["always"]') + """
        [jobs.ok]
        kind = "demo"
        steps = 1
        step_time = 0
    """, start=False)
    rid = left_running(eng.store, "ok")
    eng = started(make_engine)
    resumed = next(r for r in eng.store.list_runs(job="ok") if r.get("retry_of") == rid)
    eng.watcher.wait(resumed["id"])
    wait_until(lambda: "/hook" in http.paths())
    settled(eng)
    assert titles(http) == ["ok succeeded"]
    assert [r["run_id"] for r in eng.store.outbox_log()] == [resumed["id"]]


def test_a_timeout_is_one_failure_and_a_cancel_none(make_engine, http):
    eng = started(make_engine, channel(http) + """
        [jobs.slow]
        kind = "demo"
        steps = 100
        step_time = 0.1
        timeout = "0.5s"
        retry = { attempts = 2, backoff = "0.1s", jitter = false }
    """)
    timed_out = eng.watcher.wait(eng.submit("slow"), timeout=30)
    assert timed_out["state"] == "failed" and "timed out" in timed_out["error"]
    cancelled = eng.submit("slow")
    wait_until(lambda: eng.store.get_run(cancelled)["state"] == "running")
    eng.cancel(cancelled)
    assert eng.watcher.wait(cancelled)["state"] == "cancelled"
    wait_until(lambda: "/hook" in http.paths())
    settled(eng)
    assert titles(http) == ["slow failed"]
    assert [r["run_id"] for r in eng.store.outbox_log()] == [timed_out["id"]]


def test_a_failure_stored_just_before_a_crash_is_still_told_once(make_engine, http):
    # The process died after the run's end was stored and before its alert was queued:
    # the next start finds its worker gone and tells what it ended in its last moments.
    config = channel(http) + """
        [jobs.nightly]
        kind = "demo"
    """
    eng = make_engine(config, start=False)
    store = eng.store
    gone = store.register_worker(host=__import__("socket").gethostname(), pid=2 ** 22 + 7,
                                 version="0", mode="worker", lease=30)
    rid = store.create_run("nightly", kind="demo", trigger="schedule")
    store.claim(rid, worker_id=gone)
    store.end_attempt(rid, state="failed", error="disk full")
    old = store.create_run("nightly", kind="demo", trigger="schedule")  # long before: told
    store.claim(old, worker_id=gone)
    store.end_attempt(old, state="failed", error="older")
    store.update_run(old, finished_at=store.get_run(old)["finished_at"] - 3600)
    eng = started(make_engine)
    wait_until(lambda: "/hook" in http.paths())
    settled(eng)
    bodies = http.bodies("/hook")
    assert [b["title"] for b in bodies] == ["nightly failed"]
    assert "disk full" in bodies[0]["message"]
    eng.stop()
    again = started(make_engine)  # a restart tells nothing new
    settled(again)
    assert len(http.bodies("/hook")) == 1
