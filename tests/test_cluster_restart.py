"""A changed [cluster] waits for a restart: the queue and the run history this process
uses stay those it started with, and one that left the cluster takes no new shared run."""

from __future__ import annotations

import time

import pytest

from helpers import start_worker, trayjobs, wait_until
from redis_support import redis_server  # noqa: F401  (a fixture)

from trayjobs.engine.control import Control


def test_queue_after_a_reload_is_the_one_of_the_history(home, write_config):
    """The queue read [cluster] redis from the current file the first time it was used:
    after a reload that added Redis, the queue was on Redis while the history was still
    this machine's own file."""
    write_config('[jobs.a]\nkind = "command"\ncommand = "true"\n')
    control = Control(home)
    try:
        write_config('[cluster]\nredis = "redis://127.0.0.1:1/0"\n\n'
                     '[jobs.a]\nkind = "command"\ncommand = "true"\n')
        control.reload_config()
        assert control.config.cluster.redis is not None  # the file says Redis now
        assert not control.queue.shared  # the queue is still the home's own file
        assert control.queue.redis_url is None
    finally:
        control.close()


@pytest.mark.parametrize("queue", ["file", "redis"])
def test_a_worker_that_left_takes_no_new_shared_run(tmp_path, queue, request):
    """After `cluster leave` the worker (running until its restart) still took the shared
    history's new runs. Now it finishes the run it runs, takes no new one (another
    machine's worker does), and says that a restart completes the leave."""
    from trayjobs.config import load_config
    from trayjobs.paths import Home
    from trayjobs.store.open import open_store

    shared = tmp_path / "shared" / "runs.db"
    shared.parent.mkdir()
    gate = tmp_path / "gate"
    redis = (f'redis = "{request.getfixturevalue("redis_server").url()}"\n'
             if queue == "redis" else "")
    jobs = (f'[cluster]\ndatabase = "sqlite:///{shared}"\nlease = 1\n{redis}\n'
            f'[jobs.slow]\nkind = "command"\n'
            f'command = "while [ ! -e {gate} ]; do sleep 0.05; done"\n\n'
            '[jobs.quick]\nkind = "command"\ncommand = "true"\n')
    laptop, nas = (Home.under(tmp_path / n).ensure() for n in ("laptop", "nas"))
    for home in (laptop, nas):
        home.config_file.write_text(jobs)
    spec = load_config(nas.config_file).cluster

    def run(rid):
        store = open_store(nas, spec)
        try:
            return store.get_run(rid)
        finally:
            store.close()

    log = laptop.log_dir / "worker-test.log"
    left = start_worker(laptop)
    other = None
    try:
        slow = int(trayjobs(laptop, "run", "slow", check=True).stdout)
        wait_until(lambda: run(slow)["state"] == "running", 30, what="the slow run running")
        out = trayjobs(laptop, "cluster", "leave", "--now")
        assert out.returncode == 0, out.stderr
        wait_until(lambda: "complete the leave" in log.read_text(), 30,
                   what="the worker saying that a restart completes the leave")
        # Submitted on the shared history with no worker on the other machine yet: the
        # one that left hears of it, and has beaten twice since, dispatching each time.
        submitter = Control(nas)
        try:
            quick, asked = submitter.submit("quick", trigger="cli"), time.time()
        finally:
            submitter.close()

        def beat_at():
            store = open_store(nas, spec)
            try:
                return next(w["heartbeat_at"] for w in store.workers(since=0)
                            if w["pid"] == left.pid)
            finally:
                store.close()
        wait_until(lambda: beat_at() > asked + 1, 30, what="two beats of the worker that left")
        assert run(quick)["state"] == "queued" and run(quick)["pid"] is None
        other = start_worker(nas)
        wait_until(lambda: run(quick)["state"] == "succeeded", 30, what="the quick run")
        assert run(quick)["pid"] == other.pid
        gate.touch()
        wait_until(lambda: run(slow)["state"] == "succeeded", 30, what="the slow run ending")
        assert left.poll() is None
    finally:
        gate.touch()
        for proc in (left, other):
            if proc is not None:
                proc.terminate()
                proc.wait(30)


def test_a_worker_that_left_pops_no_run_from_redis(tmp_path, redis_server):  # noqa: F811
    """After `cluster leave` the worker still popped the runs on Redis, only to hand each
    back to the others' dispatchers: a detour for every run it got, and while it was the
    only worker, a run went back and forth. Now it pops none: the message stays on Redis
    for the workers of the cluster."""
    from trayjobs.config import load_config
    from trayjobs.paths import Home
    from trayjobs.store.open import open_store

    shared = tmp_path / "shared" / "runs.db"
    shared.parent.mkdir()
    jobs = (f'[cluster]\ndatabase = "sqlite:///{shared}"\nlease = 1\n'
            f'redis = "{redis_server.url()}"\n\n'
            '[jobs.quick]\nkind = "command"\ncommand = "true"\noverlap = "parallel"\n')
    laptop, nas = (Home.under(tmp_path / n).ensure() for n in ("laptop", "nas"))
    for home in (laptop, nas):
        home.config_file.write_text(jobs)
    spec = load_config(nas.config_file).cluster

    def store_read(fn):
        store = open_store(nas, spec)
        try:
            return fn(store)
        finally:
            store.close()

    left = start_worker(laptop)
    other = None
    try:
        out = trayjobs(laptop, "cluster", "leave")
        assert out.returncode == 0, out.stderr
        wait_until(lambda: store_read(lambda s: any(
            w["pid"] == left.pid and w["problem"] for w in s.workers(since=0))),
            30, what="the worker that left saying so")
        submitter = Control(nas)  # a parallel run asked for by hand: straight onto Redis
        try:
            quick = submitter.submit("quick", trigger="cli")
        finally:
            submitter.close()
        queued = redis_server.client()
        assert queued.zcard("huey.redis.trayjobs") == 1
        time.sleep(2.5)  # two of the worker's pops (1 s each), which must not take it
        assert queued.zcard("huey.redis.trayjobs") == 1
        assert store_read(lambda s: s.get_run(quick))["state"] == "queued"
        other = start_worker(nas)
        wait_until(lambda: store_read(lambda s: s.get_run(quick))["state"] == "succeeded",
                   30, what="the run, on the worker of the cluster")
        assert store_read(lambda s: s.get_run(quick))["pid"] == other.pid
    finally:
        for proc in (left, other):
            if proc is not None:
                proc.terminate()
                proc.wait(30)


def test_a_join_again_before_the_restart_undoes_the_leave_and_says_so(tmp_path):
    """`cluster leave`, then `cluster join` of the same servers before the restart: the
    worker said that a restart completes the leave, then took runs again without a word,
    while join said to restart it to use the servers it already used."""
    from trayjobs.config import load_config
    from trayjobs.paths import Home
    from trayjobs.store.open import open_store

    shared = tmp_path / "shared" / "runs.db"
    shared.parent.mkdir()
    jobs = (f'[cluster]\ndatabase = "sqlite:///{shared}"\nlease = 1\n\n'
            '[jobs.quick]\nkind = "command"\ncommand = "true"\n')
    laptop, nas = (Home.under(tmp_path / n).ensure() for n in ("laptop", "nas"))
    for home in (laptop, nas):
        home.config_file.write_text(jobs)
    spec = load_config(nas.config_file).cluster
    log = laptop.log_dir / "worker-test.log"
    worker = start_worker(laptop)
    try:
        wait_until(lambda: "worker started" in log.read_text(), 30, what="the worker")
        assert trayjobs(laptop, "cluster", "leave").returncode == 0
        wait_until(lambda: "complete the leave" in log.read_text(), 30, what="the leave")
        laptop.config_file.write_text(jobs)  # as `cluster join` writes it back
        wait_until(lambda: "the leave is undone" in log.read_text(), 30,
                   what="the worker saying that the leave is undone")
        submitter = Control(nas)
        try:
            quick = submitter.submit("quick", trigger="cli")
        finally:
            submitter.close()

        def run():
            store = open_store(nas, spec)
            try:
                return store.get_run(quick)
            finally:
                store.close()
        wait_until(lambda: run()["state"] == "succeeded", 30, what="the laptop running it")
        assert run()["pid"] == worker.pid
    finally:
        worker.terminate()
        worker.wait(30)
