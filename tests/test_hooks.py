"""Hooks: ``then``, ``on_failure`` and ``always`` start other jobs after a run ends, with a
real engine, job processes and SQLite; loops of hooks are refused, and a chain that runs
away anyway is stopped."""

from __future__ import annotations

import dataclasses
from textwrap import dedent

from helpers import trayjobs, wait_until
from trayjobs.config import MAX_CHAIN, parse_config

ECHO_PARENT = """
    def main(ctx):
        return {"summary": f"after {ctx.parent and ctx.parent['state']}", "parent": ctx.parent}
"""


def children(eng, run_id: int, job: str | None = None) -> list[dict]:
    return [r for r in eng.store.list_runs(job=job, limit=1000) if r["parent_run"] == run_id]


def test_on_failure_runs_after_the_final_failure_only(make_engine, tmp_path):
    diag = tmp_path / "diag.py"
    diag.write_text(dedent(ECHO_PARENT))
    eng = make_engine(f"""
        [jobs.flaky]
        kind = "demo"
        steps = 2
        step_time = 0
        fail_times = 1
        retry = {{ attempts = 2, backoff = 0 }}
        on_failure = "diag"
        [jobs.broken]
        kind = "demo"
        steps = 2
        step_time = 0
        fail_times = 9
        retry = {{ attempts = 3, backoff = 0 }}
        on_failure = ["diag"]
        [jobs.diag]
        kind = "python"
        file = '{diag}'
    """)
    flaky = eng.watcher.wait(eng.submit("flaky"))
    assert flaky["state"] == "succeeded" and flaky["attempt"] == 2
    assert children(eng, flaky["id"]) == []  # its failed first attempt was retried

    broken = eng.watcher.wait(eng.submit("broken"), timeout=30)
    assert broken["state"] == "failed" and broken["attempt"] == 3
    [child] = children(eng, broken["id"])  # once, after the third attempt
    assert child["job"] == "diag" and child["trigger"] == "chain"
    assert child["created_at"] >= broken["finished_at"]
    done = eng.watcher.wait(child["id"])
    assert done["state"] == "succeeded", done
    parent = done["result"]["parent"]
    assert parent["id"] == broken["id"] and parent["job"] == "broken"
    assert parent["state"] == "failed" and parent["hook"] == "on_failure"
    assert "told to fail 9 times" in parent["error"]
    assert [r["job"] for r in eng.store.list_runs(job="diag")] == ["diag"]

    # trayjobs show of the failed run names the run its hook started, as the window does
    shown = trayjobs(eng.home, "show", str(broken["id"]), check=True).stdout
    assert f"hooks started:\n  on_failure: run {child['id']} of diag, succeeded\n" in shown


def test_always_runs_after_success_failure_and_cancel(make_engine, tmp_path):
    after = tmp_path / "after.py"
    after.write_text(dedent(ECHO_PARENT))
    eng = make_engine(f"""
        [jobs.ok]
        kind = "demo"
        steps = 1
        step_time = 0
        always = "after"
        [jobs.bad]
        kind = "demo"
        steps = 2
        step_time = 0
        fail_times = 9
        retry = {{ attempts = 1 }}
        always = "after"
        then = "after"
        [jobs.slow]
        kind = "demo"
        steps = 10000
        step_time = 0.01
        always = "after"
        [jobs.twice]
        kind = "demo"
        steps = 0
        then = ["after", "after"]
        always = "after"
        [jobs.after]
        kind = "python"
        file = '{after}'
    """)
    ok = eng.watcher.wait(eng.submit("ok"))
    bad = eng.watcher.wait(eng.submit("bad"))
    twice = eng.watcher.wait(eng.submit("twice"))
    first = wait_until(lambda: children(eng, twice["id"]))[0]
    assert eng.watcher.wait(first["id"])["result"]["parent"]["hook"] == "then"
    # The hooks were all started before the first of them ran: named three times for a
    # success, it was started once.
    assert [r["id"] for r in children(eng, twice["id"])] == [first["id"]]
    slow = eng.submit("slow")
    eng.watcher.wait(slow, "running")
    eng.cancel(slow)
    slow = eng.watcher.wait(slow)
    assert (ok["state"], bad["state"], slow["state"]) == ("succeeded", "failed", "cancelled")
    for parent in (ok, bad, slow):
        [child] = children(eng, parent["id"])  # bad's 'then' is not for a failure
        got = eng.watcher.wait(child["id"])["result"]["parent"]
        assert (got["state"], got["hook"]) == (parent["state"], "always")


def test_the_parent_outputs_and_summary_reach_the_child(make_engine, tmp_path):
    (tmp_path / "make.py").write_text(dedent("""
        def main(ctx):
            out = ctx.home.root / "made.txt"
            out.write_text("made")
            return {"summary": "made one file", "outputs": [str(out)]}
    """))
    (tmp_path / "use.py").write_text(dedent(ECHO_PARENT))
    eng = make_engine(f"""
        [jobs.make]
        kind = "python"
        file = '{tmp_path / "make.py"}'
        then = ["use"]
        [jobs.use]
        kind = "python"
        file = '{tmp_path / "use.py"}'
    """)
    made = eng.watcher.wait(eng.submit("make"))
    [child] = children(eng, made["id"])
    assert child["inputs"]["parent"]["id"] == made["id"]
    got = eng.watcher.wait(child["id"])["result"]["parent"]
    assert got == {"id": made["id"], "job": "make", "state": "succeeded", "hook": "then",
                   "outputs": [str(eng.home.root / "made.txt")], "summary": "made one file",
                   "error": None, "warnings": []}
    # A run nobody's hook started has no parent.
    alone = eng.watcher.wait(eng.submit("use"))
    assert alone["result"] == {"summary": "after None", "parent": None}


LOOPS = """
[jobs.self]
kind = "demo"
then = "self"

[jobs.a]
kind = "demo"
then = ["b"]

[jobs.b]
kind = "demo"
on_failure = ["a"]

[jobs.x]
kind = "demo"
always = ["y"]

[jobs.y]
kind = "demo"
then = ["z"]

[jobs.z]
kind = "demo"
on_failure = "x"

[jobs.fine]
kind = "demo"
then = ["a"]
always = ["tail"]

[jobs.tail]
kind = "demo"
"""


def test_loops_of_hooks_are_refused_at_load_naming_the_loop():
    cfg = parse_config(LOOPS)
    assert sorted(cfg.jobs) == ["fine", "tail"]  # the others keep working
    errors = {e.job: (e.key, e.message) for e in cfg.errors}
    assert set(errors) == {"self", "a", "b", "x", "y", "z"}
    assert errors["self"][0] == "then" and "self -> self" in errors["self"][1]
    assert errors["a"][0] == "then" and "a -> b -> a" in errors["a"][1]
    assert errors["b"][0] == "on_failure" and "b -> a -> b" in errors["b"][1]
    assert errors["x"][0] == "always" and "x -> y -> z -> x" in errors["x"][1]
    assert errors["z"][0] == "on_failure" and "z -> x -> y -> z" in errors["z"][1]
    assert all("loop" in msg for _, msg in errors.values())


def test_a_long_loop_is_named_by_its_ends_and_counted_in_between():
    # Each of its jobs named the whole loop: 2,000 jobs on one loop made trayjobs check
    # write 2,000 names 2,000 times, 32 MB.
    n = 2000
    cfg = parse_config("".join(f'[jobs.j{i}]\nkind = "demo"\nthen = "j{(i + 1) % n}"\n'
                               for i in range(n)))
    assert len(cfg.errors) == n and cfg.jobs == {}
    first = next(e.message for e in cfg.errors if e.job == "j0")
    assert ("j0 -> j1 -> j2 -> j3 -> j4 -> j5 -> ... (1989 more) ... -> j1995 -> j1996 -> "
            "j1997 -> j1998 -> j1999 -> j0; remove one of these hooks") in first
    assert max(len(e.message) for e in cfg.errors) < 300


def test_a_chain_that_meets_twice_is_no_loop():
    cfg = parse_config("""
        [jobs.a]
        kind = "demo"
        then = ["b", "c"]
        always = "d"
        [jobs.b]
        kind = "demo"
        then = "d"
        [jobs.c]
        kind = "demo"
        on_failure = "d"
        [jobs.d]
        kind = "demo"
    """.replace("\n        ", "\n"))
    assert cfg.errors == [] and sorted(cfg.jobs) == ["a", "b", "c", "d"]


def test_hooks_must_name_jobs():
    cfg = parse_config('[jobs.a]\nkind = "demo"\non_failure = ["ghost"]\nalways = "nobody"\n')
    assert sorted(str(e.message) for e in cfg.errors) == [
        "'always' names 'nobody', which is not a job",
        "'on_failure' names 'ghost', which is not a job"]


def test_check_refuses_a_loop_and_names_it(home):
    home.config_file.write_text(LOOPS)
    out = trayjobs(home, "check")
    assert out.returncode == 1
    assert "a -> b -> a" in out.stderr and "self -> self" in out.stderr
    assert "x -> y -> z -> x" in out.stderr
    assert "2 jobs OK, 6 errors" in out.stdout


def test_check_says_where_a_chain_of_hooks_is_longer_than_the_engine_follows(home):
    # 25 jobs, each starting the next: no loop, but the engine stops after MAX_CHAIN.
    jobs = [f'[jobs.c{i}]\nkind = "demo"\n' + (f'then = "c{i + 1}"\n' if i < 24 else "")
            for i in range(25)]
    jobs.append('[jobs.short]\nkind = "demo"\nalways = "c10"\n')  # 16 jobs: fine
    home.config_file.write_text("\n".join(jobs))
    out = trayjobs(home, "check")
    assert out.returncode == 1
    assert "25 jobs OK, 1 error" in out.stdout  # c0 is kept, with its error
    assert ("job 'c0', key 'then': its hooks start a chain of 25 jobs one after another "
            f"(c0 -> c1 -> ... -> c24); runs stop after the {MAX_CHAIN}th started this way"
            in out.stderr), out.stderr


def test_the_engine_runs_the_jobs_outside_a_loop(make_engine):
    eng = make_engine(LOOPS)
    assert "self" not in eng.config.jobs
    run = eng.watcher.wait(eng.submit("fine"))
    assert run["state"] == "succeeded"
    [tail] = [c for c in children(eng, run["id"]) if c["job"] == "tail"]
    assert eng.watcher.wait(tail["id"])["state"] == "succeeded"
    # 'a' is refused, so fine's 'then' could not start it; its log says so.
    assert any("could not start 'a'" in l["message"] for l in eng.store.logs(run["id"]))


def test_a_chain_that_runs_away_anyway_is_stopped(make_engine):
    eng = make_engine("""
        [jobs.again]
        kind = "demo"
        steps = 0
    """)
    # A loop that loading would refuse, as a config edited between two checks might make it.
    job = eng.config.jobs["again"]
    eng.config.jobs["again"] = dataclasses.replace(
        job, common=job.common.model_copy(update={"then": ["again"]}))
    rid = eng.submit("again")
    chain = [eng.watcher.wait(rid)]
    while len(chain) <= MAX_CHAIN:
        # A run's end is stored before its hooks start the next one: wait for the child.
        [kid] = wait_until(lambda: children(eng, chain[-1]["id"]), timeout=10,
                           what=f"the run after {chain[-1]['id']}")
        chain.append(eng.watcher.wait(kid["id"]))
    last = chain[-1]
    wait_until(lambda: any(l["level"] == "error" for l in eng.store.logs(last["id"])),
               timeout=10, what="the chain's stop")
    assert not children(eng, last["id"])
    assert all(r["state"] == "succeeded" for r in chain)
    assert eng.store.count_runs(job="again") == MAX_CHAIN + 1
    [stop] = [l for l in eng.store.logs(last["id"]) if l["level"] == "error"]
    assert "not starting again" in stop["message"] and "loop" in stop["message"]


def test_a_foreground_run_says_the_runs_its_hooks_started_wait_for_a_worker(home):
    home.config_file.write_text(dedent("""
        [jobs.first]
        kind = "demo"
        steps = 1
        step_time = 0
        then = "second"
        [jobs.second]
        kind = "demo"
        steps = 1
        step_time = 0
    """))
    out = trayjobs(home, "run", "first", "--wait")
    assert out.returncode == 0, out.stderr
    rid = int(out.stdout.split()[0])
    assert (f"run {rid + 1} of second (then) waits in the queue: it starts when the app or "
            "`trayjobs worker` runs") in out.stderr


def test_a_run_cancelled_before_it_started_starts_no_hooks(make_engine):
    # A one-off cancelled before its time, a run cancelled while still queued: nothing ran,
    # so there is nothing for `always` (nor the others) to follow.
    import time
    eng = make_engine("""
        [jobs.later]
        kind = "demo"
        steps = 1
        step_time = 0
        always = "after"
        on_failure = "after"
        [jobs.after]
        kind = "demo"
        steps = 0
    """, start=False)
    one_off = eng.submit("later", trigger="cli", due_at=time.time() + 3600)
    queued = eng.submit("later", trigger="cli")
    assert eng.cancel(one_off) == eng.cancel(queued) == "cancelled"
    eng.start()
    eng.tick(time.time() + 7200)  # well past the one-off's time
    ran = eng.watcher.wait(eng.submit("later"))  # one that ran: its hook is started
    assert children(eng, ran["id"]) != []
    for rid in (one_off, queued):
        row = eng.store.get_run(rid)
        assert (row["state"], row["attempt"]) == ("cancelled", 0)
        assert children(eng, rid) == []


def test_a_run_cancelled_between_two_attempts_starts_its_always_hooks(make_engine, home):
    # Its first attempt ran (and failed): it started, and a cancel is how it ended, from the
    # window (the engine), or from `trayjobs cancel` (another process, no engine).
    from trayjobs.engine.control import Control
    eng = make_engine("""
        [jobs.flaky]
        kind = "demo"
        steps = 1
        step_time = 0
        fail_times = 9
        retry = { attempts = 3, backoff = "1h" }
        always = "after"
        on_failure = "diag"
        [jobs.after]
        kind = "demo"
        steps = 0
        [jobs.diag]
        kind = "demo"
        steps = 0
    """)
    cli = Control(home)
    try:
        for cancel in (eng.cancel, cli.cancel):
            rid = eng.submit("flaky")
            eng.watcher.wait(rid, "retrying")
            assert cancel(rid) == "cancelled"
            [child] = wait_until(lambda: children(eng, rid))
            assert child["job"] == "after" and child["trigger"] == "chain"
            assert "always of run" in child["note"]
            done = eng.watcher.wait(child["id"])
            assert done["state"] == "succeeded", done
    finally:
        cli.close()


def test_a_hook_does_not_start_a_disabled_job_and_says_so(make_engine, home):
    # enabled = false: the job never runs by itself, and a hook is not a person asking.
    eng = make_engine("""
        [jobs.first]
        kind = "demo"
        steps = 1
        step_time = 0
        then = ["off", "on"]
        always = "off"
        [jobs.off]
        kind = "demo"
        steps = 0
        enabled = false
        [jobs.on]
        kind = "demo"
        steps = 0
    """)
    first = eng.watcher.wait(eng.submit("first"))
    assert first["state"] == "succeeded", first
    [on] = wait_until(lambda: [r for r in children(eng, first["id"]) if r["job"] == "on"])
    eng.watcher.wait(on["id"])
    assert [r["job"] for r in children(eng, first["id"])] == ["on"]
    said = [(l["level"], l["message"]) for l in eng.store.logs(first["id"])
            if "disabled" in l["message"]]
    assert said == [("warning", "then: 'off' was not started: it is disabled "
                                "(enabled = false in its job)")], said
    out = trayjobs(home, "check")
    assert out.returncode == 0, out.stderr
    assert ("note: job 'first', key 'then': 'off' is disabled (enabled = false), so this "
            "hook does not start it") in out.stderr, out.stderr
    assert ("note: job 'first', key 'always': 'off' is disabled") in out.stderr, out.stderr


def test_a_hook_naming_a_job_almost_is_answered_with_the_one_meant():
    cfg = parse_config('[jobs.backup]\nkind = "demo"\n[jobs.a]\nkind = "demo"\n'
                       'then = ["Backup"]\non_failure = ["bakup"]\n')
    assert sorted(e.message for e in cfg.errors) == [
        "'on_failure' names 'bakup', which is not a job; did you mean 'backup'?",
        "'then' names 'Backup', which is not a job; did you mean 'backup'?"]
