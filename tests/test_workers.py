"""Workers with leases: a run belongs to the worker that claimed it while that worker's
heartbeat is fresh. A live worker on another machine keeps its runs whatever pids run
here; a worker whose lease expired has its runs recovered exactly once, by whoever
notices first; a worker of this machine whose process is gone is found at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from textwrap import dedent

from helpers import trayjobs, wait_until
from trayjobs.engine.events import RunChanged
from trayjobs.engine.lease import this_host
from trayjobs.store import RunStore
from trayjobs.store.open import open_store

SLOW = """
    [cluster]
    lease = "{lease}"
    [jobs.slow]
    kind = "demo"
    steps = 40
    step_time = 0.05
    [jobs.cmd]
    kind = "command"
    command = "true"
"""


def dead_pid() -> int:
    """A pid no process of this machine has now."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def claimed_by_other(store: RunStore, job: str, *, host: str, pid: int, lease: float,
                     kind: str = "demo") -> tuple[int, int]:
    """A run that another worker (``host``, ``pid``) claimed and is running; (run, worker)."""
    worker = store.register_worker(host=host, pid=pid, version="0.1.0", mode="worker",
                                   lease=lease)
    return claimed_by(store, job, worker, kind=kind), worker


def claimed_by(store: RunStore, job: str, worker: int, *, kind: str = "demo") -> int:
    rid = store.create_run(job, kind=kind, trigger="manual")
    assert store.claim(rid, pid=store.get_worker(worker)["pid"],
                       worker_id=worker)["worker_id"] == worker
    return rid


def finals(eng) -> list[dict]:
    """Every run the engine tells as ended."""
    seen = []
    eng.bus.subscribe(lambda ev: seen.append(ev.run) if isinstance(ev, RunChanged)
                      and ev.final else None)
    return seen


# -- the store's workers -------------------------------------------------------------------

def test_a_worker_is_running_while_it_beats_and_lost_once_its_lease_is_up(tmp_path, make_store):
    store = make_store(tmp_path / "runs.db")
    try:
        w = store.register_worker(host="nas", pid=4242, version="0.1.0", mode="worker",
                                  lease=30, now=1000.0)
        assert store.get_worker(w, now=1029.0)["state"] == "running"
        assert store.get_worker(w, now=1031.0)["state"] == "lost"
        assert store.beat(w, now=1030.0)
        assert store.get_worker(w, now=1059.0)["state"] == "running"
        rid = store.create_run("slow", kind="demo", trigger="manual")
        store.claim(rid, pid=4242, worker_id=w)
        (running,) = store.running_runs(now=1061.0)
        assert running["worker"]["host"] == "nas" and running["worker"]["expired"]
        assert store.workers(now=1059.0)[0]["runs"] == 1
        # Declared lost by one who took its runs: its next beat learns it.
        assert store.mark_worker_lost(w) and not store.mark_worker_lost(w)
        assert not store.beat(w)
        stopped = store.register_worker(host="nas", pid=4243, version="0.1.0", mode="app",
                                        lease=30)
        store.stop_worker(stopped)
        assert store.get_worker(stopped)["state"] == "stopped"
        assert not store.beat(stopped)
    finally:
        store.close()


def test_a_server_gone_between_a_heartbeat_and_the_look_after_it_is_told_as_away(
        tmp_path, make_store, caplog):
    # The heartbeat reached the store; the look for lost workers' runs right after did not.
    from trayjobs.engine.lease import Lease
    from trayjobs.errors import StoreUnreachable
    store = make_store(tmp_path / "runs.db")
    away = []

    def look() -> None:
        raise StoreUnreachable("the run history's server (db) cannot be reached")

    lease = Lease(store, mode="worker", lease=0.3, on_beat=look)
    lease.on_unreachable = away.append
    lease.start()
    try:
        wait_until(lambda: away, 10, what="told the server is away")
    finally:
        lease.stop()
        store.close()
    assert isinstance(away[0], StoreUnreachable)
    assert "lost workers failed" not in caplog.text  # no traceback in the log


def test_an_attempt_is_ended_and_resumed_once_however_many_try_at_once(tmp_path, make_store):
    store = make_store(tmp_path / "runs.db")
    rid, worker = claimed_by_other(store, "slow", host="nas", pid=1, lease=1)
    results, resumed = [], []
    go = threading.Barrier(8)

    def recover():
        other = make_store(tmp_path / "runs.db")  # a connection of its own, as another process
        try:
            go.wait()
            results.append(other.end_attempt(rid, state="interrupted", died=True,
                                             error="lost", expect=(worker, 1)))
            resumed.append(other.resume_run(rid, job="slow", kind="demo"))
        finally:
            other.close()

    threads = [threading.Thread(target=recover) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sum(r is not None for r in results) == 1
        assert sum(r is not None for r in resumed) == 1
        assert [r["trigger"] for r in store.list_runs(job="slow")].count("recovered") == 1
        # The worker itself, back from a long sleep, no longer records the attempt's end.
        assert store.end_attempt(rid, state="succeeded", expect=(worker, 1)) is None
        assert store.get_run(rid)["state"] == "interrupted"
    finally:
        store.close()


# -- this process as a worker -------------------------------------------------------------

def test_an_engine_registers_beats_on_its_own_thread_and_says_it_stopped(make_engine, home):
    eng = make_engine(SLOW.format(lease="1s"))
    wid = eng.lease.id
    w = eng.store.get_worker(wid)
    assert (w["host"], w["pid"], w["mode"], w["state"]) == (this_host(), os.getpid(), "worker",
                                                            "running")
    first = w["heartbeat_at"]
    wait_until(lambda: eng.store.get_worker(wid)["heartbeat_at"] > first, timeout=5)
    rid = eng.submit("slow")
    assert eng.watcher.wait(rid)["worker_id"] == wid
    eng.stop()
    assert eng.store.get_worker(wid)["state"] == "stopped"
    out = trayjobs(home, "workers", check=True).stdout.splitlines()
    assert out[0].split()[:5] == ["WORKER", "HOST", "PID", "AS", "STATE"]
    (line,) = [l.split() for l in out[2:] if l.split()[0] == str(wid)]
    assert line[1:5] == [this_host(), str(os.getpid()), "worker", "stopped"]


def test_a_foreground_run_is_a_worker_while_it_runs(home, write_config):
    write_config(SLOW.format(lease="30s").replace("steps = 40", "steps = 2"))
    rid = int(trayjobs(home, "run", "slow", check=True).stdout)
    (w,) = map(json.loads, trayjobs(home, "workers", "--json", check=True).stdout.splitlines())
    assert w["mode"] == "cli" and w["state"] == "stopped" and w["runs"] == 0
    store = open_store(home)
    try:
        assert store.get_run(rid)["worker_id"] == w["id"]
    finally:
        store.close()


def test_a_live_worker_of_another_version_is_named_at_start(make_engine):
    from trayjobs.engine.events import Notice
    eng = make_engine(SLOW.format(lease="30s"), start=False)
    eng.store.register_worker(host="nas", pid=4242, version="0.0.9", mode="worker", lease=30)
    gone = eng.store.register_worker(host="old", pid=4243, version="0.0.1", mode="app",
                                     lease=30)
    eng.store.stop_worker(gone)
    told = []
    eng.bus.subscribe(lambda ev: told.append(ev.message) if isinstance(ev, Notice) else None)
    eng.start()
    (msg,) = [m for m in told if "another version" in m]
    assert "nas (pid 4242) runs 0.0.9" in msg and "old" not in msg


def test_a_worker_of_another_version_silent_while_the_history_was_away_is_still_named(
        make_engine):
    """No worker can beat while the history is away: the version check took the other
    machine's worker, its lease run out meanwhile, for gone ("every worker runs this version
    of trayjobs again") and named it again at a heartbeat after it beat once more."""
    from trayjobs.engine.events import Notice
    eng = make_engine(SLOW.format(lease="30s"), start=False)
    nas = eng.store.register_worker(host="nas", pid=4242, version="0.0.9", mode="worker",
                                    lease=30)
    told = []
    eng.bus.subscribe(lambda ev: told.append(ev.message) if isinstance(ev, Notice) else None)
    eng.start()
    assert [m for m in told if "another version" in m]
    # The history answers again after a minute away: nas has not beaten since.
    eng.store._execute("UPDATE workers SET heartbeat_at = ? WHERE id = ?",
                       (time.time() - 60, nas))
    eng._store_back_at = time.monotonic()
    eng._tell_other_versions()
    assert not [m for m in told if "this version of trayjobs again" in m], told


def test_a_history_that_a_newer_trayjobs_changed_is_named_at_start(home, make_engine):
    """Upgraded on one machine, that machine since stopped: an older worker elsewhere used
    the history without a word (the versions check sees live workers only)."""
    from trayjobs.engine.events import Notice
    eng = make_engine(SLOW.format(lease="30s"), start=False)
    eng.store._execute("INSERT INTO _migrations VALUES ('999_from_the_future', 0)")
    told = []
    eng.bus.subscribe(lambda ev: told.append(ev.message) if isinstance(ev, Notice) else None)
    eng.start()
    (msg,) = [m for m in told if "newer trayjobs" in m]
    assert "999_from_the_future" in msg and "update trayjobs on this machine" in msg
    out = trayjobs(home, "cluster", "status")
    assert out.returncode == 1 and "999_from_the_future" in out.stderr


# -- an engine and other workers -----------------------------------------------------------

def test_a_live_worker_on_another_machine_keeps_its_run_when_this_one_starts(make_engine):
    # The pid means nothing here: no process of this machine has it. Before leases, this
    # start marked the other machine's run interrupted.
    eng = make_engine(SLOW.format(lease="30s"), start=False)
    rid, worker = claimed_by_other(eng.store, "slow", host="nas", pid=dead_pid(), lease=30)
    ended = finals(eng)
    eng.start()
    assert eng.recover() == [] and eng._recover_lost() == []
    run = eng.store.get_run(rid)
    assert run["state"] == "running" and run["worker_id"] == worker
    assert not [r for r in eng.store.list_runs(job="slow") if r["trigger"] == "recovered"]
    assert ended == []
    assert eng.store.get_worker(worker)["state"] == "running"


def test_a_run_of_a_gone_process_of_this_machine_is_recovered_at_start(make_engine):
    eng = make_engine(SLOW.format(lease="30s"), start=False)
    rid, worker = claimed_by_other(eng.store, "slow", host=this_host(), pid=dead_pid(),
                                   lease=30)
    eng.start()  # at once, not after its lease: the pid says it is gone
    old = eng.store.get_run(rid)
    assert old["state"] == "interrupted"
    assert "trayjobs stopped while this run was going" in old["error"]
    (resumed,) = [r for r in eng.store.list_runs(job="slow") if r["trigger"] == "recovered"]
    assert resumed["retry_of"] == rid
    assert eng.watcher.wait(resumed["id"], timeout=30)["state"] == "succeeded"
    assert eng.store.get_run(resumed["id"])["worker_id"] == eng.lease.id
    assert eng.store.get_worker(worker)["state"] == "lost"


def test_a_worker_whose_heartbeat_stops_has_its_run_recovered_once_after_its_lease(
        make_engine):
    eng = make_engine(SLOW.format(lease="1s"), start=False)
    ended = finals(eng)
    eng.start()
    # Another machine's worker claims a run and beats, then falls silent.
    rid, worker = claimed_by_other(eng.store, "slow", host="nas", pid=4242, lease=1)
    cmd = claimed_by(eng.store, "cmd", worker, kind="command")
    silent_at = time.time()
    assert eng.store.beat(worker, now=silent_at)
    old = eng.watcher.wait(rid, "interrupted", timeout=10)
    assert old["updated_at"] >= silent_at + 1  # not recovered before its lease was up
    assert old["finished_at"] == silent_at  # it ended when it was last heard of
    assert "its worker on nas (pid 4242) stopped answering" in old["error"]
    resumed = wait_until(lambda: [r for r in eng.store.list_runs(job="slow")
                                  if r["trigger"] == "recovered"])
    assert eng.watcher.wait(resumed[0]["id"], timeout=30)["state"] == "succeeded"
    # A command is not run again by itself: it is reported, interrupted.
    assert eng.store.get_run(cmd)["state"] == "interrupted"
    assert not [r for r in eng.store.list_runs(job="cmd") if r["trigger"] == "recovered"]
    time.sleep(0.5)  # several more heartbeats: nothing is recovered twice
    assert len([r for r in eng.store.list_runs(job="slow") if r["trigger"] == "recovered"]) == 1
    assert sorted(r["id"] for r in ended if r["id"] in (rid, cmd)) == sorted([rid, cmd])
    assert eng.store.get_worker(worker)["state"] == "lost"


def test_two_engines_noticing_at_once_recover_a_run_once(make_engine, home):
    from trayjobs.engine.engine import Engine
    first = make_engine(SLOW.format(lease="30s"), start=False)
    rid, worker = claimed_by_other(first.store, "slow", host="nas", pid=4242, lease=1)
    first.store.beat(worker, now=time.time() - 5)  # silent for longer than its lease
    second = Engine(home, grace=1.0, mode="worker")
    try:
        told = finals(first) + finals(second)
        got = {}
        go = threading.Barrier(2)

        def recover(name, eng):
            go.wait()
            got[name] = eng.recover()

        threads = [threading.Thread(target=recover, args=(n, e))
                   for n, e in (("first", first), ("second", second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(len(v) for v in got.values()) == [0, 1]
    finally:
        second.executor.close()
        second.close()
    assert len([r for r in first.store.list_runs(job="slow") if r["trigger"] == "recovered"]) == 1
    assert first.store.get_run(rid)["state"] == "interrupted"
    assert [a["attempt"] for a in first.store.attempts(rid)] == [1]


# -- real processes ---------------------------------------------------------------------------

OTHER_MACHINE = dedent("""
    import socket, sys, time
    socket.gethostname = lambda: "nas"   # this process plays another machine
    import trayjobs.engine.lease
    trayjobs.engine.lease._machine = "another-machine-id:1"
    from pathlib import Path
    from trayjobs.engine.engine import Engine
    from trayjobs.instance import InstanceLock
    from trayjobs.paths import Home
    home = Home.under(sys.argv[1])
    eng = Engine(home, mode="worker", workers=1)
    eng.lock = InstanceLock(Home.under(sys.argv[2]).ensure())  # its own machine's lock
    eng.start()
    print(eng.submit("slow"), eng.lease.id, flush=True)
    while True:
        time.sleep(3600)
""")


def test_kill_9_of_a_worker_on_another_machine_its_run_recovered_once_after_its_lease(
        make_engine, home, tmp_path):
    make_engine(SLOW.format(lease="2s").replace("steps = 40", "steps = 80"), start=False)
    other = subprocess.Popen([sys.executable, "-c", OTHER_MACHINE, str(home.root),
                              str(tmp_path / "nas")], stdout=subprocess.PIPE, text=True)
    try:
        rid, nas = map(int, other.stdout.readline().split())
        store = open_store(home)
        wait_until(lambda: (store.get_run(rid)["progress_done"] or 0) >= 2, timeout=30)
        assert store.get_run(rid)["worker_id"] == nas
        # This machine starts while the other runs the job: the run stays the other's.
        eng = make_engine()
        assert eng.store.get_run(rid)["state"] == "running"
        listed = trayjobs(home, "workers", "--json", check=True).stdout.splitlines()
        by_id = {w["id"]: w for w in map(json.loads, listed)}
        assert by_id[nas]["host"] == "nas" and by_id[nas]["state"] == "running"
        assert by_id[nas]["runs"] == 1
        assert by_id[eng.lease.id]["host"] == this_host()
        progress = store.get_run(rid)["progress_done"]
        wait_until(lambda: store.get_run(rid)["progress_done"] > progress, timeout=10)
        os.kill(other.pid, signal.SIGKILL)
        other.wait(10)
        killed_at = time.time()
        old = eng.watcher.wait(rid, "interrupted", timeout=20)
        # Recovered once the lease was up, within a beat of it; ended when last heard of.
        assert old["updated_at"] >= store.get_worker(nas)["heartbeat_at"] + 2
        assert old["updated_at"] - killed_at < 2 + 1.5
        assert old["finished_at"] <= killed_at
        resumed = wait_until(lambda: [r for r in store.list_runs(job="slow")
                                      if r["trigger"] == "recovered"])
        assert len(resumed) == 1 and resumed[0]["retry_of"] == rid
        done = eng.watcher.wait(resumed[0]["id"], timeout=60)
        assert done["state"] == "succeeded" and done["worker_id"] == eng.lease.id
        assert store.get_worker(nas)["state"] == "lost"
        assert len([r for r in store.list_runs(job="slow")
                    if r["trigger"] == "recovered"]) == 1
        store.close()
    finally:
        if other.poll() is None:
            other.kill()
            other.wait(10)
        other.stdout.close()


def test_a_cluster_edit_while_running_says_it_waits_for_a_restart(home, make_engine,
                                                                   write_config, tmp_path):
    """`cluster join` (or leave) while the app runs: the jobs file named the shared servers,
    the log said only "config reloaded", and this process went on with its own history."""
    from trayjobs.engine.events import Notice
    eng = make_engine(SLOW.format(lease="30s"))
    told = []
    eng.bus.subscribe(lambda ev: told.append(ev.message) if isinstance(ev, Notice) else None)
    joined = SLOW.format(lease="30s").replace(
        "[cluster]", f'[cluster]\n    database = "sqlite:///{tmp_path / "shared.db"}"')
    write_config(joined)
    eng.reload_config()
    write_config(joined + "\n# an edit elsewhere\n")
    eng.reload_config()
    assert len([m for m in told if "[cluster] changed" in m]) == 1
    assert "restart" in told[-1]
    write_config(SLOW.format(lease="30s"))  # as it started: nothing waits any more
    eng.reload_config()
    assert len([m for m in told if "[cluster] changed" in m]) == 1


def test_a_clone_of_this_machine_with_another_boot_keeps_its_runs_while_it_beats():
    # Machines made from one image share /etc/machine-id and, unlike containers, the pid
    # namespace's inode; with the same host name each took the other's live workers for
    # dead processes of its own, and ran their runs again. This boot's id tells them apart.
    from trayjobs.engine import lease
    here = lease.this_machine()
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
        boot = f.read().strip()
    assert boot in here
    dead = 2 ** 22 + 12345  # above pid_max's default: no process here has it
    row = {"state": "running", "expired": False, "host": this_host(), "pid": dead}
    assert lease.worker_state(dict(row, machine=here)) == "lost"  # ours, and gone
    clone = here.replace(boot, "0" * len(boot))
    assert lease.worker_state(dict(row, machine=clone)) == "running"  # its lease says
    assert lease.worker_state(dict(row, machine=clone, expired=True)) == "lost"
    # What outlives a reboot (an import's temporary files) is named without the boot.
    assert boot not in lease.this_machine(boot=False)
