"""The attempt tracker: what reaches the run store while a run goes on."""

from __future__ import annotations

from trayjobs.engine.events import EventBus
from trayjobs.engine.tracker import IDLE_BATCH, LOG_BATCH, STORE_INTERVAL, AttemptTracker
from trayjobs.store.open import open_store


def tracker(home, clock):
    store = open_store(home)
    rid = store.create_run("j", kind="demo", trigger="cli")
    return store, rid, AttemptTracker(store, EventBus(), store.get_run(rid), clock=lambda: clock[0])


def test_log_lines_reach_the_store_while_progress_keeps_coming(home):
    # Progress every 0.1 s, with the executor's tick between: the log line must be stored
    # within STORE_INTERVAL or so, not held back until the run ends (other processes and a
    # window opened later read the log from the store).
    clock = [1000.0]
    store, rid, t = tracker(home, clock)
    t.on_message({"t": "log", "message": "first", "level": "info", "ts": 1.0})
    stored_at = None
    for i in range(40):
        clock[0] += 0.1
        t.on_message({"t": "progress", "done": i, "total": 100})
        t.tick()
        if stored_at is None and store.logs(rid):
            stored_at = clock[0] - 1000.0
    assert stored_at is not None and stored_at <= STORE_INTERVAL + 0.15, stored_at
    assert store.get_run(rid)["progress_done"] >= 30  # progress is stored meanwhile too
    store.close()


def test_a_quiet_run_stores_its_log_lines_on_the_next_tick(home):
    clock = [1000.0]
    store, rid, t = tracker(home, clock)
    t.on_message({"t": "log", "message": "only", "level": "info", "ts": 1.0})
    t.tick()
    assert store.logs(rid) == []  # batched: not one commit per line
    clock[0] += STORE_INTERVAL
    t.tick()
    assert [l["message"] for l in store.logs(rid)] == ["only"]
    store.close()


def test_a_chatty_run_stores_its_output_as_it_comes_not_all_at_its_end(home):
    # A command printing megabytes sends its output in 64 KiB entries: once a batch's worth
    # is waiting it is stored at once (the job process is busy meanwhile), and what the end
    # of the attempt writes with its outcome is only the rest.
    clock = [1000.0]
    store, rid, t = tracker(home, clock)
    entry = "x" * (64 * 1024 - 1) + "\n"
    for _ in range(LOG_BATCH // len(entry) - 1):
        t.on_message({"t": "log", "message": entry, "level": "info", "ts": 1.0})
    assert store.logs(rid) == []  # a few entries wait for more
    t.on_message({"t": "log", "message": entry, "level": "info", "ts": 1.0})
    assert len(store.logs(rid)) == LOG_BATCH // len(entry)  # no time has passed: by size
    t.on_message({"t": "log", "message": "last", "level": "info", "ts": 1.0})
    assert t.take_logs() == [(1.0, "info", "last")]
    store.close()


def test_a_pause_in_a_chatty_run_stores_what_waits_not_a_trickle(home):
    # The job has nothing more to say for now (the executor finds its pipe empty): an
    # entry's worth of output waiting is stored then, while the engine would only wait,
    # not with the attempt's end, where the run's outcome would wait for it.
    clock = [1000.0]
    store, rid, t = tracker(home, clock)
    t.on_message({"t": "log", "message": "a line", "level": "info", "ts": 1.0})
    t.idle()
    assert store.logs(rid) == []  # a trickle of lines is still one commit per batch
    t.on_message({"t": "log", "message": "x" * IDLE_BATCH, "level": "info", "ts": 1.0})
    assert store.logs(rid) == []  # not while more may be coming at once
    t.idle()
    assert [len(l["message"]) for l in store.logs(rid)] == [6, IDLE_BATCH]
    assert t.take_logs() == []
    store.close()


def test_progress_that_is_not_a_finite_number_is_no_progress(home):
    # Job code (a python function, a plug-in) may report NaN or infinity: stored or shown,
    # they break every bar and rate computed from them (round() and int() raise on NaN).
    clock = [1000.0]
    store, rid, t = tracker(home, clock)
    seen = []
    t.bus.subscribe(seen.append)
    t.on_message({"t": "progress", "done": float("nan"), "total": float("inf")})
    t.on_message({"t": "log", "message": "at no time", "level": "info", "ts": float("nan")})
    clock[0] += STORE_INTERVAL
    t.tick()
    run = store.get_run(rid)
    assert run["progress_done"] is None and run["progress_total"] is None
    assert [(e.done, e.total) for e in seen if hasattr(e, "eta")] == [(None, None)]
    line = store.logs(rid)[0]
    assert line["message"] == "at no time" and line["ts"] > 1e9  # the time it arrived
    store.close()


PAUSING = """
import os, sys, time
sys.stdout.write(("y" * 99 + "\\n") * 1000)
sys.stdout.flush()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
"""


def test_a_command_that_pauses_after_much_output_has_it_stored_meanwhile(make_engine, tmp_path,
                                                                        monkeypatch):
    # The same through a real job process: 100 kB of output, then a pause until the test
    # says so. No tick stores it for an hour here, nor does its size alone (under a
    # batch): the pause does.
    import sys
    from helpers import wait_until
    import trayjobs.engine.tracker as tracker_module
    monkeypatch.setattr(tracker_module, "STORE_INTERVAL", 3600)
    script, go = tmp_path / "pausing.py", tmp_path / "go"
    script.write_text(PAUSING)
    eng = make_engine(f"""
[jobs.chatty]
kind = "command"
command = ["{sys.executable}", "{script}", "{go}"]
retry = {{ attempts = 1 }}
""")
    rid = eng.submit("chatty")
    try:
        lines = wait_until(lambda: sum(l["message"].count("y" * 99) for l in eng.store.logs(rid)),
                           timeout=15, what="the output stored while the program pauses")
        assert lines == 1000
        assert eng.store.get_run(rid)["state"] == "running"
    finally:
        go.touch()
    assert eng.watcher.wait(rid)["state"] == "succeeded"
