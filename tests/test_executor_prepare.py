"""A run sent to a job process ahead of its claim: made ready while the claim commits,
started only once the engine says the claim held, dropped (nothing of it done) when not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers import wait_until
from trayjobs.engine.executor import Executor, RunHandle

PY = sys.executable


@pytest.fixture
def executor(home):
    home.ensure()
    ex = Executor(home, grace=1.0)
    ex._idle.append(ex._new_process())  # a warm one, as the engine keeps
    yield ex
    ex.close()


def _request(home, marker, *, run_id=1, kind="command"):
    params = ({"command": [PY, "-c", f"open({str(marker)!r}, 'w').write('ran')"]}
              if kind == "command" else {"steps": 0, "step_time": 0})
    return {"op": "run", "run_id": run_id, "job": "j", "kind": kind, "params": params,
            "run_params": {}, "attempt": 1, "max_attempts": 1, "trigger": "manual",
            "files": [], "dry_run": False, "home": home.to_dict()}


def _run(executor, request, prepared=None):
    handle, messages = RunHandle(), []
    try:
        outcome = executor.run(request, handle=handle, on_message=messages.append,
                               on_tick=lambda: None, prepared=prepared)
    finally:
        handle.close()
    return outcome, messages


@pytest.mark.parametrize("kind", ["command", "demo"])
def test_a_run_whose_claim_failed_is_dropped_and_its_process_reused(executor, home, tmp_path,
                                                                  kind):
    marker = tmp_path / "ran"
    pid = executor._idle[-1].pid
    prepared = executor.prepare(_request(home, marker, kind=kind))
    assert prepared is not None and prepared.proc.pid == pid and not executor._idle
    executor.abort(prepared)
    assert prepared.used and not marker.exists()  # the program never started
    assert [p.pid for p in executor._idle] == [pid]  # and the job process takes the next run
    outcome, _ = _run(executor, _request(home, marker, run_id=2))
    assert outcome.state == "succeeded" and marker.read_text() == "ran"
    assert [p.pid for p in executor._idle] == [pid]


def test_a_run_sent_ahead_goes_once_told_and_as_sent(executor, home, tmp_path):
    marker = tmp_path / "ran"
    request = _request(home, marker)
    prepared = executor.prepare(request)
    outcome, messages = _run(executor, dict(request), prepared)
    assert outcome.state == "succeeded" and marker.read_text() == "ran"
    assert prepared.used and len(executor._idle) == 1


def test_a_run_claimed_otherwise_than_sent_ahead_is_sent_afresh(executor, home, tmp_path):
    # The claim made it another attempt (or the jobs file changed between): what was sent
    # ahead is dropped, and the run goes as claimed.
    first, second = tmp_path / "first", tmp_path / "second"
    prepared = executor.prepare(_request(home, first))
    outcome, _ = _run(executor, _request(home, second), prepared)
    assert outcome.state == "succeeded" and second.exists() and not first.exists()
    assert prepared.used and len(executor._idle) == 1


def test_nothing_is_sent_ahead_without_an_idle_job_process(home, tmp_path):
    home.ensure()
    ex = Executor(home, grace=1.0)
    try:
        assert ex.prepare(_request(home, tmp_path / "ran")) is None
        assert not ex._idle  # none started for a run that may not be claimed
    finally:
        ex.close()


def test_the_engine_drops_a_run_sent_ahead_when_its_claim_fails(make_engine, tmp_path,
                                                                monkeypatch):
    marker = tmp_path / "ran"
    eng = make_engine(f"""
[jobs.touch]
kind = "command"
command = ["{PY}", "-c", "open({str(marker)!r}, 'w').write('ran')"]
retry = {{ attempts = 1 }}
""")
    rid = eng.submit("touch")
    assert eng.watcher.wait(rid)["state"] == "succeeded"  # a job process is warm now
    marker.unlink()
    sent, claim, idle = [], eng.store.claim, len(eng.executor._idle)

    def cancelled_meanwhile(run_id, **kw):
        sent.append(len(eng.executor._idle))  # one job process has the run already
        eng.store.cancel_run(run_id)
        return claim(run_id, **kw)

    monkeypatch.setattr(eng.store, "claim", cancelled_meanwhile)
    # handed to the queue as far as the store knows: no dispatcher of the engine sends it
    rid = eng.store.insert_run("touch", kind="command", trigger="manual", handed=True)["id"]
    eng._execute(rid)
    assert sent == [idle - 1] and not marker.exists()
    assert eng.store.get_run(rid)["state"] == "cancelled"
    assert len(eng.executor._idle) == idle  # back, for the next run


def _sleeping_worker(eng, monkeypatch):
    """As if a worker slept on the doorbell now (the real one wakes now and then)."""
    from trayjobs.queue import Doorbell
    monkeypatch.setattr(Doorbell, "asleep", property(lambda self: 1))


def _warm_engine_sending_ahead(make_engine, marker, monkeypatch):
    """An engine with a job ``touch`` (which appends "ran" to ``marker``) run once, its
    worker taken as asleep, and the list of the requests sent to job processes from now."""
    eng = make_engine(f"""
[jobs.touch]
kind = "command"
command = ["{PY}", "-c", "open({str(marker)!r}, 'a').write('ran')"]
retry = {{ attempts = 1 }}
""")
    assert eng.watcher.wait(eng.submit("touch"))["state"] == "succeeded"
    _sleeping_worker(eng, monkeypatch)
    sent, prepare = [], eng.executor.prepare
    monkeypatch.setattr(eng.executor, "prepare", lambda request: sent.append(request) or
                        prepare(request))
    return eng, sent


def test_the_dispatcher_sends_the_run_ahead_for_its_worker_to_claim(make_engine, tmp_path,
                                                                    monkeypatch):
    # A worker asleep takes a run dispatched to it at once: the dispatcher sends the run to
    # an idle job process first, and the worker finds it there when it claims the run.
    marker = tmp_path / "ran"
    eng, sent = _warm_engine_sending_ahead(make_engine, marker, monkeypatch)
    # handed to the queue as far as the store knows: no dispatcher of the engine sends it
    rid = eng.store.insert_run("touch", kind="command", trigger="manual", handed=True)["id"]
    eng._send_ahead(eng.store.get_run(rid))
    prepared = eng._ahead[rid]
    assert [r["run_id"] for r in sent] == [rid] and marker.read_text() == "ran"  # held
    eng._execute(rid)  # as the worker does
    assert prepared.used and not eng._ahead and len(sent) == 1
    assert eng.store.get_run(rid)["state"] == "succeeded" and marker.read_text() == "ranran"


def test_a_run_sent_ahead_that_no_worker_took_is_dropped_at_stop(make_engine, tmp_path,
                                                                monkeypatch):
    marker = tmp_path / "ran"
    eng = make_engine(f"""
[jobs.touch]
kind = "command"
command = ["{PY}", "-c", "open({str(marker)!r}, 'w').write('ran')"]
retry = {{ attempts = 1 }}
""")
    assert eng.watcher.wait(eng.submit("touch"))["state"] == "succeeded"
    marker.unlink()
    _sleeping_worker(eng, monkeypatch)
    # handed to the queue as far as the store knows: no dispatcher of the engine sends it
    rid = eng.store.insert_run("touch", kind="command", trigger="manual", handed=True)["id"]
    eng._send_ahead(eng.store.get_run(rid))  # dispatched, but the message never came
    prepared = eng._ahead[rid]
    eng.stop(timeout=5)
    assert prepared.used and not eng._ahead and not marker.exists()
    assert eng.store.get_run(rid)["state"] == "queued"  # it runs at the next start


def test_a_run_sent_ahead_that_fails_before_it_asks_leaves_no_word_for_the_next(executor, home,
                                                                               tmp_path):
    # Its params are bad: it ends before it waits for the engine's word, which still comes
    # (the claim held). The next run sent ahead must wait for its own, not take that one.
    bad = dict(_request(home, tmp_path / "never"), params={"command": []})
    prepared = executor.prepare(bad)
    outcome, _ = _run(executor, bad, prepared)
    assert outcome.state == "failed"
    marker = tmp_path / "ran"
    prepared = executor.prepare(_request(home, marker, run_id=2))
    executor.abort(prepared)
    assert not marker.exists()
    outcome, _ = _run(executor, _request(home, marker, run_id=3))
    assert outcome.state == "succeeded" and marker.exists()


def test_a_spare_made_ready_for_a_run_whose_claim_failed_is_dropped(executor, home, tmp_path):
    # After a first program, the job process keeps a spare shell; a run sent ahead has it
    # enter the program's folder and take its environment. Its claim fails: the spare goes
    # without becoming the program, and the next run gets a new one.
    first = tmp_path / "first"
    assert _run(executor, _request(home, first))[0].state == "succeeded"
    marker = tmp_path / "ran"
    prepared = executor.prepare(_request(home, marker, run_id=2))
    spare = _wait_for_spare(prepared.proc.pid)
    executor.abort(prepared)
    assert not marker.exists()
    wait_until(lambda: not Path(f"/proc/{spare}").exists())  # stopped and reaped
    outcome, _ = _run(executor, _request(home, marker, run_id=3))
    assert outcome.state == "succeeded" and marker.read_text() == "ran"


def _wait_for_spare(job_process: int) -> int:
    """The pid of the spare shell ``job_process`` keeps (``sh -c '. /dev/stdin'``)."""
    from trayjobs.leftovers import children

    def spare():
        for pid in children(job_process):
            try:
                if b". /dev/stdin" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
            except OSError:
                pass
        return None

    wait_until(lambda: spare() is not None)
    return spare()


def test_a_run_submitted_to_an_idle_engine_is_sent_ahead_at_once(make_engine, tmp_path,
                                                                monkeypatch):
    # Sent to a job process as it is submitted, before the dispatcher's look at the job's
    # pause and limits; one the dispatcher then does not hand over (its job is paused) is
    # dropped, nothing of it done, and its job process is free again.
    marker = tmp_path / "ran"
    eng, sent = _warm_engine_sending_ahead(make_engine, marker, monkeypatch)
    assert eng.watcher.wait(eng.submit("touch"))["state"] == "succeeded"
    assert len(sent) == 1 and marker.read_text() == "ranran"  # sent once, at its submit
    eng.set_paused(True, "touch")
    wait_until(lambda: eng.executor._idle)
    # Idle as its dispatcher sees it too: a look made while the worker was still busy
    # could take nothing and so not know that nothing waits, and an engine that may have
    # runs waiting sends none ahead of them.
    wait_until(lambda: (eng.dispatch_pending(), not eng._backlog)[1])
    idle = len(eng.executor._idle)
    sent.clear()
    rid = eng.submit("touch", trigger="schedule")  # its job is paused: it waits
    assert [r["run_id"] for r in sent] == [rid]
    assert eng.store.get_run(rid)["state"] == "queued" and rid not in eng._ahead
    assert len(eng.executor._idle) == idle  # the job process it went to is free again
    eng.set_paused(False, "touch")
    assert eng.watcher.wait(rid)["state"] == "succeeded"
    assert marker.read_text() == "ranranran"  # it ran once, when resumed
