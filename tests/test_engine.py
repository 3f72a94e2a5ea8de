"""The engine with real consumer threads, real job processes and real SQLite files."""

from __future__ import annotations

import time

import pytest

DEMO = """
[jobs.ok]
kind = "demo"
steps = 5
step_time = 0.01
"""


def test_the_demo_kind_counts_one_step_in_the_singular(make_ctx):
    from trayjobs.kinds.demo import DemoKind
    kind = DemoKind()
    result = kind.run(make_ctx(), kind.parse_params({"steps": 1, "step_time": 0}))
    assert result["summary"] == "1 step done"  # as the README's tidy-up job has it


def test_run_reports_progress_and_succeeds(make_engine):
    eng = make_engine(DEMO)
    rid = eng.submit("ok")
    run = eng.watcher.wait(rid)
    assert run["state"] == "succeeded"
    assert run["result"] == {"summary": "5 steps done", "steps": 5}
    assert run["progress_done"] == 5 and run["progress_total"] == 5
    assert eng.watcher.states_of(rid) == ["queued", "running", "succeeded"]
    assert [l["message"] for l in eng.store.logs(rid)] == ["attempt 1 of 3"]
    assert run["pid"] == __import__("os").getpid()  # the embedded consumer ran it


def test_retries_with_backoff_then_success(make_engine):
    eng = make_engine("""
        [jobs.flaky]
        kind = "demo"
        steps = 2
        step_time = 0
        fail_times = 2
        retry = { attempts = 4, backoff = "0.3s", jitter = false }
    """)
    rid = eng.submit("flaky")
    run = eng.watcher.wait(rid, timeout=30)
    assert run["state"] == "succeeded"
    attempts = eng.store.attempts(rid)
    assert [a["state"] for a in attempts] == ["retrying", "retrying", "succeeded"]
    assert "failing on purpose (attempt 1" in attempts[0]["error"]
    # Exponential backoff: 0.3 s, then 0.6 s between the attempts (no jitter).
    gap1 = attempts[1]["started_at"] - attempts[0]["finished_at"]
    gap2 = attempts[2]["started_at"] - attempts[1]["finished_at"]
    assert 0.3 <= gap1 < 2.0
    assert 0.6 <= gap2 < 2.5
    assert eng.watcher.states_of(rid) == ["queued", "running", "retrying", "queued", "running",
                                          "retrying", "queued", "running", "succeeded"]


def test_last_attempt_fails_the_run(make_engine):
    eng = make_engine("""
        [jobs.bad]
        kind = "demo"
        steps = 2
        step_time = 0
        fail_times = 9
        retry = { attempts = 2, backoff = "0.1s", jitter = false }
    """)
    rid = eng.submit("bad")
    run = eng.watcher.wait(rid)
    assert run["state"] == "failed"
    assert run["attempt"] == 2
    assert "told to fail 9 times" in run["error"]


def test_timeout_stops_a_job_that_never_checks(make_engine):
    eng = make_engine("""
        [jobs.spin]
        kind = "demo"
        hang = true
        timeout = "1s"
        retry = { attempts = 1 }
        [jobs.ok]
        kind = "demo"
        steps = 1
        step_time = 0
    """, workers=1)
    t0 = time.monotonic()
    rid = eng.submit("spin")
    run = eng.watcher.wait(rid)
    assert run["state"] == "failed"
    assert run["error"].startswith("timed out after 1.0 s")
    assert time.monotonic() - t0 < 10
    # The only worker is free again and the app goes on.
    assert eng.watcher.wait(eng.submit("ok"))["state"] == "succeeded"


def test_cancel_a_running_job_that_never_checks(make_engine):
    eng = make_engine("""
        [jobs.spin]
        kind = "demo"
        hang = true
    """)
    rid = eng.submit("spin")
    eng.watcher.wait(rid, "running")
    assert eng.cancel(rid) == "stopping"
    run = eng.watcher.wait(rid)
    assert run["state"] == "cancelled"
    assert "stopped forcibly" in run["error"]
    assert run["attempt"] == 1  # a cancel is not retried


def test_a_cancel_told_between_the_claim_and_the_attempt_stops_it(make_engine):
    # The claim happened, and the cancel's message came before the attempt could be
    # found (the store's flag is not read back for every run): it is remembered.
    import os
    import threading
    eng = make_engine("""
        [jobs.spin]
        kind = "demo"
        hang = true
    """, start=False)
    rid = eng.store.create_run("spin", kind="demo", trigger="manual")
    run = eng.store.claim(rid, pid=os.getpid())
    eng._cancel_running(rid)
    done = []
    t = threading.Thread(target=lambda: done.append(eng.execute_claimed(run)), daemon=True)
    t.start()
    t.join(20)
    assert done and done[0].state == "cancelled"
    assert eng.store.get_run(rid)["state"] == "cancelled"
    eng.executor.close()


def test_cancel_a_waiting_run_never_runs_it(make_engine):
    eng = make_engine("""
        [jobs.slow]
        kind = "demo"
        steps = 20
        step_time = 0.05
    """)
    first = eng.submit("slow")
    second = eng.submit("slow")  # overlap = "queue": waits for the first
    eng.watcher.wait(first, "running")
    assert eng.cancel(second) == "cancelled"
    assert eng.watcher.wait(first)["state"] == "succeeded"
    run = eng.store.get_run(second)
    assert run["state"] == "cancelled" and run["started_at"] is None
    assert eng.store.attempts(second) == []


@pytest.mark.parametrize("crash, words", [
    ("exit", "exited unexpectedly with code 3"),
    ("segfault", "killed by SIGSEGV"),
    ("memory", "ran out of memory"),
])
def test_a_job_that_kills_its_process_fails_clearly(make_engine, crash, words):
    eng = make_engine(f"""
        [jobs.crash]
        kind = "demo"
        crash = "{crash}"
        retry = {{ attempts = 1 }}
        [jobs.ok]
        kind = "demo"
        steps = 1
        step_time = 0
    """)
    run = eng.watcher.wait(eng.submit("crash"))
    assert run["state"] == "failed"
    assert words in run["error"]
    if crash == "segfault":  # the Python stack where it happened, from the process's log file
        assert "in string_at" in (run["traceback"] or ""), run["traceback"]
    assert eng.watcher.wait(eng.submit("ok"))["state"] == "succeeded"


def test_higher_priority_runs_first(make_engine):
    eng = make_engine("""
        [jobs.blocker]
        kind = "demo"
        steps = 10
        step_time = 0.05
        [jobs.low]
        kind = "demo"
        steps = 1
        step_time = 0
        priority = -5
        [jobs.high]
        kind = "demo"
        steps = 1
        step_time = 0
        priority = 5
    """, workers=1)
    blocker = eng.submit("blocker")
    eng.watcher.wait(blocker, "running")
    low = eng.submit("low")
    high = eng.submit("high")
    lo, hi = eng.watcher.wait(low), eng.watcher.wait(high)
    assert hi["started_at"] < lo["started_at"]


def test_overlap_queue_runs_one_at_a_time_and_skip_drops_scheduled_runs(make_engine):
    eng = make_engine("""
        [jobs.q]
        kind = "demo"
        steps = 4
        step_time = 0.05
        overlap = "queue"
        [jobs.s]
        kind = "demo"
        steps = 10
        step_time = 0.05
        overlap = "skip"
    """)
    a, b = eng.submit("q"), eng.submit("q")
    ra, rb = eng.watcher.wait(a), eng.watcher.wait(b)
    assert ra["finished_at"] <= rb["started_at"]
    first = eng.submit("s", trigger="schedule")
    eng.watcher.wait(first, "running")
    again = eng.submit("s", trigger="schedule")
    skipped = eng.store.get_run(again)
    assert skipped["state"] == "skipped"
    assert "previous run was still going" in skipped["error"]
    manual = eng.submit("s")  # a person's explicit wish still runs
    assert eng.watcher.wait(manual)["state"] == "succeeded"


def test_a_slow_scheduled_job_queues_one_run_behind_it_not_one_per_slot(make_engine):
    """Every minute, a run that takes longer: one queued run stands for the slots that
    come due meanwhile (its log lists them), as a waiting run does; they do not pile up
    to run back to back for ever. A person's runs still queue each."""
    eng = make_engine("""
        [jobs.q]
        kind = "demo"
        steps = 200
        step_time = 0.05
        every = "1m"
        overlap = "queue"
    """)
    t0 = time.time()
    eng.tick(now=t0)  # plans the first slot
    eng.tick(now=t0 + 61)
    eng.watcher.wait(eng.store.list_runs(job="q")[0]["id"], "running")
    for i in range(2, 6):
        eng.tick(now=t0 + 60 * i + 1)
    runs = eng.store.list_runs(job="q", limit=100)
    assert [r["state"] for r in runs] == ["queued", "running"]
    log = " ".join(line["message"] for line in eng.store.logs(runs[0]["id"]))
    assert log.count("also due at") == 3 and "this queued run stands for it" in log
    manual = eng.submit("q")
    assert eng.store.get_run(manual)["state"] == "queued"


def test_overlap_skip_says_when_the_run_before_had_not_started_yet(make_engine):
    """missed = "all" with overlap = "skip": the catch-up runs after the first are skipped
    while it waits to start, and say that, not that a run was still going."""
    eng = make_engine("""
        [jobs.s]
        kind = "demo"
        steps = 1
        step_time = 0
        every = "1h"
        missed = "all"
        overlap = "skip"
    """, scheduler=False, workers=1, start=False)
    t0 = time.time()
    eng.tick(now=t0)  # plans the first slot (not started: nothing runs)
    eng.store.set_job_state("s", next_run_at=t0 - 3 * 3600)
    eng.tick(now=t0)
    runs = eng.store.list_runs(job="s")
    assert [r["state"] for r in runs] == ["skipped", "skipped", "skipped", "queued"]
    assert runs[0]["error"] == ("a run of this job was still waiting to start "
                                "(overlap = \"skip\")")


def test_overlap_skip_says_when_the_run_before_waits_for_its_next_attempt(make_engine):
    """A slot that comes due while the run before waits out its backoff is skipped, as one
    still going would be, saying what the run before is doing: nothing runs meanwhile."""
    eng = make_engine("""
        [jobs.f]
        kind = "command"
        command = "exit 3"
        every = "1m"
        overlap = "skip"
        retry = { attempts = 2, backoff = "1h" }
    """)
    t0 = time.time()
    eng.tick(now=t0)  # plans the first slot
    eng.tick(now=t0 + 61)
    [first] = eng.store.list_runs(job="f")
    eng.watcher.wait(first["id"], "retrying")
    eng.tick(now=t0 + 121)
    skipped = eng.store.list_runs(job="f")[0]
    assert (skipped["state"], skipped["error"]) == (
        "skipped", 'the previous run was waiting for its next attempt (overlap = "skip")')


def test_manual_retry_gets_a_fresh_budget(make_engine):
    eng = make_engine("""
        [jobs.bad]
        kind = "demo"
        steps = 2
        step_time = 0
        fail_times = 2
        retry = { attempts = 2, backoff = "0.1s", jitter = false }
    """)
    rid = eng.submit("bad")
    assert eng.watcher.wait(rid)["state"] == "failed"
    assert eng.store.get_run(rid)["attempt"] == 2  # the first run's budget is spent
    again = eng.retry(rid)
    run = eng.watcher.wait(again)
    assert run["trigger"] == "retry" and run["retry_of"] == rid
    # The retry counts its own attempts from 1 with the job's full budget, so it is tried
    # twice more (and, since the demo fails its first two attempts of each run, fails again).
    assert run["max_attempts"] == 2 and run["attempt"] == 2
    assert [(a["attempt"], a["state"]) for a in eng.store.attempts(again)] == [
        (1, "retrying"), (2, "failed")]
    assert run["state"] == "failed" and "attempt 2, told to fail 2 times" in run["error"]
    old = eng.store.get_run(rid)
    assert old["state"] == "failed" and old["attempt"] == 2  # the old run is left as it was
    assert len(eng.store.attempts(rid)) == 2


def test_then_chains_after_success_only(make_engine):
    eng = make_engine("""
        [jobs.first]
        kind = "demo"
        steps = 1
        step_time = 0
        then = ["second"]
        [jobs.second]
        kind = "demo"
        steps = 1
        step_time = 0
        [jobs.broken]
        kind = "demo"
        fail_times = 5
        steps = 2
        step_time = 0
        retry = { attempts = 1 }
        then = ["second"]
    """)
    rid = eng.submit("first")
    eng.watcher.wait(rid)
    chained = [r for r in eng.store.list_runs(job="second")]
    assert len(chained) == 1 and chained[0]["parent_run"] == rid
    assert eng.watcher.wait(chained[0]["id"])["state"] == "succeeded"
    assert eng.watcher.wait(eng.submit("broken"))["state"] == "failed"
    assert len(eng.store.list_runs(job="second")) == 1


def test_pause_holds_runs_and_survives_restart(make_engine):
    eng = make_engine(DEMO)
    eng.set_paused(True)
    rid = eng.submit("ok", trigger="schedule")
    assert eng.store.get_run(rid)["state"] == "queued"
    eng.stop()
    eng2 = make_engine()
    assert eng2.paused() is True
    assert eng2.store.get_run(rid)["state"] == "queued"
    eng2.set_paused(False)
    assert eng2.watcher.wait(rid)["state"] == "succeeded"


def test_quit_interrupts_and_next_start_resumes(make_engine):
    eng = make_engine("""
        [jobs.slow]
        kind = "demo"
        steps = 30
        step_time = 0.05
    """)
    rid = eng.submit("slow")
    eng.watcher.wait(rid, "running")
    eng.stop()  # at once, well inside the run's 1.5 s
    run = eng.store.get_run(rid)
    assert run["state"] == "interrupted"
    assert "resumes when trayjobs starts again" in run["error"]
    eng2 = make_engine()
    resumed = eng2.store.list_runs(job="slow", limit=1)[0]
    assert resumed["trigger"] == "recovered" and resumed["retry_of"] == rid
    assert eng2.watcher.wait(resumed["id"], timeout=30)["state"] == "succeeded"


def test_a_run_whose_job_was_removed_fails_clearly(make_engine, write_config):
    eng = make_engine(DEMO)
    eng.set_paused(True)
    rid = eng.submit("ok", trigger="schedule")
    write_config("[jobs.other]\nkind = 'demo'\n")
    eng.reload_config()
    eng.set_paused(False)
    run = eng.watcher.wait(rid)
    assert run["state"] == "failed"
    assert "no longer in the config file" in run["error"]


def test_a_run_whose_job_has_a_mistake_now_says_which(make_engine, write_config):
    # A job edited into a mistake (between two attempts, or while its run waited) is still
    # in the file: "no longer in the config file" sent one looking for a deleted job.
    eng = make_engine(DEMO)
    eng.set_paused(True)
    rid = eng.submit("ok", trigger="schedule")
    write_config(DEMO + "stepz = 3\n")
    eng.reload_config()
    eng.set_paused(False)
    run = eng.watcher.wait(rid)
    assert run["state"] == "failed"
    assert run["error"].startswith("The job 'ok' is left out of the config file until its "
                                   "mistake is fixed (")
    assert "key 'stepz': unknown key; did you mean 'steps'?" in run["error"]
    assert run["error"].endswith("); fix it, then retry this run.")


def test_a_burst_waits_in_the_store_not_the_queue(make_engine):
    eng = make_engine("""
        [jobs.many]
        kind = "demo"
        steps = 1
        step_time = 0.01
        overlap = "parallel"
    """, workers=2)
    ids = [eng.submit("many", trigger="watch") for _ in range(60)]
    assert eng.queue.pending_count() <= 4  # 2 workers x 2 at most in the queue
    runs = [eng.watcher.wait(i) for i in ids]
    assert all(r["state"] == "succeeded" for r in runs)
    starts = [r["started_at"] for r in runs]
    # Drained in arrival order (allowing the two workers to interleave neighbours).
    assert sum(1 for a, b in zip(starts, starts[2:]) if a > b) == 0


def test_the_embedded_consumer_leaves_signal_handlers_alone(make_engine):
    import signal
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    eng = make_engine(DEMO)
    assert eng.watcher.wait(eng.submit("ok"))["state"] == "succeeded"
    assert {s: signal.getsignal(s) for s in before} == before


def test_idle_workers_sleep_without_polling(make_engine):
    eng = make_engine(DEMO)
    workers = [w for w, _ in eng.queue._consumer.worker_threads]
    # No timeout: an idle worker wakes only when the doorbell rings (enqueue or control socket).
    assert all(w.idle_timeout is None for w in workers)
    seen = eng.queue.doorbell.generation
    assert eng.watcher.wait(eng.submit("ok"))["state"] == "succeeded"
    assert eng.queue.doorbell.generation > seen


def test_a_wake_up_asked_for_while_the_scheduler_looks_is_not_lost(make_engine, monkeypatch):
    # A retry recorded while the scheduler was in its tick (planning without it) asks it to
    # look again; the scheduler then went to sleep for up to a minute, and the retry, due
    # a fraction of a second later, waited that long.
    import threading
    import time

    from trayjobs.engine.engine import Engine
    looks: list[float] = []
    second = threading.Event()

    def tick(self, now=None):
        looks.append(time.monotonic())
        if len(looks) == 1:
            self._wake_scheduler()  # as a run's end does on another thread, mid-tick
        else:
            second.set()
        return None  # nothing planned: sleep until woken (or a minute)

    monkeypatch.setattr(Engine, "tick", tick)
    make_engine('[jobs.a]\nkind = "demo"\nsteps = 0\n')
    assert second.wait(10), "the wake-up asked for during the first look was lost"
    assert looks[1] - looks[0] < 5


def test_a_run_that_ends_while_a_dispatch_looks_frees_its_slot_for_the_next(make_engine):
    """The end of a run and a dispatch that saw its slot taken cross: the run that waits
    for the slot still starts (no one else would hand it over)."""
    import threading

    eng = make_engine("""
        [jobs.q]
        kind = "demo"
        steps = 4
        step_time = 0.05
        overlap = "queue"
    """, workers=1, start=False)
    ended = threading.Event()
    execute = eng._execute

    def _execute(run_id):
        execute(run_id)
        ended.set()

    eng._execute = _execute  # what the consumer's workers call
    eng.start()
    first = eng.submit("q")
    eng.watcher.wait(first, "running")
    eng.dispatch_pending()  # nothing waits now
    looking = eng.store.waiting_jobs
    # The dispatch for the second run has seen the first one's slot taken; it goes on
    # once the first run has ended and its worker has looked for waiting runs.
    eng.store.waiting_jobs = lambda: (ended.wait(10), looking())[1]
    second = eng.submit("q")
    eng.store.waiting_jobs = looking
    assert eng.watcher.wait(first)["state"] == "succeeded"
    assert eng.watcher.wait(second, timeout=5)["state"] == "succeeded"
