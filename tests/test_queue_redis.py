"""The queue on Redis (``[cluster] redis``): a real redis-server on loopback, a real
``trayjobs worker`` process, runs queued from other processes."""

from __future__ import annotations

import contextlib
import os
import threading
import time

from helpers import start_worker, trayjobs, wait_until
from redis_support import redis_server  # noqa: F401  (a fixture)
from trayjobs.config import parse_config
from trayjobs.engine.control import Control
from trayjobs.store.open import open_store

CONFIG = """\
[cluster]
redis = "{url}"

[settings]
workers = 2

[jobs.tick]
kind = "demo"
steps = {steps}
step_time = {step_time}
overlap = "parallel"

[jobs.tock]
kind = "demo"
steps = {steps}
step_time = {step_time}
overlap = "parallel"
"""
# Two jobs, each allowed as many runs at once as there are workers: the dispatcher hands
# the queue twice as many runs as the workers take, so messages wait in Redis.


def _runs(home) -> list[dict]:
    store = open_store(home, readonly=True)
    try:
        return store.list_runs(limit=100_000)
    finally:
        store.close()


def _wait_all_ended(home, n: int, timeout: float) -> list[dict]:
    def ended():
        runs = _runs(home)
        return len(runs) == n and all(r["state"] == "succeeded" for r in runs) and runs
    return wait_until(ended, timeout, interval=0.1, what=f"{n} runs succeeded")


def _attempts(home) -> dict[int, int]:
    store = open_store(home, readonly=True)
    try:
        return {r["id"]: len(store.attempts(r["id"])) for r in store.list_runs(limit=100_000)}
    finally:
        store.close()


def _workers(home) -> list[dict]:
    store = open_store(home, readonly=True)
    try:
        return store.workers()
    finally:
        store.close()


def _stop(proc) -> None:
    proc.terminate()
    proc.wait(30)


def test_cluster_redis_is_checked_when_the_config_is_read():
    cfg = parse_config('[cluster]\nredis = "http://nas:6379"\nhosts = "nas"\n')
    errors = {e.key: e.message for e in cfg.errors}
    assert "is not a Redis URL" in errors["cluster.redis"]
    assert errors["cluster.hosts"].startswith("unknown key")
    assert cfg.cluster.redis is None  # a bad table leaves the queue where it was: a file
    ok = parse_config('[cluster]\nredis = { secret = "redis-url" }\n')
    assert not ok.errors and ok.cluster.redis.secret == "redis-url"


def test_a_worker_on_redis_runs_200_runs_queued_by_other_processes_each_once(
        home, write_config, redis_server):  # noqa: F811
    write_config(CONFIG.format(url=redis_server.url(3), steps=0, step_time=0))
    worker = start_worker(home)
    try:
        # Two through the command line, the rest through Control (what the CLI and the
        # window use) from this process, each telling the worker over its control channel.
        first = [int(trayjobs(home, "run", "tick", check=True).stdout.split()[0])
                 for _ in range(2)]
        ctl = Control(home)
        try:
            rest = [ctl.submit(("tick", "tock")[i % 2], trigger="cli") for i in range(198)]
        finally:
            ctl.close()
        runs = _wait_all_ended(home, 200, 120)
    finally:
        _stop(worker)
    assert {r["id"] for r in runs} == set(first + rest)
    assert all(r["attempt"] == 1 for r in runs)
    assert set(_attempts(home).values()) == {1}  # each ran exactly once
    # The messages went through Redis (sorted set, blocking pops), not a queue file.
    stats = redis_server.client().info("commandstats")
    assert stats["cmdstat_zadd"]["calls"] >= 200
    assert stats["cmdstat_bzpopmin"]["calls"] >= 200
    assert not home.queue_db.exists()


def test_a_run_started_by_hand_of_a_parallel_job_goes_straight_onto_redis(
        home, write_config, redis_server):  # noqa: F811
    write_config(CONFIG.format(url=redis_server.url(4), steps=0, step_time=0) + """
[jobs.serial]
kind = "demo"
steps = 0
""")
    client = redis_server.client(4)
    client.config_resetstat()
    ctl = Control(home)  # no worker yet: what the submitter did is all there is
    try:
        by_hand = [ctl.submit("tick", trigger="cli"), ctl.submit("tock")]
        others = [ctl.submit("tick", trigger="watch"),  # not a person's: may wait or pause
                  ctl.submit("serial", trigger="cli")]  # one at a time: the dispatchers'
    finally:
        ctl.close()
    runs = {r["id"]: r for r in _runs(home)}
    assert [runs[i]["dispatched"] for i in by_hand + others] == [2, 2, 0, 0]
    assert client.zcard("huey.redis.trayjobs") == 2
    # Told to no one: only the two runs that wait for a dispatcher were published.
    assert client.info("commandstats")["cmdstat_publish"]["calls"] == 2
    worker = start_worker(home)
    try:
        _wait_all_ended(home, 4, 60)
    finally:
        _stop(worker)
    assert set(_attempts(home).values()) == {1}


def test_a_run_its_submitter_cannot_put_on_redis_is_left_to_the_dispatchers(
        home, write_config, redis_server, tmp_path):  # noqa: F811
    # A machine that only submits, without the Redis client: its run of a parallel job,
    # started by hand, cannot go onto Redis from there. It must wait for the dispatchers
    # (the running worker's), not stay "handed over" with no message anywhere.
    write_config(CONFIG.format(url=redis_server.url(6), steps=0, step_time=0)
                 .replace("\n\n[settings]", "\nlease = 3\n\n[settings]", 1))
    worker = start_worker(home)
    try:
        no_redis = tmp_path / "no-redis"
        no_redis.mkdir()
        (no_redis / "redis.py").write_text("raise ImportError(\"No module named 'redis'\")\n")
        path = os.pathsep.join(p for p in (str(no_redis), os.environ.get("PYTHONPATH")) if p)
        submitted = trayjobs(home, "run", "tick", env={"PYTHONPATH": path})
        runs = _runs(home)
        assert len(runs) == 1, submitted.stderr  # created, whatever the submitter said
        assert runs[0]["dispatched"] != 2, (runs[0]["dispatched"], submitted.stderr)
        _wait_all_ended(home, 1, 20)
    finally:
        _stop(worker)


def test_a_run_whose_submitter_dies_before_it_reaches_redis_still_runs(
        home, write_config, redis_server):  # noqa: F811
    # The submitter writes the run handed over, then dies before its message reaches
    # Redis (here: killed while Redis holds writes back). No dispatcher would send it:
    # the leader must find it, once it is a lease old, and hand it to them.
    import signal
    import subprocess
    import sys

    write_config(CONFIG.format(url=redis_server.url(8), steps=0, step_time=0)
                 .replace("\n\n[settings]", "\nlease = 3\n\n[settings]", 1))
    worker = start_worker(home)
    client = redis_server.client(8)
    submitter = None
    try:
        wait_until(lambda: any(w["state"] == "running" for w in _workers(home)), 30,
                   what="the worker")
        client.execute_command("CLIENT", "PAUSE", 30_000, "WRITE")
        submitter = subprocess.Popen(
            [sys.executable, "-m", "trayjobs", "run", "tick"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=dict(os.environ, TRAYJOBS_HOME=str(home.root)))
        wait_until(lambda: _runs(home), 30, what="the run written")
        time.sleep(0.5)  # its enqueue waits on Redis
        submitter.send_signal(signal.SIGKILL)
        submitter.wait(10)
        client.execute_command("CLIENT", "UNPAUSE")
        assert _runs(home)[0]["dispatched"] == 2
        assert client.zcard("huey.redis.trayjobs") == 0
        _wait_all_ended(home, 1, 30)
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
        if submitter is not None and submitter.poll() is None:
            submitter.kill()
        _stop(worker)
    assert set(_attempts(home).values()) == {1}


def test_a_run_whose_message_a_dying_worker_took_still_runs(
        home, write_config, redis_server):  # noqa: F811
    # A worker takes a run's message off Redis and dies before it claims the run (here:
    # the message is taken by hand). The run is queued and handed over, with no message
    # anywhere: the leader must find it, once it is a lease old, and send it again.
    write_config(CONFIG.format(url=redis_server.url(9), steps=0, step_time=0)
                 .replace("\n\n[settings]", "\nlease = 3\n\n[settings]", 1)
                 .replace("workers = 2", "workers = 1") + """
[jobs.long]
kind = "demo"
steps = 2
step_time = 1

[jobs.serial]
kind = "demo"
steps = 0
""")
    client = redis_server.client(9)
    worker = start_worker(home)
    try:
        wait_until(lambda: any(w["state"] == "running" for w in _workers(home)), 30,
                   what="the worker")
        ctl = Control(home)
        try:
            ctl.submit("long", trigger="cli")
            wait_until(lambda: any(r["state"] == "running" for r in _runs(home)), 30,
                       what="the long run started")
            lost = ctl.submit("serial", trigger="cli")  # waits on Redis: the worker is busy
        finally:
            ctl.close()
        taken = wait_until(lambda: client.bzpopmin("huey.redis.trayjobs", 1), 10,
                           what="the message on Redis")
        assert taken
        run = next(r for r in _runs(home) if r["id"] == lost)
        assert (run["state"], run["dispatched"]) == ("queued", 1)
        _wait_all_ended(home, 2, 30)
    finally:
        _stop(worker)
    assert set(_attempts(home).values()) == {1}


def test_runs_for_the_dispatchers_go_on_while_runs_queued_by_hand_end(
        home, write_config, redis_server):  # noqa: F811
    # Runs started by hand go onto Redis and fill the job's two slots; runs of the same
    # job not started by a person, submitted meanwhile, wait in the store for a
    # dispatcher. The ends of the former must hand over the latter, not leave them to the
    # next heartbeat (every 20 s with this lease).
    write_config(CONFIG.format(url=redis_server.url(5), steps=1, step_time=0.5)
                 .replace("\n\n[settings]", "\nlease = 120\n\n[settings]", 1))
    worker = start_worker(home)
    ctl = Control(home)
    try:
        wait_until(lambda: any(w["state"] == "running" for w in ctl.store.workers()), 30,
                   what="the worker")
        t0 = time.monotonic()
        by_hand = [ctl.submit("tick", trigger="cli") for _ in range(4)]
        wait_until(lambda: sum(r["state"] == "running" for r in _runs(home)) == 2, 10,
                   interval=0.01, what="two runs going")
        due = [ctl.submit("tick", trigger="watch") for _ in range(4)]
        assert all(ctl.store.get_run(i)["dispatched"] == 0 for i in due)  # no slot free
        _wait_all_ended(home, 8, 60)
        took = time.monotonic() - t0
    finally:
        ctl.close()
        _stop(worker)
    assert set(_attempts(home).values()) == {1}
    assert len(by_hand) == 4
    assert took < 12, f"{took:.1f} s: runs waited for a heartbeat"


@contextlib.contextmanager
def _busy_subscriber(q):
    """A subscriber busy with its first message (a "wake") while the block runs, so that
    what the block publishes waits together; yields the messages it handled, in order."""
    seen, first, connected = [], threading.Event(), threading.Event()

    def handler(msg):
        seen.append(msg)
        if len(seen) == 1:
            first.set()
            time.sleep(0.5)

    q.start_subscriber(handler, on_connect=connected.set)
    try:
        assert connected.wait(10)
        q.publish({"op": "wake"})
        assert first.wait(10)
        yield seen
    finally:
        q.close()


def test_control_messages_waiting_together_are_handled_once_each(home, redis_server):  # noqa: F811
    from trayjobs.queue import Queue
    q = Queue(home, redis=redis_server.url(6))
    with _busy_subscriber(q) as seen:
        for i in range(50):
            q.publish({"op": "dispatch", "origin": "a"})
            if i == 10:
                q.publish({"op": "cancel", "run": 7, "origin": "a"})
        wait_until(lambda: len(seen) >= 3, 10, what="the burst handled")
        time.sleep(0.3)
    assert seen == [{"op": "wake"}, {"op": "dispatch", "origin": "a"},
                    {"op": "cancel", "run": 7, "origin": "a"}]


def test_control_messages_past_a_full_burst_are_all_handled(home, redis_server,  # noqa: F811
                                                            monkeypatch):
    # More distinct messages wait than one burst takes: each is handled, none dropped
    # where one burst ends and the next begins.
    import trayjobs.queue
    monkeypatch.setattr(trayjobs.queue, "SUBSCRIBER_BURST", 2)
    q = trayjobs.queue.Queue(home, redis=redis_server.url(7))
    with _busy_subscriber(q) as seen:
        for run in range(1, 8):
            q.publish({"op": "cancel", "run": run, "origin": "a"})
        wait_until(lambda: len(seen) >= 8, 10, what="every message handled")
    assert [m.get("run") for m in seen] == [None, 1, 2, 3, 4, 5, 6, 7]


def test_a_stop_returns_workers_and_the_subscriber_blocked_in_redis_at_once(
        home, redis_server):  # noqa: F811
    # Idle workers wait in BZPOPMIN and the subscriber in a read, each up to a timeout;
    # quitting must not wait those out. The runs queued afterwards are still the queue's.
    from trayjobs.queue import Queue
    q = Queue(home, redis=redis_server.url(8))
    handled = []
    q.start_consumer(handled.append, workers=2)
    q.start_subscriber(lambda m: None)
    client = redis_server.client(8)
    wait_until(lambda: client.info("clients")["blocked_clients"] == 2
               and client.pubsub_numsub(q.channel)[0][1] == 1, 10,
               what="both workers and the subscriber waiting in Redis")
    client.close()
    started = time.monotonic()
    q.stop_subscriber()
    q.stop_consumer(timeout=5)
    took = time.monotonic() - started
    q.enqueue(5)
    assert q.pending_count() == 1
    q.close()
    assert took < 0.4, took  # the read timeout is 1 s
    assert handled == []


def test_runs_queued_while_redis_restarts_are_all_run_once(home, write_config,
                                                           redis_server):  # noqa: F811
    # Redis without persistence forgets its queue when it restarts; the store knows
    # which runs were handed to the queue and not started, and the worker sends them again.
    write_config(CONFIG.format(url=redis_server.url(), steps=2, step_time=0.02))
    worker = start_worker(home)
    ctl = Control(home)
    try:
        for i in range(100):
            ctl.submit(("tick", "tock")[i % 2], trigger="cli")
        wait_until(lambda: sum(r["state"] == "succeeded" for r in _runs(home)) >= 10, 60,
                   interval=0.05, what="the burst under way")
        redis_server.kill()
        for i in range(60):  # submitted while Redis is down
            ctl.submit(("tick", "tock")[i % 2], trigger="cli")
        time.sleep(1.0)  # the outage lasts: the workers' reads and the dispatcher's sends fail
        redis_server.start()
        for i in range(40):
            ctl.submit(("tick", "tock")[i % 2], trigger="cli")
        runs = _wait_all_ended(home, 200, 120)
    finally:
        ctl.close()
        _stop(worker)
    assert all(r["attempt"] == 1 for r in runs)
    assert set(_attempts(home).values()) == {1}
    log = (home.log_dir / "worker-test.log").read_text()
    assert "cannot read the queue" in log


def test_a_restart_while_the_workers_are_busy_is_noticed_by_the_new_server_id(
        home, write_config, redis_server):  # noqa: F811
    # Runs waiting in Redis while both workers are busy, then a quick restart: no read or
    # send failed that the worker saw, yet their messages are gone. The new server's
    # run_id says so when a worker next reads.
    write_config(CONFIG.format(url=redis_server.url(), steps=1, step_time=0.5))
    worker = start_worker(home)
    ctl = Control(home)
    try:
        for i in range(6):
            ctl.submit(("tick", "tock")[i % 2], trigger="cli")
        client = redis_server.client()
        wait_until(lambda: sum(r["state"] == "running" for r in _runs(home)) == 2
                   and client.zcard("huey.redis.trayjobs") == 2, 30,
                   what="two runs running, two waiting in Redis")
        client.close()
        redis_server.restart()
        _wait_all_ended(home, 6, 60)
    finally:
        ctl.close()
        _stop(worker)
    assert set(_attempts(home).values()) == {1}


def test_a_full_redis_is_not_said_unreachable_in_the_tray(redis_server, make_engine,  # noqa: F811
                                                          tmp_path):
    """The tray's tooltip said "the queue's server cannot be reached" of a server that
    answers and refuses every run (full): what the window's banner says it is."""
    from trayjobs.engine.events import Notice
    redis_server.client().config_set("maxmemory", 1)
    eng = make_engine(f'[cluster]\nredis = "{redis_server.url()}"\n'
                      f'database = "sqlite:///{tmp_path / "shared.db"}"\n'
                      f'[jobs.a]\nkind = "demo"\nsteps = 0\n', start=False)
    told = []
    eng.bus.subscribe(lambda ev: told.append(ev) if isinstance(ev, Notice) else None)
    eng.start()
    (queue,) = [n for n in told if n.details.get("problem") == "queue"]
    assert "the server is full" in queue.message
    assert queue.details["short"] == "the queue's server refuses runs"
