"""Several machines: three ``trayjobs worker`` processes, each in its own home with its
own host name (``TRAYJOBS_HOST``), sharing one run history (``[cluster] database``, a
SQLite file) and a real redis-server (``[cluster] redis``). Each run runs once, whoever
dies; one of them fires the schedules; pinned runs run only on their host; a cancel
typed on one home stops a run going on another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from helpers import trayjobs, wait_until
from redis_support import redis_server  # noqa: F401  (a fixture)
from trayjobs.engine.control import Control
from trayjobs.instance import InstanceLock
from trayjobs.paths import Home
from trayjobs.store import FINAL_STATES, RunStore

LEASE = 2.0

# Three workers each, on a 2 s lease: in a parallel run (`dev.sh test`: pytest-xdist) one
# process takes them all, one test at a time. Two such tests at once starve each other's
# workers, and a worker that could not beat for its lease has its run taken as lost.
pytestmark = pytest.mark.xdist_group("cluster")

JOBS = """
[settings]
workers = 2

[jobs.noop]
kind = "demo"
steps = 0
step_time = 0
overlap = "parallel"

[jobs.slow]
kind = "demo"
steps = 100
step_time = 0.05
overlap = "parallel"

[jobs.pinned]
kind = "demo"
steps = 1
step_time = 0.01
overlap = "parallel"
host = "m2"

[jobs.nowhere]
kind = "demo"
steps = 0
step_time = 0
host = "m9"
"""

TICK = """
[jobs.tick]
kind = "demo"
steps = 0
step_time = 0
every = "1s"
missed = "all"
"""


class Cluster:
    """Homes m1, m2, m3 (and a CLI-only home, ``desk``) on one history and one Redis."""

    def __init__(self, root: Path, *, redis_url: str | None, extra: str = "",
                 database: str | None = None) -> None:
        self.root = root
        self.db = root / "shared" / "runs.db"
        self.db.parent.mkdir(parents=True)
        # A shared SQLite file, or (TRAYJOBS_TEST_STORE=postgres) a PostgreSQL database.
        url = database or f"sqlite:///{self.db}"
        cluster = f'[cluster]\ndatabase = "{url}"\nlease = "{LEASE}s"\n'
        if redis_url:
            cluster += f'redis = "{redis_url}"\n'
        self.text = cluster + JOBS + extra
        self.homes: dict[str, Home] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        for name in ("m1", "m2", "m3", "desk"):
            home = Home.under(root / name).ensure()
            home.config_file.write_text(self.text, encoding="utf-8")
            self.homes[name] = home
        if database:
            from trayjobs.store.postgres import PgRunStore
            self.store = PgRunStore(database)
        else:
            self.store = RunStore(self.db)

    def env(self, name: str) -> dict[str, str]:
        return dict(os.environ, TRAYJOBS_HOME=str(self.homes[name].root), TRAYJOBS_HOST=name)

    def start(self, name: str) -> subprocess.Popen:
        home = self.homes[name]
        with open(home.log_dir / "worker-test.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "worker"],
                                    env=self.env(name), stdout=log, stderr=log)
        self.procs[name] = proc
        wait_until(lambda: InstanceLock(home).is_locked() or proc.poll() is not None, 30)
        assert proc.poll() is None, self.log(name)
        wait_until(lambda: any(w["host"] == name and w["state"] == "running"
                               for w in self.store.workers()), 30, what=f"{name} registered")
        return proc

    def log(self, name: str) -> str:
        return (self.homes[name].log_dir / "worker-test.log").read_text()

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.terminate()
        proc.wait(30)

    def control(self, name: str = "desk") -> Control:
        os.environ["TRAYJOBS_HOST"] = name  # the process submitting plays that machine
        return Control(self.homes[name])

    def worker_hosts(self) -> dict[int, str]:
        return {w["id"]: w["host"] for w in self.store.workers()}

    def runs(self, job: str | None = None) -> list[dict]:
        return self.store.list_runs(job=job, limit=1_000_000)

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name)
        self.store.close()


@pytest.fixture
def make_cluster(tmp_path, monkeypatch, test_database):
    monkeypatch.setenv("TRAYJOBS_HOST", "desk")
    made: list[Cluster] = []

    def make(redis_url: str | None, *, extra: str = "", start=("m1", "m2", "m3")) -> Cluster:
        c = Cluster(tmp_path, redis_url=redis_url, extra=extra, database=test_database)
        made.append(c)
        for name in start:
            c.start(name)
        return c

    yield make
    for c in made:
        c.close()


def _all_ended(c: Cluster, ids: list[int], timeout: float) -> list[dict]:
    want = set(ids)

    def ended():
        runs = [r for r in c.runs() if r["id"] in want]
        return len(runs) == len(want) and all(r["state"] in FINAL_STATES for r in runs) and runs
    return wait_until(ended, timeout, interval=0.1, what=f"{len(want)} runs ended")


def _attempts(c: Cluster, ids) -> Counter:
    return Counter(len(c.store.attempts(i)) for i in ids)


# -- each run once -----------------------------------------------------------------------------

def _runs_each_once(c: Cluster, n: int, timeout: float) -> None:
    ctl = c.control()
    try:
        ids = [ctl.submit("noop", trigger="cli") for _ in range(n)]
    finally:
        ctl.close()
    runs = _all_ended(c, ids, timeout)
    assert {r["state"] for r in runs} == {"succeeded"}
    assert {r["attempt"] for r in runs} == {1}
    assert _attempts(c, ids) == Counter({1: n})  # each ran exactly once
    hosts = c.worker_hosts()  # once: a query per run was 10,000 of them
    by_host = Counter(hosts[r["worker_id"]] for r in runs)
    assert set(by_host) == {"m1", "m2", "m3"}, by_host  # all three took their share


def test_1000_runs_on_three_machines_with_redis_each_run_once(redis_server,  # noqa: F811
                                                             make_cluster):
    c = make_cluster(redis_server.url())
    _runs_each_once(c, 1000, 180)


def test_1000_runs_on_three_machines_without_redis_each_run_once(make_cluster):
    # No Redis: each home's queue is its own file; the engines meet in the history.
    c = make_cluster(None)
    _runs_each_once(c, 1000, 180)


@pytest.mark.slow
def test_10000_runs_on_three_machines_with_redis_each_run_once(redis_server,  # noqa: F811
                                                              make_cluster):
    c = make_cluster(redis_server.url())
    _runs_each_once(c, 10_000, 1200)


def test_redis_restarted_mid_burst_loses_nothing(redis_server, make_cluster):  # noqa: F811
    c = make_cluster(redis_server.url())
    ctl = c.control()
    try:
        ids = [ctl.submit("noop", trigger="cli") for _ in range(300)]
        wait_until(lambda: sum(r["state"] == "succeeded" for r in c.runs()) >= 30, 60,
                   interval=0.05, what="the burst under way")
        redis_server.restart()  # no persistence: its queue is gone
        ids += [ctl.submit("noop", trigger="cli") for _ in range(200)]
    finally:
        ctl.close()
    runs = _all_ended(c, ids, 180)
    assert {r["state"] for r in runs} == {"succeeded"}
    assert _attempts(c, ids) == Counter({1: len(ids)})


# -- a worker killed -------------------------------------------------------------------------

def test_kill_9_of_a_worker_mid_run_its_run_recovered_once_by_the_others(
        redis_server, make_cluster):  # noqa: F811
    c = make_cluster(redis_server.url())
    ctl = c.control()
    try:
        ids = [ctl.submit("slow", trigger="cli") for _ in range(6)]  # two per machine
    finally:
        ctl.close()
    wait_until(lambda: sum(r["state"] == "running" for r in c.runs("slow")) == 6, 30,
               what="six runs going")
    hosts = c.worker_hosts()
    victims = [r["id"] for r in c.runs("slow") if hosts[r["worker_id"]] == "m1"]
    assert victims
    c.kill("m1")
    killed = time.time()
    recovered = wait_until(lambda: len([r for r in c.runs("slow")
                                        if r["trigger"] == "recovered"]) == len(victims)
                           and [r for r in c.runs("slow") if r["trigger"] == "recovered"],
                           30, what="the killed worker's runs resumed")
    for victim in victims:
        old = c.store.get_run(victim)
        assert old["state"] == "interrupted" and "m1" in old["error"]
        assert old["finished_at"] <= killed  # it ended when its worker was last heard of
    # ... and was not recovered before that worker's lease was up.
    assert all(r["created_at"] - killed >= LEASE - 0.5 for r in recovered)
    assert sorted(r["retry_of"] for r in recovered) == sorted(victims)
    ends = _all_ended(c, ids + [r["id"] for r in recovered], 60)
    assert all(r["state"] == "succeeded" for r in ends if r["id"] not in victims)
    assert {hosts.get(r["worker_id"]) or c.worker_hosts()[r["worker_id"]]
            for r in ends if r["id"] not in victims and r["id"] not in ids} <= {"m2", "m3"}
    time.sleep(LEASE)  # later looks by the others change nothing
    assert len([r for r in c.runs("slow") if r["trigger"] == "recovered"]) == len(victims)


# -- one scheduler ------------------------------------------------------------------------------

def _slots(c: Cluster) -> list[float]:
    return sorted(r["inputs"]["scheduled_for"] for r in c.runs("tick")
                  if r["trigger"] in ("schedule", "catch-up"))


def test_one_leader_fires_each_slot_once_and_the_next_takes_over_when_it_is_killed(
        redis_server, make_cluster):  # noqa: F811
    c = make_cluster(redis_server.url(), extra=TICK)
    lead = c.store.lead()
    leader = c.worker_hosts()[lead["worker_id"]]
    wait_until(lambda: len(_slots(c)) >= 4, 20, what="the schedule firing")
    c.kill(leader)
    killed = time.time()
    wait_until(lambda: c.store.lead()["worker_id"] != lead["worker_id"]
               and c.store.lead()["held"], 20, what="another engine leading")
    new = c.store.lead()
    assert new["token"] > lead["token"]
    assert time.time() - killed < LEASE + 2
    wait_until(lambda: any(s > killed + 2 for s in _slots(c)), 20, what="slots after the kill")
    slots = _slots(c)
    assert len(slots) == len(set(slots)), "a slot fired twice"
    gaps = [b - a for a, b in zip(slots, slots[1:])]
    assert all(abs(g - 1.0) < 0.01 for g in gaps), gaps  # missed = "all": none is lost
    # The slots the dead leader missed were caught up by the new one.
    # The slots after the kill are the new leader's, fired once the old one's lease was
    # up (a late slot fires late, "schedule" still; one missed would be a catch-up run).
    hosts = c.worker_hosts()
    after = [r for r in c.runs("tick") if r["created_at"] > killed]
    assert after and leader not in {hosts[r["worker_id"]] for r in after if r["worker_id"]}
    assert min(r["created_at"] for r in after) - killed >= LEASE - LEASE / 6 - 0.2


def test_a_clean_stop_hands_the_lead_over_at_once(redis_server, make_cluster):  # noqa: F811
    c = make_cluster(redis_server.url(), extra=TICK)
    lead = c.store.lead()
    leader = c.worker_hosts()[lead["worker_id"]]
    c.stop(leader)
    stopped = time.time()
    wait_until(lambda: (c.store.lead() or {}).get("held"), 10, interval=0.02,
               what="a new lead")
    assert time.time() - stopped < LEASE / 2  # told at once, not after the lease
    slots_then = len(_slots(c))
    wait_until(lambda: len(_slots(c)) >= slots_then + 2, 10, what="the schedule going on")
    slots = _slots(c)
    assert len(slots) == len(set(slots))


def test_without_redis_the_lead_and_slots_hold_too(make_cluster):
    c = make_cluster(None, extra=TICK)
    wait_until(lambda: len(_slots(c)) >= 3, 20, what="the schedule firing")
    leader = c.worker_hosts()[c.store.lead()["worker_id"]]
    c.kill(leader)
    killed = time.time()
    wait_until(lambda: any(s > killed + 2 for s in _slots(c)), 20, what="slots after the kill")
    slots = _slots(c)
    assert len(slots) == len(set(slots))
    assert all(abs(b - a - 1.0) < 0.01 for a, b in zip(slots, slots[1:]))


# -- where a job runs -------------------------------------------------------------------------

@pytest.mark.parametrize("with_redis", [True, False], ids=["redis", "store"])
def test_a_pinned_job_runs_only_on_its_host(request, with_redis):
    # Redis first, so that it outlives the workers (fixtures end in reverse order).
    url = request.getfixturevalue("redis_server").url() if with_redis else None
    make_cluster = request.getfixturevalue("make_cluster")
    c = make_cluster(url)
    ctl = c.control("m1")
    try:
        ids = [ctl.submit("pinned", trigger="cli") for _ in range(40)]
        ids += [ctl.submit("noop", trigger="cli") for _ in range(40)]
    finally:
        ctl.close()
    runs = _all_ended(c, ids, 60)
    hosts = c.worker_hosts()
    assert {hosts[r["worker_id"]] for r in runs if r["job"] == "pinned"} == {"m2"}
    assert {r["host"] for r in runs if r["job"] == "pinned"} == {"m2"}
    assert {r["host"] for r in runs if r["job"] == "noop"} == {None}  # any worker's


WRITES = """
[jobs.writes]
kind = "command"
command = 'echo made > "$TRAYJOBS_OUTPUT_DIR/made.txt"'
host = "m2"
"""


@pytest.mark.parametrize("with_redis", [True, False], ids=["redis", "store"])
def test_pruning_on_one_machine_removes_the_output_folders_on_the_others(request, with_redis):
    url = request.getfixturevalue("redis_server").url() if with_redis else None
    make_cluster = request.getfixturevalue("make_cluster")
    c = make_cluster(url, extra=WRITES, start=("m1", "m2"))
    ctl = c.control("desk")
    try:
        old, kept = (ctl.submit("writes", trigger="cli") for _ in range(2))
        runs = _all_ended(c, [old, kept], 30)
        assert [r["state"] for r in runs] == ["succeeded"] * 2
        folders = {r: c.homes["m2"].run_outputs(r) for r in (old, kept)}
        assert all((f / "made.txt").is_file() for f in folders.values())
        # Settings › Clean up now, on a machine where neither ran
        assert ctl.prune_history(keep_days=365, keep_runs=1, keep_failed_days=365) == 1
    finally:
        ctl.close()
    wait_until(lambda: not folders[old].exists(), 20, what="m2 removing the pruned run's folder")
    assert (folders[kept] / "made.txt").is_file()


def test_a_pinned_run_whose_host_has_no_worker_waits_and_says_so(redis_server,  # noqa: F811
                                                                 make_cluster):
    c = make_cluster(redis_server.url(), start=("m1", "m3"))
    ctl = c.control()
    try:
        rid = ctl.submit("pinned", trigger="cli")
    finally:
        ctl.close()
    wait_until(lambda: c.store.get_run(rid)["wait_reason"], 10, what="a reason")
    run = c.store.get_run(rid)
    assert run["state"] == "queued" and run["attempt"] == 0
    shown = trayjobs(c.homes["desk"], "show", str(rid), env={"TRAYJOBS_HOST": "desk"},
                     check=True).stdout
    assert "waits for a worker on m2: none is running there" in shown
    c.start("m2")
    done = _all_ended(c, [rid], 30)[0]
    assert done["state"] == "succeeded" and c.worker_hosts()[done["worker_id"]] == "m2"


def test_run_wait_says_why_a_pinned_run_waits_then_follows_it(redis_server,  # noqa: F811
                                                               make_cluster, tmp_path):
    c = make_cluster(redis_server.url(), start=("m1",))
    err = tmp_path / "run-wait.err"
    with open(err, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "run", "pinned", "--wait"],
                                env=c.env("desk"), stdout=subprocess.PIPE, stderr=out)
    try:
        wait_until(lambda: "waits for a worker on m2: none is running there" in
                   err.read_text(), 20, what="run --wait saying why it waits")
        c.start("m2")
        assert proc.wait(30) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    assert "succeeded" in err.read_text()


def test_file_runs_go_to_the_host_they_were_started_on(redis_server, make_cluster,  # noqa: F811
                                                       tmp_path):
    extra = '\n[jobs.count]\nkind = "command"\ncommand = "cat {files}"\n'
    c = make_cluster(redis_server.url(), extra=extra)
    f = tmp_path / "in.txt"
    f.write_text("x\n")
    ctl = c.control("m3")
    try:
        ids = [ctl.submit("count", trigger="cli", files=[f]) for _ in range(6)]
    finally:
        ctl.close()
    runs = _all_ended(c, ids, 60)
    assert {r["host"] for r in runs} == {"m3"}
    assert {c.worker_hosts()[r["worker_id"]] for r in runs} == {"m3"}


# -- control everywhere -------------------------------------------------------------------------

@pytest.mark.parametrize("with_redis", [True, False], ids=["redis", "store"])
def test_cancel_from_another_home_stops_a_run_going_on_a_worker(request, with_redis):
    # Redis first, so that it outlives the workers (fixtures end in reverse order).
    url = request.getfixturevalue("redis_server").url() if with_redis else None
    make_cluster = request.getfixturevalue("make_cluster")
    c = make_cluster(url, start=("m1",))
    ctl = c.control("m1")
    try:
        rid = ctl.submit("slow", trigger="cli")
    finally:
        ctl.close()
    wait_until(lambda: (c.store.get_run(rid)["progress_done"] or 0) >= 2, 30,
               what="the run going")
    asked = time.monotonic()
    out = trayjobs(c.homes["desk"], "cancel", str(rid), env={"TRAYJOBS_HOST": "desk"},
                   check=True)
    assert "stop" in (out.stdout + out.stderr)
    run = wait_until(lambda: c.store.get_run(rid)["state"] in FINAL_STATES
                     and c.store.get_run(rid), 20, what="the run stopped")
    took = time.monotonic() - asked
    assert run["state"] == "cancelled"
    assert run["progress_done"] < 100
    # A new CLI process starts, then the message travels (at the next heartbeat, by the
    # store): seconds on a loaded machine, never the run's 5 s.
    assert took < (3.0 if with_redis else LEASE / 6 + 3.0), took


def test_pause_and_run_now_from_another_home_reach_the_workers(redis_server,  # noqa: F811
                                                                make_cluster):
    c = make_cluster(redis_server.url(), extra=TICK, start=("m1", "m2"))
    wait_until(lambda: len(_slots(c)) >= 2, 20, what="the schedule firing")
    desk = c.homes["desk"]
    env = {"TRAYJOBS_HOST": "desk"}
    trayjobs(desk, "pause", "tick", env=env, check=True)
    time.sleep(0.3)
    before = len(_slots(c))
    time.sleep(2.5)
    assert len(_slots(c)) <= before + 1  # a slot being fired as the pause came, at most
    trayjobs(desk, "resume", "tick", env=env, check=True)
    wait_until(lambda: len(_slots(c)) > before + 1, 20, what="the schedule again")
    # "Run now" from a home that runs no worker: the cluster's workers run it.
    out = trayjobs(desk, "run", "noop", env=env, check=True)
    rid = int(out.stdout.split()[0])
    done = _all_ended(c, [rid], 20)[0]
    assert done["state"] == "succeeded"
    assert c.worker_hosts()[done["worker_id"]] in ("m1", "m2")


# -- the store's side (what a store on a server must do the same way) ---------------------------

def test_the_lead_is_taken_by_compare_and_set_with_a_growing_token(tmp_path):
    s = RunStore(tmp_path / "runs.db")
    try:
        a = s.register_worker(host="a", pid=1, version="x", mode="worker", lease=10, now=100)
        b = s.register_worker(host="b", pid=2, version="x", mode="worker", lease=10, now=100)
        assert s.take_lead(a, lease=10, now=100) == 1
        assert s.take_lead(b, lease=10, now=101) is None  # held
        assert s.take_lead(a, lease=10, now=105) == 1  # renewed: the same token
        s.beat(b, now=112)
        assert s.take_lead(b, lease=10, now=116) == 2  # a's lease is up
        assert s.lead(now=116)["host"] == "b"
        assert s.release_lead(b) and s.take_lead(a, lease=10, now=117) is None  # a is lost
        s.beat(a, now=117)
        assert s.take_lead(a, lease=10, now=117) == 3
        s.stop_worker(a, now=118)
        assert s.take_lead(b, lease=10, now=118) == 4  # a stopped: free at once
    finally:
        s.close()


def test_a_schedule_slot_moves_once_and_only_under_the_current_token(tmp_path):
    s = RunStore(tmp_path / "runs.db")
    try:
        w = s.register_worker(host="a", pid=1, version="x", mode="worker", lease=10)
        token = s.take_lead(w, lease=10)
        first = dict(next_run_at=5.0, schedule_spec="every 5 s")
        assert s.advance_schedule("j", seen=(None, None), **first)
        assert not s.advance_schedule("j", seen=(None, None), **first)  # a second scheduler
        assert not s.advance_schedule("j", seen=(5.0, "every 5 s"), next_run_at=10.0,
                                      schedule_spec="every 5 s", token=token + 1)  # stale
        assert s.advance_schedule("j", seen=(5.0, "every 5 s"), next_run_at=10.0,
                                  schedule_spec="every 5 s", last_due_at=5.0, token=token)
        assert not s.advance_schedule("j", seen=(5.0, "every 5 s"), next_run_at=10.0,
                                      schedule_spec="every 5 s", token=token)
        assert s.job_states()["j"]["last_due_at"] == 5.0
        s.set_job_state("k", paused=1)  # a row without a slot yet
        assert s.advance_schedule("k", seen=(None, None), **first)
        assert s.job_states()["k"]["paused"] == 1
    finally:
        s.close()


# -- clocks and host names that machines do not agree on ---------------------------------

SKEWED = """
import os, runpy, sys, time
_real = time.time
time.time = lambda: _real() + float(os.environ["SKEW"])
sys.argv = ["trayjobs", *sys.argv[1:]]
runpy.run_module("trayjobs", run_name="__main__")
"""


def test_a_machine_whose_clock_is_a_minute_off_takes_nobodys_runs(tmp_path, monkeypatch):
    """On PostgreSQL leases are written and compared in the server's time: a worker whose
    clock runs 60 s ahead neither finds the others' leases up nor looks dead to them."""
    from pg_support import session_server
    from trayjobs.store.postgres import PgRunStore
    url = session_server().new_database()
    monkeypatch.setenv("TRAYJOBS_HOST", "desk")
    c = Cluster(tmp_path, redis_url=None, database=url)
    try:
        c.start("m1")
        ctl = c.control()
        try:
            ids = [ctl.submit("slow", trigger="cli") for _ in range(2)]  # ~5 s each
        finally:
            ctl.close()
        wait_until(lambda: sum(r["state"] == "running" for r in c.runs("slow")) == 2, 30,
                   what="m1 running both")
        for name, skew in (("m2", 60), ("m3", -60)):
            home = c.homes[name]
            with open(home.log_dir / "worker-test.log", "ab") as log:
                c.procs[name] = subprocess.Popen(
                    [sys.executable, "-c", SKEWED, "worker"], stdout=log, stderr=log,
                    env=dict(c.env(name), SKEW=str(skew)))
        wait_until(lambda: {"m2", "m3"} <= {w["host"] for w in c.store.workers()
                                           if w["state"] == "running"}, 30,
                   what="the skewed workers registered")
        runs = _all_ended(c, ids, 60)
        assert [r["state"] for r in runs] == ["succeeded", "succeeded"], runs
        assert not [r for r in c.runs("slow") if r["trigger"] == "recovered"]
        assert all(w["state"] == "running" for w in c.store.workers())
        assert "clock is 60.0 s ahead of" in c.log("m2")
        assert "clock is 60.0 s behind" in c.log("m3")
    finally:
        c.close()
        session_server().drop_database(url)
    assert isinstance(c.store, PgRunStore)


def test_a_worker_of_another_machine_with_the_same_host_name_keeps_its_runs(make_cluster):
    c = make_cluster(None, start=("m1",))
    # A second machine also called m1 (a cloned VM): a pid this machine does not have.
    other = c.store.register_worker(host="m1", pid=dead_pid(), version="0.1.0",
                                    mode="worker", lease=LEASE, machine="another-machine:1")
    ctl = c.control()
    try:
        rid = ctl.submit("nowhere", trigger="cli")
    finally:
        ctl.close()
    assert c.store.claim(rid, pid=4242, worker_id=other)
    deadline = time.time() + 3 * LEASE
    while time.time() < deadline:  # it beats, as a live machine does
        c.store.beat(other)
        time.sleep(LEASE / 6)
    assert c.store.get_run(rid)["state"] == "running"
    assert c.store.get_worker(other)["state"] == "running"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_app_hears_of_the_runs_other_machines_run(make_cluster, monkeypatch):
    """The window shows one list: runs another machine creates and runs reach the app's
    bus (remote), from queued to their end; the app's alerts leave them alone."""
    from trayjobs.engine.engine import Engine
    from trayjobs.engine.events import RunChanged
    c = make_cluster(None, start=("m2",))
    monkeypatch.setenv("TRAYJOBS_HOST", "m1")
    eng = Engine(c.homes["m1"], mode="app", workers=1)
    heard: list[RunChanged] = []
    eng.bus.subscribe(lambda ev: heard.append(ev) if isinstance(ev, RunChanged) else None)
    eng.start()
    try:
        ctl = c.control("m3")  # a third machine starts it; m2 alone may run it
        try:
            rid = ctl.submit("pinned", trigger="cli")
        finally:
            ctl.close()
        wait_until(lambda: any(ev.run["id"] == rid and ev.final for ev in heard), 20,
                   what="the app to hear of the run's end")
        mine = [ev for ev in heard if ev.run["id"] == rid]
        assert all(ev.remote for ev in mine)
        assert mine[-1].run["state"] == "succeeded"
        assert c.worker_hosts()[mine[-1].run["worker_id"]] == "m2"
        assert len([ev for ev in mine if ev.final]) == 1
    finally:
        eng.stop()
        eng.close()


# -- a worker that cannot reach its queue ------------------------------------------------------

def _nothing_listens() -> str:
    """A Redis URL on a loopback port where nothing listens (a typo'd port)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


def test_a_worker_whose_redis_url_is_wrong_says_so_and_holds_no_runs(redis_server,  # noqa: F811
                                                                     make_cluster, tmp_path):
    import json
    from redis_support import RedisServer
    short = '\n[jobs.short]\nkind = "demo"\nsteps = 2\nstep_time = 0.1\noverlap = "parallel"\n'
    c = make_cluster(redis_server.url(), start=(), extra=short)
    wrong = _nothing_listens()
    c.homes["m2"].config_file.write_text(c.text.replace(redis_server.url(), wrong))
    c.start("m2")
    # Said at once, naming the URL and what to check.
    wait_until(lambda: "cannot reach its queue" in c.log("m2"), 10, what="m2 saying why")
    said = c.log("m2")
    assert wrong in said and "[cluster] redis" in said and str(c.homes["m2"].config_file) in said
    # Alone, it leads (the schedules' runs wait in the history), but hands no run over:
    # a run marked handed over would wait a lease for the leader to send it again.
    wait_until(lambda: (c.store.lead() or {}).get("held"), 10, what="a lead")
    m2_ids = {i for i, h in c.worker_hosts().items() if h == "m2"}
    ctl = c.control()
    try:
        ids = [ctl.submit("short", trigger="schedule") for _ in range(20)]
    finally:
        ctl.close()
    beat = max(w["heartbeat_at"] for w in c.store.workers() if w["id"] in m2_ids)
    wait_until(lambda: max(w["heartbeat_at"] for w in c.store.workers()
                           if w["id"] in m2_ids) > beat + LEASE / 3, 10, what="m2 beating")
    assert {(r["state"], r["dispatched"]) for r in c.runs("short")} == {("queued", 0)}
    # A command does not count on it either: with no other worker, `run` runs it here.
    desk = {"TRAYJOBS_HOST": "desk"}
    ran = trayjobs(c.homes["desk"], "run", "noop", env=desk)
    assert ran.returncode == 0 and "the run happens here" in ran.stderr, ran.stderr
    # A worker that can reach the queue takes the lead and runs them all, at once.
    c.start("m1")
    wait_until(lambda: (lead := c.store.lead() or {}).get("held") and lead["host"] == "m1",
               10, what="m1 leading")
    runs = _all_ended(c, ids, 30)
    assert {r["state"] for r in runs} == {"succeeded"}
    assert not [r for r in runs if r["dispatched_by"] in m2_ids or r["worker_id"] in m2_ids]
    # Shown as such: not a healthy running worker.
    status = json.loads(trayjobs(c.homes["desk"], "cluster", "status", "--json",
                                 env=desk).stdout)
    m2 = next(w for w in status["workers"] if w["host"] == "m2")
    assert m2["state"] == "no queue" and wrong in m2["problem"], m2
    assert any("m2" in p and "cannot reach its queue" in p for p in status["problems"])
    shown = trayjobs(c.homes["desk"], "cluster", "status", env=desk)
    assert "no queue" in shown.stdout and "cannot reach its queue" in shown.stderr
    # A run pinned to m2 waits, and says why; so does `run --wait`.
    err = tmp_path / "run-wait.err"
    with open(err, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "run", "pinned", "--wait"],
                                env=c.env("desk"), stdout=subprocess.PIPE, stderr=out)
    try:
        wait_until(lambda: "the worker there cannot reach its queue" in err.read_text(), 20,
                   what="run --wait saying why it waits")
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
    pinned = [r for r in c.runs("pinned")]
    assert len(pinned) == 1 and pinned[0]["state"] == "queued"
    assert "cannot reach its queue" in pinned[0]["wait_reason"]
    # A Redis server comes up where m2 looks: m2 says so and takes runs again.
    folder = tmp_path / "redis2"
    folder.mkdir()
    late = RedisServer(folder)
    late.port = int(wrong.rsplit(":", 1)[1].split("/")[0])
    late.start()
    try:
        wait_until(lambda: not any(w["problem"] for w in c.store.workers()
                                   if w["host"] == "m2" and w["state"] == "running"), 20,
                   what="m2 able again")
        assert "answers again" in c.log("m2")
        status = json.loads(trayjobs(c.homes["desk"], "cluster", "status", "--json",
                                     env=desk).stdout)
        assert [w["state"] for w in status["workers"] if w["host"] == "m2"] == ["running"]
    finally:
        c.stop("m2")
        late.kill()


def test_a_full_redis_is_named_once_and_its_runs_wait_then_run_once(redis_server,  # noqa: F811
                                                                     make_cluster):
    """A Redis whose maxmemory is used up answers a ping and refuses every run handed to it.
    The worker said at each heartbeat that it answered again, then that it could not be
    reached (check its bind address...), and `cluster status` found nothing wrong."""
    import json
    c = make_cluster(redis_server.url(), start=())
    redis_server.client().config_set("maxmemory", 1)  # full already: noeviction refuses
    c.start("m1")
    ctl = c.control()
    try:
        ids = [ctl.submit("noop", trigger="schedule") for _ in range(5)]
    finally:
        ctl.close()
    m1 = {i for i, h in c.worker_hosts().items() if h == "m1"}
    beat = max(w["heartbeat_at"] for w in c.store.workers() if w["id"] in m1)
    wait_until(lambda: max(w["heartbeat_at"] for w in c.store.workers() if w["id"] in m1)
               > beat + LEASE, 20, what="m1 beating for a lease")
    said = c.log("m1")
    assert said.count("cannot reach its queue") == 1, said
    assert "refuses it" in said and "the server is full" in said and "maxmemory" in said
    assert "answers again" not in said, said
    assert {r["state"] for r in c.runs("noop")} == {"queued"}
    status = json.loads(trayjobs(c.homes["desk"], "cluster", "status", "--json",
                                 env={"TRAYJOBS_HOST": "desk"}).stdout)
    assert status["queue"]["state"].startswith("full: "), status["queue"]
    assert any(p.startswith("the queue's Redis server is full") for p in status["problems"])
    redis_server.client().config_set("maxmemory", 0)
    runs = _all_ended(c, ids, 30)
    assert {r["state"] for r in runs} == {"succeeded"}
    assert _attempts(c, ids) == Counter({1: len(ids)})
    assert c.log("m1").count("answers again") == 1


def test_run_wait_says_why_a_run_waits_while_the_queue_takes_none(redis_server,  # noqa: F811
                                                                   make_cluster, tmp_path):
    """With the queue's Redis full, a worker says so in its log, but `trayjobs run --wait`
    on another machine waited without a word (a worker that had not tried to hand a run
    over yet still looked able to)."""
    serial = '\n[jobs.serial]\nkind = "demo"\nsteps = 0\nstep_time = 0\n'
    c = make_cluster(redis_server.url(), start=("m1",), extra=serial)
    redis_server.client().config_set("maxmemory", 1)
    err = tmp_path / "run-wait.err"
    with open(err, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "run", "serial", "--wait"],
                                env=c.env("desk"), stdout=subprocess.PIPE, stderr=out)
    try:
        wait_until(lambda: "waits in the history: the worker on m1 cannot reach its queue"
                   in err.read_text(), 20, what="run --wait saying why it waits")
        assert "maxmemory" in err.read_text()
        redis_server.client().config_set("maxmemory", 0)
        assert proc.wait(30) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()


def test_a_watched_job_pinned_to_a_host_is_watched_on_that_host_only(make_cluster, tmp_path):
    # Its files are where its host is: another machine watching a folder of that name
    # would hand its own files to runs on the host (or, one folder seen by both, run each
    # file twice).
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    extra = f"""
[jobs.inbox]
kind = "command"
command = ["true", "{{files}}"]
host = "m2"
watch = {{ folder = '{inbox}', patterns = ["*.csv"], settle = "0.3s" }}
"""
    c = make_cluster(None, extra=extra, start=("m1", "m2"))
    wait_until(lambda: "watch of inbox: watching" in c.log("m2"), 30, what="m2 watching")
    for i in range(20):
        (inbox / f"f{i}.csv").write_text("x\n")
    wait_until(lambda: sum(len(r["inputs"]["files"]) for r in c.runs("inbox")
                           if r["state"] in FINAL_STATES) >= 20, 60, what="20 files run")
    time.sleep(1.0)  # a second run of a file would come meanwhile
    files = [f for r in c.runs("inbox") for f in r["inputs"]["files"]]
    assert sorted(files) == sorted(str(inbox / f"f{i}.csv") for i in range(20))
    assert "watch of inbox" not in c.log("m1")
    c.stop("m1")  # and m1 leaving does not take m2's word on its watch with it
    assert c.store.watch_statuses()["inbox"]["state"] == "watching"
